// Keeps credential and secret values out of everything the fleet writes: stderr, audit records,
// error texts and results. Known values are replaced wherever they appear; token-shaped strings
// of the upstreams are replaced even when nobody registered them.
const TOKEN_SHAPES = [
  /xox[abposr]-[A-Za-z0-9-]{6,}/g, // Slack
  /dp\.(?:st|pt|sa|ct|scim|audit)\.[A-Za-z0-9_.-]{8,}/g, // Doppler
];

export class Redactor {
  private values: string[] = [];

  /** Registers a secret value; values shorter than 4 characters are too common to scrub safely. */
  add(value: string | undefined): void {
    if (value && value.length >= 4 && !this.values.includes(value)) {
      this.values.push(value);
      this.values.sort((a, b) => b.length - a.length);
    }
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join('[redacted]');
    for (const re of TOKEN_SHAPES) out = out.replace(re, '[redacted]');
    return out;
  }

  /** Scrubs every string inside a JSON-like value; returns the value itself when nothing needs it. */
  deep<T>(value: T): T {
    return this.hits(value) ? this.copy(value) : value;
  }

  private hits(value: unknown): boolean {
    if (typeof value === 'string')
      return (
        this.values.some((v) => value.includes(v)) ||
        TOKEN_SHAPES.some((re) => {
          re.lastIndex = 0;
          return re.test(value);
        })
      );
    if (Array.isArray(value)) return value.some((v) => this.hits(v));
    if (value && typeof value === 'object') return Object.values(value).some((v) => this.hits(v));
    return false;
  }

  private copy<T>(value: T): T {
    if (typeof value === 'string') return this.scrub(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.copy(v)) as T;
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.copy(v);
      return out as T;
    }
    return value;
  }
}

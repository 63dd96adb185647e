// What a person at a terminal sees beside a command's output: progress of a long read on stderr
// (records, MB, rate, ETA) and colour — only when the stream is a terminal, colour also only
// without NO_COLOR (https://no-color.org). Piped or redirected output stays plain and silent.

export interface Stream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

/** Whether to colour what goes to `stream`. */
export function colourOn(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && !('NO_COLOR' in env && env.NO_COLOR !== '') && env.TERM !== 'dumb';
}

const SGR = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const;
export type Colour = keyof typeof SGR;

/** A painter for `stream`: the identity when colour is off. */
export function painter(stream: Stream, env: NodeJS.ProcessEnv = process.env): (text: string, colour: Colour) => string {
  if (!colourOn(stream, env)) return (text) => text;
  return (text, colour) => `\u001b[${SGR[colour]}m${text}\u001b[0m`;
}

/** The terminal's width, or undefined when the output is not a terminal (no fitting then). */
export function widthOf(stream: Stream): number | undefined {
  return stream.isTTY && stream.columns && stream.columns > 20 ? stream.columns : undefined;
}

const MB = 1024 * 1024;

export interface Progress {
  /** one more line of `bytes` bytes read */
  tick(bytes: number): void;
  done(): void;
}

const SILENT: Progress = { tick() {}, done() {} };

/**
 * Progress of a long read on `stream` (stderr), redrawn at most every 200 ms, first after 500 ms
 * (a short read prints nothing). `total` bytes, when known, gives a percentage and an ETA.
 */
export function progress(label: string, total?: number, stream: Stream = process.stderr, clock: () => number = Date.now): Progress {
  if (!stream.isTTY) return SILENT;
  const start = clock();
  let records = 0;
  let bytes = 0;
  let drawn = start + 300;
  let shown = false;
  const draw = (now: number) => {
    const s = Math.max(0.001, (now - start) / 1000);
    const rate = bytes / MB / s;
    const pct = total ? ` ${Math.min(100, (100 * bytes) / total).toFixed(0)}%` : '';
    const eta = total && rate > 0 && bytes < total ? `, ETA ${Math.ceil((total - bytes) / MB / rate)} s` : '';
    const line = `${label}: ${records.toLocaleString('en')} records, ${(bytes / MB).toFixed(1)}${total ? `/${(total / MB).toFixed(1)}` : ''} MB${pct}, ${rate.toFixed(1)} MB/s${eta}`;
    const cols = widthOf(stream);
    stream.write(`\r${cols ? line.slice(0, cols - 1) : line}\u001b[K`);
    shown = true;
  };
  return {
    tick(n) {
      records++;
      bytes += n;
      if ((records & 1023) !== 0) return;
      const now = clock();
      if (now - drawn >= 200) {
        drawn = now;
        draw(now);
      }
    },
    done() {
      if (shown) stream.write('\r\u001b[K');
    },
  };
}

/** Lines passed through unchanged, ticking `p` for each. */
export async function* counted<T extends string>(lines: AsyncIterable<T> | Iterable<T>, p: Progress): AsyncIterable<T> {
  try {
    for await (const l of lines) {
      p.tick(l.length);
      yield l;
    }
  } finally {
    p.done();
  }
}

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
export function painter(
  stream: Stream,
  env: NodeJS.ProcessEnv = process.env,
): (text: string, colour: Colour) => string {
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
export function progress(
  label: string,
  total?: number,
  stream: Stream = process.stderr,
  clock: () => number = Date.now,
): Progress {
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

/** What a command shows on a terminal: colour for its output and its warnings, the output's width, progress on stderr. */
export interface Term {
  paint: (text: string, colour: Colour) => string;
  paintErr: (text: string, colour: Colour) => string;
  /** the output's width when it is a terminal (its rows then show the progress themselves) */
  width?: number;
  progress: (label: string, total?: number) => Progress;
}

/** The terminal of a command writing to `out` with progress and warnings on `err` (default: this process's). */
export function terminalOf(
  out: Stream = process.stdout,
  err: Stream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
  clock: () => number = Date.now,
): Term {
  const width = widthOf(out);
  return {
    paint: painter(out, env),
    paintErr: painter(err, env),
    ...(width ? { width } : {}),
    progress: (label, total) => progress(label, total, err, clock),
  };
}

/**
 * Column widths that fit `total` characters (separators of `gap` included). Columns are given as
 * their width, their narrowest, and a rank: when even the narrowest widths do not fit, the
 * columns with a rank are left out (width 0), highest rank first; then the widest columns shrink,
 * none below its narrowest, and the last column takes what is left. Without a total, the widths
 * as given. The last column's width is what it would like; it takes at least its narrowest.
 */
export function fitColumns(
  cols: { width: number; min: number; drop?: number }[],
  total: number | undefined,
  gap = 2,
): number[] {
  const w = cols.map((c) => c.width);
  if (!total) return w;
  const last = w.length - 1;
  const shown = () => w.filter((x, i) => x > 0 || i === last).length;
  const room = () => total - gap * (shown() - 1) - w.slice(0, -1).reduce((a, b) => a + b, 0);
  const minRoom = () =>
    total - gap * (shown() - 1) - cols.slice(0, -1).reduce((a, c, i) => a + (w[i]! > 0 ? c.min : 0), 0);
  const ranked = cols
    .map((c, i) => ({ i, drop: c.drop }))
    .filter((c) => c.drop !== undefined)
    .sort((a, b) => b.drop! - a.drop!);
  for (const { i } of ranked) {
    if (minRoom() >= cols[last]!.min) break;
    w[i] = 0;
  }
  while (room() < Math.max(cols[last]!.min, cols[last]!.width)) {
    let widest = -1;
    for (let i = 0; i < last; i++)
      if (w[i]! > cols[i]!.min && (widest < 0 || w[i]! - cols[i]!.min > w[widest]! - cols[widest]!.min)) widest = i;
    if (widest < 0) break;
    w[widest]!--;
  }
  w[last] = Math.max(cols[last]!.min, room());
  return w;
}

/** `text` in `width` characters: cut with an ellipsis when longer, padded when shorter. */
export const cell = (text: string, width: number): string =>
  text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text.padEnd(width);

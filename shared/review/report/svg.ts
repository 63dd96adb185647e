// Small charts drawn as inline SVG by the report itself: no library, no runtime fetch, readable
// printed, and each with a text alternative (title and a table beside it) for screen readers.
import { esc } from './escape.js';

export interface Bar {
  label: string;
  /** stacked from the bottom: [value, css class] */
  parts: [number, string][];
  title: string;
}

/** A bar chart: one bar per label, parts stacked. */
export function barChart(bars: Bar[], opts: { title: string; width?: number; height?: number }): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 160;
  const pad = { top: 10, right: 10, bottom: 28, left: 40 };
  const max = Math.max(1, ...bars.map((b) => b.parts.reduce((s, [v]) => s + v, 0)));
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const step = bars.length ? innerW / bars.length : innerW;
  const barW = Math.max(1, Math.min(40, step * 0.8));
  const y = (v: number) => pad.top + innerH - (v / max) * innerH;
  const out: string[] = [];
  out.push(
    `<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" aria-label="${esc(opts.title)}"><title>${esc(opts.title)}</title>`,
  );
  out.push(
    `<line class="axis" x1="${pad.left}" y1="${pad.top + innerH}" x2="${width - pad.right}" y2="${pad.top + innerH}"/>`,
  );
  out.push(
    `<text class="tick" x="${pad.left - 4}" y="${pad.top + 8}" text-anchor="end">${max}</text><text class="tick" x="${pad.left - 4}" y="${pad.top + innerH}" text-anchor="end">0</text>`,
  );
  const every = Math.max(1, Math.ceil(bars.length / 8));
  bars.forEach((b, i) => {
    const x = pad.left + i * step + (step - barW) / 2;
    let base = 0;
    out.push(`<g><title>${esc(b.title)}</title>`);
    for (const [v, cls] of b.parts) {
      if (v <= 0) continue;
      out.push(
        `<rect class="${esc(cls)}" x="${x.toFixed(1)}" y="${y(base + v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(base) - y(base + v)).toFixed(1)}"/>`,
      );
      base += v;
    }
    out.push('</g>');
    if (i % every === 0)
      out.push(
        `<text class="tick" x="${(x + barW / 2).toFixed(1)}" y="${height - 10}" text-anchor="middle">${esc(b.label)}</text>`,
      );
  });
  out.push('</svg>');
  return out.join('');
}

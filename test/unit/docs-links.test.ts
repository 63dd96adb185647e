// The docs are split by reader (README a landing page, docs/ a page per audience), so a link is the
// only way from one fact to the next: every relative link in the project's Markdown must reach a
// file that exists, and a #fragment a heading of that file. The README stays a landing page.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  'CHANGELOG.md',
  'client/README.md',
  'examples/bot/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown outside code fences and inline code. */
const prose = (text: string) =>
  text
    .split(/^```.*$/m)
    .filter((_, i) => i % 2 === 0)
    .join('\n')
    .replace(/`[^`\n]*`/g, '');

/** GitHub's anchor for a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');

const anchors = (file: string) =>
  new Set(
    prose(readFileSync(file, 'utf8'))
      .match(/^#{1,6} .*$/gm)
      ?.map((h) => slug(h.replace(/^#+ /, ''))) ?? [],
  );

describe('docs', () => {
  it('every relative link reaches a file, and every #fragment a heading in it', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of PAGES) {
      const file = join(ROOT, page);
      if (!existsSync(file)) continue;
      for (const [, target] of prose(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        checked++;
        const [path, fragment] = target!.split('#');
        const to = path ? join(dirname(file), path) : file;
        if (!existsSync(to)) broken.push(`${page}: ${target} (no ${relative(ROOT, to)})`);
        else if (fragment && statSync(to).isFile() && to.endsWith('.md') && !anchors(to).has(fragment))
          broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });

  it('the README is a landing page: the two commands first, then a path per reader, at most ~15 KB', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15_500);
    const first = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(
      first
        .split('\n')
        .map((l) => l.replace(/\s+#.*$/, '').trim())
        .filter(Boolean),
    ).toEqual(['npm install && npm start', 'npm test']);
    for (const page of ['docs/claude-code.md', 'docs/bots.md', 'docs/review.md', 'docs/operations.md'])
      expect(readme).toContain(`](${page})`);
  });
});

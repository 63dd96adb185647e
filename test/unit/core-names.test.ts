// The core names no connector: no file under shared/ mentions Slack, Cloudflare or Doppler in its
// code (identifiers, strings, templates, regular expressions; comments may explain), or imports
// from servers/. What only some connectors provide reaches the core through the Connector's
// extension points (shared/connector/extensions.ts), asked for by kind.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const NAMES = new Set(['slack', 'cloudflare', 'doppler']);
const K = ts.SyntaxKind;
const TEXT = new Set([
  K.Identifier,
  K.PrivateIdentifier,
  K.StringLiteral,
  K.NoSubstitutionTemplateLiteral,
  K.TemplateHead,
  K.TemplateMiddle,
  K.TemplateTail,
  K.RegularExpressionLiteral,
]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The words of a code token: `slackApprovals` → slack, approvals; 'slack-message' → slack, message. */
const words = (text: string) =>
  text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);

/** Where `file`'s code names a connector or imports from servers/, as `line: token`. */
function mentions(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (n: ts.Node) => {
    const at = () => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
    if (TEXT.has(n.kind) && words(n.getText(sf)).some((w) => NAMES.has(w))) found.push(`${at()}: ${n.getText(sf)}`);
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier) &&
      /(^|\/)servers\//.test(n.moduleSpecifier.text)
    ) {
      found.push(`${at()}: imports ${n.moduleSpecifier.text}`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

describe('the core', () => {
  it('names no connector and imports nothing from servers/', () => {
    const all = files(join(root, 'shared'));
    expect(all.length).toBeGreaterThan(80);
    const found = all.flatMap((f) => mentions(f).map((m) => `${relative(root, f)}:${m}`));
    expect(found).toEqual([]);
  });

  it('catches a connector named in code, in any case and inside a word, but not in a comment', () => {
    const dir = join(root, 'node_modules/.cache');
    const file = join(dir, 'core-names-probe.ts');
    const src = [
      '// Slack, Cloudflare and Doppler may be named in a comment',
      "import { x } from '../../servers/fleet/connectors.js';",
      'const slackApprovals = 1;',
      "const m = 'proven by SLACK-message';",
      'const r = /^doppler:/;',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source of a template literal, as text
      'const t = `on ${m} at Cloudflare`;',
    ].join('\n');
    ts.sys.writeFile(file, src);
    expect(mentions(file).map((m) => m.split(':')[0])).toEqual(['2', '3', '4', '5', '6']);
  });
});

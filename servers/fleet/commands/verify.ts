// `fleet verify` and `fleet surface`, as the CLI runs them.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CONNECTORS } from '../connectors.js';
import { failed, formatFindings, type Format } from '../../../shared/review/findings.js';
import { writeGenerated } from '../../../shared/review/surface-files.js';
import { explain, explainText } from '../../../shared/review/explain.js';
import { manifestFiles, verifyScopes } from '../../../shared/review/verify.js';

export interface VerifyCmdOptions {
  scopes: string;
  format: Format;
  explain?: boolean;
  /** docs file holding the tool table; false skips the check */
  docs: string | boolean;
}

/**
 * The docs file whose tool table is checked: the one named, else docs/tools.md beside the scopes
 * folder where the repository holds it (this one does; a platform team's own repository need not).
 */
function docsFile(scopes: string, docs: string | boolean): string | undefined {
  if (docs === false) return undefined;
  if (typeof docs === 'string') return docs;
  const beside = join(dirname(scopes), 'docs', 'tools.md');
  return existsSync(beside) ? beside : undefined;
}

export function verifyCmd(
  o: VerifyCmdOptions,
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
): number {
  const { manifests, findings } = verifyScopes(o.scopes, { connectors: CONNECTORS, docs: docsFile(o.scopes, o.docs) });
  if (o.explain) {
    const all = manifests.map((m) => explain(m, CONNECTORS[m.connector]!));
    if (o.format === 'json') {
      out(JSON.stringify({ instances: all, findings }, null, 2));
      return failed(findings) ? 1 : 0;
    }
    out(explainText(all));
  }
  out(formatFindings(findings, o.format, manifests.length));
  return failed(findings) ? 1 : 0;
}

/** `fleet surface [--update]`: regenerates snapshots, schema and docs table, or says which are stale. */
export function surfaceCmd(
  o: { scopes: string; update?: boolean; docs: string | boolean },
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
): number {
  const docs = docsFile(o.scopes, o.docs);
  // Only manifest problems block an update: drift is what --update repairs.
  const { manifests, findings } = verifyScopes(o.scopes, { connectors: CONNECTORS, generated: !o.update, docs });
  const loaded = new Set(manifests.map((m) => m.file));
  const broken = findings.filter((f) => manifestFiles(o.scopes).includes(f.file) && !loaded.has(f.file));
  if (o.update) {
    if (broken.length) {
      out(formatFindings(broken, 'text', manifests.length));
      out('nothing written: fix the manifests first');
      return 1;
    }
    const changed = writeGenerated(o.scopes, manifests, CONNECTORS, docs);
    out(changed.length ? changed.map((f) => `updated ${f}`).join('\n') : 'all generated files are up to date');
    return 0;
  }
  const stale = findings.filter((f) => ['surface', 'schema-drift', 'docs-drift'].includes(f.rule));
  out(stale.length ? formatFindings(stale, 'text', manifests.length) : 'all generated files are up to date');
  return stale.length ? 1 : 0;
}

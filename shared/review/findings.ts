// What `fleet verify` reports: one finding per broken rule, at the file:line that breaks it, and
// the three ways of printing them (a terminal, a program, GitHub workflow annotations).
export type Severity = 'error' | 'warning';

export interface Finding {
  /** the rule broken: a built-in name (`schema`, `shared-resource`, ...) or a fleet.yaml rule id */
  rule: string;
  severity: Severity;
  file: string;
  line: number;
  message: string;
  /** manifest key path, e.g. tools.post_message.channels */
  path?: string;
  /** "slack.prod" */
  instance?: string;
  tool?: string;
}

export type Format = 'text' | 'json' | 'github';

const counts = (fs: Finding[]) => ({
  errors: fs.filter((f) => f.severity === 'error').length,
  warnings: fs.filter((f) => f.severity === 'warning').length,
});

/** Errors first, then by file and line, so the output reads top-down. */
export function sortFindings(fs: Finding[]): Finding[] {
  const rank = (f: Finding) => (f.severity === 'error' ? 0 : 1);
  return [...fs].sort(
    (a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file) || a.line - b.line || a.rule.localeCompare(b.rule),
  );
}

// GitHub's workflow-command escaping: data escapes %, CR, LF; properties also `:` and `,`.
const ghData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const ghProp = (s: string) => ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

export function formatFindings(findings: Finding[], format: Format, checked: number): string {
  const fs = sortFindings(findings);
  const { errors, warnings } = counts(fs);
  const summary =
    errors || warnings
      ? `${errors} error(s), ${warnings} warning(s) in ${checked} manifest(s)`
      : `${checked} manifest(s) ok`;
  if (format === 'json')
    return JSON.stringify({ ok: errors === 0, manifests: checked, errors, warnings, findings: fs }, null, 2);
  if (format === 'github') {
    const lines = fs.map(
      (f) =>
        `::${f.severity} file=${ghProp(f.file)},line=${f.line},title=${ghProp(`fleet verify: ${f.rule}`)}::${ghData(f.message)}`,
    );
    return [...lines, `fleet verify: ${summary}`].join('\n');
  }
  const lines = fs.map(
    (f) => `${f.file}:${f.line}: ${f.severity} [${f.rule}] ${f.path ? `${f.path}: ` : ''}${f.message}`,
  );
  return [...lines, summary].join('\n');
}

export function failed(findings: Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

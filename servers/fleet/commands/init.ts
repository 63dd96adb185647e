// `fleet init <connector>...`: a platform team's own repository, ready for review. Writes scopes/
// with a dev and a prod manifest per connector asked (the package's own, as a start to edit),
// fleet.yaml (the fleet rules and the approvals identity), an empty clients.yaml, the generated
// surface snapshots and JSON Schemas, and the CI workflow that runs `fleet verify` and `fleet diff`
// on every pull request. Nothing is overwritten: a folder that already holds scopes/ is refused.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CONNECTORS } from '../connectors.js';
import { installDir } from '../../../shared/base/install.js';
import { loadManifest } from '../../../shared/manifest/load.js';
import { writeGenerated } from '../../../shared/review/surface-files.js';

export const WORKFLOW = join('.github', 'workflows', 'fleet-scopes.yml');

const workflow = `# Scope review on every pull request that touches the scopes folder: \`fleet verify\` annotates the
# changed files with each broken rule (and fails the check), and \`fleet diff\` posts what the change
# grants or revokes, escalations first, as a pull-request comment. Written by \`fleet init\`; it
# expects mcp-fleet among this repository's devDependencies (npm ci installs it).
name: fleet-scopes

on:
  pull_request:
    paths:
      - 'scopes/**'
      - 'package.json'
      - 'package-lock.json'
      - '${WORKFLOW}'

permissions:
  contents: read
  pull-requests: write

concurrency:
  group: fleet-scopes-\${{ github.event.pull_request.number }}
  cancel-in-progress: true

jobs:
  scopes:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0 # fleet diff reads the base branch with git show

      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm

      - run: npm ci

      - name: fleet verify
        run: npx fleet verify --format github

      - name: fleet diff
        if: \${{ !cancelled() }}
        env:
          BASE: \${{ github.event.pull_request.base.ref }}
        run: |
          npx fleet diff "origin/$BASE" --format markdown > scope-diff.md
          cat scope-diff.md >> "$GITHUB_STEP_SUMMARY"

      # A fork's token cannot comment; its diff is in the job summary above.
      - name: post the diff on the pull request
        if: \${{ !cancelled() && github.event.pull_request.head.repo.full_name == github.repository }}
        env:
          GH_TOKEN: \${{ github.token }}
          PR: \${{ github.event.pull_request.number }}
        run: gh pr comment "$PR" --body-file scope-diff.md --edit-last || gh pr comment "$PR" --body-file scope-diff.md
`;

/** The package's fleet.yaml without its checkpoint key: that key is the package's own, never a team's. */
function fleetYaml(shipped: string): string {
  const at = shipped.search(/^# Signed checkpoints/m);
  return `${(at < 0 ? shipped : shipped.slice(0, at)).trimEnd()}\n`;
}

/** The package's clients.yaml header (what each field means) with no client yet. */
function clientsYaml(shipped: string): string {
  const header = shipped.slice(0, shipped.search(/^clients:/m));
  return `${header}clients: {}\n`;
}

export function initCmd(
  connectors: string[],
  o: { dir: string },
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
): number {
  if (!connectors.length)
    throw new Error(`name the connectors to scaffold: fleet init ${Object.keys(CONNECTORS).join(' ')}`);
  const unknown = connectors.filter((c) => !CONNECTORS[c]);
  if (unknown.length)
    throw new Error(
      `no connector ${unknown.map((c) => `"${c}"`).join(', ')} (known: ${Object.keys(CONNECTORS).join(', ')})`,
    );
  const scopes = join(o.dir, 'scopes');
  if (existsSync(scopes) && readdirSync(scopes).length)
    throw new Error(
      `${scopes} already exists and is not empty: fleet init writes a new scopes folder and never overwrites one`,
    );
  const shipped = join(installDir(), 'scopes');
  mkdirSync(scopes, { recursive: true });
  const written: string[] = [];
  const write = (file: string, text: string) => {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    written.push(relative(o.dir, file) || file);
  };
  for (const c of [...new Set(connectors)]) {
    for (const env of ['dev', 'prod'])
      write(join(scopes, `${c}.${env}.yaml`), readFileSync(join(shipped, `${c}.${env}.yaml`), 'utf8'));
  }
  write(join(scopes, 'fleet.yaml'), fleetYaml(readFileSync(join(shipped, 'fleet.yaml'), 'utf8')));
  write(join(scopes, 'clients.yaml'), clientsYaml(readFileSync(join(shipped, 'clients.yaml'), 'utf8')));
  const manifests = readdirSync(scopes)
    .filter((f) => /^[a-z0-9-]+\.[a-z0-9-]+\.yaml$/.test(f))
    .sort()
    .map((f) => loadManifest(join(scopes, f), CONNECTORS));
  for (const f of writeGenerated(scopes, manifests, CONNECTORS)) written.push(relative(o.dir, f));
  const wf = join(o.dir, WORKFLOW);
  if (existsSync(wf)) out(`kept ${WORKFLOW}: it exists already`);
  else write(wf, workflow);
  out(written.map((f) => `wrote ${f}`).join('\n'));
  out(
    [
      '',
      'Next: replace the example workspace, account, channels, owners and review dates in each manifest with your own,',
      'add mcp-fleet to your devDependencies (the CI workflow runs it with npx), then run `fleet verify` and commit.',
    ].join('\n'),
  );
  return 0;
}

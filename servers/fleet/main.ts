// The `fleet` CLI. Each command's code loads only when that command runs. `main` is shared by the
// bundle (dist/cli.js) and the start-up snapshot (dist/snapshot.blob, via dist/fleet).
import { Command, Option } from 'commander';
import { join } from 'node:path';
import { bundleFile, installDir, scopesDir } from '../../shared/base/install.js';
import { VERSION } from './version.js';

/** Ends the process with one clear line for any error a user can cause. */
async function run(fn: () => Promise<number | void> | number | void): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`fleet: ${err.name === 'ManifestError' ? 'invalid manifest:\n' : ''}${err.message}\n`);
    process.exit(1);
  }
}

/** The command tree, built once: at import for the bundle, ahead of time for the snapshot. */
function buildProgram(): Command {
  const program = new Command('fleet').version(VERSION).description('Narrowly-scoped MCP servers for Slack, Cloudflare and Doppler');
  const scopesOpt = () => new Option('--scopes <dir>', 'folder of manifests (default: scopes/ in this folder or the nearest one above holding it)');


  program
    .command('serve')
    .description('serve one instance over stdio')
    .argument('<connector>', 'slack')
    .requiredOption('--env <env>', 'instance: dev, prod, ...')
    .option('--sandbox', 'run against the built-in sandbox upstream (no account or token needed)')
    .option('--upstream <url>', 'base URL of the upstream API (e.g. a sandbox started with `fleet sandbox`)')
    .addOption(scopesOpt())
    .action((connector: string, o: { env: string; sandbox?: boolean; upstream?: string; scopes?: string }) =>
      run(async () => {
        const { serve } = await import('./commands/serve.js');
        await serve({ connector, env: o.env, scopes: scopesDir(o.scopes), sandbox: o.sandbox, upstream: o.upstream });
      }),
    );

  const docsOpt = () => new Option('--docs <file>', 'docs file with the generated tool table (default: docs/tools.md beside the scopes folder)');
  const noDocsOpt = () => new Option('--no-docs', 'skip the docs table');

  program
    .command('verify')
    .description('check every manifest against the schema, the fleet rules and the generated files')
    .addOption(scopesOpt())
    .addOption(new Option('--format <format>', 'output').choices(['text', 'json', 'github']).default('text'))
    .option('--explain', 'also print, per instance, the tools, resources and approvals granted and the upstream permissions they need')
    .addOption(docsOpt())
    .addOption(noDocsOpt())
    .action((o: { scopes?: string; format: 'text' | 'json' | 'github'; explain?: boolean; docs?: string | boolean }) =>
      run(async () => (await import('./commands/verify.js')).verifyCmd({ ...o, scopes: scopesDir(o.scopes), docs: o.docs ?? true })),
    );

  program
    .command('surface')
    .description('check (or with --update rewrite) the tool-surface snapshots, the manifest JSON Schema and the docs tool table')
    .addOption(scopesOpt())
    .option('--update', 'rewrite the generated files from the code')
    .addOption(docsOpt())
    .addOption(noDocsOpt())
    .action((o: { scopes?: string; update?: boolean; docs?: string | boolean }) =>
      run(async () => (await import('./commands/verify.js')).surfaceCmd({ ...o, scopes: scopesDir(o.scopes), docs: o.docs ?? true })),
    );

  program
    .command('diff')
    .description('what a change to the manifests grants or revokes, escalations first')
    .argument('<base>', 'git revision or scopes folder')
    .argument('[head]', 'git revision or scopes folder (default: the working tree)')
    .addOption(scopesOpt())
    .addOption(new Option('--format <format>', 'output').choices(['text', 'markdown', 'json']).default('text'))
    .addOption(new Option('--fail-on <class>', 'exit 1 when a change of this class is present').choices(['escalation']))
    .action((base: string, head: string | undefined, o: { scopes?: string; format: 'text' | 'markdown' | 'json'; failOn?: 'escalation' }) =>
      run(async () => (await import('./commands/diff.js')).diffCmd(base, head, { ...o, scopes: scopesDir(o.scopes) })),
    );

  const audit = program.command('audit').description('read and check audit trails');
  audit
    .command('verify')
    .argument('<file>', 'audit file (.fleet/audit/<connector>.<env>.jsonl)')
    .description('check the hash chain, streaming; names the first line that is not a sealed record continuing the chain of the instance. Exit 0 intact, 1 tampered, 2 cannot be checked')
    .option('--instance <id>', 'the instance the trail belongs to (default: from the file name)')
    .option('--checkpoints <file>', 'signed checkpoints the trail must reach and agree with (a cut tail, an emptied or re-chained trail fail)')
    .addOption(scopesOpt())
    .action((file: string, o: { instance?: string; checkpoints?: string; scopes?: string }) =>
      run(async () => (await import('./commands/audit.js')).auditVerify(file, { ...o, scopes: o.checkpoints ? scopesDir(o.scopes) : o.scopes })),
    );
  audit
    .command('keygen')
    .description('write a new Ed25519 checkpoint signing key and print the checkpoints: block for scopes/fleet.yaml')
    .argument('<file>', 'where to write the private key (created, never overwritten; keep it away from the trail)')
    .option('--name <name>', 'the key name checkpoints carry', 'fleet-audit')
    .action((file: string, o: { name: string }) => run(async () => (await import('./commands/audit.js')).auditKeygen(file, o.name)));
  audit
    .command('show')
    .argument('<file>', 'audit file')
    .description('print the calls in an audit file as a table')
    .option('--tool <name>')
    .option('--actor <actor>')
    .addOption(new Option('--decision <decision>').choices(['allow', 'deny']))
    .option('--since <when>', 'a duration (30m, 2h, 7d) or a date')
    .option('--custody', 'the chain of custody: per call its client, actor and proof, thread, approver, executor, manifest and result')
    .option('--json', 'one JSON object per call')
    .action((file: string, o) => run(async () => (await import('./commands/audit.js')).auditShow(file, o)));

  program
    .command('demo')
    .description('a guided session with the Slack dev instance on its sandbox')
    .addOption(new Option('--scopes <dir>', 'folder of manifests (default: the ones shipped with fleet)'))
    .action((o: { scopes?: string }) =>
      run(async () => (await import('./commands/demo.js')).demo({ scopes: o.scopes ?? join(installDir(), 'scopes'), cli: bundleFile() })),
    );

  program
    .command('sandbox')
    .description('run a sandbox upstream on loopback and print its URL and a token per manifest')
    .argument('<connector>', 'slack')
    .option('--port <port>', 'port', '0')
    .addOption(scopesOpt())
    .action((connector: string, o: { port: string; scopes?: string }) =>
      run(async () => (await import('./commands/sandbox.js')).sandboxCmd(connector, Number(o.port), scopesDir(o.scopes))),
    );

  return program;
}

const program = buildProgram();

export async function main(argv: string[]): Promise<void> {
  await program.parseAsync(argv);
}

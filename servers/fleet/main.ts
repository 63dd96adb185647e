// The `fleet` CLI. Each command's code loads only when that command runs. `main` is shared by the
// bundle (dist/cli.js) and the start-up snapshot (dist/snapshot.blob, via dist/fleet).
import { Command, InvalidArgumentError, Option } from 'commander';
import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { bundleFile, installDir, scopesDir } from '../../shared/base/install.js';
import { VERSION } from './version.js';
import { META } from '../../shared/base/wire.js';
import { DECISIONS } from '../../shared/audit/read.js';
import { CONNECTORS } from './connectors.js';

/** What --help says after the commands: the connectors and every environment variable fleet reads. */
const HELP_AFTER = `
Connectors: ${Object.keys(CONNECTORS).join(', ')} (manifests: scopes/<connector>.<env>.yaml)

Environment:
  FLEET_ACTOR                the person behind calls that name none in _meta "${META.actor}"
  FLEET_THREAD               the thread or ticket behind calls that name none in _meta "${META.thread}"
  FLEET_CLIENT               the routine (client principal) a stdio process serves (default: local)
  FLEET_AUDIT_DIR            audit trails (default: .fleet/audit beside the scopes folder)
  FLEET_STATE_DIR            rate windows and idempotency keys (default: .fleet/state beside the scopes folder)
  FLEET_CHECKPOINT_KEY       PKCS#8 PEM file of the key that signs the trail's checkpoints
  FLEET_CHECKPOINT_FILE      where signed checkpoints are appended (never inside the trail's folder)
  FLEET_APPROVALS_SLACK_URL  Slack API base URL for the approvals identity (default: Slack's)
  FLEET_APPROVAL_POLL_MS     how often the approvals channel is read for answers, in ms (default: 2000)
  FLEET_SANDBOX_SPEEDUP      the Slack sandbox's rate windows shortened this many times (default: 1, Slack's own)
  FLEET_TRACE_START          set: print, in ms since the process began, when fleet started (from the snapshot or the bundle), answered tools/list and opened the upstream
  FLEET_DIST                 set by dist/fleet: the folder it starts from
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT
                             also send every audit record as an OTLP/HTTP log record (standard
                             OTEL_* variables: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_*_TIMEOUT,
                             OTEL_BLRP_*, OTEL_LOGS_EXPORTER=none, OTEL_SDK_DISABLED=true)
  DOPPLER_TOKEN              resolves doppler:<project>/<config>/<NAME> credential references
  DOPPLER_API_URL            Doppler API base URL for those references (default: Doppler's)
  <NAME> of credential: env:<NAME>  each manifest's upstream credential

The scopes folder is --scopes, else scopes/ in the current folder or the nearest one above it.
`;

/** --upstream: an http(s) URL. */
function url(value: string): string {
  if (!/^https?:\/\/[^\s/]+/.test(value)) throw new InvalidArgumentError('the upstream is an http:// or https:// URL');
  return value;
}

/** --port: an integer from 0 (any free port) to 65535. */
function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
}

/**
 * Ends the process with one clear line for any error a user can cause. A reader piped into
 * `head` or `less` that quits ends quietly (its exit code so far), not with a stack trace; `serve`
 * keeps its own shutdown for a closed pipe (`closedPipe: false`).
 */
async function run(fn: () => unknown, { closedPipe = true } = {}): Promise<void> {
  if (closedPipe) {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    });
  }
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
  const program = new Command('fleet')
    .version(VERSION)
    .description('Narrowly-scoped MCP servers for Slack, Cloudflare and Doppler')
    .addHelpText('after', HELP_AFTER)
    .showHelpAfterError('(fleet --help lists the commands, connectors and environment variables)');
  const scopesOpt = () =>
    new Option(
      '--scopes <dir>',
      'folder of manifests (default: scopes/ in this folder or the nearest one above holding it)',
    );

  program
    .command('serve')
    .description('serve one instance over stdio, or with --http one or several over Streamable HTTP')
    .argument('[connector]', Object.keys(CONNECTORS).join(' | '))
    .option('--env <env>', 'instance: dev, prod, ... (the manifest is scopes/<connector>.<env>.yaml)')
    .addOption(
      new Option('--sandbox', 'run against the built-in sandbox upstream (no account or token needed)').conflicts(
        'upstream',
      ),
    )
    .addOption(
      new Option(
        '--upstream <url>',
        'base URL of the upstream API (e.g. a sandbox started with `fleet sandbox`)',
      ).argParser(url),
    )
    .addOption(scopesOpt())
    .option('--http <[host:]port>', 'serve over Streamable HTTP at /mcp/<connector>/<env> (default host 127.0.0.1)')
    .option(
      '--instance <id...>',
      'with --http: instances to serve, e.g. slack.prod (default: the connector/--env given, else every manifest)',
    )
    .option(
      '--public-url <url>',
      'with --http: the URL clients reach this server by (tunnel, proxy); instance URLs and JWT audiences derive from it',
    )
    .option('--allow-origin <origin...>', 'with --http: browser origins allowed to call')
    .option('--max-body <bytes>', 'with --http: largest request body', '1048576')
    .option(
      '--max-in-flight <n>',
      'with --http: requests in flight over all clients (each client of clients.yaml is sure of an equal share)',
      '256',
    )
    .option('--body-timeout <duration>', "with --http: how long a request's body may take to arrive", '10s')
    .option(
      '--client-rate <n/per>',
      "with --http: a client's requests per second|minute|hour|day unless clients.yaml sets its own",
      '20/second',
    )
    .option(
      '--drain <duration>',
      'with --http: on SIGTERM, how long calls in flight may finish before they are cut',
      '30s',
    )
    // internal: the start-up identity check's child process (serve.ts checkInChild)
    .addOption(new Option('--check-upstream').hideHelp())
    .action(
      (
        connector: string | undefined,
        o: {
          checkUpstream?: boolean;
          env?: string;
          sandbox?: boolean;
          upstream?: string;
          scopes?: string;
          http?: string;
          instance?: string[];
          publicUrl?: string;
          allowOrigin?: string[];
          maxBody: string;
          maxInFlight: string;
          bodyTimeout: string;
          clientRate: string;
          drain: string;
        },
      ) =>
        run(
          async () => {
            const scopes = scopesDir(o.scopes);
            if (o.http) {
              const { serveHttpCmd } = await import('./commands/serve-http.js');
              const all = readdirSync(scopes)
                .map((f) => /^([a-z0-9-]+)\.([a-z0-9-]+)\.ya?ml$/.exec(f))
                .filter((m) => m && m[1] !== 'clients' && m[1] !== 'fleet');
              const instances =
                o.instance ??
                (connector || o.env
                  ? all
                      .filter((m) => (!connector || m![1] === connector) && (!o.env || m![2] === o.env))
                      .map((m) => `${m![1]}.${m![2]}`)
                  : []);
              if ((connector || o.env) && !instances.length)
                throw new Error(`no manifest in ${scopes} matches ${connector ?? '*'}.${o.env ?? '*'}`);
              await serveHttpCmd({
                listen: o.http,
                scopes,
                instances,
                sandbox: o.sandbox,
                upstream: o.upstream,
                publicUrl: o.publicUrl,
                allowOrigin: o.allowOrigin,
                maxBody: o.maxBody,
                maxInFlight: o.maxInFlight,
                bodyTimeout: o.bodyTimeout,
                clientRate: o.clientRate,
                drain: o.drain,
              });
              return;
            }
            if (!connector || !o.env)
              throw new Error(
                'serve over stdio needs a connector and --env (e.g. fleet serve slack --env dev), or --http [host:]port',
              );
            if (o.checkUpstream)
              return (await import('./commands/serve.js')).checkUpstreamCmd({
                connector,
                env: o.env,
                scopes,
                upstream: o.upstream,
              });
            const { serve } = await import('./commands/serve.js');
            await serve({ connector, env: o.env, scopes, sandbox: o.sandbox, upstream: o.upstream });
          },
          { closedPipe: false },
        ),
    );

  program
    .command('init')
    .description(
      'scaffold scopes/ in your own repository: a dev and a prod manifest per connector, fleet.yaml, clients.yaml, the generated schemas and a CI workflow',
    )
    .argument('<connectors...>', `the connectors to start with (${Object.keys(CONNECTORS).join(', ')})`)
    .option('--dir <dir>', 'the repository to write into', '.')
    .action((connectors: string[], o: { dir: string }) =>
      run(async () => (await import('./commands/init.js')).initCmd(connectors, o)),
    );

  const clients = program.command('clients').description('the HTTP clients of scopes/clients.yaml');
  clients
    .command('mint')
    .argument('<name>', 'a client declared in scopes/clients.yaml')
    .description('mint a bearer token for a client: printed once, only its sha256 is stored')
    .addOption(scopesOpt())
    .action((name: string, o: { scopes?: string }) =>
      run(async () => (await import('./commands/clients.js')).mintCmd(name, { scopes: scopesDir(o.scopes) })),
    );

  const docsOpt = () =>
    new Option(
      '--docs <file>',
      'docs file with the generated tool table (default: docs/tools.md beside the scopes folder, where the repository holds one)',
    );
  const noDocsOpt = () => new Option('--no-docs', 'skip the docs table');

  program
    .command('verify')
    .description('check every manifest against the schema, the fleet rules and the generated files')
    .addOption(scopesOpt())
    .addOption(new Option('--format <format>', 'output').choices(['text', 'json', 'github']).default('text'))
    .option(
      '--explain',
      'also print, per instance, the tools, resources and approvals granted and the upstream permissions they need',
    )
    .addOption(docsOpt())
    .addOption(noDocsOpt())
    .action((o: { scopes?: string; format: 'text' | 'json' | 'github'; explain?: boolean; docs?: string | boolean }) =>
      run(async () =>
        (await import('./commands/verify.js')).verifyCmd({ ...o, scopes: scopesDir(o.scopes), docs: o.docs ?? true }),
      ),
    );

  program
    .command('surface')
    .description(
      'check (or with --update rewrite) the tool-surface snapshots, the manifest JSON Schema and the docs tool table',
    )
    .addOption(scopesOpt())
    .option('--update', 'rewrite the generated files from the code')
    .addOption(docsOpt())
    .addOption(noDocsOpt())
    .action((o: { scopes?: string; update?: boolean; docs?: string | boolean }) =>
      run(async () =>
        (await import('./commands/verify.js')).surfaceCmd({ ...o, scopes: scopesDir(o.scopes), docs: o.docs ?? true }),
      ),
    );

  program
    .command('diff')
    .description('what a change to the manifests grants or revokes, escalations first')
    .argument('<base>', 'git revision or scopes folder')
    .argument('[head]', 'git revision or scopes folder (default: the working tree)')
    .addOption(scopesOpt())
    .addOption(new Option('--format <format>', 'output').choices(['text', 'markdown', 'json']).default('text'))
    .addOption(new Option('--fail-on <class>', 'exit 1 when a change of this class is present').choices(['escalation']))
    .action(
      (
        base: string,
        head: string | undefined,
        o: { scopes?: string; format: 'text' | 'markdown' | 'json'; failOn?: 'escalation' },
      ) =>
        run(async () =>
          (await import('./commands/diff.js')).diffCmd(base, head, { ...o, scopes: scopesDir(o.scopes) }),
        ),
    );

  program
    .command('review')
    .description(
      'least privilege from evidence: per instance, what its grants were used for over a window of its audit trail',
    )
    .argument('[instances...]', 'instances to review, e.g. slack.prod (default: every manifest)')
    .addOption(scopesOpt())
    .option(
      '--audit-dir <dir>',
      'folder of audit trails (default: $FLEET_AUDIT_DIR, else .fleet/audit beside the scopes folder)',
    )
    .option('--window <duration>', 'how far back to look', '90d')
    .addOption(
      new Option('--format <format>', 'output (html: one self-contained page for a ticket, written to --out)')
        .choices(['text', 'markdown', 'json', 'html'])
        .default('text'),
    )
    .option('--out <file>', 'with --format html: the file to write')
    .option(
      '--checkpoints <file>',
      'with --format html: signed checkpoint notes each trail must reach and agree with (a cut tail is caught); repeatable',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      '--propose <dir>',
      'write narrowed manifests (unused grants removed, resource lists cut to what was used) to a new folder; nothing is applied',
    )
    .option(
      '--write',
      'write the narrowed manifests over the scopes folder instead (review them with git diff / fleet diff)',
    )
    .action(
      (
        instances: string[],
        o: {
          scopes: string;
          auditDir?: string;
          window: string;
          format: 'text' | 'markdown' | 'json' | 'html';
          out?: string;
          checkpoints?: string[];
          propose?: string;
          write?: boolean;
        },
      ) =>
        run(async () => {
          const scopes = scopesDir(o.scopes);
          if (o.format !== 'html') {
            if (o.out || o.checkpoints)
              throw new Error(
                '--out and --checkpoints go with --format html (fleet audit verify --checkpoints checks a trail on its own)',
              );
            return (await import('./commands/review.js')).reviewCmd(instances, { ...o, format: o.format, scopes });
          }
          if (!o.out) throw new Error('--format html writes a file: name it with --out FILE');
          if (o.propose || o.write)
            throw new Error('--format html shows what --propose would write; run --propose separately to write it');
          return (await import('./commands/report.js')).reportCmd(instances, {
            scopes,
            auditDir: o.auditDir,
            window: o.window,
            out: o.out,
            grants: true,
            checkpoints: o.checkpoints ?? [],
            command: `fleet ${process.argv.slice(2).join(' ')}`,
          });
        }),
    );

  program
    .command('suspend')
    .description(
      'stop every process serving an instance (or every instance serving a client) from making calls, at once; recorded in the audit trail',
    )
    .argument('<target>', 'an instance (slack.prod) or a client (client:NAME)')
    .requiredOption('--reason <text>', 'why: shown to every refused caller and kept in the trail')
    .addOption(scopesOpt())
    .action((target: string, o: { reason: string; scopes: string }) =>
      run(async () =>
        (await import('./commands/suspend.js')).suspendCmd(target, { ...o, scopes: scopesDir(o.scopes) }),
      ),
    );

  program
    .command('resume')
    .description('lift a suspension; recorded in the audit trail')
    .argument('<target>', 'an instance (slack.prod) or a client (client:NAME)')
    .option('--reason <text>', 'why it is lifted')
    .addOption(scopesOpt())
    .action((target: string, o: { reason?: string; scopes: string }) =>
      run(async () => (await import('./commands/suspend.js')).resumeCmd(target, { ...o, scopes: scopesDir(o.scopes) })),
    );

  const audit = program.command('audit').description('read and check audit trails');
  const instanceOpt = () =>
    new Option(
      '--instance <id>',
      'read the trail of this instance (connector.env) from the state store named in fleet.yaml',
    );
  audit
    .command('verify')
    .argument(
      '[file]',
      'audit file (.fleet/audit/<connector>.<env>.jsonl); without it, the trail of --instance in the state store fleet.yaml names',
    )
    .description(
      'check the hash chain, streaming; names the first line that is not a sealed record continuing the chain of the instance. Exit 0 intact, 1 tampered, 2 cannot be checked',
    )
    .option(
      '--instance <id>',
      'the instance the trail belongs to (default: from the file name); without a file, read its trail from the state store',
    )
    .option(
      '--checkpoints <src>',
      'signed checkpoints the trail must reach and agree with (a cut tail, an emptied or re-chained trail fail): a file of notes, or slack (the approvals channel, read with checkpoints.slack.reader); repeatable',
      (v: string, all: string[] = []) => [...all, v],
    )
    .addOption(scopesOpt())
    .action((file: string | undefined, o: { instance?: string; checkpoints?: string[]; scopes?: string }) =>
      run(async () =>
        (await import('./commands/audit.js')).auditVerify(file, {
          ...o,
          scopes: o.checkpoints?.length || !file ? scopesDir(o.scopes) : o.scopes,
        }),
      ),
    );
  audit
    .command('keygen')
    .description('write a new Ed25519 checkpoint signing key and print the checkpoints: block for scopes/fleet.yaml')
    .argument('<file>', 'where to write the private key (created, never overwritten; keep it away from the trail)')
    .option('--name <name>', 'the key name checkpoints carry', 'fleet-audit')
    .option(
      '--scopes <dir>',
      "also write the public half into this scopes folder's fleet.yaml (checkpoints.key), to review and commit",
    )
    .action((file: string, o: { name: string; scopes?: string }) =>
      run(async () => (await import('./commands/audit.js')).auditKeygen(file, o.name, console.log, o.scopes)),
    );
  audit
    .command('show')
    .argument('[file]', 'audit file')
    .description('print the calls in an audit trail as a table (streamed: any size)')
    .option('--tool <name>')
    .option('--actor <actor>')
    .addOption(new Option('--decision <decision>', 'any decision the table shows').choices(DECISIONS))
    .option('--since <when>', 'a duration (30m, 2h, 7d) or a date (times are UTC)')
    .option(
      '--custody',
      'the chain of custody: per call its client, actor and proof, thread, approver, executor, manifest and result',
    )
    .option('--json', 'one JSON object per call')
    .addOption(
      new Option(
        '--format <format>',
        'html: one self-contained page (trail state, custody timeline, denials, activity) written to --out',
      )
        .choices(['text', 'html'])
        .default('text'),
    )
    .option('--out <file>', 'with --format html: the file to write')
    .addOption(instanceOpt())
    .addOption(scopesOpt())
    .action((file: string | undefined, o) =>
      run(async () => {
        if (o.format !== 'html') {
          if (o.out) throw new Error('--out goes with --format html');
          return (await import('./commands/audit.js')).auditShow(file, {
            ...o,
            scopes: file ? o.scopes : scopesDir(o.scopes),
          });
        }
        if (!o.out) throw new Error('--format html writes a file: name it with --out FILE');
        if (o.json || o.custody)
          throw new Error('--format html holds the custody view already; --json and --custody are for the terminal');
        const instance = o.instance ?? (file ? /^(.+?)\.jsonl$/.exec(basename(file))?.[1] : undefined);
        if (!instance) throw new Error('name the instance the trail belongs to with --instance <connector>.<env>');
        const { rowFilter } = await import('../../shared/audit/filter.js');
        return (await import('./commands/report.js')).reportCmd([instance], {
          scopes: scopesDir(o.scopes),
          window: '36500d',
          out: o.out,
          grants: false,
          filter: rowFilter(o),
          ...(file ? { file } : {}),
          command: `fleet ${process.argv.slice(2).join(' ')}`,
        });
      }),
    );
  audit
    .command('import')
    .argument('<file>', 'an embedded trail (.fleet/audit/<connector>.<env>.jsonl)')
    .description(
      "move an instance's embedded trail into its PostgreSQL store, chain intact (running it again adds nothing)",
    )
    .requiredOption('--instance <id>', 'the instance the trail belongs to (connector.env)')
    .addOption(scopesOpt())
    .action((file: string, o) =>
      run(async () => (await import('./commands/audit.js')).auditImport(file, { ...o, scopes: scopesDir(o.scopes) })),
    );
  audit
    .command('export')
    .description(
      "write an instance's trail from its state store as JSONL, exactly as sealed (fleet audit verify checks it)",
    )
    .requiredOption('--instance <id>', 'the instance (connector.env)')
    .option('--out <file>', 'write to this file instead of stdout')
    .addOption(scopesOpt())
    .action((o) =>
      run(async () => (await import('./commands/audit.js')).auditExport({ ...o, scopes: scopesDir(o.scopes) })),
    );

  program
    .command('state')
    .description("an instance's state store")
    .command('migrate')
    .description('create or upgrade the PostgreSQL state schema named in fleet.yaml (idempotent)')
    .addOption(scopesOpt())
    .action((o: { scopes?: string }) =>
      run(async () => (await import('./commands/state.js')).stateMigrate({ scopes: scopesDir(o.scopes) })),
    );

  program
    .command('demo')
    .description('a guided session with the Slack dev instance on its sandbox')
    .addOption(new Option('--scopes <dir>', 'folder of manifests (default: the ones shipped with fleet)'))
    .option('--promotion', 'instead: a Cloudflare dev deploy, its smoke check and the production promotion citing them')
    .option('--report <file>', "at the end, write the reviewer's HTML page of the demo's trails to this file")
    .action((o: { scopes?: string; promotion?: boolean; report?: string }) =>
      run(async () => {
        const args = {
          scopes: o.scopes ?? join(installDir(), 'scopes'),
          cli: bundleFile(),
          ...(o.report ? { report: resolve(o.report) } : {}),
        };
        // the tour runs the audit commands: handed in here, as a command imports no other
        const audit = {
          ...(await import('./commands/audit.js')),
          ...(o.report ? { reportCmd: (await import('./commands/report.js')).reportCmd } : {}),
        };
        return o.promotion
          ? (await import('./commands/demo-promotion.js')).demoPromotion(args, audit)
          : (await import('./commands/demo.js')).demo(args, audit);
      }),
    );

  program
    .command('sandbox')
    .description('run a sandbox upstream on loopback and print its URL and a token per manifest')
    .argument('<connector>', Object.keys(CONNECTORS).join(' | '))
    .addOption(new Option('--port <port>', 'loopback port to listen on (0: any free one)').argParser(port).default(0))
    .addOption(scopesOpt())
    .action((connector: string, o: { port: number; scopes?: string }) =>
      run(async () => (await import('./commands/sandbox.js')).sandboxCmd(connector, o.port, scopesDir(o.scopes))),
    );

  return program;
}

const program = buildProgram();

export async function main(argv: string[]): Promise<void> {
  await program.parseAsync(argv);
}

// The layout's import rules (docs/architecture.md), checked by test/unit/layout.test.ts and by
// `npx depcruise servers shared client bench examples`. Imports only run down: servers/fleet →
// connectors → shared/ (base/ at the bottom); the client, the examples and the bench stand apart.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-no-server',
      comment: 'shared/ is the core: it is handed connectors and commands, it never imports them',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^servers/' },
    },
    {
      name: 'connectors-stay-apart',
      comment: 'a connector never imports another connector',
      severity: 'error',
      from: { path: '^servers/(slack|cloudflare|doppler|[a-z0-9-]+)/', pathNot: '^servers/fleet/' },
      to: { path: '^servers/([a-z0-9-]+)/', pathNot: ['^servers/$1/', '^servers/fleet/'] },
    },
    {
      name: 'connectors-import-no-command',
      comment: 'only servers/fleet knows the list of connectors and the commands',
      severity: 'error',
      from: { path: '^servers/', pathNot: '^servers/fleet/' },
      to: { path: '^servers/fleet/' },
    },
    {
      name: 'no-cycles',
      comment: 'no two files (or longer loops) import each other, types included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'base-is-a-leaf',
      comment: 'shared/base/ holds the leaves (errors, durations, rates, the wire contract, ...): it imports nothing else of the project',
      severity: 'error',
      from: { path: '^shared/base/' },
      to: { path: '^(shared|servers|client|bench|test|examples)/', pathNot: '^shared/base/' },
    },
    {
      name: 'wire-imports-nothing',
      comment: 'the wire contract is copied into the client package byte for byte, so it imports nothing at all',
      severity: 'error',
      from: { path: '^(shared/base|client)/wire\\.ts$' },
      to: {},
    },
    {
      name: 'no-folder-cycles',
      comment: 'no two folders of shared/ import each other, directly or round a loop: each folder sits on a layer',
      severity: 'error',
      scope: 'folder',
      from: { path: '^shared/' },
      to: { path: '^shared/', circular: true },
    },
    {
      name: 'client-stands-alone',
      comment: "the bot's client is its own package: it imports nothing of the server, the bench or the tests",
      severity: 'error',
      from: { path: '^client/' },
      to: { path: '^(servers|shared|bench|test|examples)/' },
    },
    {
      name: 'examples-use-the-public-client',
      comment: 'an example imports the client as a user does, by its package name (tsconfig paths), never a file of this repository',
      severity: 'error',
      from: { path: '^examples/' },
      to: { path: '^(servers|shared|client|bench|test)/', dependencyTypesNot: ['aliased-tsconfig-paths'] },
    },
    {
      name: 'bench-measures-the-build',
      comment:
        'the bench drives the built dist/ programs; only its library entries (bench/lib.ts and bench/*-lib.ts, each bundled by esbuild into what it measures) import the sources',
      severity: 'error',
      from: { path: '^bench/', pathNot: '^bench/(lib|[a-z]+-lib)\\.ts$' },
      to: { path: '^(servers|shared|client)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};

// The layout's import rules (docs/architecture.md), checked by test/unit/layout.test.ts and by
// `npx depcruise servers shared`. Imports only run down: servers/fleet → connectors → shared/.
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
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};

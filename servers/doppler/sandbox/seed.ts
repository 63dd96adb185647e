// The sandbox's workplace, matching scopes/doppler.dev.yaml and scopes/doppler.prod.yaml: project
// blogbot with dev (and its branch dev_ci), stg and prd configs whose secret names partly differ,
// and a second project no manifest pins.
export interface LogRecord {
  id: string;
  text: string;
  created_at: string;
  user: { email: string; name: string; username: string };
  rollback: boolean;
  diff: { name: string; added?: string; removed?: string }[];
}

export interface SandboxConfig {
  name: string;
  environment: string;
  root: boolean;
  locked: boolean;
  created_at: string;
  secrets: Map<string, string>;
  /** newest last */
  logs: LogRecord[];
}

export interface SandboxProject {
  id: string;
  slug: string;
  name: string;
  description: string;
  created_at: string;
  configs: SandboxConfig[];
}

export const WORKPLACE = { slug: 'wp0blogsandbox', name: 'Blog Sandbox' };
const T0 = Date.parse('2026-01-01T00:00:00Z');
export const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
const EDITOR = { email: 'alice@example.com', name: 'Alice Developer', username: 'alice' };

function config(
  name: string,
  environment: string,
  values: Record<string, string>,
  later: Record<string, string> = {},
): SandboxConfig {
  const secrets = new Map(Object.entries(values));
  const logs: LogRecord[] = [
    {
      id: `log_${name}_1`,
      text: `${EDITOR.name} added ${secrets.size} secrets`,
      created_at: at(1),
      user: EDITOR,
      rollback: false,
      diff: [...secrets].map(([n, v]) => ({ name: n, added: v })),
    },
  ];
  Object.entries(later).forEach(([n, v], i) => {
    logs.push({
      id: `log_${name}_${i + 2}`,
      text: `${EDITOR.name} updated 1 secret`,
      created_at: at(60 * (i + 1)),
      user: EDITOR,
      rollback: false,
      diff: [{ name: n, removed: secrets.get(n), added: v }],
    });
    secrets.set(n, v);
  });
  return { name, environment, root: true, locked: false, created_at: at(0), secrets, logs };
}

const branch = (c: SandboxConfig): SandboxConfig => ({ ...c, root: false });

export function seedProjects(): SandboxProject[] {
  return [
    {
      id: 'p0blogbot01',
      slug: 'blogbot',
      name: 'blogbot',
      description: 'The blog bot and its publishing pipeline',
      created_at: at(0),
      configs: [
        config(
          'dev',
          'dev',
          {
            API_BASE_URL: 'http://localhost:8080',
            DATABASE_URL: 'postgres://blog:dev-db-pass@localhost:5432/blog',
            FEATURE_FLAGS: 'drafts,previews',
            SLACK_BOT_TOKEN: 'xoxb-not-issued-by-any-sandbox',
            STRIPE_KEY: 'sk_test_51devSandboxKey',
            DEBUG_TOOLBAR: 'on',
          },
          { FEATURE_FLAGS: 'drafts,previews,scheduling' },
        ),
        branch(
          config('dev_ci', 'dev', {
            API_BASE_URL: 'http://ci-api:8080',
            DATABASE_URL: 'postgres://blog:ci-db-pass@ci-db:5432/blog',
            FEATURE_FLAGS: 'drafts,previews',
            SLACK_BOT_TOKEN: 'xoxb-not-issued-by-any-sandbox',
            CI_RUNNER_TOKEN: 'ci-runner-token-value',
          }),
        ),
        config('stg', 'stg', {
          API_BASE_URL: 'https://staging.blog.example.com',
          DATABASE_URL: 'postgres://blog:stg-db-pass@stg-db:5432/blog',
          FEATURE_FLAGS: 'drafts,previews',
          SLACK_BOT_TOKEN: 'xoxb-not-issued-by-any-sandbox',
          STRIPE_KEY: 'sk_test_51stgSandboxKey',
        }),
        config('prd', 'prd', {
          API_BASE_URL: 'https://blog.example.com',
          DATABASE_URL: 'postgres://blog:prd-db-pass@prd-db:5432/blog',
          FEATURE_FLAGS: 'drafts',
          SLACK_BOT_TOKEN: 'xoxb-not-issued-by-any-sandbox',
          STRIPE_KEY: 'sk_live_51prdSandboxKey',
          CDN_PURGE_KEY: 'cdn-prd-purge-key',
        }),
      ],
    },
    {
      id: 'p0billing01',
      slug: 'billing',
      name: 'billing',
      description: 'Not pinned by any manifest: never listed',
      created_at: at(0),
      configs: [config('prd', 'prd', { LEDGER_KEY: 'ledger-prd-key' })],
    },
  ];
}

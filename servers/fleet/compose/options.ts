// What a command hands the composition root: which instance, from which scopes folder, against
// which upstream. Commands parse their flags into this and nothing else.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StartupError } from '../../../shared/base/errors.js';

export interface ServeOptions {
  connector: string;
  env: string;
  scopes: string;
  sandbox?: boolean;
  /** base URL of the upstream API (e.g. a sandbox started elsewhere) */
  upstream?: string;
  /** `fleet serve --http`: extensions' inbound endpoints (Slack's callbacks) are served */
  http?: boolean;
}

/** The instance's manifest file; when it is missing, which environments the connector does have. */
export function manifestFor(opts: ServeOptions): string {
  const file = join(opts.scopes, `${opts.connector}.${opts.env}.yaml`);
  if (existsSync(file)) return file;
  if (!existsSync(opts.scopes)) {
    throw new StartupError(
      `no scopes folder at ${resolve(opts.scopes)}: run fleet in your project (where scopes/ is, or below it) or pass --scopes DIR`,
    );
  }
  const envs = readdirSync(opts.scopes)
    .map((f) => new RegExp(`^${opts.connector}\\.([a-z][a-z0-9-]*)\\.yaml$`).exec(f)?.[1])
    .filter((e): e is string => !!e)
    .sort();
  throw new StartupError(
    `no manifest ${file} for ${opts.connector} --env ${opts.env}; ` +
      (envs.length
        ? `${opts.connector} has: ${envs.map((e) => `--env ${e}`).join(', ')}`
        : `${opts.scopes} holds no ${opts.connector} manifest`),
  );
}

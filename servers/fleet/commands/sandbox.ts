// `fleet sandbox <connector>`: the sandbox upstream on its own, for pointing `serve --upstream` at.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest } from '../../../shared/manifest/load.js';
import { CONNECTORS } from '../connectors.js';
import { manifestFiles } from '../../../shared/review/verify.js';

export async function sandboxCmd(name: string, port: number, scopes: string): Promise<void> {
  const connector = CONNECTORS[name];
  if (!connector) throw new Error(`unknown connector "${name}" (known: ${Object.keys(CONNECTORS).join(', ')})`);
  const sb = await connector.sandbox(port);
  process.stdout.write(`${name} sandbox listening at ${sb.url}\n`);
  for (const file of manifestFiles(scopes).filter((f) => f.includes(`/${name}.`))) {
    const m = loadManifest(file, CONNECTORS);
    const v = (ref: string) => ref.replace(/^env:/, '');
    let vars: string;
    if (m.rotate && sb.issueRotation) {
      // an app with token rotation on: its refresh token and client credentials
      const r = sb.issueRotation(m);
      vars = `${v(m.rotate.refresh_token)}=${r.refresh_token} ${v(m.rotate.client_id)}=${r.client_id} ${v(m.rotate.client_secret)}=${r.client_secret}`;
    } else {
      vars = `${v(m.credential)}=${m.mint && sb.issueBroker ? sb.issueBroker(m) : sb.issueToken(m)}`;
    }
    process.stdout.write(`  ${m.id}: ${vars} fleet serve ${name} --env ${m.instance} --upstream ${sb.url}\n`);
  }
  if (name === 'slack' && sb.issueAs && existsSync(join(scopes, 'fleet.yaml'))) {
    const { readApprovalsConfig, SANDBOX_APPROVALS_BOT } = await import('../../slack/approvals.js');
    try {
      const a = readApprovalsConfig(scopes);
      process.stdout.write(
        `  approvals identity: ${a.credential.replace(/^env:/, '')}=${sb.issueAs(a.workspace, a.token_scopes, SANDBOX_APPROVALS_BOT)} (posts to ${a.channel})\n`,
      );
    } catch {
      // no approvals identity declared: nothing to print
    }
  }
  const people = sb.people?.() ?? [];
  if (people.length) {
    process.stdout.write(
      `  people (play a requester or an approver with their token, e.g. a Slack client or curl ${sb.url}chat.postMessage):\n`,
    );
    for (const p of people) process.stdout.write(`    ${p.home} ${p.id.padEnd(11)} ${p.name.padEnd(24)} ${p.token}\n`);
  }
  await new Promise(() => {});
}

// `fleet sandbox <connector>`: the sandbox upstream on its own, for pointing `serve --upstream` at.
import { loadManifest } from '../../../shared/manifest/load.js';
import { CONNECTORS } from '../connectors.js';
import { manifestFiles } from '../../../shared/review/verify.js';

export async function sandboxCmd(name: string, _port: number, scopes: string): Promise<void> {
  const connector = CONNECTORS[name];
  if (!connector) throw new Error(`unknown connector "${name}" (known: ${Object.keys(CONNECTORS).join(', ')})`);
  const sb = await connector.sandbox();
  process.stdout.write(`${name} sandbox listening at ${sb.url}\n`);
  for (const file of manifestFiles(scopes).filter((f) => f.includes(`/${name}.`))) {
    const m = loadManifest(file, CONNECTORS);
    process.stdout.write(`  ${m.id}: ${m.credential.replace(/^env:/, '')}=${sb.issueToken(m)} fleet serve ${name} --env ${m.instance} --upstream ${sb.url}\n`);
  }
  await new Promise(() => {});
}

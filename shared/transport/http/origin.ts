// DNS-rebinding protection (MCP transport spec: servers MUST validate Origin). A browser page
// can only reach a loopback server through a name it controls; its requests carry that page's
// Origin and a Host of that name. Non-browser clients (the bot, the SDK) send no Origin.
export interface OriginPolicy {
  /** origins allowed to call from a browser (exact "scheme://host[:port]") */
  origins: ReadonlySet<string>;
  /** Host header values this server answers to */
  hosts: ReadonlySet<string>;
}

export function hostsFor(bound: { host: string; port: number }, publicUrl?: string): Set<string> {
  const hosts = new Set<string>();
  const names =
    bound.host === '0.0.0.0' || bound.host === '::' ? [] : [bound.host.includes(':') ? `[${bound.host}]` : bound.host];
  if (['127.0.0.1', '::1', 'localhost'].includes(bound.host)) names.push('localhost', '127.0.0.1', '[::1]');
  for (const n of names) hosts.add(`${n}:${bound.port}`);
  if (publicUrl) hosts.add(new URL(publicUrl).host);
  return hosts;
}

/** why the request is refused, or undefined */
export function checkOrigin(
  policy: OriginPolicy,
  origin: string | undefined,
  host: string | undefined,
): string | undefined {
  if (origin !== undefined && !policy.origins.has(origin))
    return `origin ${JSON.stringify(origin.slice(0, 200))} is not allowed (serve --allow-origin)`;
  // an open bind (0.0.0.0) with no public URL names no hosts: any Host is answered
  if (policy.hosts.size && (!host || !policy.hosts.has(host.toLowerCase())))
    return `host ${JSON.stringify((host ?? '').slice(0, 200))} is not one this server answers to (serve --public-url)`;
  return undefined;
}

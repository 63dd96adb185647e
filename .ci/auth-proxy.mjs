#!/usr/bin/env node
// CI helper: the MCP conformance suite speaks Streamable HTTP but cannot send a credential, so it
// talks to the fleet through this loopback proxy, which adds the CI client's bearer token for the
// instance's environment (dev or prod: they never share one) and streams the answer back as is.
// usage: node auth-proxy.mjs <fleet base URL> <dev token> <prod token>   (prints "listening on URL")
import { createServer, request } from 'node:http';

const [base, devToken, prodToken] = process.argv.slice(2);
const target = new URL(base);
const server = createServer((req, res) => {
  const env = /^\/mcp\/[^/]+\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '';
  const token = /^prod(-|$)/.test(env) ? prodToken : devToken;
  const headers = { ...req.headers, host: target.host, authorization: `Bearer ${token}` };
  const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(String(e.message));
  });
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));

#!/usr/bin/env node
// The reference for the HTTP bench: the SDK's own Streamable HTTP server, stateless (a new
// McpServer and transport per request, as the SDK's example does) on node:http, with one tool
// that does the same upstream read as the fleet's slack list_channels (conversations.list through
// @slack/web-api to the same sandbox) — and no policy, no audit, no client check.
// usage: node one-tool-http-server.mjs <slack api url> <token>   (prints "listening on URL" on stderr)
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { WebClient } from '@slack/web-api';
import { z } from 'zod';

const [slackUrl, token] = process.argv.slice(2);
const slack = new WebClient(token, { slackApiUrl: slackUrl, retryConfig: { retries: 0 } });

function build() {
  const server = new McpServer({ name: 'one-tool-http', version: '1.0.0' });
  server.registerTool(
    'list_channels',
    {
      description: 'List the Slack channels.',
      inputSchema: { limit: z.number().int().min(1).max(1000).default(100).describe('Max channels') },
      annotations: { readOnlyHint: true },
    },
    async ({ limit }) => {
      const r = await slack.conversations.list({ limit, exclude_archived: true });
      const channels = (r.channels ?? []).map((c) => ({ id: c.id, name: c.name }));
      return {
        content: [{ type: 'text', text: channels.map((c) => `${c.id} #${c.name}`).join('\n') }],
        structuredContent: { channels },
      };
    },
  );
  return server;
}

const http = createServer(async (req, res) => {
  if (req.method !== 'POST') return void res.writeHead(405).end();
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const server = build();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8')));
});
http.listen(0, '127.0.0.1', () =>
  process.stderr.write(
    `listening on http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (http.address()).port}/mcp\n`,
  ),
);
process.on('SIGTERM', () => process.exit(0));

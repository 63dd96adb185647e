// The only code that touches the MCP SDK's server: it lists the granted tools and sends every
// call through runCall, so no tool can skip attribution, policy or audit.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { runCall } from './call.js';
import type { Instance } from './instance.js';
import { surface } from './surface.js';

export function buildServer(inst: Instance, version: string): Server {
  const server = new Server(
    { name: `fleet-${inst.manifest.id}`, version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions: `${inst.manifest.id}: ${inst.manifest.purpose.trim()} Calls are scoped by ${inst.manifest.file} and audited.`,
    },
  );
  let listed: Tool[] | undefined;
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: (listed ??= surface(inst.tools.values())) }));
  server.setRequestHandler(CallToolRequestSchema, async (request) =>
    runCall(inst, {
      name: request.params.name,
      arguments: request.params.arguments,
      meta: request.params._meta as Record<string, unknown> | undefined,
      client: server.getClientVersion(),
    }),
  );
  return server;
}

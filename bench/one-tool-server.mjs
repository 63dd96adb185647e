#!/usr/bin/env node
// The floor for this SDK: one tool, registered with the SDK's own McpServer and zod, run
// unbundled from node_modules exactly as a typical SDK server is. The bench compares every
// fleet instance's start with this one's.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'one-tool', version: '1.0.0' });
server.registerTool(
  'echo',
  { description: 'Echo the text back.', inputSchema: { text: z.string().describe('Text to echo') } },
  async ({ text }) => ({ content: [{ type: 'text', text }] }),
);
await server.connect(new StdioServerTransport());

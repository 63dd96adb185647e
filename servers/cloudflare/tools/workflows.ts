import { z } from 'zod';
import { C, READ, WRITE, cfTool, collect, maxItems, lines } from '../common.js';
import { INSTANCE, WORKFLOW, named } from '../names.js';
import { free, on } from '../../../shared/connector/tool.js';

const workflow = named(WORKFLOW, 'must be a Workflow name: letters, digits, - and _').describe('Workflow name');
const instanceId = named(INSTANCE, 'must be an instance ID: letters, digits, - and _').describe('Instance ID');
const STATUS = [
  'queued',
  'running',
  'paused',
  'errored',
  'terminated',
  'complete',
  'waitingForPause',
  'waiting',
  'rollingBack',
] as const;

const instance = z.object({
  id: z.string(),
  status: z.string(),
  created_on: z.string().optional(),
  ended_on: z.string().nullable().optional(),
});

export const workflowListInstances = cfTool({
  name: 'workflow_list_instances',
  description: 'List recent instances of a Workflow, newest first.',
  access: 'read',
  annotations: READ,
  input: z.object({
    workflow,
    status: z
      .string()
      .refine((s) => (STATUS as readonly string[]).includes(s), `must be one of ${STATUS.join(', ')}`)
      .optional()
      .describe('e.g. errored'),
    limit: maxItems(100).optional(),
  }),
  output: z.object({ instances: z.array(instance) }),
  needs: ['Workers Scripts Read'],
  constraints: { workflows: C.workflows },
  covers: {
    workflow: on('workflows'),
    status: free('narrows the listing of the granted workflow'),
    limit: free('a count'),
  },
  async run(a, { client, signal }) {
    const max = a.limit ?? 25;
    const list = client.api.workflows.instances.list(
      a.workflow,
      {
        account_id: client.account,
        status: a.status as (typeof STATUS)[number] | undefined,
        per_page: Math.min(max, 100),
      },
      { signal },
    );
    const all = await collect(list, max, signal);
    return {
      instances: all.map((i) => ({ id: i.id, status: i.status, created_on: i.created_on, ended_on: i.ended_on })),
    };
  },
  // every instance is of the granted workflow (a fact of the call): nothing to filter, so the upstream's cut stands
  lists: { instances: {} },
  limit: (a) => a.limit ?? 25,
  text: (o) =>
    lines(
      o.instances.map((i) => `${i.id} ${i.status} ${i.created_on ?? ''}`.trim()),
      '(no instances)',
    ),
});

export const workflowGetInstance = cfTool({
  name: 'workflow_get_instance',
  description: 'Get the status, params, output and steps of a Workflow instance.',
  access: 'read',
  annotations: READ,
  input: z.object({ workflow, id: instanceId }),
  output: z.object({
    id: z.string(),
    status: z.string(),
    params: z.unknown().optional(),
    output: z.unknown().optional(),
    error: z.object({ name: z.string(), message: z.string() }).nullable().optional(),
    steps: z.array(z.object({ name: z.string(), type: z.string(), success: z.boolean().nullable().optional() })),
  }),
  needs: ['Workers Scripts Read'],
  constraints: { workflows: C.workflows },
  covers: { workflow: on('workflows'), id: free('an instance of the granted workflow') },
  async run(a, { client, signal }) {
    const r = await client.api.workflows.instances.get(
      a.id,
      { account_id: client.account, workflow_name: a.workflow },
      { signal },
    );
    const steps = (r.steps ?? []).map((s) => {
      const x = s as { name?: string; type?: string; success?: boolean | null };
      return { name: x.name ?? '', type: x.type ?? '', success: x.success };
    });
    return { id: a.id, status: r.status, params: r.params, output: r.output, error: r.error, steps };
  },
  text: (o) =>
    `${o.id} ${o.status}${o.error ? ` (${o.error.name}: ${o.error.message})` : ''}\n` +
    lines(
      o.steps.map((s) => `- ${s.type} ${s.name}${s.success === false ? ' (failed)' : ''}`),
      '(no steps)',
    ),
});

export const workflowCreateInstance = cfTool({
  name: 'workflow_create_instance',
  description: 'Start a new instance of a Workflow with JSON params.',
  access: 'write',
  annotations: WRITE,
  input: z.object({
    workflow,
    params: z.object({}).passthrough().optional().describe('event payload'),
    id: instanceId.optional().describe('Instance ID; reusing one never runs twice'),
  }),
  output: z.object({ id: z.string(), status: z.string() }),
  needs: ['Workers Scripts Write'],
  constraints: { workflows: C.workflows },
  audit: { params: 'body' },
  covers: {
    workflow: on('workflows'),
    params: free('the event payload, kept as a body hash'),
    id: free('names the new instance of the granted workflow'),
  },
  async run(a, { client, signal }) {
    // The SDK types `params` as a string, but the API takes the payload itself (as wrangler sends
    // it): a string would reach the Workflow as a string event.
    const r = await client.api.workflows.instances.create(
      a.workflow,
      { account_id: client.account, instance_id: a.id, ...(a.params ? { params: a.params as never } : {}) },
      { signal },
    );
    return { id: r.id, status: r.status };
  },
  text: (o) => `started ${o.id} (${o.status})`,
});

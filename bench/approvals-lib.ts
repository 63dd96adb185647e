// What bench/approvals.mjs drives: the Slack sandbox and the approvals channel, in one process.
export { startSlackSandbox } from '../servers/slack/sandbox/index.js';
export { openSlackApprovals } from '../servers/slack/approvals.js';

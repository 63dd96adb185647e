// What bench/approvals.mjs drives: the Slack sandbox, the approvals channel and the handler of
// Slack's deliveries (verification, then the inbox), in one process.
export { startSlackSandbox } from '../servers/slack/sandbox/index.js';
export { openSlackApprovals } from '../servers/slack/approvals.js';
export { slackDeliveries } from '../servers/slack/events.js';
export { deliver } from '../servers/slack/inbox.js';

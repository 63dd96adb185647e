// Slack's identifiers, in the canonical form the core compares them in: a user ID (upper-case, as
// Slack writes it; the person kind Slack adds to the fleet) and a message as <channel ID>/<ts>.
import { BadIdentifier, checked, type PersonKind } from '../../shared/base/identity.js';

const SLACK_USER = /^[UW][A-Z0-9]{2,20}$/;
const THREAD = /^([CGD][A-Z0-9]{8,20})\/(\d{10}\.\d{6})$/;

/** Actors and approvers who are Slack users (U0EDITOR1, W0123ABC). */
export const SLACK_PEOPLE: PersonKind = {
  kind: 'slack-user',
  pattern: SLACK_USER,
  name: 'a Slack user ID',
  example: 'U0123ABCD',
};

export function slackUser(raw: unknown, what = 'a Slack user ID'): string {
  const s = checked(what, raw);
  if (!SLACK_USER.test(s)) throw new BadIdentifier(what, 'must be a Slack user ID such as U0123ABCD');
  return s;
}

export interface ThreadRef {
  channel: string;
  ts: string;
}

/** Whether a canonical thread names a Slack message (<channel ID>/<ts>). */
export function isSlackThread(canonical: string): boolean {
  return THREAD.test(canonical);
}

export function threadRef(canonical: string): ThreadRef {
  const m = THREAD.exec(canonical);
  if (!m) throw new BadIdentifier('a thread', 'is not a <channel ID>/<ts> reference');
  return { channel: m[1]!, ts: m[2]! };
}

// Reads what an actor's proof and an approval need from Slack: one message (the request that
// asked), and whether a member is a full human (not a bot, app, deleted, restricted or guest
// account). Read-only: conversations.replies and users.info, through whichever identity is handed
// in (the instance's own, or the approvals identity).
import type { WebClient } from '@slack/web-api';
import type { Member, MessageReader, ProofMessage } from './proof.js';
import { email } from '../../shared/call/identity.js';

const NOT_FOUND = new Set(['thread_not_found', 'message_not_found']);

export function slackReader(web: WebClient): MessageReader {
  return {
    async message(channel, ts): Promise<ProofMessage | undefined> {
      let res;
      try {
        res = await web.conversations.replies({ channel, ts, limit: 1000 });
      } catch (e) {
        if (NOT_FOUND.has((e as { data?: { error?: string } }).data?.error ?? '')) return undefined;
        throw e;
      }
      const m = res.messages?.find((x) => x.ts === ts);
      if (!m) return undefined;
      return { ts, author: m.user, botId: m.bot_id, subtype: (m as { subtype?: string }).subtype };
    },
    async member(user): Promise<Member | undefined> {
      let res;
      try {
        res = await web.users.info({ user });
      } catch (e) {
        if ((e as { data?: { error?: string } }).data?.error === 'user_not_found') return undefined;
        throw e;
      }
      const u = res.user;
      if (!u) return undefined;
      const why = u.is_bot || u.id === 'USLACKBOT' ? 'a bot' : u.is_app_user ? 'an app user' : u.deleted ? 'a deleted account' : u.is_restricted || u.is_ultra_restricted ? 'a restricted (guest) account' : undefined;
      let mail: string | undefined;
      try {
        mail = u.profile?.email ? email(u.profile.email) : undefined;
      } catch {
        mail = undefined;
      }
      return { id: user, human: !why, ...(why ? { why } : {}), ...(mail ? { email: mail } : {}) };
    },
  };
}

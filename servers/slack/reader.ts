// Reads what an actor's proof and an approval need from Slack: one message (the request that
// asked), and whether a member is a full human of the pinned workspace (not a bot, app, deleted,
// restricted or guest account, nor a Slack Connect member whose home is another organisation's
// workspace). Read-only: conversations.replies, users.info (and auth.test once, to learn the
// workspace when none is handed in), through whichever identity is handed in (the instance's own,
// or the approvals identity, each checked at start to belong to its pinned workspace).
import type { WebClient } from '@slack/web-api';
import type { Member, MessageReader, ProofMessage } from './proof.js';
import { email } from '../../shared/base/identity.js';

const NOT_FOUND = new Set(['thread_not_found', 'message_not_found']);

export function slackReader(web: WebClient, workspace?: string): MessageReader {
  let home: Promise<string> | undefined;
  const team = () =>
    (home ??= workspace
      ? Promise.resolve(workspace)
      : web.auth.test().then((r) => {
          if (!r.team_id) throw new Error('auth.test named no workspace');
          return r.team_id;
        }));
  const pinnedTeam = () =>
    team().catch((e: unknown) => {
      home = undefined;
      throw e;
    });
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
      const pinned = await pinnedTeam();
      const why =
        u.team_id !== pinned
          ? `a member of another workspace (${u.team_id ?? 'none named'}, e.g. through Slack Connect), not of ${pinned}`
          : u.is_bot || u.id === 'USLACKBOT'
            ? 'a bot'
            : u.is_app_user
              ? 'an app user'
              : u.deleted
                ? 'a deleted account'
                : u.is_restricted || u.is_ultra_restricted
                  ? 'a restricted (guest) account'
                  : undefined;
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

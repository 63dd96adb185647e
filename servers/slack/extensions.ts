// What Slack adds to the whole fleet, whatever an instance's connector: approval requests answered
// by listed people in a channel (`approval: { via: slack }`), the slack-message proof of an actor,
// and signed checkpoints posted to the approvals channel (`checkpoints: { slack: ... }`). All three
// go through the approvals identity of scopes/fleet.yaml (`approvals.slack`), opened once per
// instance, on first need; a slack-message proof on a Slack instance reads with the instance's own.
import { z } from 'zod';
import type { WebClient } from '@slack/web-api';
import { durationSchema } from '../../shared/base/duration.js';
import { META } from '../../shared/base/wire.js';
import { resolveCredential } from '../../shared/connector/credentials.js';
import type {
  ActorProverKind,
  ApprovalChannelKind,
  CheckpointSinkKind,
  ConnectorExtensions,
  ExtensionContext,
} from '../../shared/connector/extensions.js';
import { attributionRule } from '../../shared/manifest/attribution.js';
import { CREDENTIAL } from '../../shared/base/reference.js';
import type { ApprovalChannel } from '../../shared/call/approval.js';
import {
  openSlackApprovals,
  readApprovalsConfig,
  SANDBOX_APPROVALS_BOT,
  type SlackApprovalsConfig,
} from './approvals.js';
import { readPostedCheckpoints, slackCheckpointSink } from './checkpoints.js';
import { messageProver, type MessageReader } from './proof.js';
import { slackReader } from './reader.js';
import { SLACK_PEOPLE } from './ids.js';
import { slackDeliveries, type Delivered } from './events.js';
import { handOn, relayFrom } from './inbox.js';
import { openSocket } from './socket.js';
import { parseDuration } from '../../shared/base/duration.js';
import { ManifestError } from '../../shared/base/yaml.js';

type Identity = () => Promise<{ config: SlackApprovalsConfig; credential: string; baseUrl?: string }>;

/** Where Slack delivers answers (the app's Event Subscriptions request URL, and its Interactivity request URL). */
export const EVENTS_PATH = '/slack/events';
export const ACTIONS_PATH = '/slack/actions';

/** Slack posts answers to the URLs `serve --http` serves: fleet.yaml gives the app's signing secret (a sandbox's app has none). */
const posted = (ctx: ExtensionContext, config: SlackApprovalsConfig) =>
  !!config.signing_secret && ctx.http && !ctx.sandbox;
/** Answers are delivered, not only read: posted to the URLs, or sent over Socket Mode (fleet.yaml gives the app-level token). */
const delivers = (ctx: ExtensionContext, config: SlackApprovalsConfig) =>
  posted(ctx, config) || (!!config.app_token && !ctx.sandbox);
const identities = new WeakMap<ExtensionContext, Identity>();

/** The approvals identity's connection for one instance: its config, its credential (a sandbox's under --sandbox), opened once. */
function approvalsIdentity(ctx: ExtensionContext): Identity {
  let identity = identities.get(ctx);
  if (!identity) {
    let opened: ReturnType<Identity> | undefined;
    identity = () =>
      (opened ??= (async () => {
        const config = readApprovalsConfig(ctx.scopes);
        let credential: string;
        let baseUrl =
          ctx.env.FLEET_APPROVALS_SLACK_URL || (ctx.manifest.connector === 'slack' ? ctx.upstream : undefined);
        if (ctx.sandbox) {
          const { startSlackSandbox } = await import('./sandbox/index.js');
          const sb = await startSlackSandbox();
          ctx.onClose(() => sb.close());
          credential = sb.issue(config.workspace, config.token_scopes, undefined, SANDBOX_APPROVALS_BOT);
          baseUrl = sb.url;
        } else {
          credential = await resolveCredential(config.credential, ctx.env);
        }
        ctx.secret(credential);
        return { config, credential, baseUrl };
      })());
    identities.set(ctx, identity);
  }
  return identity;
}

/** The instance's Socket Mode connection, open before the first request is posted; closed with the instance. */
async function socketMode(
  ctx: ExtensionContext,
  config: SlackApprovalsConfig,
  baseUrl: string | undefined,
): Promise<void> {
  const appToken = await resolveCredential(config.app_token!, ctx.env);
  ctx.secret(appToken);
  if (!appToken.startsWith('xapp-'))
    throw new Error(
      'approvals.slack.app_token does not resolve to an app-level token (xapp-…): Socket Mode needs one with connections:write',
    );
  const deliver = (d: Delivered) =>
    void handOn(d, ctx.signals()).catch((e: Error) =>
      ctx.log.warn(`an answer delivered by Slack could not be handed to the other replicas: ${e.message}`),
    );
  const close = await openSocket({
    appToken,
    baseUrl,
    workspace: config.workspace,
    channel: config.channel,
    deliver,
    warn: ctx.log.warn,
  });
  ctx.onClose(close);
}

const approvals: ApprovalChannelKind = {
  via: 'slack',
  who: 'listed approvers in Slack',
  approver: z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'approvers are Slack user IDs (U…)'),
  approvers: 'Slack user IDs who may approve',
  open(ctx) {
    readApprovalsConfig(ctx.scopes); // a missing or broken approvals identity stops the start, at its file:line
    const identity = approvalsIdentity(ctx);
    let channel: Promise<ApprovalChannel> | undefined;
    return () =>
      (channel ??= (async () => {
        const { config, credential, baseUrl } = await identity();
        const events = delivers(ctx, config);
        if (events) relayFrom(ctx.signals());
        if (events && config.app_token) await socketMode(ctx, config, baseUrl);
        const pollMs = events ? parseDuration(config.safety_poll ?? '1m')! : ctx.pollMs;
        return openSlackApprovals({
          config,
          credential,
          baseUrl,
          timeoutMs: ctx.manifest.timeoutMs,
          pollMs,
          events,
          warn: ctx.log.warn,
        });
      })());
  },
  inbound(ctx) {
    const config = readApprovalsConfig(ctx.scopes);
    if (!posted(ctx, config)) return [];
    let secret: Promise<string> | undefined;
    const signing = () =>
      (secret ??= resolveCredential(config.signing_secret!, ctx.env).then((v) => {
        ctx.secret(v);
        return v;
      }));
    relayFrom(ctx.signals());
    const deliver = (d: Delivered) =>
      void handOn(d, ctx.signals()).catch((e: Error) =>
        ctx.log.warn(`an answer delivered by Slack could not be handed to the other replicas: ${e.message}`),
      );
    const handle = slackDeliveries({ secret: signing, workspace: config.workspace, channel: config.channel, deliver });
    return [EVENTS_PATH, ACTIONS_PATH].map((path) => ({ path, handle, ready: () => signing().then(() => undefined) }));
  },
  verify(scopes) {
    try {
      readApprovalsConfig(scopes);
      return [];
    } catch (e) {
      if (e instanceof ManifestError) return e.problems;
      throw e;
    }
  },
};

const messageProof: ActorProverKind = {
  proof: 'slack-message',
  describe: 'the actor is the author of the Slack message that asked for the call',
  fields: {
    /** channels where a request may be asked: the thread must be a message in one of them */
    request_channels: z
      .array(z.string().regex(/^[CG][A-Z0-9]{8,}$/, 'request channels are channel IDs (C…)'))
      .min(1)
      .describe('channel IDs where a request may be asked'),
    /** how old the asking message may be */
    max_age: durationSchema('how old the asking message may be (default 1h)').default('1h'),
    /** whose token reads the message: the instance's own (a Slack instance) or the approvals identity */
    reader: z
      .enum(['instance', 'approvals'])
      .describe("whose token reads the message: the instance's own or the approvals identity")
      .optional(),
  },
  howTo: `pass _meta "${META.actor}" (their Slack user ID) and "${META.thread}" (<channel>/<ts> of the Slack message in which they asked) with the call`,
  /**
   * Where the request message is read: a Slack instance's own identity, or (any other connector,
   * or `reader: approvals`) the approvals identity, whose token then needs channels:history and users:read.
   */
  open(ctx) {
    let reader: Promise<MessageReader> | undefined;
    const rule = attributionRule(ctx.manifest.attribution) as { reader?: string };
    if (ctx.manifest.connector === 'slack' && rule.reader !== 'approvals') {
      return messageProver(
        () =>
          (reader ??= ctx
            .instanceClient()
            .then((client) =>
              slackReader(client as WebClient, (ctx.manifest.upstream as { workspace?: string }).workspace),
            )),
      );
    }
    readApprovalsConfig(ctx.scopes); // a missing approvals identity stops the start, at its file:line
    const identity = approvalsIdentity(ctx);
    return messageProver(
      () =>
        (reader ??= (async () => {
          const { config, credential, baseUrl } = await identity();
          const { webClient } = await import('./client.js');
          return slackReader(webClient(credential, baseUrl, ctx.manifest.timeoutMs), config.workspace);
        })()),
    );
  },
};

/**
 * Also post each checkpoint to the approvals channel (approvals.slack) as the approvals identity,
 * and read them back for `fleet audit verify --checkpoints slack` with `reader`, a read-only token.
 */
const checkpoints: CheckpointSinkKind = {
  name: 'slack',
  schema: z
    .strictObject({
      reader: z
        .string()
        .regex(
          CREDENTIAL,
          'a read-only Slack token (channels:history) as a reference: env:NAME or doppler:project/config/NAME',
        )
        .describe('the read-only Slack token fleet audit verify --checkpoints slack reads the channel with'),
      poster: z
        .string()
        .regex(/^[UBW][A-Z0-9]{2,}$/, "the approvals identity's Slack member ID (U…), or its bot ID (B…)")
        .optional()
        .describe("the approvals identity's member ID: only checkpoint notes it posted count"),
    })
    .optional()
    .describe('also post each checkpoint to the approvals channel, as the approvals identity'),
  place: 'the approvals channel',
  by: 'the approvals identity',
  changes: 'the read-only token verify reads the channel with',
  open(ctx) {
    readApprovalsConfig(ctx.scopes); // posted by the approvals identity: it must be declared (file:line)
    return slackCheckpointSink({ open: approvalsIdentity(ctx), timeoutMs: ctx.manifest.timeoutMs, warn: ctx.log.warn });
  },
  async read({ scopes, block, env }) {
    const config = readApprovalsConfig(scopes);
    const { reader, poster } = block as { reader: string; poster?: string };
    const credential = await resolveCredential(reader, env);
    const notes = await readPostedCheckpoints({
      config,
      credential,
      baseUrl: env.FLEET_APPROVALS_SLACK_URL || undefined,
      timeoutMs: 15_000,
    });
    // only the approvals identity's notes count: a member's junk or forged note is not a checkpoint
    return poster ? notes.filter((n) => n.author === poster) : notes;
  },
};

export const slackExtensions: ConnectorExtensions = {
  people: [SLACK_PEOPLE],
  approvals: [approvals],
  provers: [messageProof],
  checkpointSinks: [checkpoints],
};

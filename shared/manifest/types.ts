// What a loaded manifest holds. Written out rather than inferred from ./schema.ts, which imports
// the tool definitions that themselves name this type; schema.ts checks the two agree.
import type { Grant } from '../connector/grant.js';
import type { AttributionSpec } from './attribution.js';

export type Approval = { via: 'elicitation' | 'slack'; approvers?: string[]; timeout: string };

/** The fields a manifest file declares, after defaults. */
export interface ManifestFields {
  connector: string;
  instance: string;
  owner: string;
  /** when the owner must next recertify this access (YYYY-MM-DD); fleet rule kind review-due */
  review_by?: string;
  purpose: string;
  credential: string;
  upstream: Record<string, any>;
  attribution: AttributionSpec;
  clients?: string[];
  timeout: string;
  audit: { bodies: 'hash' | 'keep' };
  tools: Record<string, Grant>;
}

export interface Manifest extends ManifestFields {
  /** "slack.dev" */
  id: string;
  /** path as given, for messages */
  file: string;
  /** sha256 of the file's bytes: ties every audit record to a reviewed revision */
  hash: string;
  timeoutMs: number;
  /** 1-based line of a dotted path ("tools.post_message.channels"), or of its nearest ancestor */
  line(path: string): number;
}

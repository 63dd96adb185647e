// The fleet's connectors, and the person kinds they add. Importing this loads tool definitions only; each upstream SDK and
// sandbox loads when an instance first opens it.
import { registerPeople } from '../../shared/base/identity.js';
import { extensionsOf } from '../../shared/connector/extensions.js';
import type { Connector } from '../../shared/connector/tool.js';
import { cloudflare } from '../cloudflare/index.js';
import { doppler } from '../doppler/index.js';
import { slack } from '../slack/index.js';

export const CONNECTORS: Record<string, Connector> = { slack, doppler, cloudflare };

// the actors and approvers a call may name: the person kinds the connectors contribute, or e-mail
registerPeople(extensionsOf(CONNECTORS).people);

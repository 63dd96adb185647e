// The fleet's connectors. Importing this loads tool definitions only; each upstream SDK and
// sandbox loads when an instance first opens it.
import type { Connector } from '../../shared/connector/tool.js';
import { cloudflare } from '../cloudflare/index.js';
import { doppler } from '../doppler/index.js';
import { slack } from '../slack/index.js';

export const CONNECTORS: Record<string, Connector> = { slack, doppler, cloudflare };

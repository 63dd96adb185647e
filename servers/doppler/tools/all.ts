// Every Doppler tool, in the order the connector lists them (the minter reads their access too).
import { configActivity } from './activity.js';
import { compareConfigs } from './compare.js';
import { listConfigs, listProjects } from './projects.js';
import { getSecret, listSecretNames } from './secrets.js';
import { deleteSecret, setSecret } from './write.js';

export const TOOLS = [
  listProjects,
  listConfigs,
  listSecretNames,
  getSecret,
  compareConfigs,
  configActivity,
  setSecret,
  deleteSecret,
];

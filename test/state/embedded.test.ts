// The state contract on the embedded engine (JSONL trail + SQLite).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedState } from '../../shared/state/embedded.js';
import { tempDir } from '../helpers.js';
import { stateContract } from './contract.js';

const dir = tempDir('fleet-state-contract-');
const paths = (id: string) => ({ audit: join(dir, `${id}.jsonl`), db: join(dir, `${id}.db`) });

stateContract({
  name: 'embedded',
  open: (id) => new EmbeddedState(paths(id).audit, paths(id).db, id),
  worker: (id) => JSON.stringify({ engine: 'embedded', ...paths(id), instance: id }),
  async broken(id) {
    writeFileSync(paths(id).db, 'this is not a database, it is a corrupt state file\n'.repeat(200));
    return new EmbeddedState(paths(id).audit, paths(id).db, id);
  },
  brokenWhere: (id) => paths(id).db,
});

#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { runningFrom } from '../../shared/base/install.js';
import { main } from './main.js';

// This file is dist/cli.js itself (code splitting moves only shared code into dist/chunks/).
runningFrom(fileURLToPath(import.meta.url));

if (process.env.FLEET_TRACE_START) process.stderr.write('fleet: started from the bundle\n');
await main(process.argv);

#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { runningFrom } from '../../shared/base/install.js';
import { main } from './main.js';
import { traceStart } from './trace.js';

// This file is dist/cli.js itself (code splitting moves only shared code into dist/chunks/).
runningFrom(fileURLToPath(import.meta.url));

traceStart('started from the bundle');
await main(process.argv);

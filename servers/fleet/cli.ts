#!/usr/bin/env node
import { main } from './main.js';

if (process.env.FLEET_TRACE_START) process.stderr.write('fleet: started from the bundle\n');
await main(process.argv);

#!/usr/bin/env node
// The handoff command: `node dist/master.js <worker-script> [options]`.
import { main } from './cli/main.js';

process.exitCode = await main(process.argv.slice(2));
// Anything still open (a worker refusing to die was already SIGKILLed) must not keep us here.
process.exit();

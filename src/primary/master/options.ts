// Everything about the options that can be found wrong before a socket is
// bound: resolved, the script found, the scheduler and transport chosen, the
// cron expression and watch paths checked. Master's constructor throws them.

import path from 'node:path';
import { resolveOptions, type MasterOptions, type ResolvedOptions } from '../../cli/options.js';
import { checkCronExpression } from '../../operations/cron-restart.js';
import { checkWatchPaths } from '../../operations/watch.js';
import { resolveScheduler, type SchedulerEntry } from '../../scheduler/index.js';
import { chooseTransport, type TransportName } from '../../wire/transport.js';
import { checkWorkerScript } from '../worker-script.js';

export interface CheckedOptions {
  options: ResolvedOptions;
  scheduler: SchedulerEntry;
  transport: TransportName;
}

export function checkOptions(input: MasterOptions): CheckedOptions {
  const options = resolveOptions(input);
  options.script = checkWorkerScript(options.script);
  const scheduler = resolveScheduler(options.scheduler);
  const transport = chooseTransport(options.transport);
  if (options.cronRestart !== undefined) checkCronExpression(options.cronRestart);
  if (options.watch !== undefined) options.watch = checkWatchPaths(options.watch.length > 0 ? options.watch : [path.dirname(options.script)]);
  return { options, scheduler, transport };
}

// What makes the master reload on its own: --cron-restart and --watch.
// Both end in the same rolling reload as SIGHUP.

import { scheduleRestarts } from './cron-restart.js';
import type { Logger } from '../cli/log.js';
import type { ResolvedOptions } from '../cli/options.js';
import { startWatching } from './watch.js';
import { errorMessage } from '../errors.js';

/** Starts whichever schedules the options ask for; returns what stops them all. */
export function startSchedules(options: ResolvedOptions, log: Logger, reload: () => Promise<unknown>): () => void {
  const stops: Array<() => void> = [];
  const { cronRestart, watch } = options;
  if (cronRestart !== undefined) {
    const cron = scheduleRestarts(cronRestart, () => {
      log.log('info', `--cron-restart "${cronRestart}": rolling restart`);
      return reload();
    });
    stops.push(() => cron.stop());
  }
  if (watch !== undefined) {
    const watching = startWatching({ paths: watch, ignore: options.watchIgnore, delayMs: options.watchDelay }, log, () => void reload());
    watching.catch((error: unknown) => log.log('error', `--watch could not start: ${errorMessage(error)}`));
    stops.push(() => void watching.then((w) => w.close()).catch(() => undefined));
  }
  return () => {
    for (const stop of stops) stop();
  };
}

// Graceful shutdown (SIGTERM, SIGINT, `handoff ctl stop`, master.close()):
//  1. stop forking, checking and scheduling; close every listener (no new connections);
//  2. give the workers, for up to --kill-timeout, every connection the master
//     still holds (queued, or in flight to a worker);
//  3. drain every worker: each finishes what it has and exits, or is forced
//     out after --kill-timeout;
//  4. close what is left: connections no worker took, the pid file, the control socket.
// Exit code 0 if every connection was answered, 1 if any had to be cut.

import type { ControlServer } from '../control/server.js';
import type { DispatchHandle } from '../dispatch/handles.js';
import type { Logger } from '../cli/log.js';
import type { ResolvedOptions } from '../cli/options.js';
import { removePidFile } from '../cli/pid-file.js';
import type { Pool } from '../primary/pool.js';
import { formatDuration } from '../units.js';

export interface ShutdownParts {
  options: ResolvedOptions;
  pool: Pool;
  /** Every listening socket: the master's own (a ListenerSet) and those the app asked for (the HandleTable closes both). */
  listener: { close(): void };
  handle: DispatchHandle;
  control: ControlServer | undefined;
  log: Logger;
  /** Stops the health monitor and the schedules. */
  stopTimers(): void;
}

export async function shutDown(parts: ShutdownParts, initialCode: number): Promise<number> {
  const { options, pool, listener, handle, log } = parts;
  pool.stop();
  parts.stopTimers();
  listener.close();

  if (pool.workers().some((worker) => worker.state === 'listening')) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([handle.whenEmpty(), new Promise((resolve) => (timer = setTimeout(resolve, options.killTimeout)))]);
    clearTimeout(timer);
  }

  const workers = pool.workers();
  const exits = workers.map(
    (worker) =>
      new Promise<boolean>((resolve) => {
        if (worker.state === 'dead') return resolve(worker.exitCode === 0);
        worker.once('exit', (code, signal) => resolve(code === 0 && signal === null));
      }),
  );
  for (const worker of workers) pool.retire(worker, 'shutdown');
  const clean = await Promise.all(exits);

  const dropped = handle.closeQueued();
  if (dropped > 0) {
    log.log('warn', `${dropped} connection(s) the master held were not taken by a worker within --kill-timeout ${formatDuration(options.killTimeout)}: closed without an answer`);
  }
  const forced = clean.filter((ok) => !ok).length;
  if (forced > 0) log.log('warn', `${forced} worker(s) did not finish cleanly (forced out, or exited with an error): some requests may have been cut`);
  if (options.pidFile !== undefined) removePidFile(options.pidFile);
  await parts.control?.close(); // last: until now, `handoff ctl status` could watch the drain
  return initialCode !== 0 || dropped > 0 || forced > 0 ? Math.max(initialCode, 1) : 0;
}

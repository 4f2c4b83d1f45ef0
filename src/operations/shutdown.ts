// Graceful shutdown (SIGTERM, SIGINT, `handoff ctl stop`, master.close()):
//  0. with --shutdown-delay, keep serving that long first (status already says
//     "shutting down"), so that a load balancer stops sending;
//  1. stop forking, checking and scheduling; on every listening socket -- the
//     master's own and each of the app's other ports -- accept what the kernel
//     has already completed (shared: once the workers have stopped accepting
//     and closed their descriptors of the socket), then close them all (new
//     connections are refused; Linux would reset what a closed socket queued);
//  2. give the workers, for up to --kill-timeout, every connection the master
//     still holds (queued, or in flight to a worker);
//  3. drain every worker: each finishes what it has and exits, or is forced
//     out after --kill-timeout;
//  4. close what is left: connections no worker took, the pid file, the control socket.
// Exit code 0 if every connection was answered, 1 if any had to be cut --
// now or earlier in the master's life (../primary/cut.ts).

import type { ControlServer } from '../control/server.js';
import type { HandleTable } from '../dispatch/handle-table.js';
import type { Logger } from '../cli/log.js';
import type { ResolvedOptions } from '../cli/options.js';
import { removePidFile } from '../cli/pid-file.js';
import type { Pool } from '../primary/pool.js';
import { formatDuration } from '../units.js';

export interface ShutdownParts {
  options: ResolvedOptions;
  pool: Pool;
  /** Every address's dispatch handle; it also owns every listening socket: the master's own and those the app asked for. */
  handle: HandleTable;
  control: ControlServer | undefined;
  /** After an upgrade: the new master already serves these sockets, so there is nothing to wait for or accept. */
  handedOver: boolean;
  log: Logger;
  /** Stops the health monitor and the schedules. */
  stopTimers(): void;
}

export async function shutDown(parts: ShutdownParts, initialCode: number): Promise<number> {
  const { options, pool, handle, log } = parts;
  if (options.shutdownDelay > 0 && !parts.handedOver) {
    log.log('info', `serving on for --shutdown-delay ${formatDuration(options.shutdownDelay)} before draining`);
    await new Promise((resolve) => setTimeout(resolve, options.shutdownDelay));
  }
  pool.stop();
  parts.stopTimers();
  const deadline = Date.now() + options.killTimeout;
  // A worker ready by a UDP bind alone takes no connection (primary/master/udp-only.ts).
  const serving = (): boolean => pool.workers().some((worker) => worker.state === 'listening' && worker.servesTcp);
  if (serving() && !parts.handedOver) {
    // shared: the workers stop accepting and close their descriptors; the master accepts from here on, on every port.
    await handle.takeBack(Math.min(1000, options.killTimeout));
    // Every socket at once: reuseport's per slot (parked ones included), and the app's other ports.
    const sockets = handle.slotSockets();
    const taken = (await Promise.all(sockets.map((socket) => socket.acceptBacklog(deadline)))).reduce((a, b) => a + b, 0);
    if (taken > 0) log.log('info', `accepted ${taken} connection(s) that were waiting in the kernel's backlog before closing the listener`);
  }
  handle.close(); // every socket, reuseport's slot sockets included

  if (serving()) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([handle.whenEmpty(), new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
  }

  const workers = pool.workers();
  const exits = workers.map(
    (worker) =>
      new Promise<boolean>((resolve) => {
        // 'gone': exited, and its exit report (what it cut) has been read.
        if (worker.gone) return resolve(worker.exitCode === 0 && worker.exitSignal === null);
        worker.once('gone', () => resolve(worker.exitCode === 0 && worker.exitSignal === null));
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
  const cut = pool.cut.total;
  if (cut > 0) log.log('warn', pool.cut.summary());
  if (options.pidFile !== undefined) removePidFile(options.pidFile);
  await parts.control?.close(); // last: until now, `handoff ctl status` could watch the drain
  return initialCode !== 0 || dropped > 0 || forced > 0 || cut > 0 ? Math.max(initialCode, 1) : 0;
}

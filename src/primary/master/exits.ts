// What a worker's exit does in the master: its connections forgotten, it is
// counted and reported, then replaced if nobody asked it to go, and the
// master stops once no worker is left to serve (reforking given up, or every
// worker done under --no-restart). A successor whose worker dies before the
// handover gives up instead, and the old master goes on. And the one line
// said when too many unexpected exits stop the reforking.

import type { ResolvedOptions } from '../../cli/options.js';
import type { Logger } from '../../cli/log.js';
import type { HandleTable } from '../../dispatch/handle-table.js';
import type { Tracer } from '../../trace.js';
import { formatDuration } from '../../units.js';
import type { GiveUp, Pool } from '../pool.js';
import { describeExit, type Worker } from '../worker.js';
import type { Handover } from './handover.js';
import type { MasterMetrics } from './metrics.js';

export interface ExitContext {
  options: ResolvedOptions;
  pool: Pool;
  handle: HandleTable;
  metrics: MasterMetrics;
  handover: Handover;
  log: Logger;
  trace: Tracer | null;
  closing: () => boolean;
  close: (exitCode: number) => void;
  /** Master's 'exit' event. */
  exited: (worker: Worker, code: number | null, signal: NodeJS.Signals | null) => void;
}

export function createExitHandler(context: ExitContext): (worker: Worker, code: number | null, signal: NodeJS.Signals | null) => void {
  const { options, pool, handle, metrics, handover, log, trace } = context;
  /** With --no-restart: how each worker ended, so the master's exit says whether the job succeeded. */
  const exitCodes: number[] = [];
  return (worker, code, signal) => {
    worker.moveTo('dead');
    handle.forget(worker);
    metrics.workerTotals.exited(worker, pool.stopping);
    trace?.worker(worker.id, worker.pid, `exited (${describeExit(code, signal)})`);
    context.exited(worker, code, signal);
    const successor = handover.successor;
    if (successor?.pending && !context.closing()) {
      // A new master whose worker dies before the handover does not work: the old one goes on.
      successor.failed(`worker ${worker.id} (pid ${worker.pid}) exited before every worker was ready: ${worker.lastError?.message ?? describeExit(code, signal)}`);
      context.close(1);
      return;
    }
    if (!pool.exitExpected(worker)) {
      log.log('warn', `worker ${worker.id} (pid ${worker.pid}) exited unexpectedly (${describeExit(code, signal)})`);
      pool.replace(worker);
    }
    if (!options.restart) exitCodes.push(code === 0 && signal === null ? 0 : 1);
    if (pool.workers().length === 0 && !context.closing()) {
      if (pool.gaveUp) {
        log.log('error', 'no worker left and reforking was given up: stopping');
        context.close(1);
      } else if (!options.restart && pool.slots.every((slot) => slot.current === undefined)) {
        log.log('info', 'every worker has exited (--no-restart): stopping');
        context.close(Math.max(...exitCodes));
      }
    }
  };
}

/** Too many unexpected exits (--max-restarts): said once, as the pool stops forking. */
export function reportGiveUp(info: GiveUp, options: ResolvedOptions, log: Logger): void {
  log.log(
    'error',
    `giving up: ${info.exitsInWindow} unexpected worker exits within ${formatDuration(info.windowMs)} (--max-restarts ${options.maxRestarts}); ` +
      `not forking again. Last error: ${info.lastError}`,
  );
}

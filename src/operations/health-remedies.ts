// What the master does when the health monitor (health-monitor.ts) finds a worker
// silent, too big or too old.

import type { Tracer } from '../trace.js';
import type { HealthActions } from './health-monitor.js';
import type { Logger } from '../cli/log.js';
import type { ResolvedOptions } from '../cli/options.js';
import type { Pool } from '../primary/pool.js';
import { formatDuration, formatSize } from '../units.js';
import type { Worker } from '../primary/worker.js';

export function createHealthActions(pool: Pool, options: ResolvedOptions, log: Logger, trace: Tracer | null): HealthActions {
  /** Replacement first, then a graceful drain of the old worker; resolves once the old one has exited (or stays). */
  async function rotate(worker: Worker, reason: 'max-memory' | 'max-lifetime', why: string): Promise<void> {
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    if (!options.restart) {
      log.log('info', `worker ${worker.id} (pid ${worker.pid}) ${why}: draining it, without a replacement (--no-restart)`);
      pool.retire(worker, reason);
      return exited;
    }
    log.log('info', `worker ${worker.id} (pid ${worker.pid}) ${why}: starting its replacement, then draining it`);
    trace?.worker(worker.id, worker.pid, `rotating (${reason})`);
    if ((await pool.rotate(worker, reason)).ok) await exited;
    else log.log('warn', `worker ${worker.id} (pid ${worker.pid}) keeps serving: its replacement did not become ready`);
  }

  return {
    /** A worker stuck in a busy loop: out of the rotation at once, replaced, and killed. */
    silent(worker, silentMs) {
      const message = `no heartbeat for ${formatDuration(silentMs)} (over --heartbeat-timeout ${formatDuration(options.heartbeatTimeout)}): its event loop is blocked`;
      worker.lastError = { message, stack: message };
      log.log('warn', `worker ${worker.id} (pid ${worker.pid}) sent ${message.replace(': its', '; its')}; replacing it and killing it`);
      trace?.worker(worker.id, worker.pid, 'silent: taken out of the rotation, replaced, killed');
      pool.retire(worker, 'silent');
    },
    tooBig: (worker, rss) => rotate(worker, 'max-memory', `uses ${formatSize(rss)}, over --max-memory ${formatSize(options.maxMemory)}`),
    tooOld: (worker) => rotate(worker, 'max-lifetime', `reached --max-lifetime ${formatDuration(options.maxLifetime)}`),
  };
}

// Rolling reload (SIGUSR2, SIGHUP, `handoff ctl reload`): every worker in turn
// is replaced by a fresh process that loads the script from disk again.
//
// PM2's reload kills the old worker when the new one is not ready within
// listen_timeout, and users report dropped connections (pm2 #3143, #2729,
// #3407). Here, for each slot: fork the replacement, wait until it is ready,
// only then drain the old one -- so capacity never drops below the configured
// count. If a replacement does not become ready in --listen-timeout, the
// roll-out stops where it is and the old workers keep serving: a broken new
// version never takes down a working old one.

import type { Logger } from '../cli/log.js';
import type { Pool } from '../primary/pool.js';

export interface ReloadResult {
  ok: boolean;
  /** Workers replaced by fresh ones. */
  replaced: number;
  /** Why the roll-out stopped, when it did. */
  error?: string;
}

export async function rollingReload(pool: Pool, logger: Logger): Promise<ReloadResult> {
  pool.resetRestarts(); // a reload is a fresh start, even after a give-up
  let replaced = 0;
  for (const slot of [...pool.slots]) {
    if (pool.stopping) return { ok: false, replaced, error: 'the master is shutting down' };
    const old = slot.current;
    if (old !== undefined && (old.state === 'starting' || old.state === 'online')) continue; // already loading fresh code
    const rotation = old !== undefined && old.state === 'listening' ? await pool.rotate(old, 'reload') : await pool.refill(slot);
    if (!rotation.ok) {
      const error = `the new worker for slot ${slot.index} (worker ${rotation.worker?.id ?? '?'}) did not become ready: ${rotation.worker?.lastError?.message ?? 'it exited'}`;
      logger.log('error', `reload stopped: ${error}; ${replaced === 0 ? 'every old worker keeps' : 'the workers not yet replaced keep'} serving`);
      return { ok: false, replaced, error };
    }
    replaced++;
  }
  logger.log('info', `reload done: ${replaced} worker${replaced === 1 ? '' : 's'} replaced`);
  return { ok: true, replaced };
}

/**
 * One reload at a time. A reload asked for while one runs starts again once
 * it is over (the code may have changed again in between); more requests
 * meanwhile join that second one.
 */
export class Reloads {
  readonly #run: () => Promise<ReloadResult>;
  #running: Promise<ReloadResult> | undefined;
  #again: Promise<ReloadResult> | undefined;

  constructor(run: () => Promise<ReloadResult>) {
    this.#run = run;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  request(): Promise<ReloadResult> {
    if (this.#running === undefined) {
      this.#running = this.#run().finally(() => {
        this.#running = undefined;
      });
      return this.#running;
    }
    this.#again ??= this.#running.then(() => {
      this.#again = undefined;
      return this.request();
    });
    return this.#again;
  }
}

// Watches the live workers for the three slow ways a process goes wrong:
//  - silence: no heartbeat for --heartbeat-timeout (a busy loop, a deadlock);
//  - memory: resident set size over --max-memory (a leak);
//  - age: older than --max-lifetime (rotated on purpose, one at a time).
//
// Dong Yuanxin's "NodeJS 集群：cluster.js 和 PM2"
// (https://dongyuanxin.github.io/2022-05-07-process-cluster/) lists all three
// (心跳保活, 自动重启, 负载检测) as what a cluster master should do and cluster
// does not. PM2 checks memory every 30 s;
// this monitor looks every 250 ms, reading RSS from /proc, so a leak is caught
// within a second of crossing the line.

import type { Worker } from '../primary/worker.js';

export interface HealthOptions {
  /** 0: workers send no heartbeats, so silence means nothing. */
  heartbeatInterval: number;
  heartbeatTimeout: number;
  maxMemory: number;
  maxLifetime: number;
}

export interface HealthActions {
  /** `worker` has been silent for `silentMs`. */
  silent(worker: Worker, silentMs: number): void;
  /** `worker` uses `rss` bytes, over the limit. */
  tooBig(worker: Worker, rss: number): void;
  /** `worker` is older than --max-lifetime; resolves when its rotation is over (or failed). */
  tooOld(worker: Worker): Promise<void>;
}

const TICK_MS = 250;
/** CPU and memory of every worker are sampled this often, for status and --max-memory. */
const SAMPLE_EVERY_TICKS = 4;

export class HealthMonitor {
  readonly #workers: () => Worker[];
  readonly #options: HealthOptions;
  readonly #actions: HealthActions;
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;
  #rotating = false;
  #nextRotationAt = 0;
  #ticks = 0;

  constructor(workers: () => Worker[], options: HealthOptions, actions: HealthActions) {
    this.#workers = workers;
    this.#options = options;
    this.#actions = actions;
  }

  start(): void {
    if (this.#timer) return;
    this.#lastTick = Date.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = Date.now();
    // If this timer itself ran late, the master was stalled, and heartbeats may
    // be sitting unread in its pipes: judging silence now would kill healthy workers.
    const masterStalled = now - this.#lastTick > Math.max(1000, this.#options.heartbeatTimeout / 2);
    this.#lastTick = now;
    const sample = this.#ticks++ % SAMPLE_EVERY_TICKS === 0;
    for (const worker of this.#workers()) {
      if (sample || this.#options.maxMemory > 0) worker.usage.sample(worker.pid);
      if (worker.state !== 'listening' && worker.state !== 'online') continue;
      if (this.#options.heartbeatInterval > 0 && this.#options.heartbeatTimeout > 0 && !masterStalled) {
        const silentMs = now - worker.lastHeartbeat;
        if (silentMs > this.#options.heartbeatTimeout) {
          this.#actions.silent(worker, silentMs);
          continue;
        }
      }
      if (this.#options.maxMemory > 0 && worker.state === 'listening' && !worker.replaced && worker.usage.rss > this.#options.maxMemory) {
        this.#actions.tooBig(worker, worker.usage.rss);
      }
    }
    if (this.#options.maxLifetime > 0 && !this.#rotating && now >= this.#nextRotationAt) this.#rotateOldest(now);
  }

  /** Never more than one rotation at a time: the next starts after the previous old worker has gone. */
  #rotateOldest(now: number): void {
    const due = this.#workers()
      .filter((worker) => worker.state === 'listening' && !worker.replaced && worker.uptime(now) >= this.#options.maxLifetime)
      .sort((a, b) => (a.listeningAt ?? 0) - (b.listeningAt ?? 0))[0];
    if (due === undefined) return;
    this.#rotating = true;
    void this.#actions.tooOld(due).finally(() => {
      this.#rotating = false;
      // If the rotation failed (the replacement never became ready), do not retry at once.
      if (due.state !== 'dead') this.#nextRotationAt = Date.now() + 10_000;
    });
  }
}


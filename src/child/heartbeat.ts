// The worker's heartbeat: every --heartbeat-interval, its memory, open
// connections, requests served, and how busy its event loop is: the share of
// the interval it spent running code (eventLoopUtilization) and the 99th
// percentile of how late it ran a timer (monitorEventLoopDelay), both since
// the previous heartbeat. The master shows them in `handoff ctl status` and
// `top`, and schedulers see them on their worker view.
//
// Cheap: ELU is two counters libuv keeps anyway; the delay monitor is a
// timer every RESOLUTION_MS whose lateness goes into a histogram.

import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { CMD, type WorkerMessage } from '../wire/protocol.js';

const RESOLUTION_MS = 10;

export interface EventLoopSample {
  /** 0..1 since the previous sample. */
  elu: number;
  /** ms; the histogram's resolution is RESOLUTION_MS, so smaller delays read as ~0. */
  loopDelayP99: number;
}

export class EventLoopMonitor {
  readonly #delay: IntervalHistogram;
  #last: EventLoopUtilization;

  constructor() {
    this.#delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#delay.enable();
    this.#last = performance.eventLoopUtilization();
  }

  /** Since the previous sample (or since the monitor started). */
  sample(): EventLoopSample {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, this.#last).utilization;
    this.#last = now;
    // The histogram keeps ns, and the lateness of each RESOLUTION_MS timer: take the resolution off.
    const loopDelayP99 = this.#delay.count > 0 ? Math.max(0, this.#delay.percentile(99) / 1e6 - RESOLUTION_MS) : 0;
    this.#delay.reset();
    return { elu: Math.round(elu * 1000) / 1000, loopDelayP99: Math.round(loopDelayP99 * 100) / 100 };
  }

  stop(): void {
    this.#delay.disable();
  }
}

export interface HeartbeatParts {
  intervalMs: number;
  send: (message: WorkerMessage) => void;
  /** Open connections, and requests served, now. */
  active: () => number;
  requests: () => number;
  log: (message: string) => void;
}

/**
 * handoff's own timers must never throw into the app's process: at the fd
 * limit, process.memoryUsage() fails with EMFILE (it reads /proc), and an
 * uncaught exception here would be taken for the app's crash.
 */
export function sendHeartbeats({ intervalMs, send, active, requests, log }: HeartbeatParts): void {
  if (intervalMs <= 0) return;
  let rss = 0;
  const loop = new EventLoopMonitor();
  const readRss = guarded('reading memory usage for the heartbeat', log, () => void (rss = process.memoryUsage.rss()));
  const beat = guarded('the heartbeat', log, () => {
    readRss();
    send({ cmd: CMD, type: 'heartbeat', active: active(), rss, requests: requests(), ...loop.sample() });
  });
  setInterval(beat, intervalMs).unref();
}

/** `task`, made never to throw: a failure is logged once per `what`, and the process carries on. */
function guarded(what: string, log: (message: string) => void, task: () => void): () => void {
  let warned = false;
  return () => {
    try {
      task();
    } catch (error) {
      if (warned) return;
      warned = true;
      log(`${what} failed (${(error as NodeJS.ErrnoException).code ?? String(error)}); carrying on (logged once)`);
    }
  };
}

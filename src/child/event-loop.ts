// How busy this worker's event loop is, for the heartbeat: the share of the
// interval it spent running code (eventLoopUtilization) and the 99th
// percentile of how late it ran a timer (monitorEventLoopDelay), both since
// the previous heartbeat. The master shows them in `handoff ctl status` and
// `top`, and schedulers see them on their worker view.
//
// Cheap: ELU is two counters libuv keeps anyway; the delay monitor is a
// timer every RESOLUTION_MS whose lateness goes into a histogram.

import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

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

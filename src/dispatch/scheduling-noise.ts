// How late this process's own event loop runs, as a measure of how long a
// runnable process waits for a CPU on this machine right now. A worker that
// answers a hand-off late by no more than that says nothing about the worker:
// it was descheduled, like everyone. So `late` (lane.ts) is never less than
// NOISE_FACTOR times this. On a quiet machine it is a fraction of a
// millisecond; on one running three times as many busy processes as it has
// cores, tens of milliseconds -- where, without it, a burst of connections
// would go mostly to whichever worker happened to be on a CPU.
//
// One monitor per master process (the master's loop is the one sampled),
// read once a second: the p99 of the last second, its resolution taken off.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

const RESOLUTION_MS = 10;
const SAMPLE_EVERY_MS = 1000;

let monitor: IntervalHistogram | undefined;
let lastP99Ms = 0;

/** The p99 of the master's event-loop delay over the last second, in ms (0 until the first second has passed). */
export function schedulingNoiseMs(): number {
  if (monitor === undefined) start();
  return lastP99Ms;
}

function start(): void {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  monitor = histogram;
  setInterval(() => {
    lastP99Ms = histogram.count > 0 ? Math.max(0, histogram.percentile(99) / 1e6 - RESOLUTION_MS) : 0;
    histogram.reset();
  }, SAMPLE_EVERY_MS).unref();
}

// The latency a hand-off adds: from the moment the dispatcher accepted a
// connection to the moment it read the worker's acknowledgement, both on the
// dispatcher's own clock. For handoff, the master records it (its recorder
// answers in `handoff ctl status`, field handoffLatency); for node:cluster,
// bench/cluster-master.mjs wraps RoundRobinHandle and records the same span
// with the same histogram (below), and writes it when sent SIGUSR2.
//
// Both keep cumulative counts in the same logarithmic buckets (handoff's
// own recorder, src/operations/metrics/handoff-latency.ts, which the cluster primary
// borrows from dist/) and publish them as sparse [upper bound in µs, count]
// pairs. The bench takes a snapshot after the warm-up and one after the
// measured run and subtracts them, so the percentiles are of the measured
// run alone.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HandoffLatency, percentiles as bucketPercentiles, subtractBuckets } from '../dist/operations/metrics/handoff-latency.js';

/** The cluster primary's recorder: handoff's own. */
export { HandoffLatency as LatencyHistogram };

/** after - before (either may be null: no data). */
export function diffHistograms(before, after) {
  if (!after?.buckets) return null;
  const buckets = subtractBuckets(after.buckets, before?.buckets ?? []);
  return { count: buckets.reduce((a, [, n]) => a + n, 0), buckets };
}

/** { count, p50, p99 } in µs (each the upper bound of its bucket), or null without data. */
export function percentiles(histogram) {
  if (!histogram || histogram.count === 0) return null;
  const { count, p50, p99 } = bucketPercentiles(histogram.buckets);
  return { count, p50, p99 };
}

// ---- reading the dispatchers ------------------------------------------------------------

/** handoff: the recorder's counts from `status` on the control socket; null if this build has none. */
export function readHandoffHistogram(socketPath, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let text = '';
    const done = (value) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write(`${JSON.stringify({ id: 1, command: 'status' })}\n`));
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end === -1) return;
      try {
        const reply = JSON.parse(text.slice(0, end));
        const latency = reply.handoffLatency ?? reply.status?.handoffLatency;
        done(latency?.buckets ? { count: latency.count, buckets: latency.buckets } : null);
      } catch {
        done(null);
      }
    });
  });
}

/** node:cluster: SIGUSR2 makes bench/cluster-master.mjs write its counts to `<dir>/primary-<pid>.latency.json`. */
export async function readClusterHistogram(pid, dir, timeoutMs = 2000) {
  const file = clusterLatencyFile(dir, pid);
  const before = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')).serial : 0;
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return null;
  }
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    try {
      const data = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (data.serial > before) return data.histogram;
    } catch {
      // not written yet
    }
  }
  return null;
}

export function clusterLatencyFile(dir, pid) {
  return path.join(dir, `primary-${pid}.latency.json`);
}

// The counts each worker process writes (see app.mjs), and what they say
// about how evenly a contender spread the connections.

import fs from 'node:fs';
import path from 'node:path';

/** Map pid -> { connections, requests, at } from every `<pid>.json` in `dir`. */
export function readWorkerStats(dir) {
  const stats = new Map();
  for (const name of fs.readdirSync(dir)) {
    if (!/^\d+\.json$/.test(name)) continue;
    try {
      const data = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
      stats.set(data.pid, data);
    } catch {
      // only whole files are renamed into place, but be lenient
    }
  }
  return stats;
}

/**
 * Waits until the workers' connection counts stop changing: two snapshots,
 * each taken after every worker wrote again, with the same counts. After a
 * load run ends, connections can still arrive for a while (accepted by the
 * kernel or queued in a dispatcher while the client was stopping); they
 * belong to the run that opened them. Returns the last snapshot; gives up
 * waiting after `maxMs` (and says so) rather than hang.
 */
export async function waitQuiet(dir, intervalMs, maxMs) {
  const deadline = Date.now() + maxMs;
  let previous = readWorkerStats(dir);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    const current = readWorkerStats(dir);
    const rewritten = [...previous].every(([pid, before]) => (current.get(pid)?.at ?? Infinity) > before.at);
    if (!rewritten && Date.now() < deadline) continue; // not every worker wrote yet: look again shortly
    const same = current.size === previous.size && [...current].every(([pid, now]) => previous.get(pid)?.connections === now.connections);
    if (same) return { stats: current, quiet: true };
    if (Date.now() >= deadline) return { stats: current, quiet: false };
    previous = current;
  }
}

/** Per-worker counts at the end minus at the baseline: what the measured run alone added. */
export function diffStats(baseline, final) {
  const workers = [];
  for (const [pid, end] of final) {
    const start = baseline.get(pid) ?? { connections: 0, requests: 0 };
    // exitCode: undefined if the process never got to write it (killed, or still running).
    workers.push({ pid, connections: end.connections - start.connections, requests: end.requests - start.requests, exitCode: end.exitCode });
  }
  return workers.sort((a, b) => a.pid - b.pid);
}

/**
 * How evenly `values` (connections per worker) are spread:
 *   maxMin: max / min (1 = perfectly even; Infinity if a worker got none)
 *   jain:   Jain's fairness index (sum x)^2 / (n * sum x^2): 1 = even, 1/n = one worker got all
 *   shares: each worker's fraction of the total
 */
export function fairness(values) {
  const n = values.length;
  const total = values.reduce((a, b) => a + b, 0);
  if (n === 0 || total === 0) return { maxMin: null, jain: null, shares: [] };
  const max = Math.max(...values);
  const min = Math.min(...values);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return {
    maxMin: min === 0 ? Infinity : max / min,
    jain: (total * total) / (n * squares),
    shares: values.map((v) => v / total),
  };
}

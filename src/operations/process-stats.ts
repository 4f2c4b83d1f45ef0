// CPU time and resident memory of a process, from /proc (Linux). Elsewhere
// these return undefined and the status table shows what the worker reported.

import fs from 'node:fs';

/** Linux's USER_HZ: /proc reports CPU time in these ticks on every common architecture. */
const TICKS_PER_SECOND = 100;

export interface ProcessSample {
  /** User + system CPU time so far, in ms. */
  cpuMs: number;
  /** Resident set size, in bytes. */
  rss: number;
  /** When the sample was taken (Date.now()). */
  at: number;
}

export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    if (!Number.isFinite(ticks) || !Number.isFinite(rssKb)) return undefined;
    return { cpuMs: (ticks * 1000) / TICKS_PER_SECOND, rss: rssKb * 1024, at: Date.now() };
  } catch {
    return undefined;
  }
}

/** CPU use between two samples, in percent of one core. */
export function cpuPercent(before: ProcessSample, after: ProcessSample): number {
  const elapsed = after.at - before.at;
  return elapsed > 0 ? Math.max(0, ((after.cpuMs - before.cpuMs) / elapsed) * 100) : 0;
}

/** True if a process with this pid exists (EPERM: it does, but is not ours). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What the sampler records on a worker's record. */
export interface SampledWorker {
  readonly pid: number;
  readonly requests: number;
  rss: number;
  cpuPercent: number;
  requestsPerSecond: number;
  lastSample: (ProcessSample & { requests: number }) | undefined;
}

/** RSS now; CPU% and req/s over the last second (only on full samples, so the figures are not noise). */
export function sampleWorker(worker: SampledWorker): void {
  const sampled = sampleProcess(worker.pid);
  if (sampled === undefined) return;
  const now = { ...sampled, requests: worker.requests };
  worker.rss = now.rss;
  const previous = worker.lastSample;
  if (previous === undefined || now.at - previous.at >= 900) {
    if (previous !== undefined) {
      worker.cpuPercent = cpuPercent(previous, now);
      worker.requestsPerSecond = Math.max(0, ((now.requests - previous.requests) * 1000) / (now.at - previous.at));
    }
    worker.lastSample = now;
  }
}

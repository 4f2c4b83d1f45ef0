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

/**
 * What is measured of one worker process, and what it reports of itself:
 * the figures `handoff ctl status` shows and --max-memory checks. This object
 * is their only writer.
 */
export class Usage {
  /** Resident set size in bytes, as last measured. */
  rss = 0;
  /** HTTP requests served, as last reported, and the rate over the last sample. */
  requests = 0;
  requestsPerSecond = 0;
  /** CPU use over the last second, in percent of one core. */
  cpuPercent = 0;
  #lastSample: (ProcessSample & { requests: number }) | undefined;

  /** CPU time used so far (user + system, ms) at the last full sample; undefined before one. */
  get cpuMs(): number | undefined {
    return this.#lastSample?.cpuMs;
  }

  /** What the worker said in its heartbeat; /proc, when there is one, is read by sample() instead. */
  reported(requests: number, rss: number): void {
    this.requests = requests;
    this.rss ||= rss;
  }

  /** RSS now; CPU% and req/s over the last second (only on full samples, so the figures are not noise). */
  sample(pid: number): void {
    const sampled = sampleProcess(pid);
    if (sampled === undefined) return;
    const now = { ...sampled, requests: this.requests };
    this.rss = now.rss;
    const previous = this.#lastSample;
    if (previous === undefined || now.at - previous.at >= 900) {
      if (previous !== undefined) {
        this.cpuPercent = cpuPercent(previous, now);
        this.requestsPerSecond = Math.max(0, ((now.requests - previous.requests) * 1000) / (now.at - previous.at));
      }
      this.#lastSample = now;
    }
  }
}

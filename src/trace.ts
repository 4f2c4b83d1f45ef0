// --trace (or NODE_DEBUG=handoff): one line per step in the life of every
// connection and every worker, from every process, on one clock.
//
// The clock is process.hrtime(), which is CLOCK_MONOTONIC: the same clock in
// the master and in its workers, so lines from different processes can be
// put in order by their timestamps. Every process prints microseconds since
// the master started, whose origin it gets from HANDOFF_TRACE_ORIGIN.
//
// A line reads: time (seconds since the master started, to the microsecond),
// the process writing it (master or w<id>) and its pid, what the line is
// about (conn <seq>, the master's number for a connection; or a worker), and
// the step:
//
//   trace   0.062942  master 27540   w1 (pid 27552)  forked into slot 0
//   trace   0.909554  master 27540   conn 1          accepted by the master on fd 22, from ::ffff:127.0.0.1
//   trace   0.910609  w1     27552   conn 1          received by the worker
//
// For tests, HANDOFF_TRACE_EVENTS=<file> makes every tracing process also
// append each step to that file as one JSON object per line (a TraceEvent):
// tests wait on those objects instead of matching the printed text, which
// stays exactly as above.
//
// When tracing is off the tracer is null and every call site is guarded by
// `if (trace)` or `trace?.` (which skips evaluating the arguments too): no
// string is built and nothing else is done.

import fs from 'node:fs';

export interface Tracer {
  /** A step in the life of connection `seq`. */
  conn(seq: number | string, step: string): void;
  /** A step in the life of worker `id`. */
  worker(id: number, pid: number | undefined, step: string): void;
}

export const TRACE_ORIGIN_ENV = 'HANDOFF_TRACE_ORIGIN';
export const TRACE_EVENTS_ENV = 'HANDOFF_TRACE_EVENTS';

/** One step, as delivered to tests: `conn` for a connection's step, `worker` for a worker's. */
export interface TraceEvent {
  /** Seconds since the master started, as printed. */
  at: number;
  /** The process that wrote it: "master" or "w<id>", and its pid. */
  who: string;
  pid: number;
  conn?: number | string;
  worker?: number;
  workerPid?: number;
  step: string;
}

export function createTracer(enabled: boolean, who: string, origin: bigint, write: (line: string) => void = defaultWrite): Tracer | null {
  if (!enabled) return null;
  const events = process.env[TRACE_EVENTS_ENV];
  const emit = events ? eventWriter(events, who) : undefined;
  // Columns: time, process, pid, subject, step -- aligned, so that the eye
  // can follow one connection down the page through both processes.
  const stamp = (): string => {
    const micros = (process.hrtime.bigint() - origin) / 1000n;
    const text = micros.toString().padStart(7, '0');
    return `${text.slice(0, -6)}.${text.slice(-6)}`;
  };
  const prefix = `${who.padEnd(6)} ${String(process.pid).padEnd(7)}`;
  return {
    conn(seq, step) {
      const at = stamp();
      emit?.({ at: Number(at), conn: seq, step });
      // Padded to the width of a worker subject, "w1 (pid 12345)", so that steps line up.
      write(`trace ${at.padStart(10)}  ${prefix} ${`conn ${seq}`.padEnd(14)}  ${step}\n`);
    },
    worker(id, pid, step) {
      const at = stamp();
      emit?.({ at: Number(at), worker: id, ...(pid === undefined ? {} : { workerPid: pid }), step });
      write(`trace ${at.padStart(10)}  ${prefix} w${id}${pid === undefined ? '' : ` (pid ${pid})`}  ${step}\n`);
    },
  };
}

/** Appends each event to `file` as a line of JSON; O_APPEND keeps lines from several processes whole. */
function eventWriter(file: string, who: string): (event: Omit<TraceEvent, 'who' | 'pid'>) => void {
  return (event) => {
    try {
      fs.appendFileSync(file, `${JSON.stringify({ who, pid: process.pid, ...event })}\n`);
    } catch {
      // A test hook: never let it break the process it watches.
    }
  };
}

function defaultWrite(line: string): void {
  process.stderr.write(line);
}

export function parseTraceOrigin(text: string | undefined): bigint {
  try {
    return text ? BigInt(text) : process.hrtime.bigint();
  } catch {
    return process.hrtime.bigint();
  }
}

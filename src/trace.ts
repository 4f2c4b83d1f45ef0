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
// When tracing is off the tracer is null and every call site is guarded by
// `if (trace)` or `trace?.` (which skips evaluating the arguments too): no
// string is built and nothing else is done.

export interface Tracer {
  /** A step in the life of connection `seq`. */
  conn(seq: number | string, step: string): void;
  /** A step in the life of worker `id`. */
  worker(id: number, pid: number | undefined, step: string): void;
}

export const TRACE_ORIGIN_ENV = 'HANDOFF_TRACE_ORIGIN';

export function createTracer(enabled: boolean, who: string, origin: bigint, write: (line: string) => void = defaultWrite): Tracer | null {
  if (!enabled) return null;
  // Columns: time, process, pid, subject, step -- aligned, so that the eye
  // can follow one connection down the page through both processes.
  const stamp = (): string => {
    const micros = (process.hrtime.bigint() - origin) / 1000n;
    const text = micros.toString().padStart(7, '0');
    return `${text.slice(0, -6)}.${text.slice(-6)}`.padStart(10);
  };
  const prefix = `${who.padEnd(6)} ${String(process.pid).padEnd(7)}`;
  return {
    conn(seq, step) {
      // Padded to the width of a worker subject, "w1 (pid 12345)", so that steps line up.
      write(`trace ${stamp()}  ${prefix} ${`conn ${seq}`.padEnd(14)}  ${step}\n`);
    },
    worker(id, pid, step) {
      write(`trace ${stamp()}  ${prefix} w${id}${pid === undefined ? '' : ` (pid ${pid})`}  ${step}\n`);
    },
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

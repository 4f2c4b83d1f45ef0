// --trace (or NODE_DEBUG=handoff): one line per step in the life of every
// connection and every worker, from every process, on one clock.
//
// The clock is process.hrtime(), which is CLOCK_MONOTONIC: the same clock in
// the master and in its workers, so lines from different processes can be
// put in order by their timestamps. Every process prints microseconds since
// the master started, whose origin it gets from HANDOFF_TRACE_ORIGIN.
//
// When tracing is off the tracer is null and every call site is guarded by
// `if (trace)`: no string is built and nothing else is done.

export interface Tracer {
  /** A step in the life of connection `seq`. */
  conn(seq: number | string, step: string): void;
  /** A step in the life of worker `id`. */
  worker(id: number, pid: number | undefined, step: string): void;
}

export const TRACE_ORIGIN_ENV = 'HANDOFF_TRACE_ORIGIN';

export function createTracer(enabled: boolean, who: string, origin: bigint, write: (line: string) => void = defaultWrite): Tracer | null {
  if (!enabled) return null;
  const stamp = (): string => {
    const micros = (process.hrtime.bigint() - origin) / 1000n;
    const text = micros.toString().padStart(7, '0');
    return `${text.slice(0, -6)}.${text.slice(-6)}`;
  };
  const prefix = `${who} ${process.pid}`.padEnd(14);
  return {
    conn(seq, step) {
      write(`trace ${stamp()}  ${prefix} conn ${seq}  ${step}\n`);
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

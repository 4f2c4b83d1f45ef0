// Everything the master prints while it runs, in one of two formats:
//
//   text: 2026-11-21T03:10:00.123Z [w2 4711] a line the worker printed
//         2026-11-21T03:10:00.456Z [master 4700] warn: worker 2 (pid 4711) exited unexpectedly (exit code 1)
//   json: {"time":"...","source":"worker","worker":2,"pid":4711,"stream":"stdout","message":"a line the worker printed"}
//
// Workers' stdout and stderr come to the master through pipes and are cut
// into whole lines (worker-output.ts); each line is written with one write,
// by one process, so lines never interleave mid-line. --trace lines already
// carry their own clock and pid and pass through as they are (in text).
// The ready line and start-up errors are not log lines: they are printed
// plainly by the CLI (main.ts).
//
// A line that is one JSON object (pino, bunyan, winston's json format) stays
// one JSON object in both formats, so a log shipper still parses it: handoff's
// fields are written into it, before the app's own, and a field the app has
// already (pino's time, level, pid) is left as the app wrote it. In text mode
// such a line gets no prefix, only {"time","worker","pid","stream"} inside.

export type LogLevel = 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

export interface Logger {
  /** An event of the master's own. */
  log(level: LogLevel, message: string): void;
  /** One line a worker printed. */
  output(worker: { id: number; pid: number }, stream: 'stdout' | 'stderr', line: string): void;
  /** One --trace line, from the master or a worker. */
  trace(line: string): void;
}

export interface LoggerOptions {
  format?: LogFormat;
  timestamps?: boolean;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'text';
  const timestamps = options.timestamps ?? true;
  const stdout = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));

  if (format === 'json') {
    const emit = (write: (text: string) => void, fields: Record<string, unknown>): void => {
      write(`${JSON.stringify(timestamps ? { time: new Date().toISOString(), ...fields } : fields)}\n`);
    };
    return {
      log: (level, message) => emit(stderr, { level, source: 'master', pid: process.pid, message }),
      output: (worker, stream, line) => {
        const write = stream === 'stdout' ? stdout : stderr;
        const fields = { level: stream === 'stdout' ? 'info' : 'error', source: 'worker', worker: worker.id, pid: worker.pid, stream };
        const keys = jsonObjectKeys(line);
        if (keys === undefined) emit(write, { ...fields, message: line });
        else write(`${mergeInto(line, keys, timestamps ? { time: new Date().toISOString(), ...fields } : fields)}\n`);
      },
      trace: (line) => emit(stderr, { level: 'debug', source: 'trace', message: line.trimEnd() }),
    };
  }

  const stamp = (): string => (timestamps ? `${new Date().toISOString()} ` : '');
  const masterPrefix = `[master ${process.pid}]`;
  return {
    log(level, message) {
      const mark = level === 'info' ? '' : `${level}: `;
      const time = stamp();
      // A multi-line message (a stack) keeps the prefix on every line, so each one still says whose it is.
      stderr(`${message.split('\n').map((line, index) => `${time}${masterPrefix} ${index === 0 ? mark : ''}${line}`).join('\n')}\n`);
    },
    output(worker, stream, line) {
      const write = stream === 'stdout' ? stdout : stderr;
      const keys = jsonObjectKeys(line);
      if (keys === undefined) return write(`${stamp()}[w${worker.id} ${worker.pid}] ${line}\n`);
      const fields = { worker: worker.id, pid: worker.pid, stream };
      write(`${mergeInto(line, keys, timestamps ? { time: new Date().toISOString(), ...fields } : fields)}\n`);
    },
    trace(line) {
      stderr(line.endsWith('\n') ? line : `${line}\n`);
    },
  };
}

/** The keys of `line` if it is one JSON object, else undefined. */
function jsonObjectKeys(line: string): Set<string> | undefined {
  const text = line.trim();
  if (!text.startsWith('{') || !text.endsWith('}')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? new Set(Object.keys(value)) : undefined;
  } catch {
    return undefined;
  }
}

/** The app's JSON object with `fields` it lacks written in first; the app's own text is kept as it is. */
function mergeInto(line: string, keys: ReadonlySet<string>, fields: Record<string, unknown>): string {
  const text = line.trim();
  const ours = Object.entries(fields).filter(([key]) => !keys.has(key));
  if (ours.length === 0) return text;
  const head = JSON.stringify(Object.fromEntries(ours)).slice(0, -1); // {"time":"...","worker":2
  return keys.size === 0 ? `${head}}` : `${head},${text.slice(1)}`;
}

export const silentLogger: Logger = { log() {}, output() {}, trace() {} };

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
      output: (worker, stream, line) =>
        emit(stream === 'stdout' ? stdout : stderr, { level: stream === 'stdout' ? 'info' : 'error', source: 'worker', worker: worker.id, pid: worker.pid, stream, message: line }),
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
      (stream === 'stdout' ? stdout : stderr)(`${stamp()}[w${worker.id} ${worker.pid}] ${line}\n`);
    },
    trace(line) {
      stderr(line.endsWith('\n') ? line : `${line}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {}, output() {}, trace() {} };

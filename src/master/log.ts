// The master's own log lines. One line per event, prefixed "handoff:", on
// stderr; the ready line and nothing else goes to stdout.

export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string): void;
}

export function createStderrLogger(write: (text: string) => void = (text) => process.stderr.write(text)): Logger {
  return {
    log(level, message) {
      const mark = level === 'info' ? '' : `${level}: `;
      write(`handoff: ${mark}${message}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };

// Coded errors, in the manner of undici and Node itself: callers and tests
// match on `code`, never on the wording of `message`. Every message is one
// line saying what was wrong and what to do about it.

export type HandoffErrorCode =
  | 'ERR_HANDOFF_INVALID_OPTION'
  | 'ERR_HANDOFF_UNKNOWN_OPTION'
  | 'ERR_HANDOFF_MISSING_SCRIPT'
  | 'ERR_HANDOFF_SCRIPT_NOT_FOUND'
  | 'ERR_HANDOFF_SCRIPT_IS_DIRECTORY'
  | 'ERR_HANDOFF_LISTEN'
  | 'ERR_HANDOFF_UNKNOWN_SCHEDULER'
  | 'ERR_HANDOFF_INVALID_SCHEDULER'
  | 'ERR_HANDOFF_INVALID_CONFIG'
  | 'ERR_HANDOFF_GIVE_UP'
  | 'ERR_HANDOFF_NOT_RUNNING'
  | 'ERR_HANDOFF_CONTROL'
  | 'ERR_HANDOFF_PID_FILE'
  | 'ERR_HANDOFF_RELOAD_FAILED'
  | 'ERR_HANDOFF_UPGRADE_FAILED'
  | 'ERR_HANDOFF_PRIMARY';

export class HandoffError extends Error {
  readonly code: HandoffErrorCode;

  constructor(code: HandoffErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandoffError';
    this.code = code;
  }
}

/** A flag or option has a value we cannot use. `option` is its CLI name. */
export class InvalidOptionError extends HandoffError {
  readonly option: string;
  readonly value: unknown;
  readonly expected: string;

  constructor(option: string, value: unknown, expected: string) {
    super('ERR_HANDOFF_INVALID_OPTION', `--${option} ${describe(value)}: expected ${expected}`);
    this.option = option;
    this.value = value;
    this.expected = expected;
  }
}

/** Binding the listening socket failed (EADDRINUSE, EACCES, EADDRNOTAVAIL...). */
export class ListenError extends HandoffError {
  readonly host: string;
  readonly port: number;
  readonly errno: string;

  constructor(host: string, port: number, errno: string) {
    super('ERR_HANDOFF_LISTEN', `cannot listen on ${formatHostPort(host, port)}: ${errno} (${listenAdvice(errno)})`);
    this.host = host;
    this.port = port;
    this.errno = errno;
  }
}

function listenAdvice(errno: string): string {
  switch (errno) {
    case 'EADDRINUSE':
      return 'another process is using this port; stop it or pick another with --port';
    case 'EACCES':
      return 'ports below 1024 need extra privileges; pick a higher --port';
    case 'EADDRNOTAVAIL':
      return 'this machine has no such address; check --host';
    default:
      return 'check --host and --port';
  }
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface DescribeOptions {
  /** What an undefined value reads as. */
  missing?: string;
  /** Strings in single quotes ('abc'), as a flag's value is shown; otherwise as JSON ("abc"). */
  quoteStrings?: boolean;
  /** Longer text is cut here and ends with "...". */
  maxLength?: number;
}

/** A value as an error message quotes it: the one describe() of the code base. */
export function describe(value: unknown, { missing = '(missing value)', quoteStrings = true, maxLength = Infinity }: DescribeOptions = {}): string {
  if (value === undefined) return missing;
  if (quoteStrings && typeof value === 'string') return `'${value}'`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > maxLength ? `${text.slice(0, maxLength)}...` : text;
}

/** What was thrown, as one line: its message (anything thrown need not be an Error). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What was thrown, with its class: "TypeError: x is not a function". */
export function errorSummary(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function isHandoffError(error: unknown): error is HandoffError {
  return error instanceof HandoffError;
}

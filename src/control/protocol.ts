// The control protocol between `handoff ctl` and a master: one JSON object
// per line, each way, over the control socket.
//
//   → {"id":1,"command":"status"}
//   ← {"id":1,"ok":true,"command":"status","status":{...}}
//   → {"id":2,"command":"scale","workers":"+1"}
//   ← {"id":2,"ok":true,"command":"scale","workers":3,"previous":2}
//   → hello
//   ← {"ok":false,"code":"ERR_HANDOFF_CONTROL","error":"request is not JSON: ..."}
//
// `id` is optional and echoed back, so a client may pipeline requests; the
// master answers the requests of one connection in order. Newline-delimited
// JSON needs no framing library, and `socat - UNIX-CONNECT:<path>` speaks it.

import type { HandoffErrorCode } from '../errors.js';
import type { MasterStatus } from './status.js';
import { describe } from '../errors.js';
import { parseCount } from '../units.js';

/** The longest request line the master reads; a longer one is answered with an error and the connection closed. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Control connections open at once; more are answered with an error and closed. */
export const MAX_CONNECTIONS = 32;
/** A connection that sends nothing for this long is told so and closed (a `top` asks every second). */
export const IDLE_TIMEOUT_MS = 30_000;

export type RequestId = number | string;

export type ControlRequest =
  | { id?: RequestId; command: 'status' }
  /** Rolling reload; answered once the roll-out has finished. */
  | { id?: RequestId; command: 'reload' }
  /** A number of workers, or "+N" / "-N". */
  | { id?: RequestId; command: 'scale'; workers: number | string }
  /** Answered, then the graceful shutdown starts; the connection closes once the master has stopped. */
  | { id?: RequestId; command: 'stop' }
  /**
   * Replace the master by a new one on the same sockets; `node` is the binary to run it on.
   * Answered once the new master has taken over (then the connection closes when the old one
   * has drained and exited) or the upgrade has been rolled back.
   */
  | { id?: RequestId; command: 'upgrade'; node?: string };

export type ControlCommand = ControlRequest['command'];
export type RequestFor<C extends ControlCommand> = Extract<ControlRequest, { command: C }>;

export type ControlReply =
  | { id?: RequestId; ok: true; command: 'status'; status: MasterStatus }
  | { id?: RequestId; ok: true; command: 'reload'; replaced: number }
  | { id?: RequestId; ok: true; command: 'scale'; workers: number; previous: number }
  | { id?: RequestId; ok: true; command: 'stop'; pid: number }
  | { id?: RequestId; ok: true; command: 'upgrade'; pid: number; previous: number; node: string }
  | ControlErrorReply;

export interface ControlErrorReply {
  id?: RequestId;
  ok: false;
  code: HandoffErrorCode;
  error: string;
}

export type ReplyFor<C extends ControlCommand> = Extract<ControlReply, { ok: true; command: C }>;
/** A success reply without its id: what a command handler produces. */
export type ResultFor<C extends ControlCommand> = C extends ControlCommand ? Omit<ReplyFor<C>, 'id'> : never;

export function errorReply(code: HandoffErrorCode, error: string, id?: RequestId): ControlErrorReply {
  return id === undefined ? { ok: false, code, error } : { id, ok: false, code, error };
}

export function encode(message: ControlRequest | ControlReply): string {
  return `${JSON.stringify(message)}\n`;
}

// ---- validation ----------------------------------------------------------------
// Anything may arrive on the socket; only a well-formed request reaches a handler.

type Shape = Record<string, unknown>;

const requestChecks: { readonly [C in ControlCommand]: (request: Shape) => string | undefined } = {
  status: () => undefined,
  reload: () => undefined,
  scale: (r) =>
    (typeof r['workers'] === 'number' && Number.isSafeInteger(r['workers'])) || (typeof r['workers'] === 'string' && parseCount(r['workers'].trim()) !== undefined)
      ? undefined
      : `scale needs "workers": a whole number, or "+N" / "-N" (got ${shown(r['workers'])})`,
  stop: () => undefined,
  upgrade: (r) =>
    r['node'] === undefined || (typeof r['node'] === 'string' && r['node'] !== '' && r['node'].length <= 4096)
      ? undefined
      : `upgrade's "node" must be the path of a node binary (got ${describe(r['node'])})`,
};

export const commandNames = Object.keys(requestChecks) as ControlCommand[];

/** A valid id is echoed back; anything else (an object, a huge string) is dropped. */
function readId(value: unknown): RequestId | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && value.length <= 128) return value;
  return undefined;
}

/** The request on one line, or the error reply it deserves. */
export function decodeRequest(line: string): { request: ControlRequest } | { error: ControlErrorReply } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return { error: errorReply('ERR_HANDOFF_CONTROL', `request is not JSON: ${(error as Error).message}; send one JSON object per line, e.g. {"command":"status"}`) };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { error: errorReply('ERR_HANDOFF_CONTROL', `request must be a JSON object such as {"command":"status"}, not ${shown(parsed)}`) };
  }
  const shape = parsed as Shape;
  const id = readId(shape['id']);
  const command = shape['command'];
  const check = typeof command === 'string' && Object.hasOwn(requestChecks, command) ? requestChecks[command as ControlCommand] : undefined;
  if (check === undefined) {
    return { error: errorReply('ERR_HANDOFF_CONTROL', `unknown command ${shown(command)}: expected one of ${commandNames.join(', ')}`, id) };
  }
  const problem = check(shape);
  if (problem !== undefined) return { error: errorReply('ERR_HANDOFF_CONTROL', problem, id) };
  const request = { ...shape, command } as ControlRequest;
  if (id === undefined) delete request.id;
  else request.id = id;
  return { request };
}

/** A reply as the client reads it: an object with a boolean `ok`; anything else is a broken master. */
export function decodeReply(line: string): ControlReply | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as Shape)['ok'] !== 'boolean') return undefined;
    return parsed as ControlReply;
  } catch {
    return undefined;
  }
}

function shown(value: unknown): string {
  return describe(value, { missing: 'nothing', quoteStrings: false, maxLength: 40 });
}

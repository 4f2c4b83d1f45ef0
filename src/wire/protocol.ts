// The IPC protocol between the master and the worker runtime, as one typed
// union per direction.
//
// Node hands every message whose `cmd` starts with "NODE_" to the
// undocumented 'internalMessage' event instead of 'message' (see isInternal()
// in lib/internal/child_process.js). cluster tags its traffic 'NODE_CLUSTER';
// we tag ours 'NODE_HANDOFF'. That is the whole trick that lets the user's
// own process.send() / process.on('message') traffic pass through untouched,
// in both directions: user code never sees ours, and ours never sees theirs.

export const CMD = 'NODE_HANDOFF';
export type Cmd = typeof CMD;

/** How a worker's server came to be attached to the master's listener. */
export type ScriptForm = 'listen' | 'server-export' | 'handler-export';

/** Why a worker is asked to drain ('disconnect': the app called cluster.worker.disconnect()). */
export type DrainReason = 'suicide' | 'shutdown' | 'reload' | 'scale-down' | 'max-memory' | 'max-lifetime' | 'master-gone' | 'disconnect';

export interface SerializedError {
  message: string;
  stack: string;
}

// ---- master -> worker -------------------------------------------------------

export type MasterMessage =
  /**
   * A connection; the accepted TCP handle rides with it (rr). `listener`: which
   * of the master's listening sockets accepted it, so the worker hands it to the
   * server that listens there (0, or absent: the master's own, from --port).
   */
  | { cmd: Cmd; type: 'conn'; seq: number; listener?: number }
  /**
   * The answer to a worker's `listen-request`: the listener id and the address
   * it is bound to, or the bind's negative errno (the worker's listen() emits it
   * as Node's own EADDRINUSE/EACCES error). Under shared, the socket rides with it.
   */
  | { cmd: Cmd; type: 'listen-reply'; request: number; listener: number; address: ListenAddress; errno: number }
  /**
   * The answer to a `udp-request`: `socket`, the master's id for it, with the
   * bound UDP socket riding along ('dgram.Native'), or the bind's negative errno.
   */
  | { cmd: Cmd; type: 'udp-reply'; request: number; socket: number; errno: number }
  /** The master's bound listening socket rides with it; the worker accepts on it (shared). */
  | { cmd: Cmd; type: 'listen-handle' }
  /** shared, at shutdown: stop accepting on every listening socket the master sent (its own port's and the app's other ports'); hand-offs from the master only from now on. Answered with 'unshared'. */
  | { cmd: Cmd; type: 'unshare' }
  /** Stop taking connections, finish what is open, exit; force exit after timeoutMs. */
  | { cmd: Cmd; type: 'drain'; reason: DrainReason; timeoutMs: number }
  /** A message from another worker (or the master) for the user's code. */
  | { cmd: Cmd; type: 'relay'; from: number | 'master'; data: unknown }
  /** The current shared state, sent before a worker is marked ready and on every change. */
  | { cmd: Cmd; type: 'state'; state: Record<string, unknown> }
  /** A scrape of --metrics: send the app's prom-client registry (worker/app-metrics.ts). */
  | { cmd: Cmd; type: 'metrics-req'; id: number };

// ---- worker -> master -------------------------------------------------------

export type WorkerMessage =
  /** The runtime is up and is about to load the user's script. */
  | { cmd: Cmd; type: 'online' }
  /**
   * The worker is ready: the user's server is attached, so it can take connections (`form`). `tls`: it is a
   * tls.Server (https, http2 secure). `asked`: for form 'listen', the address its listen() named, which the
   * master may serve on its own (--port). Without `form`: no TCP server yet, but a shared UDP bind()
   * succeeded, which is cluster's 'listening' too (addressType 'udp4'); if a TCP server is attached later,
   * a second `listening` with its `form` follows, and only then does the worker get connections.
   */
  | { cmd: Cmd; type: 'listening'; form?: ScriptForm; tls?: boolean; asked?: AskedAddress }
  /** A TCP listen() other than the master's own: bind it once for every worker (cluster's queryServer). */
  | { cmd: Cmd; type: 'listen-request'; request: number; address: string | null; port: number; addressType: 4 | 6 }
  /** The app closed its server on that listener: no more connections for it there. */
  | { cmd: Cmd; type: 'listen-close'; listener: number }
  /**
   * A dgram bind() that is not exclusive: the master binds the address once and
   * sends every worker that asks the same socket (cluster's queryServer for
   * UDP). `address` is resolved; `index` counts this worker's open binds of
   * the same address, port and type, so a second bind of port 0 is a second socket.
   */
  | { cmd: Cmd; type: 'udp-request'; request: number; address: string; port: number; addressType: 'udp4' | 'udp6'; flags: number; index: number }
  /** The app closed its UDP socket `socket`: the master closes its copy once no worker holds it. */
  | { cmd: Cmd; type: 'udp-close'; socket: number }
  /** Answers for connections received: accepted ones are the worker's now, refused ones go elsewhere. */
  | { cmd: Cmd; type: 'ack'; accepted: number[]; refused: number[]; active: number }
  /** shared: it no longer accepts on the listening socket, and has closed its descriptor of it. */
  | { cmd: Cmd; type: 'unshared' }
  /** The user's script threw while loading. */
  | { cmd: Cmd; type: 'load-error'; error: SerializedError }
  /** uncaughtException/unhandledRejection: replace me now, I am draining and will exit. */
  | { cmd: Cmd; type: 'suicide'; error: SerializedError }
  /** Open connections changed (only if the scheduler needs it: WorkerConfig.reportLoad); at most one per event-loop turn. */
  | { cmd: Cmd; type: 'load'; active: number }
  /**
   * Sent every heartbeat interval; also carries load figures (`requests`: HTTP
   * requests served so far; `elu` 0..1 and `loopDelayP99` in ms: how busy and
   * how late the event loop was since the last heartbeat, see child/heartbeat.ts).
   */
  | { cmd: Cmd; type: 'heartbeat'; active: number; rss: number; requests: number; elu: number; loopDelayP99: number }
  /**
   * Written as the process exits (its 'exit' event), however it exits: the
   * HTTP requests it received and never finished answering (`inFlight`) and
   * its open connections (`open`). The master counts them as cut.
   */
  | { cmd: Cmd; type: 'exiting'; code: number; inFlight: number; open: number }
  /** The drain began (for the trace and for status). */
  | { cmd: Cmd; type: 'draining'; reason: DrainReason; active: number }
  /** User code asked to broadcast to all workers, or to send to the master. */
  | { cmd: Cmd; type: 'broadcast'; data: unknown; includeSelf: boolean }
  | { cmd: Cmd; type: 'to-master'; data: unknown }
  /** User code changed the shared state: set a key, or add to a number atomically. */
  | { cmd: Cmd; type: 'set-state'; key: string; value: unknown }
  | { cmd: Cmd; type: 'increment-state'; key: string; by: number }
  /**
   * The answer to metrics-req `id`: prom-client's getMetricsAsJSON() of the app's
   * default registry, null if the app has not loaded prom-client (or `error`).
   * Id 0: the last snapshot, sent as the worker exits.
   */
  | { cmd: Cmd; type: 'metrics'; id: number; metrics: unknown[] | null; error?: string };

/** What the app's listen() named: host as given (undefined: all interfaces), and port. */
export interface AskedAddress {
  host?: string;
  port: number;
}

/** A bound address, as getsockname() reports it. */
export interface ListenAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export type WorkerMessageType = WorkerMessage['type'];
export type MasterMessageType = MasterMessage['type'];

/**
 * The fast transport writes `conn` messages by hand, seq first, so that the
 * receiving side can recognise one from its first bytes (see fast-handoff.ts installFastReceiver).
 * Node's own handle messages always start with '{"cmd":'.
 */
export const FAST_CONN_PREFIX = '{"seq":';
/** What follows the seq when the connection is for a listener other than the master's own. */
export const FAST_LISTENER_FIELD = ',"listener":';
export function fastConnMessage(seq: number, listener = 0): string {
  const field = listener === 0 ? '' : `${FAST_LISTENER_FIELD}${listener}`;
  return `${FAST_CONN_PREFIX}${seq}${field},"cmd":"${CMD}","type":"conn"}\n`;
}

/**
 * How every `ack` line starts. It is JSON.stringify's own order, so Node's
 * channel can parse the line whenever the master does not read it itself
 * (--transport send, a line split across reads); and it starts with our tag,
 * so no user message can look like it unless it already claims to be ours.
 */
export const ACK_LINE_PREFIX = `{"cmd":"${CMD}","type":"ack","accepted":[`;
/** What follows the accepted seqs, and the refused ones. */
export const ACK_REFUSED_FIELD = '],"refused":[';
export const ACK_ACTIVE_FIELD = '],"active":';

/**
 * An `ack` written by hand (the hot path: one per event-loop turn under load),
 * identical to JSON.stringify's; the master reads it by hand too (fast-handoff.ts installAckReceiver).
 */
export function ackLine(accepted: readonly number[], refused: readonly number[], active: number): string {
  return `${ACK_LINE_PREFIX}${accepted.join(',')}${ACK_REFUSED_FIELD}${refused.join(',')}${ACK_ACTIVE_FIELD}${active}}\n`;
}

export function isHandoffMessage(message: unknown): message is { cmd: Cmd; type: string } {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { cmd?: unknown }).cmd === CMD &&
    typeof (message as { type?: unknown }).type === 'string'
  );
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    return { message: `${error.name}: ${error.message}`, stack: error.stack ?? String(error) };
  }
  const text = `non-error thrown: ${safeString(error)}`;
  return { message: text, stack: text };
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

// ---- validation ---------------------------------------------------------------
// Anything tagged NODE_HANDOFF is checked before a handler sees it: user code
// can send messages with our tag too, and a malformed one must be dropped,
// never crash the master.

type Shape = Record<string, unknown>;
const isSeqList = (value: unknown): boolean => Array.isArray(value) && value.every((seq) => Number.isSafeInteger(seq));
const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isShare = (value: unknown): boolean => isCount(value) && (value as number) <= 1;
const isMs = isCount;
const isUint32 = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff;
const isPort = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 0 && (value as number) < 65536;
const isError = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as Shape)['message'] === 'string' && typeof (value as Shape)['stack'] === 'string';

const workerMessageChecks: { readonly [T in WorkerMessageType]: (message: Shape) => boolean } = {
  online: () => true,
  listening: (m) => m['form'] === undefined || m['form'] === 'listen' || m['form'] === 'server-export' || m['form'] === 'handler-export',
  ack: (m) => isSeqList(m['accepted']) && isSeqList(m['refused']) && isCount(m['active']),
  unshared: () => true,
  'load-error': (m) => isError(m['error']),
  suicide: (m) => isError(m['error']),
  load: (m) => isCount(m['active']),
  heartbeat: (m) => isCount(m['active']) && isCount(m['rss']) && isCount(m['requests']) && isShare(m['elu']) && isMs(m['loopDelayP99']),
  exiting: (m) => typeof m['code'] === 'number' && isCount(m['inFlight']) && isCount(m['open']),
  draining: (m) => typeof m['reason'] === 'string' && isCount(m['active']),
  broadcast: (m) => typeof m['includeSelf'] === 'boolean' && 'data' in m,
  'to-master': (m) => 'data' in m,
  'set-state': (m) => typeof m['key'] === 'string' && m['key'] !== '',
  'listen-request': (m) =>
    Number.isSafeInteger(m['request']) && (m['address'] === null || typeof m['address'] === 'string') && isPort(m['port']) && (m['addressType'] === 4 || m['addressType'] === 6),
  'listen-close': (m) => Number.isSafeInteger(m['listener']),
  'udp-request': (m) =>
    Number.isSafeInteger(m['request']) && typeof m['address'] === 'string' && isPort(m['port']) &&
    (m['addressType'] === 'udp4' || m['addressType'] === 'udp6') && isUint32(m['flags']) && isUint32(m['index']),
  'udp-close': (m) => Number.isSafeInteger(m['socket']),
  'increment-state': (m) => typeof m['key'] === 'string' && m['key'] !== '' && typeof m['by'] === 'number' && Number.isFinite(m['by']),
  metrics: (m) => isCount(m['id']) && (m['metrics'] === null || Array.isArray(m['metrics'])) && (m['error'] === undefined || typeof m['error'] === 'string'),
};

/** The message, if it is a well-formed handoff message from a worker; undefined otherwise. */
export function decodeWorkerMessage(raw: unknown): WorkerMessage | undefined {
  if (!isHandoffMessage(raw)) return undefined;
  const check = (workerMessageChecks as Record<string, ((message: Shape) => boolean) | undefined>)[raw.type];
  return check !== undefined && check(raw as unknown as Shape) ? (raw as WorkerMessage) : undefined;
}

// ---- start-up configuration ----------------------------------------------------

/** Given to each worker runtime in the HANDOFF_WORKER environment variable. */
export interface WorkerConfig {
  id: number;
  slot: number;
  script: string;
  /** rr family: connections arrive one by one from the master; shared: the worker accepts itself. */
  accepts: 'master' | 'self';
  address: ListenAddress;
  killTimeout: number;
  heartbeatInterval: number;
  /** Ready only once the app calls process.send('ready') (PM2's wait_ready). */
  waitReady: boolean;
  /** The master sends this signal with every drain request; it must not kill the worker by itself. */
  killSignal: NodeJS.Signals;
  trace: boolean;
  /** The scheduler reads open-connection counts: report each change (child/connections/connection-count.ts). */
  reportLoad: boolean;
  /** The master serves --metrics: send the app's last metrics before exiting, so its counters stay counted. */
  metrics: boolean;
}

export const WORKER_CONFIG_ENV = 'HANDOFF_WORKER';

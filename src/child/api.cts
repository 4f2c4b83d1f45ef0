// handoff/worker: what a worker's own code uses to reach the other workers
// and the master.
//
//   import { broadcast, onMessage, incrementState, getState } from 'handoff/worker';
//
// It is CommonJS so that both `require('handoff/worker')` and `import` work
// on Node 20. It holds no state: it talks to the channel the worker runtime
// installed on globalThis (see channel.ts).

interface Channel {
  readonly id: number;
  readonly slot: number;
  readonly state: Readonly<Record<string, unknown>>;
  broadcast(data: unknown, options?: { includeSelf?: boolean }): void;
  sendToMaster(data: unknown): void;
  setState(key: string, value: unknown): void;
  incrementState(key: string, by: number): void;
  on(event: 'message', listener: (data: unknown, from: number | 'master') => void): unknown;
  on(event: 'state', listener: (state: Readonly<Record<string, unknown>>) => void): unknown;
  onDrain(listener: (reason: string, deadline: number) => void): void;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

const CHANNEL_KEY = Symbol.for('handoff.worker.channel');

function channel(): Channel {
  const found = (globalThis as Record<symbol, unknown>)[CHANNEL_KEY] as Channel | undefined;
  if (found === undefined) {
    const error = new Error('handoff/worker: this process is not a handoff worker; start it with: handoff <script>') as Error & { code: string };
    error.code = 'ERR_HANDOFF_NOT_RUNNING';
    throw error;
  }
  return found;
}

/** True when this code runs in a worker started by handoff. */
function isWorker(): boolean {
  return (globalThis as Record<symbol, unknown>)[CHANNEL_KEY] !== undefined;
}

/** This worker's id (unique, never reused) and slot (0..n-1, inherited by its replacement). */
function workerInfo(): { id: number; slot: number } {
  const { id, slot } = channel();
  return { id, slot };
}

/** Sends `data` to every other worker (and to this one too with includeSelf). At most 64 KiB of JSON. */
function broadcast(data: unknown, options: { includeSelf?: boolean } = {}): void {
  channel().broadcast(data, options);
}

/** Sends `data` to the master, where it is emitted as a 'message' event. */
function send(data: unknown): void {
  channel().sendToMaster(data);
}

/** Calls `listener(data, from)` for every broadcast from another worker (`from` is its id) or the master. Returns an unsubscribe function. */
function onMessage(listener: (data: unknown, from: number | 'master') => void): () => void {
  const c = channel();
  c.on('message', listener);
  return () => void c.off('message', listener as never);
}

/** The shared state as this worker last heard it (a frozen snapshot). */
function getState(): Readonly<Record<string, unknown>> {
  return channel().state;
}

/** Sets a key of the shared state (undefined deletes it). The master applies it and sends everyone the new state. */
function setState(key: string, value: unknown): void {
  channel().setState(key, value);
}

/** Adds `by` (default 1) to a numeric key, atomically: concurrent increments from many workers all count. */
function incrementState(key: string, by = 1): void {
  channel().incrementState(key, by);
}

/** Calls `listener(state)` whenever the shared state changes. Returns an unsubscribe function. */
function onState(listener: (state: Readonly<Record<string, unknown>>) => void): () => void {
  const c = channel();
  c.on('state', listener);
  return () => void c.off('state', listener as never);
}

/**
 * Calls `listener(reason, deadline)` once, when this worker begins to drain
 * (shutdown, reload, scale-down, rotation, a crash: `reason`), besides the
 * kill signal. handoff closes idle HTTP connections and sends HTTP/2 GOAWAY
 * itself; what only the app can end politely (WebSockets: close with 1001,
 * Going Away; raw TCP) it should end now. Whatever is still open at
 * `deadline` (ms since the epoch) is cut. Returns an unsubscribe function.
 */
function onDrain(listener: (reason: string, deadline: number) => void): () => void {
  const c = channel();
  c.onDrain(listener);
  return () => void c.off('drain', listener as never);
}

// One object literal of plain names: Node's CommonJS lexer then sees each name,
// so `import { broadcast } from 'handoff/worker'` works from ES modules too.
export = { isWorker, workerInfo, broadcast, send, onMessage, getState, setState, incrementState, onState, onDrain };

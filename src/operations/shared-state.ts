// State shared by all workers, kept in the master (from Dong Yuanxin, "NodeJS 集群：cluster.js 和 PM2",
// https://dongyuanxin.github.io/2022-05-07-process-cluster/, section 如何实现状态共享:
// "one process keeps the common state; the others report to it over IPC, and
// it syncs the new state back to everyone").
//
// Workers change it only through the master, one message at a time, so an
// update is atomic: `increment` from many workers at once loses nothing,
// which read-modify-write from each worker would. Every change is sent to
// every worker as a whole snapshot, and a new worker gets the snapshot before
// it is marked ready.
//
// Sizes are bounded so a runaway app cannot make the master hold or send
// unbounded data: one relayed message or state value at most MAX_MESSAGE_BYTES
// of JSON, the whole state at most MAX_STATE_BYTES.

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_STATE_BYTES = 1024 * 1024;

export type StateChange = { ok: true } | { ok: false; reason: string };

export class SharedState {
  #values: Record<string, unknown> = {};
  #bytes = 2; // "{}"

  snapshot(): Record<string, unknown> {
    return this.#values;
  }

  set(key: string, value: unknown): StateChange {
    const size = jsonSize(value);
    if (size === undefined) return { ok: false, reason: `the value for '${key}' cannot be sent as JSON` };
    if (size > MAX_MESSAGE_BYTES) return { ok: false, reason: `the value for '${key}' is ${size} bytes of JSON, over the ${MAX_MESSAGE_BYTES}-byte limit` };
    const next = { ...this.#values };
    if (value === undefined) delete next[key];
    else next[key] = value;
    const total = jsonSize(next) ?? Infinity;
    if (total > MAX_STATE_BYTES) return { ok: false, reason: `the shared state would be ${total} bytes of JSON, over the ${MAX_STATE_BYTES}-byte limit` };
    this.#values = next;
    this.#bytes = total;
    return { ok: true };
  }

  /** Adds `by` to a numeric value (a missing key counts as 0). */
  increment(key: string, by: number): StateChange {
    const current = this.#values[key] ?? 0;
    if (typeof current !== 'number') return { ok: false, reason: `'${key}' holds a ${typeof current}, not a number` };
    if (!Number.isFinite(by)) return { ok: false, reason: `cannot add ${by} to '${key}'` };
    return this.set(key, current + by);
  }

  get bytes(): number {
    return this.#bytes;
  }
}

/** Size of `value` as JSON, or undefined if it cannot be serialized. */
export function jsonSize(value: unknown): number | undefined {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : Buffer.byteLength(text);
  } catch {
    return undefined;
  }
}

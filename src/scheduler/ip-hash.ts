// ip-hash: the same client address always reaches the same worker while that
// worker lives (sticky sessions without cookies; nginx's ip_hash).
//
// Node core declined sticky scheduling (nodejs/node#18315, #22946). The
// libraries that add it (sticky-session, egg's sticky mode) pick
// `hash(ip) % workers.length`, so when the number of listening workers
// changes -- one dies, and until its replacement is up -- almost every client
// is remapped, not only the dead worker's.
//
// handoff uses rendezvous hashing (highest random weight, Thaler & Ravishankar
// 1996) over stable worker *slots*: each listening worker's slot gets a
// weight, hash(client, slot), and the client goes to the heaviest. Remove a
// slot and only the clients whose heaviest it was move (each to its second
// heaviest); the replacement inherits the slot, so they come back, and nobody
// else ever moved. No ring to build or rebalance: n small hashes per
// connection, which is nothing next to the hand-off itself.
//
// Stickiness wins over load: a worker whose hand-off window is full still
// gets its clients. Not over a refusal, though: a connection that was already
// refused (or lost by a dying worker) and finds its worker busy goes to its
// next choice, so it cannot bounce back and forth forever.

import type { ConnectionInfo, Scheduler, WorkerView } from './types.js';

/** An IPv4 client seen by a dual-stack listener (::ffff:127.0.0.2) is that IPv4 client. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? (mapped[1] as string) : address.toLowerCase();
}

/** FNV-1a, 32 bits: fast and good enough to spread addresses; not for anything adversarial. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The weight of `slot` for a client whose address hashed to `key`: murmur3's finaliser, so weights of neighbouring slots are unrelated. */
export function weight(key: number, slot: number): number {
  let h = (key ^ Math.imul(slot + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Slots ranked for `address`, heaviest first: where the client goes, and where it goes when those are gone. */
export function rankSlots(address: string, slots: readonly number[]): number[] {
  const key = fnv1a(clientKey(address));
  return [...slots].sort((a, b) => weight(key, b) - weight(key, a) || a - b);
}

export function createIpHash(): Scheduler {
  // Only for explain(), to tell "vacant" from "busy": how many slots there
  // have been, and how many listening workers each has (two, briefly, while
  // a worker is rotated out and its replacement is already in).
  let slotsSeen = 0;
  const listening = new Map<number, number>();

  return {
    name: 'ip-hash',
    pick(connection: ConnectionInfo, workers: readonly WorkerView[]) {
      const key = fnv1a(clientKey(connection.remoteAddress));
      const bounced = connection.attempts > 0;
      let best: WorkerView | undefined;
      let bestWeight = -1;
      let free: WorkerView | undefined; // the heaviest worker that is not busy
      let freeWeight = -1;
      for (const worker of workers) {
        const w = weight(key, worker.slot);
        if (w > bestWeight) [best, bestWeight] = [worker, w];
        if (w > freeWeight && !worker.busy) [free, freeWeight] = [worker, w];
      }
      return bounced && best?.busy ? free : best;
    },
    explain(connection, worker) {
      const address = connection.remoteAddress;
      const ranked = rankSlots(address, Array.from({ length: Math.max(slotsSeen, worker.slot + 1) }, (_, slot) => slot));
      const first = ranked[0] as number;
      const why = first === worker.slot ? '' : listening.has(first) ? ` (slot ${first} refused it before and is busy)` : ` (its first choice, slot ${first}, is vacant)`;
      return `${clientKey(address) || 'a client already gone'} hashes to slot ${worker.slot}${why}`;
    },
    add(worker) {
      listening.set(worker.slot, (listening.get(worker.slot) ?? 0) + 1);
      slotsSeen = Math.max(slotsSeen, worker.slot + 1);
    },
    remove(worker) {
      const left = (listening.get(worker.slot) ?? 1) - 1;
      if (left > 0) listening.set(worker.slot, left);
      else listening.delete(worker.slot);
    },
  };
}

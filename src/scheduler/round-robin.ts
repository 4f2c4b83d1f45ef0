// rr: each new connection goes to the next worker in turn.
//
// Node's RoundRobinHandle (lib/internal/cluster/round_robin_handle.js) keeps
// a `free` list of workers with no hand-off in flight and sends one connection
// at a time to each: a worker is "free" again only after it acknowledged the
// last one. That makes the primary wait a full IPC round trip per connection
// per worker. handoff lets each worker have a window of hand-offs in flight
// (see ../dispatch/round-robin-handle.ts); this policy only decides whose turn it is. The queue,
// the acknowledgement and the re-dispatch that RoundRobinHandle's
// distribute()/handoff() do are shared by every policy and live in ../dispatch/round-robin-handle.ts.
//
// Turns are kept honest under bursts: a worker passed over because its window
// was full is owed connections, and gets them as soon as it has room, so the
// counts even out (plain rotation would give the spare turns to whoever
// answered first: a 55/45 split of 100 simultaneous connections). A worker
// that joins late starts level with the others instead of being flooded.

import type { Scheduler, WorkerView } from './types.js';

export function createRoundRobin(): Scheduler {
  /** Connections placed on each ready worker since it became ready (newcomers start level). */
  const placed = new Map<WorkerView, number>();
  let turn = 0;
  return {
    name: 'rr',
    add(worker) {
      placed.set(worker, placed.size === 0 ? 0 : Math.min(...placed.values()));
    },
    remove(worker) {
      placed.delete(worker);
    },
    pick(_connection, workers: readonly WorkerView[]) {
      const count = workers.length;
      let chosen: WorkerView | undefined;
      let chosenPlaced = Infinity;
      let chosenStep = 0;
      // From whoever's turn it is, the first worker with room among those placed the fewest.
      for (let step = 0; step < count; step++) {
        const worker = workers[(turn + step) % count] as WorkerView;
        if (worker.busy) continue;
        const sofar = placed.get(worker) ?? 0;
        if (sofar < chosenPlaced) {
          chosen = worker;
          chosenPlaced = sofar;
          chosenStep = step;
        }
      }
      if (chosen === undefined) return undefined; // every window is full: keep the connection queued
      placed.set(chosen, chosenPlaced + 1);
      turn = (turn + chosenStep + 1) % count;
      return chosen;
    },
    explain: () => 'next in turn',
  };
}

// rr: each new connection goes to the next worker in turn.
//
// Node's RoundRobinHandle (lib/internal/cluster/round_robin_handle.js) keeps
// a `free` list of workers with no hand-off in flight and sends one connection
// at a time to each: a worker is "free" again only after it acknowledged the
// last one. That makes the primary wait a full IPC round trip per connection
// per worker. handoff lets each worker have a window of hand-offs in flight
// (see dispatcher.ts) and simply walks the ready workers in slot order,
// skipping any whose window is full. The queue, the acknowledgement and the
// re-dispatch that RoundRobinHandle's distribute()/handoff() do are shared by
// every policy and live in dispatcher.ts.

import type { Scheduler, WorkerView } from './types.js';

export function createRoundRobin(): Scheduler {
  let turn = 0;
  return {
    name: 'rr',
    pick(_connection, workers: readonly WorkerView[]) {
      const count = workers.length;
      for (let step = 0; step < count; step++) {
        const worker = workers[(turn + step) % count] as WorkerView;
        if (!worker.busy) {
          turn = (turn + step + 1) % count;
          return worker;
        }
      }
      return undefined; // every window is full: keep the connection queued
    },
    explain: () => 'next in turn',
  };
}

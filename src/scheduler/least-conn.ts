// least-conn: each new connection goes to the ready worker with the fewest
// connections, ties broken in turn.
//
// Node's cluster has no such policy (pm2 #1837 and #4503 ask for one); its
// round robin counts connections handed out, not connections still open, so
// a worker holding many long-lived connections (websockets, slow uploads,
// keep-alive clients) keeps getting its full share of new ones.
//
// A worker's load is what the master knows of it:
//   active    open connections, as the worker last reported them -- with
//             every acknowledgement, and, because this policy asks for it
//             (needsLoadReports), whenever connections close (one message
//             per event-loop turn at most; see child/connections/connection-count.ts);
//   inFlight  connections sent and not yet acknowledged, which `active`
//             cannot include yet.
// Workers whose window is full, or that just refused, are passed over, as rr
// does; if every worker is, the connection waits in the master's queue.

import type { Scheduler, WorkerView } from './types.js';

export const loadOf = (worker: WorkerView): number => worker.active + worker.inFlight;

export function createLeastConnections(): Scheduler {
  let turn = 0;
  return {
    name: 'least-conn',
    needsLoadReports: true,
    pick(_connection, workers: readonly WorkerView[]) {
      const count = workers.length;
      let best: WorkerView | undefined;
      let bestLoad = Infinity;
      let bestIndex = 0;
      // Start from `turn`, keep the first of equals: ties go round in slot order.
      for (let step = 0; step < count; step++) {
        const index = (turn + step) % count;
        const worker = workers[index] as WorkerView;
        const load = worker.busy ? Infinity : loadOf(worker);
        if (load < bestLoad) {
          best = worker;
          bestLoad = load;
          bestIndex = index;
        }
      }
      if (best !== undefined) turn = (bestIndex + 1) % count;
      return best; // undefined: every window is full, keep the connection queued
    },
    explain(_connection, worker) {
      const detail = worker.inFlight === 0 ? '' : ` (${worker.active} open + ${worker.inFlight} in flight)`;
      return `least active: ${loadOf(worker)}${detail}`;
    },
  };
}

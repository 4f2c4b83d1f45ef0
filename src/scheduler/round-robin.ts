// rr: each new connection goes to the next worker in turn, among the workers
// free to take it.
//
// Node's RoundRobinHandle (lib/internal/cluster/round_robin_handle.js) keeps
// a `free` list: a worker that has not acknowledged its last connection gets
// no other. That rule is what keeps a worker stuck in a long request (its
// event loop cannot answer) from being sent new connections while another is
// idle -- the "built-in smarts to avoid overloading a worker process" that
// Node's docs promise of round robin. Its price is a full IPC round trip per
// connection per worker, which is what makes cluster's rr slow with short
// connections. handoff keeps the rule and drops most of the price. The
// queue, the acknowledgement and the re-dispatch that RoundRobinHandle's
// distribute()/handoff() do are shared by every policy and live in
// ../dispatch/round-robin-handle.ts; each worker's lane there (lane.ts)
// decides whether it is `busy` or `late`. This policy only ranks. For each
// connection, the workers that are not `busy` rank:
//
//   0  free: no unanswered hand-off (cluster's `free` list);
//   1  answering: it holds hand-offs, but is not `late` -- its event loop is
//      turning and will answer within a turn, so a burst need not wait a
//      round trip per connection;
//   2  late: it has held hand-offs unanswered for much longer than hand-offs
//      take here (the lane decides: see WorkerView.late). It is in a long
//      request, or its loop is lagging. It gets nothing while another worker
//      can take the connection.
//
// A worker that answers is not necessarily idle: it may be working through
// slow requests of its own, answering between them. So while any worker is
// late, the others get cluster's rule, not the window: a connection goes only
// to a free worker, one per answer, and otherwise waits in the master's queue
// for the first answer (as the kernel's shared accept gives it to whoever
// calls accept() first). That keeps a burst of slow requests split by how
// fast each worker gets through them, instead of all the queue going to the
// first worker to answer; when no worker is late, the window is open again.

// The best rank wins; among equals, in turn. Turns are kept honest: a worker
// passed over (its turn came while it was late, busy or held young hand-offs
// and another was free) is owed connections, and gets them as soon as it
// ranks with the others, so under uniform load the counts even out (plain
// rotation would give the spare turns to whoever answered first: a 55/45
// split of 100 simultaneous connections). It is repaid only on ties, when it
// is as free to take them as anyone. A worker that joins late starts level
// with the others instead of being flooded.

import type { Scheduler, WorkerView } from './types.js';

const FREE = 0;
const ANSWERING = 1;
const LATE = 2;

export function rankOf(worker: WorkerView): number {
  if (worker.inFlight === 0) return FREE;
  return worker.late ? LATE : ANSWERING;
}

/** For --trace: why a worker ahead in turn did not get the connection. */
function whyPassedOver(worker: WorkerView): string {
  const unanswered = `${worker.inFlight} unanswered for ${worker.unansweredMs.toFixed(2)} ms`;
  if (worker.busy) return worker.inFlight === 0 ? '(busy: it just refused one)' : `(busy: ${unanswered})`;
  if (rankOf(worker) === LATE) return `(late: ${unanswered})`;
  if (rankOf(worker) === ANSWERING) return `(answering: ${worker.inFlight} in flight)`;
  return '(had more than its share)';
}

export function createRoundRobin(): Scheduler {
  /** Connections placed on each ready worker since it became ready (newcomers start level). */
  const placed = new Map<WorkerView, number>();
  let turn = 0;
  /** The last pick, for explain(): the workers ahead in turn that were passed over (no allocation per pick). */
  let lastWorkers: readonly WorkerView[] = [];
  let lastStart = 0;
  let lastSteps = 0;
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
      let chosenRank = LATE + 1;
      let chosenPlaced = Infinity;
      let chosenStep = 0;
      let someLate = false;
      // From whoever's turn it is: the best rank, then the fewest placed, then the first in turn.
      for (let step = 0; step < count; step++) {
        const worker = workers[(turn + step) % count] as WorkerView;
        const rank = rankOf(worker);
        if (rank === LATE) someLate = true;
        if (worker.busy) continue;
        const sofar = placed.get(worker) ?? 0;
        if (rank < chosenRank || (rank === chosenRank && sofar < chosenPlaced)) {
          chosen = worker;
          chosenRank = rank;
          chosenPlaced = sofar;
          chosenStep = step;
        }
      }
      // No worker with room; or none is free while some worker is late: keep the connection queued until one answers.
      if (chosen === undefined || chosenRank === LATE || (chosenRank === ANSWERING && someLate)) return undefined;
      placed.set(chosen, chosenPlaced + 1);
      lastWorkers = workers;
      lastStart = turn;
      lastSteps = chosenStep;
      turn = (turn + chosenStep + 1) % count;
      return chosen;
    },
    explain(_connection, worker) {
      const passedOver: string[] = [];
      for (let step = 0; step < lastSteps; step++) {
        const other = lastWorkers[(lastStart + step) % lastWorkers.length] as WorkerView;
        passedOver.push(`w${other.id} ${whyPassedOver(other)}`);
      }
      const turn = passedOver.length === 0 ? 'next in turn' : `next in turn after passing over ${passedOver.join(', ')}`;
      if (worker.inFlight === 0) return turn;
      return `${turn}; no worker was free, w${worker.id} is answering (${worker.inFlight} in flight for ${worker.unansweredMs.toFixed(2)} ms)`;
    },
  };
}

// A user's scheduler runs inside the master, on the path of every connection.
// Its bugs must cost that connection a good placement, never the master its
// life: whatever pick() throws or returns wrongly, the connection goes to the
// next worker in turn (rr) instead, and the problem is logged once, not once
// per connection.

import { createRoundRobin } from './round-robin.js';
import type { ConnectionInfo, Scheduler, WorkerView } from './types.js';
import { errorSummary } from '../errors.js';

export function guardScheduler(scheduler: Scheduler, report: (message: string) => void): Scheduler {
  const name = scheduler.name;
  const fallback = createRoundRobin();
  const reported = new Set<string>();
  const once = (problem: string, message: string): void => {
    if (reported.has(problem)) return;
    reported.add(problem);
    report(`scheduler ${name}: ${message} (logged once)`);
  };
  /** The last connection placed by the fallback, and why, for explain(). */
  let fellBack: { seq: number; why: string } | undefined;
  const useFallback = (connection: ConnectionInfo, workers: readonly WorkerView[], why: string): WorkerView | undefined => {
    fellBack = { seq: connection.seq, why };
    return fallback.pick(connection, workers);
  };

  return {
    name,
    needsLoadReports: scheduler.needsLoadReports === true,
    pick(connection, workers) {
      fellBack = undefined;
      let picked: WorkerView | null | undefined;
      try {
        picked = scheduler.pick(connection, workers);
      } catch (error) {
        once('pick-threw', `pick() threw ${errorSummary(error)}; connections it throws on go to the next worker in turn`);
        return useFallback(connection, workers, 'pick() threw');
      }
      if (picked === undefined || picked === null) return undefined; // queue it: allowed
      if (workers.includes(picked)) return picked;
      once('pick-foreign', 'pick() returned something that is not one of the workers it was given; those connections go to the next worker in turn');
      return useFallback(connection, workers, 'pick() returned no worker of the list');
    },
    explain(connection, worker) {
      if (fellBack?.seq === connection.seq) return `${fellBack.why}: rr fallback, next in turn`;
      if (scheduler.explain === undefined) return 'it has no explain()';
      try {
        return String(scheduler.explain(connection, worker));
      } catch (error) {
        once('explain-threw', `explain() threw ${errorSummary(error)}`);
        return name;
      }
    },
    add(worker) {
      try {
        scheduler.add?.(worker);
      } catch (error) {
        once('add-threw', `add() threw ${errorSummary(error)}`);
      }
    },
    remove(worker) {
      try {
        scheduler.remove?.(worker);
      } catch (error) {
        once('remove-threw', `remove() threw ${errorSummary(error)}`);
      }
    },
  };
}


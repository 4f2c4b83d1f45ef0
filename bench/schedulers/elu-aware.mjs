// An experiment, not a built-in: the default scheduler's rule (a worker with
// no unanswered hand-off first, then one whose hand-offs are young; never a
// late one while another can take it), with the event loop's own report as
// the tie-break instead of turns -- the worker whose loop was least busy
// (eventLoopUtilization) and least delayed (p99 of monitorEventLoopDelay)
// over its last heartbeat interval. Issue 14 asks whether such signals help
// the default or least-conn; the bench runs this beside them:
//
//   node bench/run.mjs --scheduler-file bench/schedulers/elu-aware.mjs --scenarios skewed,skewed-8,close
//
// The signals are per heartbeat (1 s by default): they see a worker that is
// busy on average, not one that is stuck in a request right now.

/** @returns {import('../../dist/index.js').Scheduler} */
export default function createScheduler() {
  const rank = (w) => (w.inFlight === 0 ? 0 : w.late ? 2 : 1);
  // Busy share, plus 1 per 100 ms of p99 loop delay: a loop that runs late counts as busier.
  const load = (w) => (w.elu ?? 0) + (w.loopDelayP99 ?? 0) / 100;
  return {
    name: 'elu-aware',
    pick(_connection, workers) {
      let best;
      for (const w of workers) {
        if (w.busy) continue;
        if (best === undefined || rank(w) < rank(best) || (rank(w) === rank(best) && load(w) < load(best))) best = w;
      }
      if (best === undefined || rank(best) === 2) return undefined; // every worker is late: the first to answer takes it
      return best;
    },
    explain: (_connection, w) => `rank ${rank(w)}, loop ${(100 * (w.elu ?? 0)).toFixed(0)}% busy, p99 delay ${w.loopDelayP99 ?? '-'} ms`,
  };
}

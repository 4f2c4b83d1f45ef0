// Contender "cluster-rr" / "cluster-none": the app under Node's own
// node:cluster, forked from this minimal primary.
//
//   node bench/cluster-master.mjs <script> --workers N
//
// The scheduling policy comes from NODE_CLUSTER_SCHED_POLICY (rr | none),
// which the bench sets in this process's environment; node:cluster reads it
// when it loads. The workers call listen(0): cluster gives all of them the
// same port, which we print once every worker is listening, in the same shape
// as handoff's ready line. SIGTERM: disconnect every worker (each closes its
// server and exits once its connections are done), then exit 0 once all exited.
//
// Started with --expose-internals (as the bench does), it also measures what
// each hand-off of the rr policy takes, the same span handoff's master
// records: from the accept (RoundRobinHandle.distribute, the listening
// handle's onconnection) to the worker's acknowledgement being read (its
// reply callback closes the primary's copy of the handle: that is where we
// stop the clock). SIGUSR2 writes the counts to
// $BENCH_STATS_DIR/primary-<pid>.latency.json (see handoff-latency.mjs).

import cluster from 'node:cluster';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { clusterLatencyFile, LatencyHistogram } from './handoff-latency.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { workers: { type: 'string', default: '2' } },
});
const script = positionals[0];
const workers = Number(values.workers);
if (!script || !Number.isInteger(workers) || workers < 1) {
  process.stderr.write('usage: node bench/cluster-master.mjs <script> --workers N\n');
  process.exit(2);
}

const policy = cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none';
let listening = 0;
let stopping = false;

instrumentHandoffs();
// The workers run exactly as under any node:cluster primary: without our --expose-internals.
cluster.setupPrimary({ exec: path.resolve(script), execArgv: process.execArgv.filter((arg) => arg !== '--expose-internals') });
cluster.on('listening', (_worker, address) => {
  if (++listening === workers) {
    process.stdout.write(
      `cluster: listening on http://127.0.0.1:${address.port} (scheduler ${policy}, ${workers} workers, primary pid ${process.pid})\n`,
    );
  }
});
cluster.on('exit', (worker, code, signal) => {
  // A bench must not hide a crash: say so (the bench records stderr). No
  // refork: the app does not crash, and if it does the numbers should show it.
  if (stopping) return;
  process.stderr.write(`cluster: worker pid ${worker.process.pid} exited unexpectedly (code ${code}, signal ${signal})\n`);
  if (listening < workers) process.exit(1); // it will never be ready: fail now, not at the bench's timeout
});
for (let i = 0; i < workers; i++) cluster.fork();

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  // Exit only once every worker has exited. (cluster.disconnect()'s callback
  // comes as soon as the primary has *sent* the disconnects; exiting then
  // closes the IPC channel under workers still closing their servers, and
  // they die of an EPIPE.)
  const alive = Object.values(cluster.workers ?? {});
  let left = alive.length;
  if (left === 0) process.exit(0);
  for (const worker of alive) {
    worker.once('exit', () => {
      if (--left === 0) process.exit(0);
    });
    worker.disconnect();
  }
  // Same patience as handoff's default --kill-timeout, then force.
  setTimeout(() => {
    process.stderr.write('cluster: workers still running 5 s after disconnect; killing them\n');
    for (const worker of alive) worker.process.kill('SIGKILL');
    process.exit(1);
  }, 5000).unref();
});

/**
 * Wraps RoundRobinHandle (lib/internal/cluster/round_robin_handle.js) to time
 * each connection from distribute() -- its accept -- to the close() that the
 * reply callback of handoff() makes once the worker answered "accepted".
 * A connection a worker refused is distributed again and keeps its first
 * time. Costs two performance.now() calls per connection, as handoff's recorder.
 */
function instrumentHandoffs() {
  if (!process.execArgv.includes('--expose-internals')) return;
  let RoundRobinHandle;
  try {
    RoundRobinHandle = createRequire(import.meta.url)('internal/cluster/round_robin_handle');
  } catch {
    return; // another Node: no hand-off latency for cluster, the rest of the bench is unaffected
  }
  const histogram = new LatencyHistogram();
  const acceptedAt = new WeakMap();
  const distribute = RoundRobinHandle.prototype.distribute;
  RoundRobinHandle.prototype.distribute = function (err, handle) {
    if (!err && handle && !acceptedAt.has(handle)) {
      acceptedAt.set(handle, performance.now());
      const close = handle.close;
      handle.close = function (...args) {
        const start = acceptedAt.get(this);
        if (start !== undefined) histogram.record((performance.now() - start) * 1000);
        return close.apply(this, args);
      };
    }
    return distribute.call(this, err, handle);
  };
  let serial = 0;
  process.on('SIGUSR2', () => {
    const dir = process.env.BENCH_STATS_DIR;
    if (!dir) return;
    const file = clusterLatencyFile(dir, process.pid);
    const { count, buckets } = histogram.status();
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ serial: ++serial, histogram: { count, buckets } }));
    fs.renameSync(`${file}.tmp`, file);
  });
}

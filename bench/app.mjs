// The one server every contender runs, unchanged: the plain process imports
// it, node:cluster forks it, handoff runs it as an ordinary script whose
// listen() it intercepts (form (a)). Same code everywhere, so any difference
// in the numbers comes from how connections reach this code, not from it.
//
// Routes (the load generator picks the path, so the work per request is
// decided by the scenario, not by the server):
//   /      hello world
//   /cpu   the experiment of the cluster/PM2 article (see docs/tutorial.md): an empty 1e5 loop per request
//   /slow  50 ms of busy CPU (the rare expensive request of `skewed`)
//
// It also counts the connections (server 'connection' events) and requests
// it served, and writes them to `$BENCH_STATS_DIR/<pid>.json`: right away,
// every BENCH_STATS_INTERVAL_MS (default 1 s: cheap, and never inside a
// request), and synchronously on exit, which every contender reaches on a
// graceful stop (handoff's drain calls process.exit; cluster workers exit
// once disconnected; the plain process exits after server.close()).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const statsDir = process.env.BENCH_STATS_DIR;
const statsInterval = Number(process.env.BENCH_STATS_INTERVAL_MS) || 1000;
const SLOW_MS = 50;

let connections = 0;
let requests = 0;

function cpuLoop() {
  for (let i = 0; i < 1e5; i++) {} // exactly the article's loop: do not "improve" it
}

/** Busy for `ms` of wall time: the worker can do nothing else meanwhile, like a real CPU-heavy request. */
function busy(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

const server = http.createServer((req, res) => {
  requests++;
  if (req.url === '/cpu') cpuLoop();
  else if (req.url === '/slow') busy(SLOW_MS);
  res.setHeader('content-type', 'text/plain');
  res.end('hello world\n');
});
server.on('connection', () => {
  connections++;
});

function writeStats(exitCode) {
  if (!statsDir) return;
  const file = path.join(statsDir, `${process.pid}.json`);
  // exitCode only in the last write, from the 'exit' event: says how this worker ended.
  const data = JSON.stringify({ pid: process.pid, connections, requests, at: Date.now(), exitCode });
  try {
    // Write then rename, so the bench never reads half a file.
    fs.writeFileSync(`${file}.tmp`, data);
    fs.renameSync(`${file}.tmp`, file);
  } catch {
    // The bench already gave up on this run and removed the folder: nothing to report to.
  }
}

writeStats();
setInterval(writeStats, statsInterval).unref();
process.on('exit', (code) => writeStats(code));

// Loopback only. Under node:cluster the primary shares one port among the
// workers; under handoff this listen() binds nothing (the master owns the socket).
server.listen(Number(process.env.PORT) || 0, '127.0.0.1');

export default server;

// node:cluster's version: SCHED_RR, two workers running server.js.
//   node examples/lost-connection/cluster.mjs          # lost: a stuck worker dies holding a connection
//   node examples/lost-connection/cluster.mjs refuse   # refused: a worker at maxConnections
// Prints what became of each connection, then stops everything (about 6 s
// for lost, 2 s for refuse). See README.md here.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { run } from './scenario.mjs';

const mode = process.argv[2] === 'refuse' ? 'refuse' : 'lost';
cluster.schedulingPolicy = cluster.SCHED_RR; // the default everywhere but Windows; said here to be sure
cluster.setupPrimary({ exec: fileURLToPath(new URL('server.js', import.meta.url)), silent: false });
const env = { PORT: '0', ...(mode === 'refuse' ? { MAX_CONNECTIONS: '1' } : {}) };

let stopping = false;
cluster.on('exit', (worker, code, signal) => {
  if (stopping) return;
  console.log(`cluster: worker pid ${worker.process.pid} died (${signal ?? `exit code ${code}`}); the primary forks a replacement`);
  cluster.fork(env);
});

const ready = new Promise((resolve) => {
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === 2) resolve(address.port);
  });
});
cluster.fork(env);
cluster.fork(env);
const port = await ready;
console.log(`node:cluster (SCHED_RR), 2 workers on 127.0.0.1:${port}`);
const ok = await run(mode, port, (line) => console.log(line));
stopping = true;
for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
console.log(mode === 'lost' ? (ok ? 'the connection was saved' : 'the connection was lost') : ok ? 'the refused connection was re-sent' : 'unexpected');
// Exiting closes the primary's copy of a lost connection: only now does its client see the end.
process.exit(0);

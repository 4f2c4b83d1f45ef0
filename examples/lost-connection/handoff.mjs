// handoff's version of the same scenario, on the same server.js: a master
// (node dist/master.js, built with npm run build) with two workers, rr.
//   node examples/lost-connection/handoff.mjs          # lost: a stuck worker dies holding a connection
//   node examples/lost-connection/handoff.mjs refuse   # refused: a worker at maxConnections
// Prints what became of each connection and the master's --trace lines that
// say why, then stops the master (about 2 s for each). See README.md here.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { run } from './scenario.mjs';

const mode = process.argv[2] === 'refuse' ? 'refuse' : 'lost';
const master = spawn(
  process.execPath,
  [
    fileURLToPath(new URL('../../dist/master.js', import.meta.url)),
    fileURLToPath(new URL('server.js', import.meta.url)),
    ...['-w', '2', '--port', '0', '--host', '127.0.0.1', '--control', 'off', '--no-timestamps', '--trace'],
  ],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(mode === 'refuse' ? { MAX_CONNECTIONS: '1' } : {}) } },
);
const kill = setTimeout(() => master.kill('SIGKILL'), 9000); // a bound on everything, whatever happens
kill.unref();

// The master's trace lines that tell what became of a connection sent to a worker that could not take it.
const why = [];
let ready = 0;
let onReady = () => {};
createInterface({ input: master.stderr }).on('line', (line) => {
  if (/ready: server attached/.test(line)) (ready++, onReady());
  if (/^trace /.test(line) && /reclaimed|refused it|exited \(killed/.test(line)) why.push(line.replace(/^trace +[\d.]+ +/, 'trace  '));
});
const port = await new Promise((resolve, reject) => {
  createInterface({ input: master.stdout }).on('line', (line) => {
    const match = /^handoff: listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
    if (match) resolve(Number(match[1]));
  });
  master.once('exit', (code) => reject(new Error(`the master exited (${code}) before it was ready`)));
});
console.log(`handoff (rr), 2 workers on 127.0.0.1:${port}`);
const ok = await run(mode, port, (line) => console.log(line));
if (mode === 'lost') {
  // Let the dead worker's replacement finish starting before the shutdown (at most 3 s).
  await new Promise((resolve) => {
    const bound = setTimeout(resolve, 3000);
    onReady = () => ready >= 3 && (clearTimeout(bound), resolve());
    onReady();
  });
}
master.kill('SIGTERM');
await once(master, 'exit');
// The connection's lines first, then the worker's: under --transport send the exit can be seen first.
for (const line of [...why.filter((l) => / conn /.test(l)), ...why.filter((l) => !/ conn /.test(l))]) console.log(line);
console.log(mode === 'lost' ? (ok ? 'the connection was saved' : 'the connection was lost') : ok ? 'the refused connection was re-sent' : 'unexpected');

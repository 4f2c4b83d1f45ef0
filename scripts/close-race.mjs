// close-race.mjs: how many connections a SIGTERM under a flood of new
// connections resets, shutdown after shutdown (docs/operations.md, "Closing the
// listener resets no handshake either").
//
//   node scripts/close-race.mjs [--rounds 15] [--scheduler rr] [--app test/fixtures/apps/express.cjs] [--cluster]
//
// --cluster runs the same app under node:cluster instead (test/fixtures/cluster-runner.mjs,
// whose SIGTERM is cluster.disconnect()), for comparison.
//
// Each round starts a master (2 workers), loads it for 2 s with autocannon as
// the soak does (8 keep-alive clients and 4 that open a connection per
// request), sends SIGTERM and counts what the clients saw afterwards: refusals
// are the right answer once the listener has closed; a reset is a connection
// the kernel completed and the close threw away. Prints one line per round and
// the total. Exit status 0 if every round exited 0 with no reset.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    scheduler: { type: 'string', default: 'rr' },
    app: { type: 'string', default: 'test/fixtures/pid.mjs' },
    cluster: { type: 'boolean', default: false },
  },
});
const app = path.resolve(root, values.app);
const command = values.cluster
  ? [path.join(root, 'test/fixtures/cluster-runner.mjs'), app, '--workers', '2', '--scheduler', values.scheduler === 'shared' ? 'none' : 'rr']
  : [path.join(root, 'dist/master.js'), app, '--port', '0', '-w', '2', '--scheduler', values.scheduler, '--control', 'off'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let resetsInAll = 0;
let roundsWithResets = 0;
for (let round = 1; round <= Number(values.rounds); round++) {
  const master = spawn(process.execPath, command, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  master.stdout.setEncoding('utf8').on('data', (chunk) => void (output += chunk));
  master.stderr.setEncoding('utf8').on('data', (chunk) => void (output += chunk));
  const exited = new Promise((resolve) => master.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  while (!/listening on http:\/\/127\.0\.0\.1:\d+ /.test(output)) {
    if (Date.now() > deadline) throw new Error(`close-race: the master did not start\n${output}`);
    await sleep(20);
  }
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(output)[1]);

  let afterSigterm = false;
  let refused = 0;
  const resets = [];
  const client = (options) => {
    const instance = autocannon({ url: `http://127.0.0.1:${port}/`, duration: 30, timeout: 10, ...options });
    instance.on('reqError', (error) => {
      if (!afterSigterm) return;
      if (error.code === 'ECONNREFUSED') refused++;
      else resets.push(error.code ?? error.message);
    });
    return instance;
  };
  const clients = [client({ connections: 8 }), client({ connections: 4, headers: { connection: 'close' } })];
  await sleep(2000);
  afterSigterm = true;
  const signalledAt = Date.now();
  master.kill('SIGTERM');
  const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout')]);
  if (code === 'timeout') master.kill('SIGKILL');
  const tookMs = Date.now() - signalledAt;
  await sleep(300); // the clients read what the close did
  for (const instance of clients) instance.stop();

  resetsInAll += resets.length;
  if (resets.length > 0 || code !== 0) roundsWithResets++;
  console.log(`round ${String(round).padStart(2)}  exit ${code}  ${tookMs} ms  refused ${refused}  reset ${resets.length}${resets.length > 0 ? ` (${resets.join(', ')})` : ''}`);
}
console.log(`${roundsWithResets} of ${values.rounds} shutdowns reset a connection or did not exit 0; ${resetsInAll} resets in all`);
process.exit(roundsWithResets === 0 ? 0 : 1);

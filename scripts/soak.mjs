// The soak (issue 13): a master under autocannon load -- keep-alive clients
// and Connection: close clients at once -- through rolling reloads, worker
// SIGKILLs, scaling up and down, and a final SIGTERM under load. Every client
// error is reported by kind and by phase, and the master's exit code is
// checked against what happened.
//
//   npm run soak                     # 120 s
//   node scripts/soak.mjs --duration 60 [--workers 2] [--scheduler rr]
//
// Expected: no error while running except on the connections a SIGKILLed
// worker held (the master says how many it cut); after the final SIGTERM only
// ECONNREFUSED (the listener is closed: the right answer), apart from at most
// one reset as the listener closes, in the rare case that a client's handshake
// beat the master's placeholder to the accept queue's last place (see "Closing
// the listener" in docs/operations.md); and an exit code of 1 exactly when the
// master reported something cut, 0 otherwise.
// Exit status of this script: 0 if every expectation held, 1 if not.

import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    workers: { type: 'string', default: '2' },
    scheduler: { type: 'string', default: 'rr' },
  },
});
const duration = Number(values.duration) * 1000;
if (!(duration >= 10_000)) throw new Error('--duration: at least 10 (seconds)');

const log = (line) => process.stdout.write(`soak ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${line}\n`);
const started = Date.now();

// ---- the master ----------------------------------------------------------------------
const master = spawn(process.execPath, [path.join(root, 'dist/master.js'), path.join(root, 'test/fixtures/pid.mjs'), '--port', '0', '-w', values.workers, '--scheduler', values.scheduler, '--no-timestamps', '--control', 'off'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
const collect = (chunk) => void (output += chunk);
master.stdout.setEncoding('utf8').on('data', collect);
master.stderr.setEncoding('utf8').on('data', collect);
const exited = new Promise((resolve) => master.once('exit', (code, signal) => resolve({ code, signal })));
const port = await waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+) /, 15_000).then((m) => Number(m[1]));
log(`master ${master.pid} on port ${port}, ${values.workers} workers, scheduler ${values.scheduler}`);

// ---- the load ------------------------------------------------------------------------
let phase = 'running';
const errors = { running: new Map(), shutdown: new Map() };
let responses = 0;
/** After SIGTERM: when each reset came, and when the first refusal came (the listener had closed). */
const shutdownResets = [];
let firstRefusedAt;
function client(name, options) {
  const instance = autocannon({ url: `http://127.0.0.1:${port}/`, duration: duration / 1000 + 60, timeout: 10, ...options });
  instance.on('reqError', (error) => {
    const kind = `${name}: ${error.code ?? error.message}`;
    if (phase === 'shutdown' && error.code === 'ECONNRESET') return void shutdownResets.push({ kind, at: performance.now() });
    if (phase === 'shutdown' && error.code === 'ECONNREFUSED') firstRefusedAt ??= performance.now();
    errors[phase].set(kind, (errors[phase].get(kind) ?? 0) + 1);
  });
  instance.on('response', () => responses++);
  const done = new Promise((resolve) => instance.once('done', resolve));
  return { instance, done };
}
const clients = [client('keep-alive', { connections: 8 }), client('connection-close', { connections: 4, headers: { connection: 'close' } })];

// ---- the events ----------------------------------------------------------------------
const events = ['reload', 'sigkill', 'scale-up', 'scale-down'];
const steps = Math.max(4, Math.floor(duration / 5000));
let killed = 0;
for (let i = 0; i < steps; i++) {
  await sleep(duration / (steps + 1));
  const event = events[i % events.length];
  if (event === 'reload') {
    const before = count(/reload done|reload stopped/g);
    master.kill('SIGHUP');
    await waitForCount(/reload done|reload stopped/g, before + 1, 30_000);
    log(`rolling reload: ${lastLine(/reload (done|stopped)[^\n]*/g)}`);
  } else if (event === 'sigkill') {
    const workers = children(master.pid);
    const victim = workers[Math.floor(Math.random() * workers.length)];
    if (victim !== undefined) {
      process.kill(victim, 'SIGKILL');
      killed++;
      log(`SIGKILL worker pid ${victim}`);
    }
  } else {
    const signal = event === 'scale-up' ? 'SIGTTIN' : 'SIGTTOU';
    master.kill(signal);
    log(`${event} (${signal})`);
  }
}
await sleep(duration / (steps + 1));

// ---- the end ---------------------------------------------------------------------------
log(`final SIGTERM under load (${responses} responses so far)`);
phase = 'shutdown';
master.kill('SIGTERM');
const exit = await Promise.race([exited, sleep(60_000).then(() => ({ code: 'timeout', signal: null }))]);
await sleep(300); // the clients see the refused connections
for (const { instance } of clients) instance.stop();
await Promise.all(clients.map((c) => c.done));

// ---- the verdict ---------------------------------------------------------------------
const cutLines = output.match(/[^\n]*: cut\n/g) ?? [];
const cutByKill = sumOf(/exited \(killed by SIGKILL\)[^\n]*?(\d+) (?:connection|request)s? open[^\n]*: cut/g);
const reportedCut = /cut over this run/.test(output);
const runningErrors = total(errors.running);
// A reset no later than the first refusal (the listener had closed by then; a millisecond
// allowed for the order in which this process reads its sockets): a handshake the kernel
// completed before close() (inet_csk_listen_stop). Any other, or more than one: ours.
const CLOSE_INSTANT_MS = 1;
const atClose = (reset) => firstRefusedAt === undefined || reset.at <= firstRefusedAt + CLOSE_INSTANT_MS;
const closeInstantResets = shutdownResets.filter(atClose);
for (const reset of shutdownResets.filter((r) => !atClose(r))) errors.shutdown.set(reset.kind, (errors.shutdown.get(reset.kind) ?? 0) + 1);
const badShutdown = [...errors.shutdown].filter(([kind]) => !kind.endsWith('ECONNREFUSED'));
const expectedCode = reportedCut ? 1 : 0;

log(`master exit: ${exit.code ?? exit.signal}`);
log(`responses: ${responses}`);
log(`SIGKILLed workers: ${killed}; connections the master says they cut: ${cutByKill}`);
for (const line of cutLines) log(`  master: ${line.trim()}`);
for (const p of ['running', 'shutdown']) {
  if (errors[p].size === 0) log(`errors while ${p}: none`);
  for (const [kind, n] of errors[p]) log(`errors while ${p}: ${n} x ${kind}`);
}
log(`resets at the instant the listener closed (kernel, not counted as lost): ${closeInstantResets.length}`);
const problems = [];
if (closeInstantResets.length > 1) problems.push(`${closeInstantResets.length} resets as the listener closed: the accept queue holds one at most`);
if (runningErrors > cutByKill) problems.push(`${runningErrors} client errors while running, more than the ${cutByKill} connections the SIGKILLed workers held`);
if (badShutdown.length > 0) problems.push(`errors after SIGTERM other than ECONNREFUSED: ${badShutdown.map(([k, n]) => `${n} x ${k}`).join(', ')}`);
if (exit.code !== expectedCode) problems.push(`master exited ${exit.code ?? exit.signal}, expected ${expectedCode} (${reportedCut ? 'it reported cuts' : 'nothing was reported cut'})`);
if (runningErrors > 0 && !reportedCut) problems.push('clients saw errors but the master reported nothing cut');
log(problems.length === 0 ? 'PASS' : `FAIL\n  - ${problems.join('\n  - ')}`);
if (problems.length > 0) process.stdout.write(`--- master output (last 40 lines) ---\n${output.split('\n').slice(-40).join('\n')}\n`);
process.exit(problems.length === 0 ? 0 : 1);

// ---- helpers ---------------------------------------------------------------------------
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
function count(pattern) {
  return (output.match(pattern) ?? []).length;
}
function lastLine(pattern) {
  return (output.match(pattern) ?? []).at(-1) ?? '';
}
function total(map) {
  return [...map.values()].reduce((a, b) => a + b, 0);
}
function sumOf(pattern) {
  return [...output.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
}
async function waitFor(pattern, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = output.match(pattern);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`soak: timed out waiting for ${pattern}\n${output}`);
    await sleep(20);
  }
}
async function waitForCount(pattern, times, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (count(pattern) < times) {
    if (Date.now() > deadline) throw new Error(`soak: timed out waiting for ${pattern}\n${output}`);
    await sleep(20);
  }
}
function children(pid) {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

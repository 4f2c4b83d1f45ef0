#!/usr/bin/env node
// npm run fleet: one machine is not the limit. HAProxy (deploy/haproxy.cfg)
// in front of two handoff masters on loopback, under autocannon load for
// about 20 s, while:
//   at  4 s  master A is upgraded   (handoff ctl upgrade: a new master on the same socket)
//   at  9 s  master B is reloaded   (handoff ctl reload: every worker replaced)
//   at 14 s  master A gets SIGTERM  (with --shutdown-delay when this handoff has it)
// and reports every failed request by kind. Exit 0 only with 0 errors and
// every step done as it should be.
//
//   node scripts/fleet.mjs [--seconds 20] [--connections 16] [--keep]
//
// Needs haproxy on PATH (Debian: apt-get install -y haproxy) and a build (npm run build).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/master.js');
const app = path.join(root, 'examples/hello.js');
const config = path.join(root, 'deploy/haproxy.cfg');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '16' },
    keep: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const at = (fraction) => Math.round(seconds * 1000 * fraction);
const SHUTDOWN_DELAY = '2s'; // longer than HAProxy's inter 500ms x fall 2

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-'));
const logFile = path.join(work, 'fleet.log');
const log = fs.createWriteStream(logFile);
const children = new Set();
const say = (line) => process.stdout.write(`fleet: ${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function fail(message) {
  say(message);
  say(`logs: ${logFile}`);
  cleanup();
  process.exit(1);
}

function cleanup() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const name of ['a', 'b']) {
    const pid = readPid(name);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  if (!values.keep) setTimeout(() => fs.rmSync(work, { recursive: true, force: true }), 200).unref();
}

function readPid(name) {
  try {
    return Number(fs.readFileSync(path.join(work, `${name}.pid`), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function run(name, command, args, env = {}) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const prefix = (chunk) => log.write(chunk.toString().replace(/^(?=.)/gm, `[${name}] `));
  child.stdout.on('data', prefix);
  child.stderr.on('data', prefix);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.output = '';
  child.stdout.on('data', (chunk) => (child.output += chunk));
  child.stderr.on('data', (chunk) => (child.output += chunk));
  return child;
}

async function waitFor(child, pattern, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = child.output.match(pattern);
    if (match) return match;
    if (child.exitCode !== null) fail(`${what}: it exited (${child.exitCode})\n${child.output}`);
    await sleep(50);
  }
  fail(`${what}: not within ${timeoutMs} ms\n${child.output}`);
}

function ctl(args) {
  const child = run(`ctl ${args[0]}`, process.execPath, [cli, 'ctl', ...args]);
  return child.exited.then((exit) => ({ ...exit, output: child.output.trim() }));
}

// ---- preflight --------------------------------------------------------------------------------
try {
  execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
} catch {
  fail('haproxy is not on PATH (Debian: apt-get install -y haproxy)');
}
if (!fs.existsSync(cli)) fail('dist/master.js is missing: npm run build first');
const help = execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
const hasShutdownDelay = help.includes('--shutdown-delay');
const hasMetrics = help.includes('--metrics');

// ---- two masters --------------------------------------------------------------------------------
const masters = {};
for (const name of ['a', 'b']) {
  const metricsPort = hasMetrics ? await freePort() : undefined;
  const args = [cli, app, '-w', '2', '--host', '127.0.0.1', '--port', '0', '--scheduler', 'least-conn'];
  args.push('--control', path.join(work, `${name}.sock`), '--pid-file', path.join(work, `${name}.pid`), '--listen-timeout', '10s');
  if (hasShutdownDelay) args.push('--shutdown-delay', SHUTDOWN_DELAY);
  if (metricsPort !== undefined) args.push('--metrics', `127.0.0.1:${metricsPort}`);
  const child = run(`master ${name}`, process.execPath, args);
  const port = Number((await waitFor(child, /listening on http:\/\/127\.0\.0\.1:(\d+)/, `master ${name} start`))[1]);
  masters[name] = { child, port, metricsPort, control: path.join(work, `${name}.sock`) };
}

// ---- HAProxy ---------------------------------------------------------------------------------------
const frontPort = await freePort();
const haproxyEnv = {
  FLEET_PORT: String(frontPort),
  FLEET_A: String(masters.a.port),
  FLEET_B: String(masters.b.port),
  FLEET_CHECK_A: String(masters.a.metricsPort ?? masters.a.port),
  FLEET_CHECK_B: String(masters.b.metricsPort ?? masters.b.port),
  ...(hasMetrics ? { FLEET_READYZ: '1' } : {}),
};
const haproxy = run('haproxy', 'haproxy', ['-db', '-f', config], haproxyEnv);
const url = `http://127.0.0.1:${frontPort}`;
const upDeadline = Date.now() + 10_000;
for (;;) {
  const ok = await fetch(url).then((r) => r.ok, () => false);
  if (ok) break;
  if (haproxy.exitCode !== null || Date.now() > upDeadline) fail(`haproxy did not come up\n${haproxy.output}`);
  await sleep(100);
}
await sleep(1500); // let both servers' checks pass (rise 2 x inter 500ms)
say(`HAProxy on ${url} in front of master a (port ${masters.a.port}) and master b (port ${masters.b.port}); ` +
  `health checks on ${hasMetrics ? '/readyz (--metrics)' : '/ (this handoff has no --metrics)'}; SIGTERM with ${hasShutdownDelay ? `--shutdown-delay ${SHUTDOWN_DELAY}` : 'no --shutdown-delay (this handoff has none)'}`);

// ---- load, and the three operations -------------------------------------------------------------
const errorKinds = new Map();
const count = (kind) => errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
const started = Date.now();
const cannon = autocannon({ url, connections: Number(values.connections), duration: seconds, timeout: 10 });
cannon.on('reqError', (error) => count(error.code ?? error.message));
cannon.on('response', (_client, status) => {
  if (status < 200 || status >= 300) count(`HTTP ${status}`);
});
const finished = new Promise((resolve, reject) => cannon.once('done', resolve).once('error', reject));

const steps = [];
const step = (name, ok, detail) => {
  steps.push({ name, ok, detail });
  say(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${ok ? 'ok  ' : 'FAIL'}  ${name}: ${detail}`);
};

await sleep(at(0.2));
const oldA = readPid('a');
let t = Date.now();
const upgrade = await ctl(['upgrade', '--control', masters.a.control]);
const newA = readPid('a');
step('ctl upgrade a', upgrade.code === 0 && newA !== oldA, `master ${oldA} -> ${newA} in ${((Date.now() - t) / 1000).toFixed(1)} s (exit ${upgrade.code})${upgrade.code === 0 ? '' : `: ${upgrade.output}`}`);

await sleep(Math.max(0, started + at(0.45) - Date.now()));
t = Date.now();
const reload = await ctl(['reload', '--control', masters.b.control]);
step('ctl reload b', reload.code === 0, `${reload.output.replace(/^handoff: /, '')} in ${((Date.now() - t) / 1000).toFixed(1)} s (exit ${reload.code})`);

await sleep(Math.max(0, started + at(0.7) - Date.now()));
const stopping = readPid('a');
t = Date.now();
let stopped;
try {
  process.kill(stopping, 'SIGTERM');
  stopped = new Promise((resolve) => {
    const poll = setInterval(() => {
      try {
        process.kill(stopping, 0);
      } catch {
        clearInterval(poll);
        resolve(Date.now() - t);
      }
    }, 50);
  });
} catch (error) {
  step('SIGTERM a', false, `cannot signal master ${stopping}: ${error.code}`);
}

const result = await finished;
const stopMs = await Promise.race([stopped, sleep(15_000).then(() => undefined)]);
const sentAt = ((t - started) / 1000).toFixed(1);
if (stopped) step('SIGTERM a', stopMs !== undefined, `sent at ${sentAt} s; ${stopMs === undefined ? `master ${stopping} still running 15 s later` : `master ${stopping} exited after ${(stopMs / 1000).toFixed(1)} s`}`);

// ---- report ------------------------------------------------------------------------------------------
const errors = [...errorKinds].sort((x, y) => y[1] - x[1]);
const total = errors.reduce((sum, [, n]) => sum + n, 0);
say(`${result.requests.total} requests in ${seconds} s (${Math.round(result.requests.average)} req/s), ${result['2xx']} answered 2xx; ` +
  `autocannon: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
say(`errors by kind: ${errors.length === 0 ? 'none' : errors.map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
const failedSteps = steps.filter((s) => !s.ok);
haproxy.kill('SIGTERM');
masters.b.child.kill('SIGTERM');
await Promise.race([Promise.all([haproxy.exited, masters.b.child.exited]), sleep(10_000)]);
cleanup();
if (total > 0 || result.errors > 0 || result.timeouts > 0 || result.non2xx > 0 || failedSteps.length > 0) {
  say(`FAILED: ${total} failed request(s), ${failedSteps.length} failed step(s); logs: ${logFile}`);
  if (!values.keep) say('(rerun with --keep to keep the logs)');
  process.exit(1);
}
say('passed: 0 errors through an upgrade, a reload and a shutdown');
process.exit(0);

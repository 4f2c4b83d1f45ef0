// Where handoff's master spends its CPU per connection: a V8 CPU profile of
// the master (not its workers) under the bench's `close` load, rendered as a
// flame graph, with the self time grouped by what the code does; or, with
// --perf, a Linux perf profile of the same, kernel included.
//
//   node bench/profile.mjs [--scheduler rr] [--duration 10] [--workers 2] [--out docs]
//   node bench/profile.mjs --perf [--frequency 999]    # needs perf (linux-tools), and root for kernel stacks
//
// Writes <out>/master-profile.svg (the flame graph of the measured seconds),
// <out>/master-profile.json (the groups, per connection, which the bench
// report quotes in "Where the master's µs go") and keeps the raw
// .cpuprofile in bench/results/ (open it in Chrome DevTools for more).
//
// Only the samples taken during the measured run count: V8 stamps samples
// with the same monotonic clock as process.hrtime, so the window is cut
// exactly. The master's CPU by /proc over the same window says how much of
// its time the sampler saw (the main thread) and how much is kernel time.
//
// V8's sampler cannot see the kernel's side of a system call, nor other
// threads, and it counts native work in whichever frame is on top. --perf
// records the master with `perf record -g` for the measured seconds instead
// (node --perf-basic-prof-only-functions names the JavaScript frames) and
// writes <out>/master-perf.json: every sample of the master, user and kernel,
// grouped by profile/perf-groups.mjs. Its groups add up to all of /proc's
// figure for that run, which the sampling itself makes larger than an
// unprofiled run's (the shares are what to read).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllSync, startContender } from './contenders.mjs';
import { runLoad } from './load.mjs';
import { groupSelfTime, renderFlameGraph, windowed } from './profile/flamegraph.mjs';
import { groupPerfSamples } from './profile/perf-groups.mjs';
import { scenarios } from './scenarios.mjs';
import { diffStats, readWorkerStats, waitQuiet } from './worker-stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const { values: flags } = parseArgs({
  options: {
    scheduler: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    interval: { type: 'string', default: '100' },
    perf: { type: 'boolean', default: false },
    frequency: { type: 'string', default: '999' },
    out: { type: 'string', default: path.join(root, 'docs') },
  },
});

const { defaultScheduler = 'rr' } = await import('../dist/scheduler/index.js');
const scheduler = flags.scheduler ?? defaultScheduler;
const workers = Number(flags.workers);
const duration = Number(flags.duration);
const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-prof-'));
const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-bench-'));
process.on('exit', () => {
  killAllSync();
  fs.rmSync(statsDir, { recursive: true, force: true });
  fs.rmSync(profDir, { recursive: true, force: true });
});

const contender = { name: `handoff-${scheduler}`, kind: 'handoff', scheduler };
const master = path.join(here, 'profile/master-only.mjs');
const running = await startContender(contender, {
  workers,
  statsDir,
  statsIntervalMs: 100,
  nodeArgs: flags.perf
    ? ['--perf-basic-prof-only-functions', '--import', master]
    : ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', flags.interval, '--import', master],
});
const options = scenarios.close.options({ workers });
const load = (seconds) => runLoad({ port: running.port, options, duration: seconds, title: 'close', showProgress: false });

await load(Number(flags.warmup));
const baseline = await waitQuiet(statsDir, 100, 2000);
const cpuBefore = running.procStats();
const switchesBefore = contextSwitches(running.pid);
const from = process.hrtime.bigint() / 1000n;
const recorder = flags.perf ? startPerf(running.pid) : undefined;
const result = await load(duration);
const to = process.hrtime.bigint() / 1000n;
const cpuAfter = running.procStats();
const switchesAfter = contextSwitches(running.pid);
await recorder?.stopped;
await waitQuiet(statsDir, 100, 2000);
const perfText = recorder && readPerf(recorder.file); // before the master exits: perf names its JavaScript frames from /tmp/perf-<pid>.map
const stopped = await running.stop();
const handed = diffStats(baseline.stats, readWorkerStats(statsDir)).reduce((a, w) => a + w.connections, 0);

const perConnection = (seconds) => (seconds * 1e6) / handed;
const cpuSeconds = cpuAfter.cpuSeconds - cpuBefore.cpuSeconds;
const run = {
  when: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
  scheduler,
  workers,
  durationSec: duration,
  connections: handed,
  reqPerSec: Math.round(result.requests.total / result.duration),
  cpuMicrosPerConnection: perConnection(cpuSeconds),
  userMicrosPerConnection: perConnection(cpuAfter.userSeconds - cpuBefore.userSeconds),
  systemMicrosPerConnection: perConnection(cpuAfter.systemSeconds - cpuBefore.systemSeconds),
  /** The master's context switches per connection: each time it slept (voluntary) or was preempted (involuntary). */
  switchesPerConnection: {
    voluntary: (switchesAfter.voluntary - switchesBefore.voluntary) / handed,
    involuntary: (switchesAfter.involuntary - switchesBefore.involuntary) / handed,
  },
  loadAverage: os.loadavg()[0],
};
const cpuLine =
  `profile: ${handed} connections in ${duration} s (${run.reqPerSec} req/s); master CPU ${run.cpuMicrosPerConnection.toFixed(1)} µs/conn ` +
  `(${run.userMicrosPerConnection.toFixed(1)} user + ${run.systemMicrosPerConnection.toFixed(1)} kernel), ` +
  `${run.switchesPerConnection.voluntary.toFixed(2)} + ${run.switchesPerConnection.involuntary.toFixed(2)} context switches (slept + preempted)`;
fs.mkdirSync(flags.out, { recursive: true });
if (flags.perf) writePerfSummary(perfText);
else writeV8Summary();

/** voluntary_ctxt_switches and nonvoluntary_ctxt_switches from /proc/<pid>/status. */
function contextSwitches(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
}

/** perf record -g on the master for the measured seconds; resolves `stopped` once perf has written its file. */
function startPerf(pid) {
  const file = path.join(profDir, 'perf.data');
  const perf = spawn('perf', ['record', '-q', '-g', '-F', flags.frequency, '-p', String(pid), '-o', file, '--', 'sleep', String(duration)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stopped = new Promise((resolve, reject) => {
    perf.once('error', (error) => reject(new Error(`profile: could not run perf (${error.message}); install linux-tools, or profile without --perf`)));
    perf.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`profile: perf record exited with ${code}`))));
  });
  return { file, stopped };
}

function readPerf(file) {
  return execFileSync('perf', ['script', '-i', file], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
}

function writePerfSummary(text) {
  fs.rmSync(`/tmp/perf-${running.pid}.map`, { force: true });
  const groups = groupPerfSamples(text).map((g) => ({ ...g, microsPerConnection: g.share * run.cpuMicrosPerConnection }));
  const summary = { ...run, frequencyHz: Number(flags.frequency), samples: groups.reduce((a, g) => a + g.samples, 0), groups };
  fs.writeFileSync(path.join(flags.out, 'master-perf.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${cpuLine}; ${summary.samples} perf samples\n`);
  for (const g of groups) process.stdout.write(`  ${g.name.padEnd(52)} ${g.microsPerConnection.toFixed(2).padStart(7)} µs  ${(g.share * 100).toFixed(1).padStart(5)}%  ${g.what}\n`);
  process.stdout.write(`profile: wrote ${path.relative(root, path.join(flags.out, 'master-perf.json'))}\n`);
}

function writeV8Summary() {
  const file = fs.readdirSync(profDir).find((name) => name.includes(`.${running.pid}.`) && name.endsWith('.cpuprofile'));
  if (!file) {
    process.stderr.write(`profile: the master (pid ${running.pid}) wrote no profile; exit ${stopped.exitCode}\n${stopped.stderr}\n`);
    process.exit(1);
  }
  const raw = JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8'));
  const profile = windowed(raw, Number(from), Number(to));
  const groups = groupSelfTime(profile).map((g) => ({ ...g, microsPerConnection: g.micros / handed }));
  const sampled = groups.reduce((a, g) => a + g.micros, 0);
  const summary = { ...run, samplingIntervalUs: Number(flags.interval), sampledMicrosPerConnection: sampled / handed, groups };
  fs.writeFileSync(path.join(flags.out, 'master-profile.json'), `${JSON.stringify(summary, null, 2)}\n`);
  fs.writeFileSync(
    path.join(flags.out, 'master-profile.svg'),
    renderFlameGraph(profile, {
      title: `handoff master (${scheduler}, ${workers} workers) under close load, ${duration} s: ${handed} connections, ${summary.cpuMicrosPerConnection.toFixed(1)} µs CPU each by /proc`,
    }),
  );
  const keep = path.join(here, 'results', `master-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  fs.mkdirSync(path.dirname(keep), { recursive: true });
  fs.copyFileSync(path.join(profDir, file), keep);

  process.stdout.write(`${cpuLine}; sampled ${summary.sampledMicrosPerConnection.toFixed(1)} µs/conn\n`);
  for (const g of groups) process.stdout.write(`  ${g.name.padEnd(28)} ${g.microsPerConnection.toFixed(2).padStart(7)} µs  ${(g.share * 100).toFixed(1).padStart(5)}%  ${g.what}\n`);
  process.stdout.write(`profile: wrote ${path.relative(root, path.join(flags.out, 'master-profile.svg'))}, master-profile.json; raw profile ${path.relative(root, keep)}\n`);
}

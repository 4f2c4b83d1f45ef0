// Where handoff's master spends its CPU per connection: a V8 CPU profile of
// the master (not its workers) under the bench's `close` load, rendered as a
// flame graph, with the self time grouped by what the code does.
//
//   node bench/profile.mjs [--scheduler rr] [--duration 10] [--workers 2] [--out docs]
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

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllSync, startContender } from './contenders.mjs';
import { runLoad } from './load.mjs';
import { groupSelfTime, renderFlameGraph, windowed } from './profile/flamegraph.mjs';
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
const running = await startContender(contender, {
  workers,
  statsDir,
  statsIntervalMs: 100,
  nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', flags.interval, '--import', path.join(here, 'profile/master-only.mjs')],
});
const options = scenarios.close.options({ workers });
const load = (seconds) => runLoad({ port: running.port, options, duration: seconds, title: 'close', showProgress: false });

await load(Number(flags.warmup));
const baseline = await waitQuiet(statsDir, 100, 2000);
const cpuBefore = running.procStats();
const from = process.hrtime.bigint() / 1000n;
const result = await load(duration);
const to = process.hrtime.bigint() / 1000n;
const cpuAfter = running.procStats();
await waitQuiet(statsDir, 100, 2000);
const stopped = await running.stop();
const handed = diffStats(baseline.stats, readWorkerStats(statsDir)).reduce((a, w) => a + w.connections, 0);

const file = fs.readdirSync(profDir).find((name) => name.includes(`.${running.pid}.`) && name.endsWith('.cpuprofile'));
if (!file) {
  process.stderr.write(`profile: the master (pid ${running.pid}) wrote no profile; exit ${stopped.exitCode}\n${stopped.stderr}\n`);
  process.exit(1);
}
const raw = JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8'));
const profile = windowed(raw, Number(from), Number(to));

const perConnection = (seconds) => (seconds * 1e6) / handed;
const cpuSeconds = cpuAfter.cpuSeconds - cpuBefore.cpuSeconds;
const groups = groupSelfTime(profile).map((g) => ({ ...g, microsPerConnection: g.micros / handed }));
const sampled = groups.reduce((a, g) => a + g.micros, 0);
const summary = {
  when: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
  scheduler,
  workers,
  durationSec: duration,
  samplingIntervalUs: Number(flags.interval),
  connections: handed,
  reqPerSec: Math.round(result.requests.total / result.duration),
  cpuMicrosPerConnection: perConnection(cpuSeconds),
  userMicrosPerConnection: perConnection(cpuAfter.userSeconds - cpuBefore.userSeconds),
  systemMicrosPerConnection: perConnection(cpuAfter.systemSeconds - cpuBefore.systemSeconds),
  sampledMicrosPerConnection: sampled / handed,
  loadAverage: os.loadavg()[0],
  groups,
};
fs.mkdirSync(flags.out, { recursive: true });
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

process.stdout.write(
  `profile: ${handed} connections in ${duration} s (${summary.reqPerSec} req/s); master CPU ${summary.cpuMicrosPerConnection.toFixed(1)} µs/conn ` +
    `(${summary.userMicrosPerConnection.toFixed(1)} user + ${summary.systemMicrosPerConnection.toFixed(1)} kernel); sampled ${summary.sampledMicrosPerConnection.toFixed(1)} µs/conn\n`,
);
for (const g of groups) process.stdout.write(`  ${g.name.padEnd(28)} ${g.microsPerConnection.toFixed(2).padStart(7)} µs  ${(g.share * 100).toFixed(1).padStart(5)}%  ${g.what}\n`);
process.stdout.write(`profile: wrote ${path.relative(root, path.join(flags.out, 'master-profile.svg'))}, master-profile.json; raw profile ${path.relative(root, keep)}\n`);

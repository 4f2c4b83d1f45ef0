// The benchmark: every contender against every scenario, alternated and
// repeated, medians and ratios reported. See docs/bench.md for the latest
// results and `node bench/run.mjs --help` for the flags.
//
// One run = start a contender, warm it up (load discarded), snapshot the
// workers' counters, measure, read the dispatcher's CPU and peak RSS, stop it
// gracefully, read the workers' final counters, settle. Contenders are
// alternated within a round (and the order rotates between rounds), so slow
// drift on this shared machine spreads over all of them instead of
// penalising whoever happens to run last.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllSync, listContenders, startContender } from './contenders.mjs';
import { diffHistograms, percentiles } from './handoff-latency.mjs';
import { runLoad } from './load.mjs';
import { scenarios } from './scenarios.mjs';
import { diffStats, fairness, readWorkerStats, waitQuiet } from './worker-stats.mjs';
import { summarize } from './summary.mjs';
import { ms, printTable, writeJson, writeMarkdown } from './report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const HELP = `Usage: node bench/run.mjs [options]      (npm run bench builds dist/ first)

  --quick              CI smoke test: 1 round, 1 s runs, 0.2 s warm-up; about 1.5 minutes.
  --rounds <n>         rounds; each runs every contender on every scenario (default 3)
  --duration <s>       measured seconds per run (default 5)
  --warmup <s>         warm-up seconds per run, load discarded (default 1)
  --settle <s>         pause between runs (default 0.5)
  --workers <n>        worker processes per multi-process contender (default 2)
  --scenarios <a,b>    subset of: ${Object.keys(scenarios).join(', ')}
  --contenders <x,y>   subset of the contenders (listed below)
  --report-dir <dir>   where the Markdown report and SVG go (default: docs/bench.md and docs/bench.svg
                       for a complete run or with --publish; bench/results/<time>.md for --quick or a subset)
  --scheduler-file <a.mjs,b.mjs>  also run handoff with these scheduler modules, as handoff-<file name>
  --publish            write docs/bench.md and docs/bench.svg even for a subset (the report says which)
  -h, --help

Contenders: single, cluster-rr, cluster-none, and handoff-<scheduler> for every
scheduler in dist/scheduler/index.js (builtInSchedulers) that this Node
supports: handoff-reuseport needs Node 22.12+ (run the bench on Node 24).`;

// ---- command line -------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    settle: { type: 'string' },
    workers: { type: 'string' },
    scenarios: { type: 'string' },
    contenders: { type: 'string' },
    'report-dir': { type: 'string' },
    publish: { type: 'boolean', default: false },
    'scheduler-file': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

function number(name, fallback, { integer = false, min = 0 } = {}) {
  if (flags[name] === undefined) return fallback;
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) usageError(`--${name}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got '${flags[name]}'`);
  return value;
}
function usageError(message) {
  process.stderr.write(`bench: ${message}\n\n${HELP}\n`);
  process.exit(2);
}

const quick = flags.quick;
const config = {
  quick,
  rounds: number('rounds', quick ? 1 : 3, { integer: true, min: 1 }),
  duration: number('duration', quick ? 1 : 5, { min: 0.1 }), // 1 s: at -c 1000 a shorter run can finish no request at all on a loaded machine
  warmup: number('warmup', quick ? 0.2 : 1, { min: 0 }),
  settle: number('settle', quick ? 0 : 0.5, { min: 0 }),
  workers: number('workers', 2, { integer: true, min: 1 }),
  // How often workers write their counters: also bounds the wait for the post-warm-up snapshot.
  statsIntervalMs: quick ? 50 : 500,
};

// The schedulers of the build under test, read at run time: new built-ins join by themselves.
let builtInSchedulers;
let defaultScheduler;
let runsOnThisNode;
try {
  ({ builtInSchedulers, defaultScheduler = 'rr', runsOnThisNode } = await import('../dist/scheduler/index.js'));
} catch (error) {
  process.stderr.write(`bench: cannot load dist/scheduler/index.js (run \`npm run build\` first): ${error.message}\n`);
  process.exit(1);
}

const schedulerFiles = flags['scheduler-file']?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
// handoff-reuseport only where this Node has SO_REUSEPORT (22.12+): run the bench on Node 24 to include it.
const allContenders = listContenders(builtInSchedulers, defaultScheduler, schedulerFiles, runsOnThisNode);
const contenders = pick('contenders', allContenders, (c) => c.name);
const scenarioNames = pick('scenarios', Object.keys(scenarios), (name) => name);

function pick(flag, all, nameOf) {
  if (flags[flag] === undefined) return all;
  const wanted = flags[flag].split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((name) => !all.some((item) => nameOf(item) === name));
  if (unknown.length > 0) usageError(`--${flag}: unknown ${unknown.join(', ')} (known: ${all.map(nameOf).join(', ')})`);
  return all.filter((item) => wanted.includes(nameOf(item)));
}

// ---- cleanup: nothing we started survives us ------------------------------------

let currentLoad; // the autocannon instance running now, to stop on Ctrl-C
let interrupted = false;
const tempDirs = new Set(); // the workers' counter folders of runs in progress
process.on('exit', () => {
  killAllSync();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}: stopping every contender and exiting\n`);
    currentLoad?.stop();
    killAllSync();
    process.exit(130);
  });
}

// ---- one run ----------------------------------------------------------------------------

const showProgress = Boolean(process.stdout.isTTY && process.stderr.isTTY && !process.env.CI);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function load(port, scenario, duration, title) {
  return runLoad({ port, options: scenario.options({ workers: config.workers }), duration, title, showProgress, onInstance: (instance) => (currentLoad = instance) });
}

async function runOne(contender, scenarioName, round) {
  const scenario = scenarios[scenarioName];
  const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-bench-'));
  tempDirs.add(statsDir);
  const title = `${scenarioName} ${contender.name} (round ${round})`;
  const phases = {}; // ms spent in each step, to see where a run's time goes
  let t = Date.now();
  const phase = (name) => {
    phases[name] = Date.now() - t;
    t = Date.now();
  };
  const quietMax = Math.max(1000, config.statsIntervalMs * 6);
  const loadAverage = os.loadavg()[0]; // how busy the shared machine was when this run began
  try {
    const running = await startContender(contender, { workers: config.workers, statsDir, statsIntervalMs: config.statsIntervalMs });
    phase('start');
    let stopped;
    try {
      if (config.warmup > 0) await load(running.port, scenario, config.warmup, `${title} warm-up`);
      phase('warmup');
      // Counters once the warm-up's last connections have landed: subtracted from the final ones.
      const baseline = await waitQuiet(statsDir, config.statsIntervalMs, quietMax);
      phase('baseline');
      const latencyBefore = await running.handoffLatency();
      const cpuBefore = running.procStats();
      const result = await load(running.port, scenario, config.duration, title);
      const cpuAfter = running.procStats();
      phase('run');
      // Let connections still queued in the dispatcher land before stopping it,
      // so the stop measures a graceful shutdown, not the tail of the load.
      const end = await waitQuiet(statsDir, config.statsIntervalMs, quietMax);
      phase('quiet');
      // The hand-offs of the measured run (and of the connections it left queued, which landed since).
      const handoffLatency = percentiles(diffHistograms(latencyBefore, await running.handoffLatency()));
      stopped = await running.stop();
      phase('stop');
      const workers = diffStats(baseline.stats, readWorkerStats(statsDir));
      const run = measurement(contender, scenarioName, round, running, result, workers, cpuBefore, cpuAfter, stopped);
      run.dispatcher.handoffLatency = handoffLatency;
      if (!baseline.quiet) run.notes.push(`connections still arriving ${quietMax} ms after the warm-up: the per-worker counts may include some of it`);
      if (!end.quiet) run.notes.push(`connections still arriving ${quietMax} ms after the run when it was stopped`);
      run.phases = phases;
      run.loadAverage = loadAverage;
      return run;
    } finally {
      if (stopped === undefined) await running.stop().catch(() => {});
    }
  } finally {
    fs.rmSync(statsDir, { recursive: true, force: true });
    tempDirs.delete(statsDir);
  }
}

function measurement(contender, scenarioName, round, running, result, workers, cpuBefore, cpuAfter, stopped) {
  const share = fairness(workers.map((w) => w.connections));
  const expectedProcesses = contender.kind === 'single' ? 1 : config.workers;
  const notes = [...stopped.notes];
  const badExits = workers.filter((w) => w.exitCode !== 0);
  if (badExits.length > 0) notes.push(`worker exit: ${badExits.map((w) => `pid ${w.pid} ${w.exitCode === undefined ? 'did not record an exit (killed?)' : `code ${w.exitCode}`}`).join(', ')}`);
  if (workers.length !== expectedProcesses) notes.push(`${workers.length} worker processes reported counts, expected ${expectedProcesses} (a worker was replaced?)`);
  if (result.unansweredSuspicious) notes.push(`autocannon wrote ${result.unanswered} requests that got no answer, error or timeout: its latencies may be wrong (see load.mjs)`);
  if (stopped.stderr) notes.push(`stderr: ${stopped.stderr.slice(0, 2000)}`);
  return {
    contender: contender.name,
    scenario: scenarioName,
    round,
    readyLine: running.readyLine,
    startMs: running.startMs,
    // Responses / measured seconds (autocannon's per-second average rounds partial seconds).
    reqPerSec: result.requests.total / result.duration,
    responses: result.requests.total,
    durationSec: result.duration,
    // ms, from every 2xx response time (see load.mjs); autocannon's own, in whole ms, kept for reference.
    latency: result.preciseLatency,
    latencyByPath: result.latencyByPath ?? null,
    autocannonLatency: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, max: result.latency.max, mean: result.latency.average },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    workers,
    fairness: share,
    dispatcher: {
      pid: running.pid,
      // CPU used during the measured run only (start-up and warm-up excluded), and in its whole life until stopped.
      cpuSecondsRun: cpuBefore && cpuAfter ? cpuAfter.cpuSeconds - cpuBefore.cpuSeconds : null,
      userSecondsRun: cpuBefore && cpuAfter ? cpuAfter.userSeconds - cpuBefore.userSeconds : null,
      systemSecondsRun: cpuBefore && cpuAfter ? cpuAfter.systemSeconds - cpuBefore.systemSeconds : null,
      cpuSecondsTotal: stopped.procStats?.cpuSeconds ?? null,
      peakRssMB: stopped.procStats?.peakRssMB ?? null,
    },
    stop: { exitCode: stopped.exitCode, signal: stopped.signal, forced: stopped.forced, orphans: stopped.orphans, ms: stopped.stopMs },
    notes,
  };
}

// ---- the plan ------------------------------------------------------------------------

const startedAt = new Date();
const perRun = config.warmup + config.duration + config.settle + (quick ? 0.8 : 1.5); // + start, snapshot, stop
const total = config.rounds * scenarioNames.length * contenders.length;
process.stdout.write(
  `bench: ${contenders.length} contenders x ${scenarioNames.length} scenarios x ${config.rounds} round(s) = ${total} runs of ` +
    `${config.warmup} s warm-up + ${config.duration} s; about ${Math.ceil((total * perRun) / 60)} min\n` +
    `bench: contenders ${contenders.map((c) => c.name).join(', ')}; ${config.workers} workers each; node ${process.version}, ${os.availableParallelism()} cores\n`,
);

const runs = [];
let done = 0;
for (let round = 1; round <= config.rounds; round++) {
  for (const scenarioName of scenarioNames) {
    // Rotate the order each round so no contender always runs first or last.
    const offset = (round - 1) % contenders.length;
    const order = [...contenders.slice(offset), ...contenders.slice(0, offset)];
    for (const contender of order) {
      const prefix = `[${String(done + 1).padStart(String(total).length)}/${total}] ${scenarioName.padEnd(9)} ${contender.name.padEnd(18)} round ${round}:`;
      let run;
      try {
        run = await runOne(contender, scenarioName, round);
      } catch (error) {
        // A contender that cannot start or crashes is a finding, not a reason to lose the other results.
        if (interrupted) break;
        runs.push({ contender: contender.name, scenario: scenarioName, round, failed: true, error: String(error.stack ?? error) });
        done++;
        process.stdout.write(`${prefix} FAILED: ${String(error.message ?? error).split('\n')[0]}\n`);
        continue;
      }
      runs.push(run);
      done++;
      const flaws = run.errors + run.timeouts + run.non2xx;
      process.stdout.write(
        `${prefix} ${Math.round(run.reqPerSec).toString().padStart(6)} req/s  p99 ${ms(run.latency.p99)} ms  ` +
          `${flaws ? `${run.errors} errors ${run.timeouts} timeouts ${run.non2xx} non-2xx  ` : ''}` +
          `conns/worker ${run.workers.map((w) => w.connections).join('/')}` +
          `${run.notes.length ? `  NOTE: ${run.notes.join('; ')}` : ''}\n`,
      );
      if (config.settle > 0) await sleep(config.settle * 1000);
    }
  }
}
const finishedAt = new Date();

// ---- report -----------------------------------------------------------------------------

// docs/bench.md is the project's published result: only a complete run replaces it.
const complete = !quick && flags.scenarios === undefined && flags.contenders === undefined;
const publish = complete || flags.publish;
const meta = {
  startedAt: startedAt.toISOString(),
  finishedAt: finishedAt.toISOString(),
  elapsedSec: (finishedAt - startedAt) / 1000,
  node: process.version,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  loadAverageAtStart: os.loadavg(),
  loadAverageAtEnd: null, // filled in below
  autocannon: JSON.parse(fs.readFileSync(path.join(root, 'node_modules/autocannon/package.json'), 'utf8')).version,
  handoff: JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version,
  commit: gitCommit(),
  config,
  schedulers: Object.keys(builtInSchedulers),
  defaultScheduler,
  // The command that produced this run, for the report's "Reproduce".
  argv: process.argv.slice(2),
  complete,
  docsDir: path.join(root, 'docs'), // where bench/profile.mjs leaves master-profile.json, which the report quotes
  contenders,
  scenarios: Object.fromEntries(scenarioNames.map((name) => [name, { description: scenarios[name].description, why: scenarios[name].why, headline: Boolean(scenarios[name].headline) }])),
};
meta.loadAverageAtEnd = os.loadavg();
const perRunLoad = runs.map((r) => r.loadAverage).filter((v) => v !== undefined);
meta.loadAveragePerRun = perRunLoad.length ? { min: Math.min(...perRunLoad), max: Math.max(...perRunLoad) } : null;
const summary = summarize(runs, contenders, scenarioNames);

const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const resultsDir = path.join(here, 'results');
const reportDir = path.resolve(flags['report-dir'] ?? (publish ? path.join(root, 'docs') : resultsDir));
printTable(summary, meta);
const jsonFile = writeJson(path.join(resultsDir, `${stamp}.json`), { meta, summary, runs });
const { markdown, svg } = writeMarkdown(reportDir, publish ? 'bench' : stamp, summary, meta, path.relative(root, jsonFile));
process.stdout.write(`\nbench: wrote ${path.relative(root, jsonFile)}, ${path.relative(root, markdown)}, ${path.relative(root, svg)} in ${Math.round(meta.elapsedSec)} s\n`);

/** The commit measured, with "-dirty" if the checkout had changes (so a report can be traced back). */
function gitCommit() {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty', '--abbrev=10'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

// The exit code says whether the bench itself worked (every run started,
// served and stopped cleanly), not whether handoff met its targets: that is
// what --quick in CI checks.
const broken = runs.filter((r) => r.failed || r.responses === 0 || r.stop.forced || r.stop.orphans.length > 0);
if (broken.length > 0) {
  process.stderr.write(`bench: ${broken.length} run(s) failed, served nothing, or did not stop cleanly: ${broken.map((r) => `${r.scenario}/${r.contender}/round ${r.round}`).join(', ')}\n`);
  process.exitCode = 1;
}

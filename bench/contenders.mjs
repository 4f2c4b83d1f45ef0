// The contenders, and how to start and stop each kind.
//
//   single          bench/app.mjs in one plain process (bench/single.mjs)
//   cluster-rr      node:cluster, NODE_CLUSTER_SCHED_POLICY=rr   (bench/cluster-master.mjs)
//   cluster-none    node:cluster, NODE_CLUSTER_SCHED_POLICY=none
//   handoff-<name>  node dist/master.js bench/app.mjs --scheduler <name>, for
//                   every built-in scheduler of the build under test that the
//                   running Node supports (reuseport: 22.12+, SO_REUSEPORT)
//
// Every contender runs the same bench/app.mjs, listens on a free port on
// 127.0.0.1, prints one "listening on http://127.0.0.1:PORT" line when ready,
// and stops gracefully on SIGTERM. Each is started as its own process group,
// so that after it exits we can tell whether anything it forked is still
// alive (an orphan) and kill the whole group -- also when the bench itself
// fails or is interrupted (killAllSync).

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readClusterHistogram, readHandoffHistogram } from './handoff-latency.mjs';
import { liveGroupMembers, readProcStats } from './proc-stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const APP = path.join(here, 'app.mjs');

const READY = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
const READY_TIMEOUT_MS = 20_000;
/** Longer than handoff's default --kill-timeout (5 s) and cluster-master's own 5 s. */
const STOP_TIMEOUT_MS = 10_000;
const STDERR_KEEP = 16 * 1024;

/**
 * The contender list. `baseline` names the node:cluster contender in the same
 * mode, for the ratios: handoff shared (workers accept) vs cluster none,
 * every handoff scheduler where the master accepts vs cluster rr.
 */
export function listContenders(schedulers, defaultScheduler = 'rr', schedulerFiles = [], runsOnThisNode = () => true) {
  const list = [
    { name: 'single', kind: 'single', description: 'one plain process' },
    { name: 'cluster-rr', kind: 'cluster', policy: 'rr', description: 'node:cluster, NODE_CLUSTER_SCHED_POLICY=rr' },
    { name: 'cluster-none', kind: 'cluster', policy: 'none', description: 'node:cluster, NODE_CLUSTER_SCHED_POLICY=none' },
  ];
  for (const [name, entry] of Object.entries(schedulers)) {
    if (!runsOnThisNode(entry)) continue; // this Node would refuse it (exit 2)
    list.push({
      name: `handoff-${name}`,
      kind: 'handoff',
      scheduler: name,
      baseline: entry.workersAccept ? 'cluster-none' : 'cluster-rr',
      isDefault: name === defaultScheduler,
      description: `handoff --scheduler ${name}${name === defaultScheduler ? ' (the default)' : ''}`,
    });
  }
  // Experiments: a scheduler module (docs/schedulers.md, "Writing your own"), as `handoff-<file name>`.
  for (const file of schedulerFiles) {
    const name = path.basename(file).replace(/\.[cm]?js$/, '');
    list.push({ name: `handoff-${name}`, kind: 'handoff', scheduler: path.resolve(file), baseline: 'cluster-rr', description: `handoff --scheduler ${file} (a scheduler module)` });
  }
  return list;
}

/** The control socket the bench gives a handoff contender, to read its hand-off latency. */
const controlPath = (statsDir) => path.join(statsDir, 'ctl.sock');

function commandFor(contender, workers, statsDir) {
  switch (contender.kind) {
    case 'single':
      return { args: [path.join(here, 'single.mjs')], env: {} };
    case 'cluster':
      return {
        // --expose-internals: cluster-master.mjs times the primary's hand-offs (its workers run without it).
        args: ['--expose-internals', path.join(here, 'cluster-master.mjs'), APP, '--workers', String(workers)],
        env: { NODE_CLUSTER_SCHED_POLICY: contender.policy },
      };
    case 'handoff':
      return {
        args: [
          path.join(root, 'dist/master.js'), APP, '--port', '0', '--host', '127.0.0.1', '--workers', String(workers),
          '--scheduler', contender.scheduler, '--control', controlPath(statsDir),
        ],
        env: {},
      };
    default:
      throw new Error(`unknown contender kind ${contender.kind}`);
  }
}

/** Process groups we started and have not seen end yet. */
const live = new Set();

/** Last resort (Ctrl-C, a crash of the bench): SIGKILL every group we started. Synchronous, for 'exit' handlers. */
export function killAllSync() {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `contender` with `workers` workers, its app writing counts to
 * `statsDir`. Resolves once it printed its ready line, with a handle to stop it.
 */
export async function startContender(contender, { workers, statsDir, statsIntervalMs, nodeArgs = [] }) {
  const { args, env } = commandFor(contender, workers, statsDir);
  args.unshift(...nodeArgs); // e.g. --cpu-prof for bench/profile.mjs
  const startAt = Date.now();
  const child = spawn(process.execPath, args, {
    cwd: root,
    detached: true, // its own process group: see the top of this file
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...env,
      BENCH_STATS_DIR: statsDir,
      BENCH_STATS_INTERVAL_MS: String(statsIntervalMs),
      HANDOFF_SCHEDULER: '', // the command line decides, not the caller's environment
    },
  });
  const pgid = child.pid;
  live.add(pgid);

  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  child.stdout.setEncoding('utf8');

  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const onData = (chunk) => {
      stdout += chunk;
      const match = READY.exec(stdout);
      if (match) {
        cleanup();
        resolve(Number(match[1]));
      }
    };
    const onExit = (code, signal) => fail(new Error(`exited before it was ready (code ${code}, signal ${signal})`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
    };
    const fail = (error) => {
      cleanup();
      killGroup(pgid);
      live.delete(pgid);
      error.message = `${contender.name}: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`;
      reject(error);
    };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', fail);
  });
  child.stdout.on('data', (chunk) => {
    stdout = (stdout + chunk).slice(-STDERR_KEEP);
  });

  const notes = [];
  // handoff prints its master pid: it must be the process we started (the one /proc is read for).
  const masterPid = /master pid (\d+)/.exec(stdout)?.[1];
  if (masterPid !== undefined && Number(masterPid) !== child.pid) notes.push(`ready line names master pid ${masterPid}, but we started pid ${child.pid}`);

  return {
    pid: child.pid,
    port,
    startMs: Date.now() - startAt,
    readyLine: stdout.split('\n').find((line) => READY.test(line)),
    procStats: () => readProcStats(child.pid),
    /**
     * Cumulative hand-off latency counts of the dispatcher (see
     * handoff-latency.mjs), or null: the single process hands nothing off,
     * cluster none neither, and a handoff build without the recorder says nothing.
     */
    handoffLatency: async () => {
      if (contender.kind === 'handoff') return readHandoffHistogram(controlPath(statsDir));
      if (contender.kind === 'cluster' && contender.policy === 'rr') return readClusterHistogram(child.pid, statsDir);
      return null;
    },
    /**
     * Graceful stop, as an operator would: SIGTERM to the dispatcher only.
     * Returns how it went: exit code, whether it had to be killed, orphans.
     */
    async stop() {
      const before = readProcStats(child.pid);
      const stopAt = Date.now();
      process.kill(child.pid, 'SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS, null)));
      let exit = await Promise.race([exited, timeout]);
      clearTimeout(timer); // or it would keep the bench alive 10 s after the last run
      let forced = false;
      if (exit === null) {
        forced = true;
        notes.push(`still running ${STOP_TIMEOUT_MS} ms after SIGTERM: killed`);
        killGroup(pgid);
        exit = await exited;
      }
      const stopMs = Date.now() - stopAt;
      // Workers should be gone with their master; give stragglers a moment, then look.
      let orphans = liveGroupMembers(pgid);
      for (let waited = 0; orphans.length > 0 && waited < 2000; waited += 100) {
        await sleep(100);
        orphans = liveGroupMembers(pgid);
      }
      if (orphans.length > 0) {
        notes.push(`${orphans.length} process(es) of its group still alive 2 s after it exited (pids ${orphans.join(', ')}): killed`);
        killGroup(pgid);
      }
      live.delete(pgid);
      if (exit.code !== 0) notes.push(`exit code ${exit.code}${exit.signal ? `, signal ${exit.signal}` : ''} after SIGTERM`);
      return { procStats: before, exitCode: exit.code, signal: exit.signal, forced, orphans, stopMs, notes, stderr: interestingStderr(stderr) };
    },
  };
}

function killGroup(pgid) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Stderr minus the lines every graceful stop prints, so what is left is worth a look. */
function interestingStderr(text) {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !/shutting down gracefully/.test(line))
    .join('\n');
}

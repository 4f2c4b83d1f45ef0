// From the individual runs to what the report says: per scenario and
// contender the medians over rounds, the ratios to node:cluster in the same
// mode and to the single process, and the targets from the issue.
//
// Medians, not means: on a shared 2-core machine one disturbed run should not
// move the result. Ratios are ratios of medians. Errors, timeouts and non-2xx
// responses are summed over rounds instead: a single error matters.

export function median(values) {
  const sorted = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);

function cell(runs, contender) {
  const pick = (fn) => runs.map(fn);
  return {
    rounds: runs.length,
    reqPerSec: median(pick((r) => r.reqPerSec)),
    reqPerSecRounds: pick((r) => r.reqPerSec),
    // Per round, for the targets' round-by-round check: within a round a scenario's contenders ran within a minute or so.
    byRound: Object.fromEntries(runs.map((r) => [r.round, { reqPerSec: r.reqPerSec, p99: r.latency.p99, maxMin: r.fairness.maxMin }])),
    p50: median(pick((r) => r.latency.p50)),
    p97_5: median(pick((r) => r.latency.p97_5)),
    p99: median(pick((r) => r.latency.p99)),
    p99Rounds: pick((r) => r.latency.p99),
    byPath: byPath(runs),
    errors: sum(pick((r) => r.errors)),
    timeouts: sum(pick((r) => r.timeouts)),
    non2xx: sum(pick((r) => r.non2xx)),
    // The share of connections per worker, medians over rounds (meaningless for the single process).
    workers: runs[0]?.workers.length ?? 0,
    connections: median(pick((r) => sum(r.workers.map((w) => w.connections)))),
    maxMin: contender.kind === 'single' ? null : median(pick((r) => r.fairness.maxMin)),
    jain: contender.kind === 'single' ? null : median(pick((r) => r.fairness.jain)),
    sharesLastRound: runs.at(-1)?.fairness.shares ?? [],
    cpuSecondsRun: median(pick((r) => r.dispatcher.cpuSecondsRun)),
    // Dispatcher CPU per response: comparable across contenders that served different amounts.
    cpuMicrosPerRequest: median(pick((r) => (r.dispatcher.cpuSecondsRun === null || r.responses === 0 ? null : (r.dispatcher.cpuSecondsRun * 1e6) / r.responses))),
    // The same per connection the workers received (the hand-off cost, in `close`), and its user/kernel split.
    cpuMicrosPerConnection: median(pick((r) => perConnection(r, r.dispatcher.cpuSecondsRun))),
    userMicrosPerConnection: median(pick((r) => perConnection(r, r.dispatcher.userSecondsRun))),
    systemMicrosPerConnection: median(pick((r) => perConnection(r, r.dispatcher.systemSecondsRun))),
    // Accept -> the worker's acknowledgement, on the dispatcher's clock (µs); null where nothing is handed off.
    handoffP50: median(pick((r) => r.dispatcher.handoffLatency?.p50 ?? null)),
    handoffP99: median(pick((r) => r.dispatcher.handoffLatency?.p99 ?? null)),
    handoffCount: median(pick((r) => r.dispatcher.handoffLatency?.count ?? null)),
    peakRssMB: median(pick((r) => r.dispatcher.peakRssMB)),
    peakRssMBMax: Math.max(...pick((r) => r.dispatcher.peakRssMB ?? 0)),
    notes: runs.flatMap((r) => r.notes.map((note) => `round ${r.round}: ${note}`)),
    baseline: contender.baseline ?? null,
  };
}

/** Median p50/p99 per request path, for scenarios that mix paths (null otherwise). */
function byPath(runs) {
  const paths = [...new Set(runs.flatMap((r) => Object.keys(r.latencyByPath ?? {})))].sort();
  if (paths.length === 0) return null;
  return Object.fromEntries(
    paths.map((p) => [
      p,
      {
        count: median(runs.map((r) => r.latencyByPath?.[p]?.count ?? null)),
        p50: median(runs.map((r) => r.latencyByPath?.[p]?.p50 ?? null)),
        p99: median(runs.map((r) => r.latencyByPath?.[p]?.p99 ?? null)),
      },
    ]),
  );
}

function perConnection(run, seconds) {
  const connections = sum(run.workers.map((w) => w.connections));
  return seconds === null || seconds === undefined || connections === 0 ? null : (seconds * 1e6) / connections;
}

function sum(values) {
  return values.reduce((a, b) => a + (b ?? 0), 0);
}

export function summarize(runs, contenders, scenarioNames) {
  const cells = {};
  const failures = [];
  for (const scenario of scenarioNames) {
    cells[scenario] = {};
    for (const contender of contenders) {
      const all = runs.filter((r) => r.scenario === scenario && r.contender === contender.name);
      const mine = all.filter((r) => !r.failed);
      const failed = all.filter((r) => r.failed);
      if (mine.length > 0) cells[scenario][contender.name] = cell(mine, contender);
      failures.push(...failed.map((r) => ({ scenario, contender: contender.name, round: r.round, error: r.error })));
    }
    for (const contender of contenders) {
      const c = cells[scenario][contender.name];
      if (!c) continue; // not run, or failed every round
      const base = c.baseline ? cells[scenario][c.baseline] : undefined;
      const single = cells[scenario]['single'];
      c.vsCluster = base ? ratio(c.reqPerSec, base.reqPerSec) : null;
      c.p99VsCluster = base ? ratio(c.p99, base.p99) : null;
      c.vsSingle = single && contender.name !== 'single' ? ratio(c.reqPerSec, single.reqPerSec) : null;
    }
  }
  return { cells, failures, targets: checkTargets(cells, contenders) };
}

// ---- targets ---------------------------------------------------------------------------

const fmt = (n, digits = 2) => (n === null || n === undefined ? 'n/a' : Number.isFinite(n) ? n.toFixed(digits) : String(n));
const rps = (n) => (n === null ? 'n/a' : `${Math.round(n)} req/s`);

/**
 * Each target of the issue, checked against the medians. A target whose
 * contender or scenario was not run is "skipped", never "met".
 */
function checkTargets(cells, contenders) {
  const targets = [];
  const get = (scenario, name) => cells[scenario]?.[name];
  /** Why a target is skipped: which of `names` has no result in `scenario`. */
  const missing = (scenario, ...names) => {
    if (!cells[scenario]) return `scenario ${scenario} not run`;
    return `no result for ${names.filter((n) => !cells[scenario][n]).join(' and ')} in ${scenario}`;
  };
  const add = (text, status, detail) => targets.push({ text, status, detail });
  const check = (text, ok, detail) => add(text, ok ? 'met' : 'not met', detail);
  /**
   * In how many rounds the same comparison holds: the verdict is on the
   * medians, but on a noisy machine a reader should see whether it held
   * every time or only just on the median.
   */
  const inRounds = (cellsByName, holds) => {
    const rounds = Object.keys(cellsByName[0].byRound).filter((round) => cellsByName.every((c) => c.byRound[round]));
    const ok = rounds.filter((round) => holds(...cellsByName.map((c) => c.byRound[round])));
    return `; held in ${ok.length} of ${rounds.length} round(s)`;
  };
  const handoffs = contenders.filter((c) => c.kind === 'handoff');
  const byDefault = handoffs.find((c) => c.isDefault);
  const def = byDefault?.name ?? 'handoff-rr';
  const defLabel = `handoff's default (${def.replace('handoff-', '')})`;

  // The headline: tail latency when some requests are slow. The default must
  // not be worse than node:cluster's rr, which never sends to a worker that
  // has not answered its last hand-off; the moonshot is the kernel's own
  // shared accept (a worker stuck in a request does not accept).
  for (const scenario of ['skewed', 'skewed-8']) {
    const h = get(scenario, def);
    const c = get(scenario, 'cluster-rr');
    const none = get(scenario, 'cluster-none');
    const rpsText = `${scenario}: ${defLabel} req/s >= 1.0x node:cluster rr`;
    const p99Text = `${scenario}: ${defLabel} p99 <= 1.0x node:cluster rr's`;
    if (h && c) {
      const rpsHolds = (a, b) => a.reqPerSec >= b.reqPerSec;
      const p99Holds = (a, b) => a.p99 <= b.p99;
      check(rpsText, rpsHolds(h, c), `${rps(h.reqPerSec)} vs ${rps(c.reqPerSec)}: ${fmt(h.reqPerSec / c.reqPerSec)}x${inRounds([h, c], rpsHolds)}`);
      check(p99Text, p99Holds(h, c), `${fmt(h.p99, 1)} ms vs ${fmt(c.p99, 1)} ms: ${fmt(h.p99 / c.p99)}x${inRounds([h, c], p99Holds)}`);
    } else {
      add(rpsText, 'skipped', missing(scenario, def, 'cluster-rr'));
      add(p99Text, 'skipped', missing(scenario, def, 'cluster-rr'));
    }
    const moonText = `${scenario} (moonshot): ${defLabel} within 1.1x of the kernel's shared accept (node:cluster none), req/s and p99`;
    const moonHolds = (a, b) => a.reqPerSec * 1.1 >= b.reqPerSec && a.p99 <= 1.1 * b.p99;
    if (h && none) {
      check(
        moonText,
        moonHolds(h, none),
        `${rps(h.reqPerSec)} vs ${rps(none.reqPerSec)} (${fmt(h.reqPerSec / none.reqPerSec)}x), p99 ${fmt(h.p99, 1)} vs ${fmt(none.p99, 1)} ms (${fmt(h.p99 / none.p99)}x)${inRounds([h, none], moonHolds)}`,
      );
    } else add(moonText, 'skipped', missing(scenario, def, 'cluster-none'));
  }

  // close: the dispatcher itself. The default must keep rr's hand-off rate.
  {
    const h = get('close', def);
    const c = get('close', 'cluster-rr');
    const text = `close: ${defLabel} >= 1.4x node:cluster rr req/s`;
    const holds = (a, b) => a.reqPerSec >= 1.4 * b.reqPerSec;
    if (h && c) check(text, holds(h, c), `${rps(h.reqPerSec)} vs ${rps(c.reqPerSec)}: ${fmt(h.reqPerSec / c.reqPerSec)}x${inRounds([h, c], holds)}`);
    else add(text, 'skipped', missing('close', def, 'cluster-rr'));
  }
  {
    const h = get('close', 'handoff-shared');
    const c = get('close', 'cluster-none');
    const text = 'close: handoff shared >= 0.95x node:cluster none req/s';
    const holds = (a, b) => a.reqPerSec >= 0.95 * b.reqPerSec;
    if (h && c) check(text, holds(h, c), `${rps(h.reqPerSec)} vs ${rps(c.reqPerSec)}: ${fmt(h.reqPerSec / c.reqPerSec)}x${inRounds([h, c], holds)}`);
    else add(text, 'skipped', missing('close', 'handoff-shared', 'cluster-none'));
  }
  // The hand-off cost: the master's CPU per connection it handed (user + kernel, /proc).
  {
    const h = get('close', def);
    const text = `close: ${defLabel} master CPU <= 15 µs per handed connection`;
    if (h && h.cpuMicrosPerConnection !== null) {
      check(
        text,
        h.cpuMicrosPerConnection <= 15,
        `${fmt(h.cpuMicrosPerConnection, 1)} µs (${fmt(h.userMicrosPerConnection, 1)} user + ${fmt(h.systemMicrosPerConnection, 1)} kernel)`,
      );
    } else add(text, 'skipped', missing('close', def));
  }

  // keepalive and cpu-pipelined: no regression against the better cluster mode, and no errors.
  for (const scenario of ['keepalive', 'cpu-pipelined']) {
    const clusters = ['cluster-rr', 'cluster-none'].map((name) => [name, get(scenario, name)]).filter(([, c]) => c);
    for (const h of handoffs) {
      const mine = get(scenario, h.name);
      const text = `${scenario}: ${h.name} >= 0.95x the better node:cluster mode, 0 errors`;
      if (!mine || clusters.length === 0) {
        add(text, 'skipped', mine ? `no node:cluster result in ${scenario}` : missing(scenario, h.name));
        continue;
      }
      const [bestName, best] = clusters.reduce((a, b) => (b[1].reqPerSec > a[1].reqPerSec ? b : a));
      const flaws = mine.errors + mine.timeouts + mine.non2xx;
      check(
        text,
        mine.reqPerSec >= 0.95 * best.reqPerSec && flaws === 0,
        `${rps(mine.reqPerSec)} vs ${bestName} ${rps(best.reqPerSec)}: ${fmt(mine.reqPerSec / best.reqPerSec)}x` +
          `${inRounds([mine, ...clusters.map(([, c]) => c)], (m, ...cs) => m.reqPerSec >= 0.95 * Math.max(...cs.map((c) => c.reqPerSec)))}; ` +
          `${mine.errors} errors, ${mine.timeouts} timeouts, ${mine.non2xx} non-2xx over ${mine.rounds} round(s)`,
      );
    }
  }

  // The default (and rr, if it is not the default) spreads connections evenly
  // where every request costs the same. Not in skewed: there, passing over a
  // worker stuck in a slow request is the point.
  for (const name of [...new Set([def, 'handoff-rr'])]) {
    for (const scenario of ['keepalive', 'close', 'cpu-pipelined']) {
      const h = get(scenario, name);
      const text = `${scenario}: ${name} connection share max/min <= 1.05`;
      if (!h) add(text, 'skipped', missing(scenario, name));
      else check(text, h.maxMin !== null && h.maxMin <= 1.05, `median max/min ${fmt(h.maxMin, 3)}, Jain ${fmt(h.jain, 4)} over ${h.workers} workers${inRounds([h], (r) => r.maxMin !== null && r.maxMin <= 1.05)}`);
    }
  }

  {
    const peaks = [];
    for (const [scenario, row] of Object.entries(cells)) {
      for (const h of handoffs) if (row[h.name]?.peakRssMB != null) peaks.push({ scenario, name: h.name, mb: row[h.name].peakRssMB });
    }
    const text = 'handoff master peak RSS <= 80 MB (every scheduler, every scenario)';
    if (peaks.length === 0) add(text, 'skipped', 'no handoff contender run');
    else {
      const worst = peaks.reduce((a, b) => (b.mb > a.mb ? b : a));
      check(text, worst.mb <= 80, `highest median ${fmt(worst.mb, 1)} MB (${worst.name}, ${worst.scenario})`);
    }
  }
  return targets;
}

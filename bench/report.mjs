// Output: a table on stdout, the raw runs as JSON, and a Markdown report with
// an SVG chart (drawn here by hand: no dependencies).

import fs from 'node:fs';
import path from 'node:path';

// ---- formatting ---------------------------------------------------------------------

const num = (n, digits = 0) => (n === null || n === undefined ? '-' : Number.isFinite(n) ? n.toFixed(digits) : '∞');
const times = (n) => (n === null || n === undefined ? '-' : `${n.toFixed(2)}x`);
/** Milliseconds with the digits that mean something: 0.43, 7.1, 612. */
export const ms = (n) => (n === null || n === undefined ? '-' : num(n, n < 10 ? 2 : n < 100 ? 1 : 0));

const COLUMNS = [
  ['contender', (name) => name],
  ['req/s', (_, c) => num(c.reqPerSec)],
  ['rounds min-max', (_, c) => `${num(Math.min(...c.reqPerSecRounds))}-${num(Math.max(...c.reqPerSecRounds))}`],
  ['vs cluster', (_, c) => (c.baseline ? `${times(c.vsCluster)} ${c.baseline.replace('cluster-', '')}` : '')],
  ['vs single', (_, c) => times(c.vsSingle)],
  ['p50 ms', (_, c) => ms(c.p50)],
  ['p97.5 ms', (_, c) => ms(c.p97_5)],
  ['p99 ms', (_, c) => ms(c.p99)],
  ['err/tmo/non2xx', (_, c) => `${c.errors}/${c.timeouts}/${c.non2xx}`],
  ['conn max/min', (_, c) => (c.maxMin === null ? '-' : num(c.maxMin, 3))],
  ['Jain', (_, c) => (c.jain === null ? '-' : num(c.jain, 4))],
  ['disp. CPU s', (_, c) => num(c.cpuSecondsRun, 2)],
  ['disp. µs/req', (_, c) => num(c.cpuMicrosPerRequest, 1)],
  ['disp. RSS MB', (_, c) => num(c.peakRssMB, 1)],
  ['hand-off p50/p99 µs', (_, c) => (c.handoffP50 === null ? '-' : `${num(c.handoffP50)}/${num(c.handoffP99)}`)],
];

/** For scenarios that mix paths: p50/p99 per path and contender, or null. */
function pathTable(row) {
  const paths = [...new Set(Object.values(row).flatMap((c) => Object.keys(c.byPath ?? {})))].sort();
  if (paths.length === 0) return null;
  const header = ['contender', ...paths.flatMap((p) => [`${p} p50 ms`, `${p} p99 ms`])];
  const body = Object.entries(row).map(([name, c]) => [name, ...paths.flatMap((p) => [ms(c.byPath?.[p]?.p50), ms(c.byPath?.[p]?.p99)])]);
  return { header, body };
}

function rows(row) {
  return Object.entries(row).map(([name, c]) => COLUMNS.map(([, get]) => get(name, c)));
}

// ---- stdout -----------------------------------------------------------------------------

export function printTable(summary, meta) {
  const out = [];
  out.push('');
  out.push(`Medians of ${meta.config.rounds} round(s), ${meta.config.duration} s each, ${meta.config.workers} workers; node ${meta.node}, ${meta.cpus} cores.`);
  out.push('vs cluster: handoff req/s / node:cluster in the same mode (shared vs none, others vs rr). disp. = the dispatcher process');
  out.push('(handoff master, cluster primary, the single process itself): CPU during the measured run, peak RSS.');
  for (const [scenario, row] of Object.entries(summary.cells)) {
    const header = COLUMNS.map(([title]) => title);
    const body = rows(row);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
    const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    out.push('', `== ${scenario}`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line));
    const paths = pathTable(row);
    if (paths) {
      const pw = paths.header.map((h, i) => Math.max(h.length, ...paths.body.map((r) => r[i].length)));
      const pline = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(pw[i]) : c.padStart(pw[i]))).join('  ');
      out.push('', 'by request path:', pline(paths.header), ...paths.body.map(pline));
    }
  }
  out.push('', 'Targets (on the medians):');
  for (const t of summary.targets) out.push(`  ${t.status === 'met' ? '[met]    ' : t.status === 'skipped' ? '[skipped]' : '[NOT MET]'} ${t.text}: ${t.detail}`);
  const notes = Object.entries(summary.cells).flatMap(([scenario, row]) => Object.entries(row).flatMap(([name, c]) => c.notes.map((n) => `  ${scenario} ${name} ${n}`)));
  if (notes.length > 0) out.push('', 'Notes from the runs:', ...notes);
  if (summary.failures.length > 0) out.push('', 'Failed runs (left out of the medians):', ...summary.failures.map((f) => `  ${f.scenario} ${f.contender} round ${f.round}: ${f.error.split('\n')[0]}`));
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---- JSON ---------------------------------------------------------------------------------

export function writeJson(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Infinity (a worker that got no connection) is not JSON: keep it as a string.
  fs.writeFileSync(file, `${JSON.stringify(data, (_, v) => (v === Infinity ? 'Infinity' : v), 2)}\n`);
  return file;
}

// ---- Markdown + SVG ---------------------------------------------------------------------

export function writeMarkdown(dir, baseName, summary, meta, jsonFile) {
  fs.mkdirSync(dir, { recursive: true });
  const svgFile = path.join(dir, `${baseName}.svg`);
  const mdFile = path.join(dir, `${baseName}.md`);
  fs.writeFileSync(svgFile, svgChart(summary, meta));
  fs.writeFileSync(mdFile, markdown(summary, meta, path.basename(svgFile), jsonFile));
  return { markdown: mdFile, svg: svgFile };
}

function mdTable(header, body) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function markdown(summary, meta, svgName, jsonFile) {
  const c = meta.config;
  const date = meta.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const lines = [];
  lines.push('# handoff benchmark');
  lines.push('');
  lines.push('<!-- Generated by `npm run bench` (bench/run.mjs). Do not edit by hand: run the bench again. -->');
  lines.push('');
  lines.push(
    `Run on ${date} (${meta.elapsedSec < 120 ? `${Math.round(meta.elapsedSec)} s` : `${(meta.elapsedSec / 60).toFixed(1)} min`}) on ${meta.platform}, ${meta.cpus} cores (${meta.cpuModel}), ` +
      `node ${meta.node}, autocannon ${meta.autocannon}, handoff ${meta.handoff}${meta.commit ? ` (${meta.commit})` : ''}. ` +
      `The machine was shared: its 1-minute load average was ${meta.loadAverageAtStart[0].toFixed(1)} when the bench started` +
      `${meta.loadAveragePerRun ? `, between ${meta.loadAveragePerRun.min.toFixed(1)} and ${meta.loadAveragePerRun.max.toFixed(1)} at the start of its runs` : ''}` +
      ` (on ${meta.cpus} cores).`,
  );
  lines.push('');
  lines.push(
    `**${c.rounds} round${c.rounds === 1 ? '' : 's'}**; in each, every contender ran every scenario for ${c.warmup} s of warm-up (discarded) ` +
      `and then **${c.duration} s measured**, one at a time, in an order that rotates each round, ${c.settle} s apart. ` +
      `Every contender ran the same server (\`bench/app.mjs\`) with **${c.workers} workers** (the single process: 1). ` +
      'All numbers below are **medians over the rounds** (errors: totals); ratios are ratios of medians. ' +
      'The machine is shared and small, and the load generator runs on it too: read the ratios, not the absolute numbers.',
  );
  lines.push('');
  lines.push(`![median req/s and p99 latency per scenario](${svgName})`);
  lines.push('');
  lines.push(...headline(summary, meta));
  lines.push(...handoffCost(summary, meta));
  lines.push('## Targets');
  lines.push('');
  lines.push(
    'Verdicts are on the medians of this run. "Held in k of n rounds" repeats the same comparison inside each round, where ' +
      "a scenario's contenders ran within a minute or so of each other: on this noisy machine it shows whether a verdict is firm or " +
      'rests on one round.',
  );
  lines.push('');
  for (const t of summary.targets) lines.push(`- **${t.status}**: ${t.text}. ${t.detail}.`);
  lines.push('');
  lines.push('## Contenders');
  lines.push('');
  for (const contender of meta.contenders) {
    lines.push(`- \`${contender.name}\`: ${contender.description}${contender.baseline ? `; compared with \`${contender.baseline}\`` : ''}`);
  }
  lines.push('');
  lines.push(
    `handoff's schedulers are read from the build (\`builtInSchedulers\` in \`dist/scheduler/index.js\`): this run had ${meta.schedulers.map((s) => `\`${s}\``).join(', ')}.`,
  );
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push(
    '`vs cluster`: req/s relative to node:cluster in the same mode (handoff shared vs cluster none, the other handoff schedulers vs cluster rr). ' +
      '`conn max/min` and `Jain`: how evenly the connections of the measured run were spread over the workers, from the counts each worker ' +
      "process kept of its server's `connection` events (Jain's index: 1 = even, 1/n = one worker got everything). " +
      '`disp.`: the dispatching process (handoff master, cluster primary, the single process itself): CPU seconds used during the ' +
      'measured run (/proc utime+stime), the same per response in microseconds, and peak RSS (VmHWM) just before it was stopped. ' +
      '`rounds min-max`: the spread of req/s over the rounds, to judge the noise. Latencies are of every 2xx response of the ' +
      'measured run, timed by autocannon and ranked by the bench (autocannon\'s own histogram rounds to whole milliseconds).',
  );
  for (const [scenario, row] of Object.entries(summary.cells)) {
    const info = meta.scenarios[scenario];
    lines.push('');
    lines.push(`### ${scenario}`);
    lines.push('');
    lines.push(`${info.description}. ${info.why}`);
    lines.push('');
    lines.push(mdTable(COLUMNS.map(([t]) => t), rows(row)));
    const paths = pathTable(row);
    if (paths) lines.push('', 'Latency by request path (medians over rounds): which requests paid for the slow ones.', '', mdTable(paths.header, paths.body));
  }
  const notes = [
    ...summary.failures.map((f) => `- ${f.scenario}, ${f.contender}, round ${f.round}: **failed** (left out of the medians): ${f.error.split('\n')[0]}`),
    ...Object.entries(summary.cells).flatMap(([scenario, row]) => Object.entries(row).flatMap(([name, cell]) => cell.notes.map((n) => `- ${scenario}, ${name}, ${n}`))),
  ];
  lines.push('');
  lines.push('## Anomalies');
  lines.push('');
  lines.push(notes.length > 0 ? notes.join('\n') : 'None: every contender stopped with exit code 0 on SIGTERM, left no process behind, and printed nothing unexpected on stderr.');
  lines.push('');
  lines.push('## Reproduce');
  lines.push('');
  lines.push('```sh');
  if (!meta.complete) lines.push(`node bench/run.mjs ${meta.argv.join(' ')}   # this report`);
  lines.push('npm ci && npm run bench                  # everything: about 15 minutes');
  lines.push('node bench/run.mjs --quick               # smoke test, under a minute (report in bench/results/)');
  lines.push('node bench/run.mjs --scenarios close --contenders cluster-rr,handoff-rr --rounds 5');
  lines.push('```');
  lines.push('');
  lines.push(`Every run's raw numbers (per round, per worker) went to \`${jsonFile}\` (not committed).`);
  lines.push('');
  return lines.join('\n');
}

// ---- the headline and the hand-off cost ----------------------------------------------------

const defaultName = (meta) => `handoff-${meta.defaultScheduler ?? 'rr'}`;

/** The scenarios marked headline (skewed, skewed-8): every contender against node:cluster rr. */
function headline(summary, meta) {
  const names = Object.keys(summary.cells).filter((s) => meta.scenarios[s]?.headline);
  if (names.length === 0) return [];
  const def = defaultName(meta);
  const lines = ['## Headline: a few slow requests', ''];
  lines.push(
    `What a user moving from node:cluster gets by default when 1 request in 20 takes 50 ms of CPU and every request comes on a new ` +
      `connection: the scenario where a scheduler that sends a connection to a worker stuck in a slow request makes it wait ` +
      `while another worker is idle. handoff's default scheduler is \`${def.replace('handoff-', '')}\`. \`vs cluster rr\`: ratio to ` +
      `node:cluster rr (req/s: higher is better; p99: lower is better). \`/ p99\`: the cheap requests' p99, the ones a scheduler can save.`,
  );
  for (const scenario of names) {
    const row = summary.cells[scenario];
    const base = row['cluster-rr'];
    lines.push('', `**${scenario}**: ${meta.scenarios[scenario].description}.`, '');
    const order = Object.keys(row).sort((a, b) => (a === def ? -1 : b === def ? 1 : 0));
    const body = order.map((name) => {
      const c = row[name];
      return [
        name === def ? `**${name}** (default)` : name,
        num(c.reqPerSec),
        base ? times(c.reqPerSec / base.reqPerSec) : '-',
        ms(c.p99),
        base ? times(c.p99 / base.p99) : '-',
        ms(c.byPath?.['/']?.p99),
        c.handoffP50 === null ? '-' : `${num(c.handoffP50)}/${num(c.handoffP99)}`,
      ];
    });
    lines.push(mdTable(['contender', 'req/s', 'vs cluster rr', 'p99 ms', 'p99 vs cluster rr', '/ p99 ms', 'hand-off p50/p99 µs'], body));
  }
  const others = Object.keys(summary.cells).filter((s) => !meta.scenarios[s]?.headline && summary.cells[s][def]);
  if (others.length > 0) {
    lines.push('', `The default elsewhere (req/s against node:cluster rr and none, the better of which the targets use):`, '');
    lines.push(
      mdTable(
        ['scenario', `${def} req/s`, 'vs cluster rr', 'vs cluster none', 'p99 ms', 'p99 vs cluster rr', 'conn max/min'],
        others.map((s) => {
          const row = summary.cells[s];
          const c = row[def];
          return [s, num(c.reqPerSec), row['cluster-rr'] ? times(c.reqPerSec / row['cluster-rr'].reqPerSec) : '-', row['cluster-none'] ? times(c.reqPerSec / row['cluster-none'].reqPerSec) : '-', ms(c.p99), row['cluster-rr'] ? times(c.p99 / row['cluster-rr'].p99) : '-', c.maxMin === null ? '-' : num(c.maxMin, 3)];
        }),
      ),
    );
  }
  lines.push('');
  return lines;
}

/**
 * What one hand-off costs the dispatcher, from `close` (every request a new
 * connection): CPU per handed connection from /proc, split user/kernel, and
 * the latency from accept to the worker's acknowledgement. With the master's
 * CPU profile (bench/profile.mjs writes docs/master-profile.{svg,json}) when
 * there is one.
 */
function handoffCost(summary, meta) {
  const row = summary.cells['close'];
  if (!row) return [];
  const lines = ['## Hand-off cost', ''];
  lines.push(
    'In `close`, where every request is a new connection the dispatcher places. `CPU µs/conn`: the dispatching process\'s CPU time ' +
      'during the measured run (/proc utime + stime) divided by the connections the workers received, split into user (JavaScript, ' +
      'libuv, V8) and kernel time (accept4, sendmsg, close, epoll on its behalf). `hand-off p50/p99`: from the accept to reading ' +
      "the worker's acknowledgement, on the dispatcher's clock: handoff's master records it (`handoff ctl status`, `handoffLatency`); " +
      "for node:cluster, bench/cluster-master.mjs wraps the primary's RoundRobinHandle (`--expose-internals`) and times the same " +
      'span, from `distribute()` to the reply callback closing its copy. It includes the time a connection waits in the queue for a ' +
      'worker that may take it. cluster none and the single process hand nothing off.',
    '',
  );
  const body = Object.entries(row)
    .filter(([name]) => name !== 'single')
    .map(([name, c]) => [
      name,
      num(c.reqPerSec),
      num(c.cpuMicrosPerConnection, 1),
      num(c.userMicrosPerConnection, 1),
      num(c.systemMicrosPerConnection, 1),
      c.handoffP50 === null ? '-' : num(c.handoffP50),
      c.handoffP99 === null ? '-' : num(c.handoffP99),
    ]);
  lines.push(mdTable(['contender', 'req/s', 'CPU µs/conn', 'user µs', 'kernel µs', 'hand-off p50 µs', 'hand-off p99 µs'], body));
  lines.push('');
  const profile = readProfileSummary(meta);
  if (profile) lines.push(...profile);
  const perf = readPerfSummary(meta);
  if (perf) lines.push(...perf);
  return lines;
}

/** docs/master-perf.json, written by bench/profile.mjs --perf: all of the master's CPU, kernel included, per connection. */
function readPerfSummary(meta) {
  const perf = readDocsJson(meta, 'master-perf.json');
  if (!perf) return null;
  const lines = ['### Every µs, kernel included', ''];
  const switches = perf.switchesPerConnection;
  lines.push(
    `Linux perf on the same master under the same load (\`node bench/profile.mjs --perf\`, ${perf.when}, ${perf.frequencyHz} samples a second ` +
      `with call stacks, every thread of the master, user and kernel): ${perf.connections} connections, ${num(perf.cpuMicrosPerConnection, 1)} µs of CPU each by /proc ` +
      `(${num(perf.userMicrosPerConnection, 1)} user + ${num(perf.systemMicrosPerConnection, 1)} kernel; the sampling itself adds some)` +
      (switches ? `, ${num(switches.voluntary, 2)} sleeps and ${num(switches.involuntary, 2)} preemptions of the master per connection` : '') +
      `; 1-minute load average ${num(perf.loadAverage, 1)}. Each of its ${perf.samples} samples is counted once: a kernel sample by the system call it is in, ` +
      'a user sample by the innermost frame a rule of bench/profile/perf-groups.mjs matches; the µs are each share of /proc\'s figure.',
    '',
  );
  lines.push(groupsTable(perf.groups), '');
  return lines;
}

/** A JSON file bench/profile.mjs left in the docs, or null if there is none. */
function readDocsJson(meta, name) {
  const file = path.join(meta.docsDir ?? 'docs', name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
}

/** The groups of a profile, per connection. */
function groupsTable(groups) {
  return mdTable(['where', 'µs/conn', 'share', 'what it is'], groups.map((g) => [g.name, num(g.microsPerConnection, 2), `${num(g.share * 100, 1)}%`, g.what]));
}

/** docs/master-profile.json, written by bench/profile.mjs: where the master's CPU goes, per connection. */
function readProfileSummary(meta) {
  const profile = readDocsJson(meta, 'master-profile.json');
  if (!profile) return null;
  const lines = ["### Where the master's µs go", ''];
  lines.push(
    `A CPU profile of handoff's master (\`${profile.scheduler}\`, ${profile.workers} workers) under the \`close\` load for ${profile.durationSec} s ` +
      `(\`node bench/profile.mjs\`, ${profile.when}): ${profile.connections} connections handed, ${num(profile.cpuMicrosPerConnection, 1)} µs of CPU each by /proc ` +
      `(${num(profile.userMicrosPerConnection, 1)} user + ${num(profile.systemMicrosPerConnection, 1)} kernel). V8's sampler (every ${profile.samplingIntervalUs} µs) ` +
      'sees the main thread only, kernel time included in the JavaScript or native frame that made the system call; the rest of ' +
      "/proc's figure is libuv and V8 threads (GC helpers) and what the sampler cannot attribute. Each row below is the profile's " +
      'self time of a group of frames, per connection.',
    '',
  );
  lines.push(`![flame graph of the master under close load](master-profile.svg)`, '');
  lines.push(groupsTable(profile.groups), '');
  return lines;
}

// The chart: one row per scenario, median req/s on the left and p99 latency
// on the right, each panel on its own scale (scenarios differ by 100x).
const PALETTE = { single: '#9e9e9e', 'cluster-rr': '#5b8def', 'cluster-none': '#a4c2f4' };
const HANDOFF_COLORS = ['#e8710a', '#f6ae2d', '#2a9d8f', '#8e44ad', '#c0392b', '#16a085'];

function colorOf(name, index) {
  return PALETTE[name] ?? HANDOFF_COLORS[index % HANDOFF_COLORS.length];
}

function svgChart(summary, meta) {
  const scenarios = Object.entries(summary.cells);
  const names = [...new Set(scenarios.flatMap(([, row]) => Object.keys(row)))];
  const handoffIndex = (name) => names.filter((n) => !(n in PALETTE)).indexOf(name);
  const W = 960;
  const labelW = 120;
  const panelW = (W - labelW * 2 - 60) / 2;
  const bar = 16;
  const gap = 4;
  const top = 56;
  const rowH = names.length * (bar + gap) + 44;
  const H = top + scenarios.length * rowH + 24;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(
    `<text x="10" y="22" font-size="15" font-weight="bold">handoff vs node:cluster: medians of ${meta.config.rounds} round(s), ${meta.config.workers} workers, ${meta.cpus} cores, node ${esc(meta.node)}</text>`,
  );
  out.push(`<text x="${labelW}" y="44" font-weight="bold">req/s (higher is better)</text>`);
  out.push(`<text x="${labelW * 2 + panelW + 40}" y="44" font-weight="bold">p99 latency, ms (lower is better)</text>`);
  scenarios.forEach(([scenario, row], s) => {
    const y0 = top + s * rowH;
    out.push(`<text x="10" y="${y0 + 14}" font-weight="bold">${esc(scenario)}</text>`);
    out.push(`<line x1="10" x2="${W - 10}" y1="${y0 + 2}" y2="${y0 + 2}" stroke="#ddd"/>`);
    const panels = [
      { x: labelW, get: (c) => c.reqPerSec, label: (c) => `${num(c.reqPerSec)}${c.vsCluster != null ? ` (${times(c.vsCluster)})` : ''}` },
      { x: labelW * 2 + panelW + 40, get: (c) => c.p99, label: (c) => `${ms(c.p99)}` },
    ];
    for (const panel of panels) {
      const max = Math.max(...names.map((n) => (row[n] ? panel.get(row[n]) ?? 0 : 0)), 1);
      names.forEach((name, i) => {
        const c = row[name];
        const y = y0 + 24 + i * (bar + gap);
        out.push(`<text x="${panel.x - 6}" y="${y + bar - 4}" text-anchor="end" fill="#333">${esc(name)}</text>`);
        if (!c) return;
        const value = panel.get(c) ?? 0;
        const w = Math.max(1, ((panelW - 90) * value) / max);
        out.push(`<rect x="${panel.x}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${colorOf(name, handoffIndex(name))}"/>`);
        out.push(`<text x="${panel.x + w + 4}" y="${y + bar - 4}" fill="#333">${esc(panel.label(c))}</text>`);
      });
    }
  });
  out.push(`<text x="10" y="${H - 8}" fill="#666">(1.23x): req/s relative to node:cluster in the same mode (handoff shared vs cluster none, other handoff schedulers vs cluster rr)</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

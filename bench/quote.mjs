// Prints the tables docs/schedulers.md quotes ("Measured"), from a run's raw
// results, so the numbers there are copied by a program, not by hand:
//
//   node bench/quote.mjs bench/results/<time>.json

import fs from 'node:fs';

const { meta, summary } = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const cells = summary.cells;
const names = [
  ['single', 'one process'],
  ['cluster-rr', 'node:cluster rr'],
  ['cluster-none', 'node:cluster none'],
  ...meta.contenders.filter((c) => c.kind === 'handoff').map((c) => [c.name, `handoff \`${c.name.replace('handoff-', '')}\``]),
];
const scenarios = Object.keys(cells);
const num = (n, d = 0) => (n === null || n === undefined ? '-' : n === 'Infinity' || n === Infinity ? '∞' : Number(n).toFixed(d));
const ms = (n) => (n === null || n === undefined ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const x = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
const row = (cols) => `| ${cols.join(' | ')} |`;
const head = (cols) => [row(cols), `|${cols.map((_, i) => (i ? ' ---: ' : ' --- ')).join('|')}|`].join('\n');
const out = [];

out.push(`Run: ${meta.startedAt} (${meta.commit}), ${meta.config.rounds} rounds of ${meta.config.duration} s, load average ${meta.loadAveragePerRun?.min.toFixed(1)}-${meta.loadAveragePerRun?.max.toFixed(1)}`, '');
out.push('### Fairness', '', head(['contender', ...scenarios]));
for (const [name, label] of names) {
  if (name === 'single') continue;
  out.push(row([label, ...scenarios.map((s) => (cells[s][name] ? `${num(cells[s][name].maxMin, 3)} (${num(cells[s][name].jain, 4)})` : '-'))]));
}
out.push('', '### Throughput', '', head(['contender', ...scenarios]));
for (const [name, label] of names) {
  out.push(
    row([
      label,
      ...scenarios.map((s) => {
        const c = cells[s][name];
        if (!c) return '-';
        const base = c.baseline ? cells[s][c.baseline] : null;
        return `${num(c.reqPerSec)}${base ? ` (${x(c.reqPerSec, base.reqPerSec)} ${c.baseline.replace('cluster-', '')})` : ''}`;
      }),
    ]),
  );
}
for (const s of scenarios.filter((s) => s.startsWith('skewed'))) {
  out.push('', `### ${s}`, '', head(['contender', 'req/s', 'vs cluster rr', 'p99 ms (all)', 'p99 vs cluster rr', '`/` p50 ms', '`/` p99 ms', '`/slow` p99 ms', 'hand-off p50/p99 µs']));
  const base = cells[s]['cluster-rr'];
  for (const [name, label] of names) {
    const c = cells[s][name];
    if (!c) continue;
    out.push(row([label, num(c.reqPerSec), x(c.reqPerSec, base?.reqPerSec), ms(c.p99), x(c.p99, base?.p99), ms(c.byPath?.['/']?.p50), ms(c.byPath?.['/']?.p99), ms(c.byPath?.['/slow']?.p99), c.handoffP50 == null ? '-' : `${num(c.handoffP50)}/${num(c.handoffP99)}`]));
  }
}
if (cells.close) {
  out.push('', '### Hand-off cost (close)', '', head(['contender', 'CPU µs/conn', 'user', 'kernel', 'hand-off p50 µs', 'p99 µs']));
  for (const [name, label] of names) {
    const c = cells.close[name];
    if (!c || name === 'single') continue;
    out.push(row([label, num(c.cpuMicrosPerConnection, 1), num(c.userMicrosPerConnection, 1), num(c.systemMicrosPerConnection, 1), num(c.handoffP50), num(c.handoffP99)]));
  }
}
out.push('', '### Targets', '', ...summary.targets.map((t) => `- ${t.status}: ${t.text}. ${t.detail}`));
process.stdout.write(`${out.join('\n')}\n`);

// A V8 .cpuprofile (what node --cpu-prof writes) -> a flame graph in SVG,
// and the self time grouped by what the code does. No dependencies.
//
// The profile is a call tree (nodes with children, each a call frame) and a
// list of samples: which node was on top of the stack, and the time since the
// previous sample. A sample's weight is the time until the next one, as
// Chrome DevTools counts it.

/**
 * The profile cut to the samples taken between `fromUs` and `toUs` (V8's
 * monotonic clock, the same as process.hrtime): { nodes: Map id -> node,
 * rootId, self: Map id -> µs, parent: Map id -> parent id }.
 */
export function windowed(profile, fromUs, toUs) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map();
  let t = profile.startTime;
  const { samples, timeDeltas } = profile;
  let inWindow = 0;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    const weight = i + 1 < samples.length ? timeDeltas[i + 1] : 0;
    if (t < fromUs || t > toUs || weight <= 0) continue;
    inWindow++;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + weight);
  }
  if (inWindow === 0) throw new Error(`no sample between ${fromUs} and ${toUs} µs (profile ${profile.startTime}-${profile.endTime})`);
  return { nodes, rootId: profile.nodes[0].id, self, parent };
}

const nameOf = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url ? url.replace(/^.*\/(dist|lib|node_modules)\//, '$1/').replace(/^node:/, '') : '';
  return `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`;
};

// ---- groups --------------------------------------------------------------------------------

/**
 * What the master's code does, as rules on the stack: a sample belongs to the
 * group of the frame nearest the top of the stack (the leaf) that some rule
 * matches, the first matching rule in this order. Native frames (accept,
 * writeUtf8String, close) are leaves under the JavaScript that called them,
 * so a system call is counted where it was made.
 */
const GROUPS = [
  { name: 'idle (epoll_wait)', what: 'waiting for the next event: not CPU, left out of the totals', test: (f) => f.functionName === '(idle)', idle: true },
  { name: 'garbage collection', what: "V8's collector on the main thread", test: (f) => f.functionName === '(garbage collector)' },
  // Before the write: the master's ack reader lives in fast-handoff.js too.
  { name: 'read acknowledgements', what: "reading the workers' ack lines from the IPC pipe, and acting on them", test: (f) => /acknowledge|onAck|parseAck|channel|onread|readAck|readSeqs|digitsEnd|decimal|ackFromJson|lines/i.test(f.functionName) },
  { name: 'hand-off write', what: 'writing the hand-off line with the fd on the IPC pipe (sendmsg with SCM_RIGHTS)', test: (f) => /writeUtf8String|writeLatin1String|writeBuffer|sendConnection|sendHandle|fast-?handoff/i.test(f.functionName + f.url) },
  { name: 'close the master\'s copy', what: "closing the master's descriptor once the worker has it (close(2), uv_close)", test: (f) => f.functionName === 'close' && !f.url },
  { name: 'accept', what: 'accept4 and wrapping the new descriptor (libuv onconnection)', test: (f) => /onconnection|accept/i.test(f.functionName) },
  { name: 'schedule and queue', what: 'the scheduler\'s pick and the dispatcher\'s queue', test: (f) => /pick|drain|dispatch|schedul/i.test(f.functionName + f.url) },
  { name: 'other JavaScript', what: 'timers, heartbeats, load reports, status, everything else', test: (f) => f.url !== '', fallback: true },
  { name: 'V8 and libuv, unattributed', what: '(program): native work with no JavaScript frame (event loop, V8 runtime)', test: () => true, fallback: true },
];

export function groupSelfTime(profile) {
  const totals = new Map(GROUPS.map((g) => [g, 0]));
  for (const [id, micros] of profile.self) {
    const group = groupOf(profile, id);
    totals.set(group, totals.get(group) + micros);
  }
  const busy = [...totals].filter(([g]) => !g.idle).reduce((a, [, us]) => a + us, 0);
  return [...totals]
    .filter(([g, us]) => !g.idle && us > 0)
    .map(([g, micros]) => ({ name: g.name, what: g.what, micros, share: micros / busy }))
    .sort((a, b) => b.micros - a.micros);
}

function groupOf(profile, id) {
  const stack = [];
  for (let at = id; at !== undefined; at = profile.parent.get(at)) stack.push(profile.nodes.get(at).callFrame);
  // Specific rules first along the whole stack, leaf to root; the catch-alls only if none matched.
  const specific = GROUPS.filter((g) => !g.fallback);
  for (const frame of stack) for (const group of specific) if (group.test(frame)) return group;
  for (const frame of stack) for (const group of GROUPS.filter((g) => g.fallback)) if (group.test(frame)) return group;
  return GROUPS.at(-1);
}

/** The functions with the most self time, for a look at what the groups should be. */
export function topSelf(profile, count = 25) {
  const byName = new Map();
  for (const [id, micros] of profile.self) {
    const name = nameOf(profile.nodes.get(id));
    byName.set(name, (byName.get(name) ?? 0) + micros);
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, count);
}

// ---- the flame graph -------------------------------------------------------------------------

const COLORS = ['#e8710a', '#f6ae2d', '#2a9d8f', '#5b8def', '#8e44ad', '#c0392b', '#16a085', '#9e9e9e', '#bbbbbb'];

/** An SVG flame graph of the non-idle samples: the root at the bottom, width = time including callees. */
export function renderFlameGraph(profile, { title, width = 1200 } = {}) {
  const idle = (id) => profile.nodes.get(id).callFrame.functionName === '(idle)';
  const total = new Map();
  const sum = (id) => {
    if (idle(id)) return 0;
    let t = profile.self.get(id) ?? 0;
    for (const child of profile.nodes.get(id).children ?? []) t += sum(child);
    total.set(id, t);
    return t;
  };
  const all = sum(profile.rootId);
  const rowH = 17;
  const boxes = [];
  let depthMax = 0;
  const lay = (id, x, depth) => {
    const t = total.get(id) ?? 0;
    if (t <= 0) return;
    const w = (t / all) * (width - 20);
    if (w < 0.3) return;
    depthMax = Math.max(depthMax, depth);
    boxes.push({ id, x, w, depth, t });
    let cx = x;
    const children = [...(profile.nodes.get(id).children ?? [])].sort((a, b) => nameOf(profile.nodes.get(a)).localeCompare(nameOf(profile.nodes.get(b))));
    for (const child of children) {
      lay(child, cx, depth + 1);
      cx += ((total.get(child) ?? 0) / all) * (width - 20);
    }
  };
  lay(profile.rootId, 10, 0);
  const top = 48;
  const height = top + (depthMax + 1) * rowH + 40;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const legend = GROUPS.filter((g) => !g.idle);
  const colorOf = (id) => COLORS[legend.indexOf(groupOf(profile, id))] ?? '#ccc';
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title ?? 'CPU profile')}</text>`);
  out.push(
    `<text x="10" y="38" fill="#555">Flame graph of the busy samples (idle left out): width = time in a function and what it called; colour = the group of "Where the master's µs go"; hover for times.</text>`,
  );
  for (const box of boxes) {
    const node = profile.nodes.get(box.id);
    const y = height - 40 - (box.depth + 1) * rowH;
    const label = box.depth === 0 ? 'all busy samples' : nameOf(node);
    const pct = ((box.t / all) * 100).toFixed(1);
    out.push(
      `<g><title>${esc(label)}: ${(box.t / 1000).toFixed(1)} ms, ${pct}%</title><rect x="${box.x.toFixed(1)}" y="${y}" width="${box.w.toFixed(1)}" height="${rowH - 1}" fill="${box.depth === 0 ? '#ddd' : colorOf(box.id)}" rx="2"/>` +
        (box.w > 40 ? `<text x="${(box.x + 3).toFixed(1)}" y="${y + 12}" fill="#111">${esc(fit(label, box.w))}</text>` : '') +
        '</g>',
    );
  }
  let lx = 10;
  legend.forEach((g, i) => {
    out.push(`<rect x="${lx}" y="${height - 24}" width="10" height="10" fill="${COLORS[i]}"/><text x="${lx + 14}" y="${height - 15}" fill="#333">${esc(g.name)}</text>`);
    lx += 24 + g.name.length * 6;
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function fit(text, widthPx) {
  const chars = Math.floor((widthPx - 6) / 6.2);
  return text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`;
}

// The status as people read it: a header line for the master, and a table
// with one row per worker process. `handoff ctl status` prints it once,
// `handoff ctl top` redraws it every second. Pure functions of a
// MasterStatus, so the rendering is tested without a terminal.
//
//   master pid 4242  http://127.0.0.1:3000  scheduler rr  workers 2/2 ready  accepting  uptime 3m12s
//   connections accepted 1624  handed 1624  refused 0  reclaimed 0  reset 0  queued 0  restarts: none
//   (and, for each other port the app listens on: "also 127.0.0.1:9100 (2 listening)"; for each
//   UDP socket: "udp 127.0.0.1:8125 (2 workers)"; an app that binds UDP only has, instead of the
//   URL and "accepting": "no TCP server (127.0.0.1:3000 closes connections)")
//
//   ID  PID   STATE      UPTIME  RESTARTS  HANDED  ACTIVE  REQ/S  RSS    CPU   ELU  DELAY
//    1  4243  listening  3m12s          0     812       3     41  48.1M  2.0%  3.1%  0.4ms
//
// The counters line has the numbers /metrics serves, from the same snapshot.

import type { BoundAddress } from '../dispatch/listener.js';
import { percentiles, subtractBuckets } from '../operations/metrics/handoff-latency.js';
import { formatRss, formatUptime } from '../units.js';
import type { MasterStatus, WorkerStatus } from './status.js';

export { formatRss, formatUptime } from '../units.js';

export function formatCpu(percent: number): string {
  return `${(Number.isFinite(percent) ? percent : 0).toFixed(1)}%`;
}

/** What the master counted: connections, and restarts by reason. */
export function renderCounters(status: MasterStatus): string {
  const c = status.connections;
  const restarts = Object.entries(status.restarts).filter(([, count]) => count > 0);
  return [
    `connections accepted ${c.accepted}`,
    `handed ${c.handed}`,
    `refused ${c.refused}`,
    `reclaimed ${c.reclaimed}`,
    `reset ${c.resetWhileQueued}`,
    `queued ${c.queued}`,
    `restarts: ${restarts.length === 0 ? 'none' : restarts.map(([reason, count]) => `${reason} ${count}`).join(', ')}`,
  ].join('  ');
}

/** Event-loop utilisation; "-" before the first heartbeat. */
export function formatElu(percent: number | null): string {
  return percent === null ? '-' : formatCpu(percent);
}

/** A duration in ms with the digits that mean something: 0.12ms, 3.4ms, 52ms; "-" for none. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  return `${ms < 1 ? ms.toFixed(2) : ms < 10 ? ms.toFixed(1) : Math.round(ms)}ms`;
}

/**
 * The hand-off latency line: p50 and p99 from accept to the worker's
 * acknowledgement, since the master started -- or, given the previous
 * status, over the time in between (what `top` shows). Null with nothing to say.
 */
export function renderHandoffLatency(status: MasterStatus, previous?: MasterStatus): string | null {
  const latest = status.handoffLatency;
  if (latest === undefined || latest.count === 0) return null;
  if (previous?.handoffLatency !== undefined) {
    const { count, p50, p99 } = percentiles(subtractBuckets(latest.buckets, previous.handoffLatency.buckets));
    if (count === 0) return `hand-off: none in the last interval  (${latest.count} since start)`;
    return `hand-off p50 ${formatMs((p50 as number) / 1000)}  p99 ${formatMs((p99 as number) / 1000)}  (${count} in the last interval, ${latest.count} since start)`;
  }
  return `hand-off p50 ${formatMs((latest.p50Us as number) / 1000)}  p99 ${formatMs((latest.p99Us as number) / 1000)}  (${latest.count} since start)`;
}

/** host:port as one can reach it: the ready line's form (all interfaces → 127.0.0.1). */
export function formatHostPort(address: BoundAddress): string {
  const { address: host, port } = address;
  const shown = host === '::' || host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `${shown}:${port}`;
}

/** The address as a URL one can open (`udp://` for a UDP socket). */
export function formatUrl(address: BoundAddress, scheme = 'http'): string {
  return `${scheme}://${formatHostPort(address)}`;
}

export function renderHeader(status: MasterStatus): string {
  // An app that binds UDP only: the master's address is not served (primary/master/udp-only.ts).
  const parts = status.noTcpServer
    ? [`master pid ${status.pid}`, `no TCP server (${formatHostPort(status.address)} closes connections)`, `scheduler ${status.scheduler}`, `workers ${status.ready}/${status.workers} ready`]
    : [`master pid ${status.pid}`, formatUrl(status.address), `scheduler ${status.scheduler}`, `workers ${status.ready}/${status.workers} ready`, status.accepting ? 'accepting' : 'paused (queue full)'];
  for (const listener of status.listeners ?? []) parts.push(`also ${formatHostPort(listener.address)} (${listener.workers} listening)`);
  for (const socket of status.udp ?? []) parts.push(`udp ${formatHostPort(socket.address)} (${socket.workers} worker${socket.workers === 1 ? '' : 's'})`);
  if (status.heldConnections > 0) parts.push(`holding ${status.heldConnections} connection${status.heldConnections === 1 ? '' : 's'}`);
  if (status.reloading) parts.push('reloading');
  if (status.upgrading) parts.push('upgrading');
  if (status.gaveUp) parts.push('gave up reforking');
  if (status.closing || status.shuttingDown) parts.push('shutting down');
  parts.push(`uptime ${formatUptime(status.uptimeMs)}`);
  return parts.join('  ');
}

interface Column {
  title: string;
  align: 'left' | 'right';
  value: (worker: WorkerStatus) => string;
}

const columns: readonly Column[] = [
  { title: 'ID', align: 'right', value: (w) => String(w.id) },
  { title: 'PID', align: 'right', value: (w) => String(w.pid) },
  { title: 'STATE', align: 'left', value: (w) => w.state },
  { title: 'UPTIME', align: 'right', value: (w) => formatUptime(w.uptimeMs) },
  { title: 'RESTARTS', align: 'right', value: (w) => String(w.restarts) },
  { title: 'HANDED', align: 'right', value: (w) => String(w.handed) },
  { title: 'ACTIVE', align: 'right', value: (w) => String(w.active) },
  { title: 'REQ/S', align: 'right', value: (w) => String(w.requestsPerSecond) },
  { title: 'RSS', align: 'right', value: (w) => formatRss(w.rssBytes) },
  { title: 'CPU', align: 'right', value: (w) => formatCpu(w.cpuPercent) },
  { title: 'ELU', align: 'right', value: (w) => formatElu(w.eluPercent) },
  { title: 'DELAY', align: 'right', value: (w) => formatMs(w.loopDelayP99Ms) },
];

/** The worker table, header row first, columns aligned, no trailing spaces. */
export function renderTable(processes: readonly WorkerStatus[]): string[] {
  if (processes.length === 0) return ['(no worker processes)'];
  const rows = [columns.map((c) => c.title), ...processes.map((worker) => columns.map((c) => c.value(worker)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (columns[i]?.align === 'left' ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * reuseport: one line for the slots' sockets on the port, e.g.
 *   sockets  slot 0: w5  slot 1: w2  slot 2: master (took 31)
 * "master" is a slot no worker accepts on now (a gap before its replacement
 * is ready, or parked after a scale-down): the master accepts and hands out.
 */
export function renderSlotSockets(status: MasterStatus): string[] {
  if (status.slotSockets === undefined) return [];
  const slots = status.slotSockets.map((socket) => {
    const who = socket.acceptedBy === 'worker' ? socket.workers.map((id) => `w${id}`).join('+') : 'master';
    return `slot ${socket.slot}: ${who}${socket.takenByMaster > 0 ? ` (took ${socket.takenByMaster})` : ''}`;
  });
  return [`sockets  ${slots.join('  ')}`];
}

/** What `handoff ctl status` prints. */
export function renderStatus(status: MasterStatus): string {
  return [renderHeader(status), ...renderSlotSockets(status), renderCounters(status), '', ...renderTable(status.processes)].join('\n');
}

/** One frame of `handoff ctl top`. */
export function renderTopFrame(status: MasterStatus, now: Date, interactive: boolean, previous?: MasterStatus): string {
  const clock = now.toTimeString().slice(0, 8);
  const title = `handoff top  ${clock}${interactive ? '  (q or Ctrl-C to quit)' : ''}`;
  const latency = renderHandoffLatency(status, previous);
  return [title, renderHeader(status), renderCounters(status), ...(latency === null ? [] : [latency]), '', ...renderTable(status.processes)].join('\n');
}

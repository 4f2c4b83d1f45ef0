// The pieces of the control socket that need no master: the table's units and
// alignment, the line reader's bound, and a ControlServer on a fake master
// (which lets the idle timeout be short enough to test).

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { ControlTarget } from '../dist/control/commands.js';
import { formatCpu, formatRss, formatUptime, renderStatus, renderTopFrame } from '../dist/control/format.js';
import { HandoffLatency } from '../dist/operations/metrics/handoff-latency.js';
import { LineReader } from '../dist/control/lines.js';
import { ControlServer } from '../dist/control/server.js';
import { silentLogger } from '../dist/cli/log.js';
import type { MasterStatus, WorkerStatus } from '../dist/control/status.js';
import { RawControl, removeTempDirs, tempDir } from './helpers/control.js';

afterEach(removeTempDirs);

describe('units', () => {
  test.each([
    [0, '-'],
    [999, '0s'],
    [42_000, '42s'],
    [192_000, '3m12s'],
    [7_500_000, '2h05m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d04h'],
  ])('uptime %d ms → %s', (ms, text) => expect(formatUptime(ms)).toBe(text));

  test.each([
    [0, '-'],
    [512 * 1024, '512K'],
    [47_395_635, '45.2M'],
    [1.25 * 1024 ** 3, '1.3G'],
  ])('rss %d → %s', (bytes, text) => expect(formatRss(bytes)).toBe(text));

  test('cpu', () => {
    expect([formatCpu(3.14), formatCpu(0), formatCpu(150)]).toEqual(['3.1%', '0.0%', '150.0%']);
  });
});

const worker = (id: number, extra: Partial<WorkerStatus> = {}): WorkerStatus => ({
  id,
  slot: id - 1,
  pid: 1000 + id,
  state: 'listening',
  uptimeMs: 192_000,
  restarts: 0,
  handed: 5,
  active: 1,
  inFlight: 0,
  requests: 50,
  requestsPerSecond: 3,
  rssBytes: 47_395_635,
  cpuPercent: 3.14,
  eluPercent: 12.5,
  loopDelayP99Ms: 0.42,
  ...extra,
});

const status = (processes: WorkerStatus[], extra: Partial<MasterStatus> = {}): MasterStatus => ({
  pid: 999,
  version: '0.1.0',
  node: 'v20.0.0',
  address: { address: '::', port: 3000, family: 'IPv6' },
  scheduler: 'rr',
  transport: 'fast',
  uptimeMs: 192_000,
  workers: processes.length,
  ready: processes.filter((p) => p.state === 'listening').length,
  accepting: true,
  heldConnections: 0,
  reloading: false,
  closing: false,
  gaveUp: false,
  sharedStateBytes: 2,
  shuttingDown: false,
  metricsUrl: null,
  connections: { accepted: 10, handed: 10, refused: 0, reclaimed: 0, resetWhileQueued: 0, queued: 0 },
  handoffLatency: { count: 10, p50Us: 362.04, p99Us: 1024, maxUs: 1000, buckets: [[362.04, 9], [1024, 1]] },
  handoffLatencySumSeconds: 0.004,
  restarts: { crash: 0, suicide: 0, heartbeat: 0, memory: 0, lifetime: 0, reload: 0, scale: 0, disconnect: 0 },
  slots: [],
  appMetrics: null,
  processes,
  ...extra,
});

describe('the status table', () => {
  test('a header line for the master, then aligned columns', () => {
    const text = renderStatus(
      status([worker(1), worker(12, { pid: 123456, state: 'starting', uptimeMs: 0, rssBytes: 0, handed: 12345, restarts: 3, eluPercent: null, loopDelayP99Ms: null })]),
    );
    expect(text).toBe(
      [
        'master pid 999  http://127.0.0.1:3000  scheduler rr  workers 1/2 ready  accepting  uptime 3m12s',
        'connections accepted 10  handed 10  refused 0  reclaimed 0  reset 0  queued 0  restarts: none',
        '',
        'ID     PID  STATE      UPTIME  RESTARTS  HANDED  ACTIVE  REQ/S    RSS   CPU    ELU   DELAY',
        ' 1    1001  listening   3m12s         0       5       1      3  45.2M  3.1%  12.5%  0.42ms',
        '12  123456  starting        -         3   12345       1      3      -  3.1%      -       -',
      ].join('\n'),
    );
  });

  test('top: the hand-off latency since start, then over the interval between two statuses', () => {
    const latency = new HandoffLatency();
    for (let i = 0; i < 99; i++) latency.record(120);
    latency.record(40_000);
    const before = status([], { handoffLatency: latency.status() });
    expect(renderTopFrame(before, new Date(), false).split('\n')[3]).toBe('hand-off p50 0.12ms  p99 0.12ms  (100 since start)');
    for (let i = 0; i < 10; i++) latency.record(2500);
    const after = status([], { handoffLatency: latency.status() });
    expect(renderTopFrame(after, new Date(), false, before).split('\n')[3]).toBe('hand-off p50 2.5ms  p99 2.5ms  (10 in the last interval, 110 since start)');
    expect(renderTopFrame(after, new Date(), false, after).split('\n')[3]).toBe('hand-off: none in the last interval  (110 since start)');
  });

  test('paused, holding, reloading, given up, shutting down; no workers', () => {
    const text = renderStatus(status([], { accepting: false, heldConnections: 3, reloading: true, gaveUp: true, closing: true, workers: 2 }));
    expect(text).toBe(
      'master pid 999  http://127.0.0.1:3000  scheduler rr  workers 0/2 ready  paused (queue full)  holding 3 connections  reloading  gave up reforking  shutting down  uptime 3m12s\n' +
        'connections accepted 10  handed 10  refused 0  reclaimed 0  reset 0  queued 0  restarts: none\n\n(no worker processes)',
    );
  });

  test('the counters line: restarts by reason, only those that happened', () => {
    const restarts = { crash: 1, suicide: 0, heartbeat: 0, memory: 0, lifetime: 0, reload: 4, scale: 0, disconnect: 0 };
    expect(renderStatus(status([], { restarts })).split('\n')[1]).toBe('connections accepted 10  handed 10  refused 0  reclaimed 0  reset 0  queued 0  restarts: crash 1, reload 4');
  });

  test("every other port the app listens on, after the master's own", () => {
    const listeners = [{ id: 1, address: { address: '127.0.0.1', port: 9100, family: 'IPv4' as const }, workers: 2 }];
    expect(renderStatus(status([], { listeners, workers: 2 })).split('\n')[0]).toBe(
      'master pid 999  http://127.0.0.1:3000  scheduler rr  workers 0/2 ready  accepting  also 127.0.0.1:9100 (2 listening)  uptime 3m12s',
    );
  });

  test('an app that binds UDP only: its UDP sockets, and no TCP service claimed on the master\'s address', () => {
    const udp = [{ id: 1, address: { address: '127.0.0.1', port: 8125, family: 'IPv4' as const }, workers: 2 }];
    expect(renderStatus(status([], { udp, noTcpServer: true, workers: 2 })).split('\n')[0]).toBe(
      'master pid 999  no TCP server (127.0.0.1:3000 closes connections)  scheduler rr  workers 0/2 ready  udp 127.0.0.1:8125 (2 workers)  uptime 3m12s',
    );
    expect(renderStatus(status([], { udp, workers: 2 })).split('\n')[0]).toBe(
      'master pid 999  http://127.0.0.1:3000  scheduler rr  workers 0/2 ready  accepting  udp 127.0.0.1:8125 (2 workers)  uptime 3m12s',
    );
  });
});

describe('LineReader', () => {
  test('lines across chunks, CRLF, a UTF-8 character split in two', () => {
    const reader = new LineReader(100);
    const euro = Buffer.from('€');
    expect(reader.push(Buffer.concat([Buffer.from('a\r\nb'), euro.subarray(0, 1)]))).toEqual({ lines: ['a'], overflow: false });
    expect(reader.push(Buffer.concat([euro.subarray(1), Buffer.from('\n')]))).toEqual({ lines: ['b€'], overflow: false });
    expect(reader.pendingBytes).toBe(0);
  });

  test('a line longer than the limit overflows, with or without its newline', () => {
    expect(new LineReader(4).push(Buffer.from('ok\n12345'))).toEqual({ lines: ['ok'], overflow: true });
    expect(new LineReader(4).push(Buffer.from('12345\nok\n'))).toEqual({ lines: [], overflow: true });
    expect(new LineReader(4).push(Buffer.from('1234\n'))).toEqual({ lines: ['1234'], overflow: false });
  });
});

describe('ControlServer on a fake master', () => {
  function fakeTarget(overrides: Partial<ControlTarget> = {}): ControlTarget {
    return {
      status: () => status([worker(1)]),
      reload: async () => ({ ok: true, replaced: 1 }),
      scale: (n) => Number(n),
      close: async () => 0,
      ...overrides,
    };
  }

  test('a connection that sends nothing is told so and closed after the idle timeout', async () => {
    const server = new ControlServer({ path: path.join(tempDir(), 's.sock'), isDefault: false, target: fakeTarget(), logger: silentLogger, idleTimeoutMs: 200 });
    await server.listen();
    try {
      const raw = await RawControl.connect(server.path);
      expect(await raw.next(3000)).toEqual({ ok: false, code: 'ERR_HANDOFF_CONTROL', error: 'no request for 200ms: closing the connection' });
      await raw.waitClosed();
    } finally {
      await server.close();
    }
  });

  test('a handler that throws becomes an error reply; a failed reload is a coded failure', async () => {
    let broken = true;
    const target = fakeTarget({
      status: () => {
        if (broken) throw new Error('boom');
        return status([worker(1)]);
      },
      reload: async () => ({ ok: false, replaced: 1, error: 'the new worker for slot 1 did not become ready' }),
    });
    const server = new ControlServer({ path: path.join(tempDir(), 's.sock'), isDefault: false, target, logger: silentLogger });
    await server.listen();
    try {
      const raw = await RawControl.connect(server.path);
      raw.send('{"id":1,"command":"status"}\n');
      expect(await raw.next()).toEqual({ id: 1, ok: false, code: 'ERR_HANDOFF_CONTROL', error: 'status failed: boom' });
      broken = false;
      raw.send('{"id":2,"command":"reload"}\n');
      expect(await raw.next()).toEqual({
        id: 2,
        ok: false,
        code: 'ERR_HANDOFF_RELOAD_FAILED',
        error: 'reload failed: the new worker for slot 1 did not become ready (1 worker replaced before it stopped)',
      });
      raw.destroy();
    } finally {
      await server.close();
    }
  });

  test('close() ends open connections and removes the socket file', async () => {
    const file = path.join(tempDir(), 's.sock');
    const server = new ControlServer({ path: file, isDefault: false, target: fakeTarget(), logger: silentLogger });
    await server.listen();
    const raw = await RawControl.connect(file);
    await server.close();
    await raw.waitClosed();
    expect(fs.existsSync(file)).toBe(false);
  });
});

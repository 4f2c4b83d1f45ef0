// The parts of --metrics that need no process: the series table against its
// docs, the app-metrics aggregation with fake workers, the address parser,
// the latency histogram's buckets, the restart reasons.

import fs from 'node:fs';
import path from 'node:path';
import client from 'prom-client';
import { describe, expect, test } from 'vitest';
import { AppMetrics, sanitize, type MetricsWorker } from '../dist/operations/metrics/app-metrics.js';
import { HandoffLatency } from '../dist/operations/metrics/handoff-latency.js';
import { parseMetricsAddress } from '../dist/operations/metrics/endpoint.js';
import { prometheusBuckets, SERIES } from '../dist/operations/metrics/series.js';
import { restartReason, WorkerTotals, type CountedWorker } from '../dist/operations/metrics/worker-totals.js';
import { parseExposition, sumOf, valueOf } from './helpers/prometheus.js';
import { root } from './helpers/process.js';

describe('the series table', () => {
  test('every name is valid, counters end in _total, and docs/metrics.md lists exactly these series with their types', () => {
    const docs = fs.readFileSync(path.join(root, 'docs/metrics.md'), 'utf8');
    const documented = new Map([...docs.matchAll(/^\| `(handoff_[a-z_]+)(?:\{[a-z_,]+\})?` \| (counter|gauge|histogram) \|/gm)].map((m) => [m[1], m[2]]));
    for (const series of SERIES) {
      expect(client.validateMetricName(series.name), series.name).toBe(true);
      expect(series.name.endsWith('_total'), series.name).toBe(series.type === 'counter');
      expect(documented.get(series.name), `${series.name} in docs/metrics.md`).toBe(series.type);
    }
    expect([...documented.keys()].sort()).toEqual(SERIES.map((series) => series.name).sort());
  });
});

/** A fake worker whose answers the test gives by hand. */
function fakeWorker(id: number, slot: number, requests: number[]): MetricsWorker {
  return { id, slot, state: 'listening', requestMetrics: (requestId) => (requests.push(requestId), true) };
}

const counter = (value: number): unknown => ({ name: 'app_requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value, labels: {} }] });
const gauge = (value: number): unknown => ({ name: 'app_queue', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ value, labels: {} }] });

async function text(registry: client.Registry): Promise<ReturnType<typeof parseExposition>> {
  return parseExposition(await registry.metrics());
}

describe('AppMetrics', () => {
  test('sums counters, keeps gauges per slot, carries what an exited worker counted, and leaves out one that does not answer in time', async () => {
    const metrics = new AppMetrics(50);
    const asked: number[][] = [[], []];
    const workers = [fakeWorker(1, 0, asked[0] as number[]), fakeWorker(2, 1, asked[1] as number[])];

    let collection = metrics.collect(workers);
    metrics.answer(workers[0] as MetricsWorker, asked[0]?.at(-1) as number, [counter(3), gauge(7)], undefined);
    metrics.answer(workers[1] as MetricsWorker, asked[1]?.at(-1) as number, [counter(4), gauge(9)], undefined);
    let families = await text(await collection);
    expect(sumOf(families, 'app_requests_total')).toBe(7);
    expect(valueOf(families, 'app_queue', { slot: '0' })).toBe(7);
    expect(valueOf(families, 'app_queue', { slot: '1' })).toBe(9);

    // Worker 1 exits after one last snapshot; its replacement (id 3, slot 0) starts from zero.
    metrics.answer(workers[0] as MetricsWorker, 0, [counter(5), gauge(1)], undefined);
    metrics.retire(workers[0] as MetricsWorker);
    const replacement = fakeWorker(3, 0, asked[0] as number[]);
    collection = metrics.collect([replacement, workers[1] as MetricsWorker]);
    metrics.answer(replacement, asked[0]?.at(-1) as number, [counter(1), gauge(2)], undefined);
    // worker 2 does not answer within 50 ms
    families = await text(await collection);
    expect(sumOf(families, 'app_requests_total')).toBe(5 + 1 + 4); // carry + new + worker 2's last answer
    expect(valueOf(families, 'app_queue', { slot: '0' })).toBe(2);
    expect(valueOf(families, 'app_queue', { slot: '1' })).toBeUndefined();
    expect([...metrics.misses.values()]).toEqual([{ slot: 1, reason: 'timeout', count: 1 }]);
    expect(metrics.reporting).toBe(1);
  });

  test("a worker whose app has no prom-client answers null and is not a miss; malformed metrics are dropped, not fatal", async () => {
    const metrics = new AppMetrics(1000);
    const asked: number[] = [];
    const worker = fakeWorker(1, 0, asked);
    const collection = metrics.collect([worker]);
    metrics.answer(worker, asked[0] as number, null, undefined);
    expect((await collection).getMetricsAsArray()).toEqual([]);
    expect(metrics.misses.size).toBe(0);

    const kept = sanitize([
      counter(1),
      { name: 'bad name', help: 'h', type: 'counter', values: [] },
      { name: 'x', help: 'h', type: 'nonsense', values: [] },
      { name: 'y', help: 'h', type: 'gauge', aggregator: 'nope', values: [] },
      { name: 'z', help: 'h', type: 'gauge', values: [{ value: null, labels: { 'bad-label': 1 } }, { value: null, labels: { ok: 1 } }] },
      42,
    ]);
    expect(kept.map((metric) => metric.name)).toEqual(['app_requests_total', 'z']);
    expect(kept[1]?.values).toEqual([{ value: NaN, labels: { ok: 1 } }]);
  });
});

describe('parseMetricsAddress', () => {
  test.each([
    ['9100', { host: undefined, port: 9100 }],
    [':9100', { host: undefined, port: 9100 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['localhost:9100', { host: '127.0.0.1', port: 9100 }],
    ['[::1]:9100', { host: '::1', port: 9100 }],
  ])('%s', (text, expected) => expect(parseMetricsAddress(text)).toEqual(expected));

  test.each(['', 'here:9100', '70000', '1.2.3:80', 'http://x:1'])('%j is refused', (text) => {
    expect(() => parseMetricsAddress(text)).toThrow(/expected a port, or host:port/);
  });
});

describe('the hand-off latency histogram', () => {
  test("its Prometheus buckets are powers of two the recorder's buckets meet exactly: cumulative counts are exact", () => {
    const latency = new HandoffLatency();
    for (const us of [10, 64, 64.5, 128, 1000, 1024, 1025, 5_000_000]) latency.record(us);
    const buckets = new Map(prometheusBuckets(latency.status().buckets));
    expect(buckets.get(0.000064)).toBe(2); // 10 and 64
    expect(buckets.get(0.000128)).toBe(4);
    expect(buckets.get(0.001024)).toBe(6); // 1000 and 1024 too, not 1025
    expect(buckets.get(0.002048)).toBe(7);
    expect(buckets.get(2.097152)).toBe(7);
    expect(buckets.get('+Inf')).toBe(8);
    expect([...buckets.keys()]).toHaveLength(17);
  });
});

describe('restart reasons and per-slot totals', () => {
  const worker = (extra: Partial<CountedWorker>): CountedWorker => ({ id: 1, slot: 0, retiredFor: undefined, usage: { requests: 0, cpuMs: undefined }, ...extra });

  test.each([
    [undefined, 'crash'],
    ['suicide', 'suicide'],
    ['silent', 'heartbeat'],
    ['max-memory', 'memory'],
    ['max-lifetime', 'lifetime'],
    ['reload', 'reload'],
    ['scale-down', 'scale'],
    ['disconnect', 'disconnect'],
    ['shutdown', undefined],
  ] as const)('retired for %s → %s', (retiredFor, reason) => expect(restartReason(worker({ retiredFor }), false)).toBe(reason));

  test('nothing counts as a restart while shutting down; a slot keeps what its earlier workers served', () => {
    expect(restartReason(worker({}), true)).toBeUndefined();
    const totals = new WorkerTotals();
    totals.read([worker({ id: 1, usage: { requests: 10, cpuMs: 500 } })]);
    totals.exited(worker({ id: 1, usage: { requests: 12, cpuMs: 700 } }), false);
    totals.read([worker({ id: 2, usage: { requests: 3, cpuMs: 100 } })]);
    expect(totals.slots()[0]?.requests).toBe(15);
    expect(totals.slots()[0]?.cpuSeconds).toBeCloseTo(0.8, 9);
    expect(totals.restarts.crash).toBe(1);
  });
});

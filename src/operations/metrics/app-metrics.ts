// The app's own metrics, with no handoff code in the app: at each scrape the
// master asks every worker for its prom-client default registry (the instance
// the app itself loaded; see child/app-metrics.ts), over the IPC channel (no
// 64 KiB relay limit: a reply is one message of any size), and aggregates the
// answers with prom-client's own AggregatorRegistry.aggregate(), as
// node:cluster users do in their primary.
//
// Where this differs from clusterMetrics() (prom-client/lib/cluster.js):
//  - each worker has its own time limit: one that does not answer in time is
//    left out of that scrape and counted (handoff_app_metrics_missed_total),
//    where clusterMetrics() fails the whole scrape after 5 s (prom-client #181);
//  - counters and histograms never go backwards: what a worker counted stays
//    counted after it exits (a crash, a reload, a scale-down). Its last
//    snapshot -- the one it sends as it exits, or else the last scrape's --
//    is added to a carry that every later scrape sums in. A worker that
//    misses a scrape counts with its last answer. Summed over workers that
//    come and go, a counter would otherwise drop at every reload, and
//    Prometheus would read the drop as a reset and the next value as new;
//  - gauges are kept per worker, with a `slot` label, unless the metric
//    names another aggregator (prom-client's own default metrics do:
//    'average', 'max', 'first', 'omit'): a sum of gauges (a queue length,
//    a heap size per process) is rarely what anyone means;
//  - concurrent scrapes share one collection, so ten scrapers cost one.

import client from 'prom-client';

const { AggregatorRegistry } = client;

/** A metric as prom-client's getMetricsAsJSON() gives it. */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: MetricSample[];
}

export interface MetricSample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** The worker end, as the collector needs it: the master's Worker record. */
export interface MetricsWorker {
  readonly id: number;
  readonly slot: number;
  readonly state: string;
  /** Sends the request; false if the channel is gone. */
  requestMetrics(id: number): boolean;
}

export type MissReason = 'timeout' | 'error';

/** How long a worker may take to answer before the scrape goes on without its fresh series. */
export const APP_METRICS_TIMEOUT_MS = 1000;

/** The id a worker's last snapshot comes with, sent as it exits. */
export const FINAL_SNAPSHOT_ID = 0;

const AGGREGATORS = new Set(['omit', 'sum', 'first', 'min', 'max', 'average']);
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary']);
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Answer = { metrics: MetricJson[] | null } | { error: string };

export class AppMetrics {
  readonly #timeoutMs: number;
  #nextId = FINAL_SNAPSHOT_ID + 1;
  /** Requests waiting for an answer, by request id. */
  readonly #waiting = new Map<number, { workerId: number; settle: (answer: Answer | 'gone') => void }>();
  /** Every live worker's last snapshot, by worker id: what it counts with when it misses a scrape or exits. */
  readonly #last = new Map<number, MetricJson[]>();
  /** Counters and histograms of the workers that are gone, summed. */
  #carry: MetricJson[] = [];
  #collecting: Promise<client.Registry> | undefined;
  /** Workers that did not answer a scrape in time (or answered an error), per slot and reason. */
  readonly misses = new Map<string, { slot: number; reason: MissReason; count: number }>();
  /** Workers whose app answered with a registry in the last collection. */
  reporting = 0;

  constructor(timeoutMs = APP_METRICS_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs;
  }

  /** A worker's answer to request `id`, or (FINAL_SNAPSHOT_ID) the snapshot it sends as it exits. */
  answer(worker: MetricsWorker, id: number, metrics: unknown, error: string | undefined): void {
    const snapshot = error === undefined && metrics !== null ? sanitize(metrics) : null;
    if (snapshot !== null) this.#last.set(worker.id, snapshot);
    if (id === FINAL_SNAPSHOT_ID) return;
    const waiting = this.#waiting.get(id);
    if (waiting === undefined || waiting.workerId !== worker.id) return; // late: it was already left out
    this.#waiting.delete(id);
    waiting.settle(error !== undefined ? { error } : { metrics: snapshot });
  }

  /**
   * The worker's channel has closed, so every message it sent has been read:
   * its last snapshot's counters and histograms move to the carry.
   */
  retire(worker: MetricsWorker): void {
    for (const [id, waiting] of this.#waiting) {
      if (waiting.workerId !== worker.id) continue;
      this.#waiting.delete(id);
      waiting.settle('gone');
    }
    const last = this.#last.get(worker.id);
    this.#last.delete(worker.id);
    if (last === undefined) return;
    const monotonic = last.filter((metric) => metric.type === 'counter' || metric.type === 'histogram');
    if (monotonic.length > 0) this.#carry = aggregate([this.#carry, monotonic]);
  }

  /** The app's metrics over every worker, aggregated; never rejects because of a worker. */
  collect(workers: readonly MetricsWorker[]): Promise<client.Registry> {
    this.#collecting ??= this.#collect(workers).finally(() => {
      this.#collecting = undefined;
    });
    return this.#collecting;
  }

  async #collect(workers: readonly MetricsWorker[]): Promise<client.Registry> {
    const asked = workers.filter((worker) => worker.state === 'online' || worker.state === 'listening' || worker.state === 'closing');
    const answers = await Promise.all(asked.map((worker) => this.#ask(worker)));
    const snapshots: MetricJson[][] = [];
    let reporting = 0;
    asked.forEach((worker, index) => {
      const answer = answers[index] as Answer | 'gone' | 'timeout';
      if (answer === 'gone') return; // it exited meanwhile: its snapshot is in the carry now
      if (answer === 'timeout' || 'error' in answer) {
        this.#miss(worker.slot, answer === 'timeout' ? 'timeout' : 'error');
        // Its counters and histograms as last seen, so that sums do not dip; its gauges are left out.
        const last = this.#last.get(worker.id);
        if (last !== undefined) snapshots.push(last.filter((metric) => metric.type !== 'gauge'));
        return;
      }
      if (answer.metrics === null) return; // the app does not use prom-client
      reporting++;
      snapshots.push(perWorkerGauges(answer.metrics, worker.slot));
    });
    this.reporting = reporting;
    return AggregatorRegistry.aggregate([...snapshots, this.#carry]);
  }

  #ask(worker: MetricsWorker): Promise<Answer | 'gone' | 'timeout'> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve('timeout');
      }, this.#timeoutMs);
      this.#waiting.set(id, {
        workerId: worker.id,
        settle: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
      });
      if (!worker.requestMetrics(id)) this.#waiting.get(id)?.settle('gone');
    });
  }

  #miss(slot: number, reason: MissReason): void {
    const key = `${slot}:${reason}`;
    const entry = this.misses.get(key) ?? { slot, reason, count: 0 };
    entry.count++;
    this.misses.set(key, entry);
  }
}

/** prom-client's own aggregation, as plain metric objects again. */
function aggregate(snapshots: MetricJson[][]): MetricJson[] {
  return (AggregatorRegistry.aggregate(snapshots).getMetricsAsArray() as unknown as MetricJson[]).map((metric) => ({
    name: metric.name,
    help: metric.help,
    type: metric.type,
    aggregator: metric.aggregator,
    values: metric.values,
  }));
}

/** Gauges summed by default get the worker's slot as a label, so they stay apart. */
function perWorkerGauges(metrics: MetricJson[], slot: number): MetricJson[] {
  return metrics.map((metric) => {
    if (metric.type !== 'gauge' || metric.aggregator !== 'sum') return metric;
    return { ...metric, values: metric.values.map((sample) => ('slot' in sample.labels ? sample : { ...sample, labels: { ...sample.labels, slot: String(slot) } })) };
  });
}

/**
 * What a worker sent, reduced to well-formed metrics: it is data from the
 * app's process, and a malformed one must not break the scrape. JSON turns
 * NaN and ±Infinity into null; they come back as NaN.
 */
export function sanitize(raw: unknown): MetricJson[] {
  if (!Array.isArray(raw)) return [];
  const out: MetricJson[] = [];
  for (const item of raw as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const metric = item as Record<string, unknown>;
    const { name, help, type, values } = metric;
    const aggregator = metric['aggregator'] ?? 'sum';
    if (typeof name !== 'string' || !METRIC_NAME.test(name)) continue;
    if (typeof type !== 'string' || !TYPES.has(type) || typeof aggregator !== 'string' || !AGGREGATORS.has(aggregator) || !Array.isArray(values)) continue;
    const samples: MetricSample[] = [];
    for (const value of values as unknown[]) {
      if (typeof value !== 'object' || value === null) continue;
      const sample = value as Record<string, unknown>;
      const labels = typeof sample['labels'] === 'object' && sample['labels'] !== null ? (sample['labels'] as Record<string, string | number>) : {};
      if (!Object.keys(labels).every((label) => LABEL_NAME.test(label))) continue;
      const number = typeof sample['value'] === 'number' ? sample['value'] : NaN;
      const metricName = typeof sample['metricName'] === 'string' ? sample['metricName'] : undefined;
      samples.push(metricName === undefined ? { value: number, labels } : { value: number, labels, metricName });
    }
    out.push({ name, help: typeof help === 'string' ? help : name, type, aggregator, values: samples });
  }
  return out;
}

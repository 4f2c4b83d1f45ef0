// What /metrics answers: handoff's own series (series.ts), the master
// process's own (prom-client's default metrics, prefixed handoff_master_),
// and the app's metrics from every worker (app-metrics.ts), all formatted by
// prom-client.

import client from 'prom-client';
import type { MasterStatus } from '../../control/status.js';
import type { AppMetrics, MetricsWorker } from './app-metrics.js';
import { SERIES, type Series } from './series.js';

const { Registry } = client;

export interface MetricsSource {
  status(): MasterStatus;
  workers(): readonly MetricsWorker[];
  readonly appMetrics: AppMetrics;
}

export interface Scrape {
  contentType: string;
  body: string;
}

export class HandoffRegistry {
  readonly #source: MetricsSource;
  /** handoff's series and the master's process metrics; read from `#status`, set once per scrape. */
  readonly #own = new Registry();
  #status: MasterStatus | undefined;

  constructor(source: MetricsSource) {
    this.#source = source;
    for (const series of SERIES) this.#own.registerMetric(this.#metric(series) as unknown as client.Metric);
    client.collectDefaultMetrics({ register: this.#own, prefix: 'handoff_master_' });
    // prom-client names three gauges *_total (active handles, requests, resources), which
    // `promtool check metrics` rejects: a _total suffix promises a counter. Ours must pass.
    for (const metric of this.#own.getMetricsAsArray() as unknown as Array<{ name: string; type: string }>) {
      if (metric.type === 'gauge' && metric.name.endsWith('_total')) this.#own.removeSingleMetric(metric.name);
    }
  }

  /** One scrape: the status once, the app's metrics from every worker, everything formatted by prom-client. */
  async scrape(): Promise<Scrape> {
    const app = await this.#source.appMetrics.collect(this.#source.workers());
    // After the collection, so that the miss counters include this scrape's misses.
    this.#status = this.#source.status();
    const out = new Registry();
    for (const metric of this.#own.getMetricsAsArray()) out.registerMetric(metric as unknown as client.Metric);
    for (const metric of app.getMetricsAsArray()) {
      const name = (metric as unknown as { name: string }).name;
      // An app metric named like one of ours would make the output invalid: ours wins.
      if (out.getSingleMetric(name) === undefined) out.registerMetric(metric as unknown as client.Metric);
    }
    return { contentType: out.contentType, body: await out.metrics() };
  }

  /** A metric object prom-client's Registry formats, as AggregatorRegistry.aggregate() makes them. */
  #metric(series: Series): object {
    return {
      name: series.name,
      help: series.help,
      type: series.type,
      aggregator: 'sum',
      get: () => ({ name: series.name, help: series.help, type: series.type, aggregator: 'sum', values: this.#status === undefined ? [] : series.read(this.#status) }),
    };
  }
}

// The master's side of --metrics: the counters that feed status and /metrics
// (kept with or without --metrics, since status shows them), and the endpoint,
// opened only with --metrics so a master without it never loads prom-client.

import type { Logger } from '../../cli/log.js';
import type { AppMetrics } from '../../operations/metrics/app-metrics.js';
import { DispatchStats } from '../../operations/metrics/dispatch-stats.js';
import { parseMetricsAddress, type MetricsAddress, type MetricsEndpoint } from '../../operations/metrics/endpoint.js';
import type { MetricsMaster } from '../../operations/metrics/service.js';
import { WorkerTotals } from '../../operations/metrics/worker-totals.js';

export class MasterMetrics {
  /** What the dispatcher counts, and what outlives the workers: for status and /metrics. */
  readonly dispatchStats = new DispatchStats();
  readonly workerTotals = new WorkerTotals();
  readonly #address: MetricsAddress | undefined;
  readonly #source: MetricsMaster;
  readonly #log: Logger;
  /** With --metrics, once serve() has made them. */
  #appMetrics: AppMetrics | undefined;
  #endpoint: MetricsEndpoint | undefined;

  /** `metrics` is --metrics as given; parsed now, so a bad address fails before anything is forked. */
  constructor(metrics: string | undefined, source: MetricsMaster, log: Logger) {
    this.#address = metrics === undefined ? undefined : parseMetricsAddress(metrics);
    this.#source = source;
    this.#log = log;
  }

  /** True with --metrics. */
  get enabled(): boolean {
    return this.#address !== undefined;
  }

  get appMetrics(): AppMetrics | undefined {
    return this.#appMetrics;
  }

  get url(): string | undefined {
    return this.#endpoint?.url;
  }

  /** What status() reports beside the pool. */
  observed(): { stats: DispatchStats; totals: WorkerTotals; appMetrics: AppMetrics | undefined } {
    return { stats: this.dispatchStats, totals: this.workerTotals, appMetrics: this.#appMetrics };
  }

  /** Opens --metrics (prom-client is loaded only now, and only with it); a busy port throws. */
  async serve(): Promise<void> {
    if (this.#address === undefined) return;
    const { createMetricsService } = await import('../../operations/metrics/service.js');
    const { appMetrics, endpoint } = createMetricsService(this.#source, this.#address, (message) => this.#log.log('warn', message));
    this.#appMetrics = appMetrics;
    this.#endpoint = endpoint;
    await endpoint.listen();
    this.#log.log('info', `metrics on ${endpoint.url} (and /healthz, /readyz)`);
  }

  /** Frees the port (for an upgrade's successor); serve() opens it again if the upgrade is rolled back. */
  async release(): Promise<void> {
    await this.#endpoint?.close();
    this.#endpoint = undefined;
  }

  async close(): Promise<void> {
    await this.#endpoint?.close();
  }
}

// --metrics, put together: the app-metrics collector, the registry and the
// HTTP endpoint. The master imports this file only when --metrics is given,
// so a master without it never loads prom-client.

import { AppMetrics, type MetricsWorker } from './app-metrics.js';
import { MetricsEndpoint, type MetricsAddress } from './endpoint.js';
import { HandoffRegistry } from './registry.js';
import type { MasterStatus } from '../../control/status.js';

export interface MetricsMaster {
  status(): MasterStatus;
  workers(): readonly MetricsWorker[];
  /** A worker takes connections. */
  healthy(): boolean;
  shuttingDown(): boolean;
}

export interface MetricsService {
  appMetrics: AppMetrics;
  endpoint: MetricsEndpoint;
}

export function createMetricsService(master: MetricsMaster, address: MetricsAddress, onError: (message: string) => void): MetricsService {
  const appMetrics = new AppMetrics();
  const registry = new HandoffRegistry({ status: () => master.status(), workers: () => master.workers(), appMetrics });
  const endpoint = new MetricsEndpoint(address, { healthy: () => master.healthy(), shuttingDown: () => master.shuttingDown(), scrape: () => registry.scrape() }, onError);
  return { appMetrics, endpoint };
}

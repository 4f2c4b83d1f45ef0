// The worker's side of the app's metrics: when the master asks (a scrape of
// --metrics), read the app's own prom-client default registry and send it
// back as prom-client's getMetricsAsJSON() gives it.
//
// "The app's own" means the instance the app itself loaded: 'prom-client'
// resolved from the script's folder, as the app's require() or import would
// resolve it, and only if it is already loaded (ESM imports of it land in the
// same require cache). An app that does not use prom-client never loads it
// because of handoff: it answers "no registry".

import { createRequire } from 'node:module';
import { CMD, serializeError, type WorkerMessage } from '../wire/protocol.js';

interface PromRegistry {
  getMetricsAsJSON(): Promise<unknown[]>;
}

export class AppMetricsReader {
  readonly #require: NodeJS.Require;
  /** The path 'prom-client' resolves to from the script; null: it does not resolve there. */
  #path: string | null | undefined;

  constructor(script: string) {
    this.#require = createRequire(script);
  }

  /** The app's default registry, if the app has loaded prom-client. */
  registry(): PromRegistry | undefined {
    if (this.#path === undefined) {
      try {
        this.#path = this.#require.resolve('prom-client');
      } catch {
        this.#path = null;
      }
    }
    if (this.#path === null) return undefined;
    const loaded = this.#require.cache[this.#path];
    const register = (loaded?.exports as { register?: Partial<PromRegistry> } | undefined)?.register;
    return typeof register?.getMetricsAsJSON === 'function' ? (register as PromRegistry) : undefined;
  }

  /** The message that answers request `id`: the metrics, null without prom-client, or the error its collect threw. */
  async answer(id: number): Promise<WorkerMessage> {
    const registry = this.registry();
    if (registry === undefined) return { cmd: CMD, type: 'metrics', id, metrics: null };
    try {
      return { cmd: CMD, type: 'metrics', id, metrics: await registry.getMetricsAsJSON() };
    } catch (error) {
      return { cmd: CMD, type: 'metrics', id, metrics: null, error: serializeError(error).message };
    }
  }
}

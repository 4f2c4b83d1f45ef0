// autocannon, programmatically, with errors counted by code.

import autocannon from 'autocannon';

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  errorCodes: Map<string, number>;
  statusCodes: Record<string, number>;
}

export interface Load {
  done: Promise<LoadResult>;
  stop(): void;
  /** Resolves once `count` responses have come back. */
  responses(count: number): Promise<void>;
  /** Responses so far. */
  readonly seen: number;
}

export function load(options: autocannon.Options): Load {
  const errorCodes = new Map<string, number>();
  let instance: autocannon.Instance | undefined;
  let seen = 0;
  const waiting: Array<{ count: number; resolve: () => void }> = [];
  const done = new Promise<LoadResult>((resolve, reject) => {
    instance = autocannon(options, (error, result) => {
      if (error) return reject(error);
      const statusCodes: Record<string, number> = {};
      for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats?.count ?? 0;
      resolve({ requests: result.requests.total, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, errorCodes, statusCodes });
    });
    instance.on('reqError', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
    });
    instance.on('response', () => {
      seen++;
      for (const waiter of waiting.filter((w) => seen >= w.count)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  });
  return {
    done,
    stop: () => instance?.stop(),
    responses: (count) => (seen >= count ? Promise.resolve() : new Promise((resolve) => waiting.push({ count, resolve }))),
    get seen() {
      return seen;
    },
  };
}

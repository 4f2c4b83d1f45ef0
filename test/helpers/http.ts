// Real HTTP over loopback, one new connection per request unless told otherwise.

import http from 'node:http';
import { withTimeout } from './process.js';

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** The request went out on a kept-alive socket of the agent. */
  reused: boolean;
}

export function get(url: string, options: { agent?: http.Agent | false; headers?: http.OutgoingHttpHeaders; timeoutMs?: number; localAddress?: string; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', agent: options.agent ?? false, headers: options.headers, localAddress: options.localAddress }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers, reused: request.reusedSocket }));
      response.on('error', reject);
    });
    request.setTimeout(options.timeoutMs ?? 10_000, () => request.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 10_000} ms`)));
    request.on('error', reject);
    request.end();
  });
}

/** Runs `total` requests with at most `concurrency` in flight; returns the replies in order. */
export async function getMany(url: string, total: number, concurrency: number, options: Parameters<typeof get>[1] = {}): Promise<Reply[]> {
  const replies: Reply[] = new Array(total);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (next < total) {
      const index = next++;
      replies[index] = await get(url, options);
    }
  });
  await Promise.all(lanes);
  return replies;
}

/** How many replies each pid (the first number in the body) served. */
export function countByPid(replies: Reply[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const reply of replies) {
    const pid = Number(/(\d+)/.exec(reply.body)?.[1]);
    counts.set(pid, (counts.get(pid) ?? 0) + 1);
  }
  return counts;
}

/** Waits for every request; the reasons of those that failed (a reset, a timeout), or [] if none did. */
export async function failures(pending: ReadonlyArray<Promise<unknown>>): Promise<string[]> {
  const settled = await Promise.allSettled(pending);
  return settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
}

/** `lanes` clients, each opening a fresh connection per request until stopped; every failure (and, given `body`, every other answer) is kept. */
export function steadyLoad(url: string, lanes: number, body?: RegExp) {
  let stopped = false;
  let ok = 0;
  const errors: string[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const lane = async (): Promise<void> => {
    while (!stopped) {
      try {
        const reply = await get(url, { timeoutMs: 10_000 });
        if (reply.status !== 200) errors.push(`status ${reply.status}`);
        else if (body !== undefined && !body.test(reply.body)) errors.push(`body ${JSON.stringify(reply.body)}`);
        else ok++;
      } catch (error) {
        errors.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      }
      for (const waiter of waiters.filter((w) => ok >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, lane));
  return {
    /** Resolves once `more` more requests than now have been answered. */
    answered(more: number): Promise<void> {
      const count = ok + more;
      return withTimeout(new Promise<void>((resolve) => waiters.push({ count, resolve })), 15_000, `fewer than ${more} more answers in 15 s`);
    },
    async stop(): Promise<{ ok: number; errors: string[] }> {
      stopped = true;
      await running;
      return { ok, errors };
    },
  };
}

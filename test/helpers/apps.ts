// Talking to the real framework apps of test/fixtures/apps: HTTP, ws and
// socket.io clients that say which worker answered, and the node:cluster
// runner that serves the same app file for comparison.

import os from 'node:os';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { get, type Reply } from './http.js';
import { fixture, startMaster, withTimeout, type RunningMaster } from './process.js';

export const app = (name: string): string => fixture(`apps/${name}`);
export const clusterRunner = fixture('cluster-runner.mjs');

/** The same app under node:cluster (PM2's cluster mode), with `workers` workers on a free port. */
export function startCluster(file: string, workers = 2, env?: NodeJS.ProcessEnv, options: { cwd?: string; timeoutMs?: number } = {}): Promise<RunningMaster> {
  return startMaster([file, '--workers', String(workers), '--port', '0'], { ...options, entry: clusterRunner, env });
}

/** Node's own error for a bind on 127.0.0.1:`port` that is taken, as net.js and dgram build it from the primary's (or the master's) errno. */
export const addressInUse = (port: number): Record<string, unknown> => ({
  code: 'EADDRINUSE',
  errno: -os.constants.errno.EADDRINUSE,
  syscall: 'bind',
  address: '127.0.0.1',
  port,
  message: `bind EADDRINUSE 127.0.0.1:${port}`,
});

/**
 * Loopback addresses to connect from, so that ip-hash (one worker per client
 * address) also spreads the clients over every worker.
 */
export const clientAddress = (index: number): string => `127.0.0.${1 + (index % 50)}`;

const pidOf = (text: string): number => Number(/^(\d+)/.exec(text)?.[1]);

/**
 * Runs `exchange` (one client: connect, talk, close) in rounds of `concurrency`
 * until `atLeast` exchanges are done and `workers` distinct pids have answered,
 * or `max` exchanges are done. Every exchange must succeed.
 */
export async function untilEveryWorker(
  exchange: (index: number) => Promise<number>,
  { workers = 2, atLeast = 20, max = 400, concurrency = 5 } = {},
): Promise<{ pids: Map<number, number>; exchanges: number }> {
  const pids = new Map<number, number>();
  let done = 0;
  while (done < max && (done < atLeast || pids.size < workers)) {
    const round = await Promise.all(Array.from({ length: concurrency }, (_, i) => exchange(done + i)));
    for (const pid of round) pids.set(pid, (pids.get(pid) ?? 0) + 1);
    done += concurrency;
  }
  return { pids, exchanges: done };
}

/** One HTTP request on a new connection from `clientAddress(index)`; the pid in its body. */
export async function httpExchange(url: string, index: number): Promise<number> {
  const reply: Reply = await get(url, { localAddress: clientAddress(index) });
  if (reply.status !== 200) throw new Error(`status ${reply.status} from ${url}: ${reply.body}`);
  return pidOf(reply.body);
}

/** ws: connect, read the greeting, send a message and read its echo, close. */
export function wsExchange(url: string, index: number): Promise<number> {
  const socket = new WebSocket(url.replace('http', 'ws'), { localAddress: clientAddress(index) });
  const talk = new Promise<number>((resolve, reject) => {
    const messages: string[] = [];
    socket.on('error', reject);
    socket.on('message', (data) => {
      messages.push(String(data));
      if (messages.length === 1) socket.send(`hello ${index}`);
      else {
        const [greeting, echo] = messages as [string, string];
        if (echo !== `${pidOf(greeting)} echo hello ${index}`) reject(new Error(`unexpected echo ${echo} after ${greeting}`));
        else resolve(pidOf(greeting));
        socket.close();
      }
    });
  });
  return withTimeout(talk, 10_000, `ws client ${index} got no echo from ${url}`).finally(() => socket.terminate());
}

/** socket.io over the websocket transport: connect, read `hello`, an acknowledged `echo`, close. */
export function socketIoExchange(url: string, index: number): Promise<number> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, localAddress: clientAddress(index) } as Parameters<typeof io>[1]);
  const talk = new Promise<number>((resolve, reject) => {
    socket.on('connect_error', reject);
    socket.on('hello', (pid: string) => {
      socket
        .timeout(5000)
        .emitWithAck('echo', `hello ${index}`)
        .then((echo: string) => (echo === `${pid} hello ${index}` ? resolve(Number(pid)) : reject(new Error(`unexpected echo ${echo}`))), reject);
    });
  });
  return withTimeout(talk, 10_000, `socket.io client ${index} got no echo from ${url}`).finally(() => socket.close());
}

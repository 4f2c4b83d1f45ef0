// --metrics [host:]port: an HTTP server in the master, apart from the app's
// port, with three routes:
//   GET /metrics  the Prometheus text format (registry.ts)
//   GET /healthz  200 while the master runs and a worker takes connections,
//                 or a graceful shutdown is under way (a drain is the master
//                 doing its job: a liveness probe must not kill it midway);
//                 503 otherwise
//   GET /readyz   200 while /healthz is 200 and no shutdown has begun; 503
//                 from the first moment of a shutdown or its delay (a
//                 readiness probe: send me no more traffic)
// The server opens before the first fork (a busy port is a start-up error
// with nothing to clean up) and closes last, so probes see the whole drain.

import http from 'node:http';
import net from 'node:net';
import { HandoffError, InvalidOptionError } from '../../errors.js';
import type { Scrape } from './registry.js';

export interface MetricsAddress {
  /** undefined: every interface, as net.Server does without a host. */
  host: string | undefined;
  port: number;
}

/** "9100", ":9100", "127.0.0.1:9100", "[::1]:9100", "localhost:9100". */
export function parseMetricsAddress(text: string): MetricsAddress {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d+)$/.exec(text.trim());
  const port = Number(match?.[2]);
  let host = match?.[1];
  if (host?.startsWith('[')) host = host.slice(1, -1);
  if (host === 'localhost') host = '127.0.0.1';
  if (match === null || !(port >= 0 && port <= 65535) || (host !== undefined && host !== '' && net.isIP(host) === 0)) {
    throw new InvalidOptionError('metrics', text, 'a port, or host:port with an IP address or localhost (e.g. 9100, 127.0.0.1:9100, [::1]:9100)');
  }
  return { host: host === '' ? undefined : host, port };
}

export interface Probes {
  /** The master runs and at least one worker takes connections. */
  healthy(): boolean;
  /** A shutdown (or its delay) has begun. */
  shuttingDown(): boolean;
  scrape(): Promise<Scrape>;
}

export class MetricsEndpoint {
  readonly #server: http.Server;
  readonly #where: MetricsAddress;
  #address: { address: string; port: number } | undefined;

  constructor(where: MetricsAddress, probes: Probes, onError: (message: string) => void) {
    this.#where = where;
    this.#server = http.createServer((request, response) => {
      void answer(request, response, probes).catch((error: unknown) => {
        onError(`/metrics: ${error instanceof Error ? error.message : String(error)}`);
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('internal error\n');
      });
    });
    // Probes and scrapers come back every few seconds: keep-alive, but no idle socket may hold the shutdown.
    this.#server.keepAliveTimeout = 5000;
  }

  /** Binds; rejects with a one-line HandoffError. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const shown = this.#where.host === undefined ? `port ${this.#where.port}` : `${this.#where.host}:${this.#where.port}`;
        reject(new HandoffError('ERR_HANDOFF_LISTEN', `--metrics: cannot listen on ${shown}: ${error.code ?? error.message}`));
      };
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#where.host, port: this.#where.port }, () => {
        this.#server.off('error', onError);
        const bound = this.#server.address() as net.AddressInfo;
        this.#address = { address: bound.address, port: bound.port };
        resolve();
      });
    });
  }

  /** Where to scrape, as a URL (all interfaces shown as 127.0.0.1); undefined before listen(). */
  get url(): string | undefined {
    if (this.#address === undefined) return undefined;
    const { address, port } = this.#address;
    const host = address === '::' || address === '0.0.0.0' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address;
    return `http://${host}:${port}/metrics`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

async function answer(request: http.IncomingMessage, response: http.ServerResponse, probes: Probes): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  const text = (status: number, body: string): void => void response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(body);
  switch (path) {
    case '/metrics': {
      const scrape = await probes.scrape();
      response.writeHead(200, { 'content-type': scrape.contentType, 'cache-control': 'no-store' }).end(request.method === 'HEAD' ? undefined : scrape.body);
      return;
    }
    case '/healthz':
      if (probes.shuttingDown()) return text(200, 'ok: shutting down\n');
      return probes.healthy() ? text(200, 'ok\n') : text(503, 'no worker takes connections\n');
    case '/readyz':
      if (probes.shuttingDown()) return text(503, 'shutting down\n');
      return probes.healthy() ? text(200, 'ready\n') : text(503, 'no worker takes connections\n');
    default:
      return text(404, 'not found: try /metrics, /healthz or /readyz\n');
  }
}

// A worker's graceful exit (seed 002, 自杀信号; egg-graceful; PM2's reload):
//  1. stop accepting: server.close() -- in rr, connections still in flight
//     from the master are refused and re-dispatched;
//  2. every later response says `Connection: close`, so keep-alive clients
//     move to another worker after the answer they are waiting for;
//  3. idle keep-alive sockets are closed at once (http.Server#close does it);
//  4. exit as soon as the last connection closes;
//  5. or exit anyway after timeoutMs (the master SIGKILLs a moment later if
//     even that timer cannot run, e.g. the event loop is blocked).

import http from 'node:http';
import type { DrainReason } from '../protocol.js';
import type { Attacher } from './attach.js';

export interface DrainDependencies {
  attacher: Attacher;
  /** Tells the master the drain began (its open connection count). */
  announce(reason: DrainReason, active: number): void;
  /** Flushes pending answers to the master, then exits with `code`. */
  exit(code: number): void;
  log(message: string): void;
}

export function createDrain(deps: DrainDependencies): (reason: DrainReason, timeoutMs: number) => void {
  let draining = false;
  return (reason, timeoutMs) => {
    if (draining) return;
    draining = true;
    const exitCode = reason === 'suicide' ? 1 : 0;
    const server = deps.attacher.server;
    deps.announce(reason, deps.attacher.active);
    const force = setTimeout(() => {
      deps.log(`still ${deps.attacher.active} connection(s) open ${timeoutMs} ms after draining began (${reason}); exiting anyway`);
      deps.exit(1);
    }, timeoutMs);
    force.unref();
    if (server === undefined) return deps.exit(exitCode);
    closeKeepAliveFromNowOn();
    server.close(() => deps.exit(exitCode));
  };
}

/** From now on every HTTP response this process writes ends its connection. */
function closeKeepAliveFromNowOn(): void {
  const proto = http.ServerResponse.prototype as unknown as { writeHead: (...args: unknown[]) => unknown; shouldKeepAlive: boolean };
  const writeHead = proto.writeHead;
  proto.writeHead = function (this: { shouldKeepAlive: boolean }, ...args: unknown[]) {
    this.shouldKeepAlive = false; // Node then writes "Connection: close" and ends the socket after this response
    return writeHead.apply(this, args);
  };
}

// A worker's graceful exit (the suicide signal, 自杀信号, of "nodejs之cluster模块",
// after http://taobaofed.org/blog/2015/11/10/nodejs-cluster-2/; egg-graceful; PM2's reload):
//  1. stop accepting -- in rr, connections still in flight from the master
//     are refused and the master re-dispatches them;
//  2. every later response says `Connection: close`, so keep-alive clients
//     move to another worker after the answer they are waiting for;
//  3. keep-alive sockets that stay idle are closed (after IDLE_GRACE_MS, see
//     below), HTTP/2 sessions get a GOAWAY: whatever the server's kind, see
//     server-drain.ts; the app hears of the drain (onDrain in handoff/worker)
//     for what only it can close (WebSockets, raw TCP);
//  4. when the master asked for the stop, the process also gets --kill-signal
//     (SIGINT by default), so the app's own process.on('SIGINT') clean-up runs,
//     as under PM2;
//  5. exit as soon as the last connection closes, on the app's other ports
//     too (child/listens.ts closes their servers) -- or, if the app handles
//     that signal itself, leave the exit to the app, as PM2 does;
//  6. or exit anyway after timeoutMs (the master SIGKILLs a moment later if
//     even that timer cannot run, e.g. the event loop is blocked).
//
// Why the grace before closing idle sockets: Node's http.Server#close()
// destroys idle keep-alive sockets at once. A busy keep-alive client may have
// its next request already on the wire to such a socket, and that request
// then fails -- through no fault of the app. Waiting a moment lets those
// requests arrive: each is answered with `Connection: close` and its socket
// closes itself. What is still idle after the grace has not been used for
// that long, and is closed.

import http from 'node:http';
import net from 'node:net';
import type { DrainReason } from '../../wire/protocol.js';
import type { Attacher } from '../attach.js';
import type { ServerFollower } from './server-drain.js';

export interface DrainDependencies {
  attacher: Attacher;
  killSignal: NodeJS.Signals;
  /** What closes the attached server's connections politely (server-drain.ts); undefined before it is attached. */
  follower(): ServerFollower | undefined;
  /** The servers on the app's other ports (child/listens.ts): closeAll() resolves once the last has closed. */
  others: { closeAll(): Promise<void>; readonly active: number };
  /** Tells the app's onDrain listeners (handoff/worker): `deadline` is when what is still open will be cut (ms since the epoch). */
  tellApp(reason: DrainReason, deadline: number): void;
  /** Tells the master the drain began (its open connection count). */
  announce(reason: DrainReason, active: number): void;
  /** Flushes pending answers to the master, then exits with `code`. */
  exit(code: number): void;
  /** Flushes pending answers to the master and stops keeping the process alive, so the app can end it. */
  letGo(): void;
  log(message: string): void;
}

export interface Drain {
  start(reason: DrainReason, timeoutMs: number): void;
  /** Our listener for the kill signal saw it arrive (from us, the master, or a terminal). */
  killSignalArrived(): void;
}

export function createDrain(deps: DrainDependencies): Drain {
  let draining = false;
  let signalArrived = false;
  let serverClosed = false;
  let othersClosed = false;
  let exitCode = 0;
  /** The master (not a crash) asked for this stop: the kill signal is part of it. */
  let askedToStop = false;

  // Our own listener for the kill signal is one; any other is the app's.
  const appHandlesSignal = (): boolean => process.listenerCount(deps.killSignal) > 1;

  const finish = (): void => {
    if (!serverClosed || !othersClosed || (askedToStop && !signalArrived)) return;
    if (askedToStop && appHandlesSignal()) deps.letGo();
    else deps.exit(exitCode);
  };

  return {
    start(reason, timeoutMs) {
      if (draining) return;
      draining = true;
      exitCode = reason === 'suicide' ? 1 : 0;
      askedToStop = reason !== 'suicide' && reason !== 'disconnect'; // the app's own choices: no kill signal
      const server = deps.attacher.server;
      deps.announce(reason, deps.attacher.active);
      const force = setTimeout(() => {
        const open = deps.attacher.active + deps.others.active;
        deps.log(
          open > 0
            ? `still ${open} connection(s) open ${timeoutMs} ms after draining began (${reason}); exiting anyway`
            : `the app did not exit within ${timeoutMs} ms of ${deps.killSignal} (${reason}); exiting anyway`,
        );
        deps.exit(1);
      }, timeoutMs);
      force.unref();
      deps.tellApp(reason, Date.now() + timeoutMs);
      if (askedToStop && !signalArrived) process.kill(process.pid, deps.killSignal); // a real signal, as PM2 sends
      void deps.others.closeAll().then(() => {
        othersClosed = true;
        finish();
      });
      if (server === undefined) {
        serverClosed = true;
        return finish();
      }
      closeKeepAliveFromNowOn();
      // net.Server#close, not http.Server#close: stop accepting, but do not destroy idle sockets yet.
      net.Server.prototype.close.call(server, () => {
        serverClosed = true;
        finish();
      });
      letAppCloseToo(server, () => serverClosed);
      deps.follower()?.beginDrain();
    },
    killSignalArrived() {
      signalArrived = true;
      if (draining) finish();
    },
  };
}

/**
 * The app's own server.close() (PM2's recipe: on SIGINT, server.close(cb) and
 * exit in cb) must work although handoff closed that server already: its
 * callback runs, without ERR_SERVER_NOT_RUNNING, once the last connection has
 * closed -- which is what it would wait for had the app closed it first.
 */
function letAppCloseToo(server: net.Server, closed: () => boolean): void {
  server.close = function (this: net.Server, callback?: (error?: Error) => void) {
    if (callback !== undefined) {
      if (closed()) process.nextTick(callback);
      else this.once('close', () => callback());
    }
    return this;
  };
}

/** From now on every HTTP response this process writes ends its connection. */
function closeKeepAliveFromNowOn(): void {
  const proto = http.ServerResponse.prototype as unknown as { writeHead: (...args: unknown[]) => unknown };
  const writeHead = proto.writeHead;
  proto.writeHead = function (this: { shouldKeepAlive: boolean }, ...args: unknown[]) {
    this.shouldKeepAlive = false; // Node then writes "Connection: close" and ends the socket after this response
    return writeHead.apply(this, args);
  };
}

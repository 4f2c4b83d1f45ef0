// What "finish what is open, politely" means for each kind of server a worker
// can attach. (How many requests are still unanswered: requests.ts.)
//
//   HTTP/1.1 (http.Server, https.Server, and the HTTP/1 fallback of an HTTP/2
//   server with allowHTTP1): every response written from now on says
//   `Connection: close` (drain.ts); keep-alive sockets that are idle are
//   closed after a short grace, and so is each socket whose response had
//   already sent its headers (so could not say `Connection: close`) once that
//   response ends.
//   HTTP/2 (http2.createServer, http2.createSecureServer): session.close() on
//   every session: a GOAWAY goes out at once, the client opens no new stream
//   on it, and the session ends when its open streams do.
//   Anything else (net.Server, tls.Server, and upgraded sockets such as
//   WebSockets): handoff cannot know when such a connection is idle or how to
//   end it politely. The app is told (onDrain in handoff/worker, and the kill
//   signal); what is still open at the deadline is cut, and counted.
//
// Node 20: https.Server and the HTTP/2 servers are not `instanceof
// http.Server`; what is checked here is what each server can do.

import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';

/** How long an idle keep-alive socket is left alone once draining began: see drain.ts. */
export const IDLE_GRACE_MS = 100;

export interface ServerFollower {
  /** The drain began: close what can be closed politely, now or as soon as it is idle. */
  beginDrain(): void;
}

/** A socket that has not finished a request yet is left alone this long: its first request may still be unread. */
export const FRESH_GRACE_MS = 1000;

/** One HTTP/1 socket: when it came, requests in progress, requests answered. */
interface SocketUse {
  since: number;
  busy: number;
  served: number;
}

export function followServer(server: net.Server): ServerFollower {
  let draining = false;
  // Not server.closeIdleConnections(): to Node a socket whose first request
  // has not been parsed yet is idle too, and closing it with that request
  // unread resets the client. A connection handed over just before or during
  // the drain (the backlog accepted at shutdown) is exactly that.
  const http1Sockets = new Map<net.Socket, SocketUse>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const follow = (socket: net.Socket): void => {
    if (http1Sockets.has(socket)) return;
    http1Sockets.set(socket, { since: Date.now(), busy: 0, served: 0 });
    socket.once('close', () => http1Sockets.delete(socket));
  };
  // The socket a request arrives on: the TLS socket of an https server, the TCP socket otherwise.
  server.on(server instanceof tls.Server ? 'secureConnection' : 'connection', follow);

  const closeIdle = (): void => {
    const now = Date.now();
    let fresh = false;
    for (const [socket, use] of http1Sockets) {
      // No HTTP/1 parser: an HTTP/2 session (closed with GOAWAY), or upgraded (a WebSocket: the app's, see onDrain).
      if (use.busy > 0 || !(socket as net.Socket & { parser?: unknown }).parser) continue;
      if (use.served > 0 || now - use.since >= FRESH_GRACE_MS) socket.destroy();
      else fresh = true;
    }
    if (fresh) closeIdleSoon(); // look again: it answers its first request, or it is only a preconnect
  };
  const closeIdleSoon = (): void => void setTimeout(closeIdle, IDLE_GRACE_MS).unref();

  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (request.httpVersionMajor >= 2) return; // an HTTP/2 compat request: its session is followed below
    const socket = request.socket;
    follow(socket);
    const use = http1Sockets.get(socket) as SocketUse;
    use.busy++;
    response.once('close', () => {
      use.busy = Math.max(0, use.busy - 1);
      use.served++;
      // Its socket may be idle now: a response whose headers went out before the drain could not say "Connection: close".
      if (draining) closeIdleSoon();
    });
  });

  server.on('session', (session: http2.ServerHttp2Session) => {
    if (draining) return void session.close();
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  return {
    beginDrain() {
      if (draining) return;
      draining = true;
      for (const session of sessions) session.close(); // GOAWAY now; the session ends with its last stream
      closeIdleSoon();
    },
  };
}

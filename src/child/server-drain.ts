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

/** How long an idle keep-alive socket is left alone once draining began: see drain.ts. */
export const IDLE_GRACE_MS = 100;

export interface ServerFollower {
  /** The drain began: close what can be closed politely, now or as soon as it is idle. */
  beginDrain(): void;
}

type Http1Server = net.Server & { closeIdleConnections?: () => void };

export function followServer(server: net.Server): ServerFollower {
  let draining = false;
  /** HTTP/1 sockets and the number of requests each has in progress, where the server cannot find idle ones itself. */
  const http1Sockets = new Map<net.Socket, number>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const canCloseIdle = typeof (server as Http1Server).closeIdleConnections === 'function';

  const closeIdle = (): void => {
    if (canCloseIdle) return (server as Http1Server).closeIdleConnections?.();
    for (const [socket, busy] of http1Sockets) if (busy === 0) socket.destroy();
  };
  const closeIdleSoon = (): void => void setTimeout(closeIdle, IDLE_GRACE_MS).unref();

  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (request.httpVersionMajor >= 2) return; // an HTTP/2 compat request: its session is followed below
    const socket = request.socket;
    if (!canCloseIdle) {
      const busy = http1Sockets.get(socket);
      if (busy === undefined) socket.once('close', () => http1Sockets.delete(socket));
      http1Sockets.set(socket, (busy ?? 0) + 1);
    }
    response.once('close', () => {
      if (!canCloseIdle && http1Sockets.has(socket)) http1Sockets.set(socket, Math.max(0, (http1Sockets.get(socket) ?? 1) - 1));
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

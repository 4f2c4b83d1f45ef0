// The worker's view of the HTTP requests it serves: how many (for req/s in
// `handoff ctl top`), how many are still unanswered (what an exit now would
// cut: the exit report, exit-report.ts), and which one is being handled right
// now, so that a request whose handler throws gets a 500 at once (see
// answerThrown()).
//
// Any server that emits 'request' is followed: http, https (not an
// http.Server on Node 20) and HTTP/2's compatibility API; HTTP/2 streams are
// counted as streams, so an app that uses the 'stream' API is covered too.

import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';

export class Requests {
  /** HTTP requests this worker has received. */
  served = 0;
  /**
   * The response whose 'request' handlers are running right now. If one of
   * them throws, the uncaught exception arrives while it is still set, and
   * answerThrown() can give that client a 500 at once, instead of leaving its
   * connection open until the kill timeout.
   */
  #dispatching: http.ServerResponse | undefined;
  /**
   * HTTP/1 responses and HTTP/2 streams not yet closed. Counted when asked, not
   * kept as a number: at exit, a client that just went away may not have been
   * told 'close' yet.
   */
  readonly #responses = new Set<http.ServerResponse>();
  readonly #streams = new Set<http2.ServerHttp2Stream>();

  track(server: net.Server): void {
    server.prependListener('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      this.#dispatching = response;
      this.served++;
      if (request.httpVersionMajor >= 2) return; // an HTTP/2 compat request: counted as its stream
      this.#responses.add(response);
      response.once('close', () => this.#responses.delete(response));
    });
    server.on('request', () => {
      this.#dispatching = undefined; // every handler returned without throwing
    });
    server.on('session', (session: http2.ServerHttp2Session) => {
      session.on('stream', (stream: http2.ServerHttp2Stream) => {
        this.#streams.add(stream);
        stream.once('close', () => this.#streams.delete(stream));
      });
    });
  }

  /** Requests received whose answer has not ended, and whose client is still there (one that left closed it itself). */
  get inFlight(): number {
    let open = 0;
    for (const response of this.#responses) if (!response.writableFinished && response.socket != null && !response.socket.destroyed) open++;
    for (const stream of this.#streams) if (!stream.closed && !stream.destroyed && !stream.session?.destroyed) open++;
    return open;
  }

  answerThrown(): void {
    const response = this.#dispatching;
    this.#dispatching = undefined;
    if (response === undefined || response.writableEnded) return;
    if (response.headersSent) {
      response.socket?.destroy();
      return;
    }
    response.statusCode = 500;
    response.shouldKeepAlive = false;
    response.setHeader('content-type', 'text/plain');
    response.end('Internal Server Error\n');
  }
}

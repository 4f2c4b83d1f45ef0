// The worker's view of the HTTP requests it serves: how many (for req/s in
// `handoff ctl top`), and which one is being handled right now, so that a
// request whose handler throws gets a 500 at once (see answerThrown()).

import http from 'node:http';
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

  track(server: net.Server): void {
    if (!(server instanceof http.Server)) return;
    server.prependListener('request', (_request, response) => {
      this.#dispatching = response;
      this.served++;
    });
    server.on('request', () => {
      this.#dispatching = undefined; // every handler returned without throwing
    });
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

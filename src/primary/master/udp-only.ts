// An app that binds UDP only: what the master's own listener (--port) does
// while its workers are ready and none of them has a TCP server.
//
// Under node:cluster such an app has no TCP port at all. handoff binds
// --port before anything is forked, before it can know, so it has one, and
// must say what a connection there gets. Not a worker: a worker without a
// server refuses every hand-off, and the master would pass the connection
// from one to the next for ever. Nor a wait in the master's queue: no server
// may ever come, and the client would hang with its connection open. So
// once a worker is ready and none of the ready ones has a server, the master
// closes what it accepts there at once (nothing sent; a client that wrote
// its request sees a reset: curl's "Connection reset by peer"), and says so
// in one line. A worker that attaches a server later (an app that binds UDP
// before it listens) ends that: connections go to the workers again.
//
// While no worker is ready at all (starting, or all crashed) nothing
// changes: connections wait for the workers, as they do for any app. Nor
// once any worker of this run has had a TCP server: the app serves TCP, and
// a worker ready without one yet (during a reload, a new worker of an app
// that binds UDP before it listens) will have one soon, so connections wait
// for it as they wait for any worker that is starting.

import type { Logger } from '../../cli/log.js';
import { formatHostPort } from '../../control/format.js';
import type { BoundAddress } from '../../dispatch/listener.js';
import type { Worker } from '../worker.js';

export class UdpOnly {
  readonly #workers: () => readonly Worker[];
  readonly #handle: { noServer(on: boolean): void };
  readonly #where: string;
  readonly #log: Logger;
  #closing = false;
  /** Some worker of this run has had a TCP server: the app serves TCP, and nothing is closed again. */
  #servedTcp = false;

  constructor(workers: () => readonly Worker[], handle: { noServer(on: boolean): void }, address: BoundAddress, log: Logger) {
    this.#workers = workers;
    this.#handle = handle;
    this.#where = formatHostPort(address);
    this.#log = log;
  }

  /** The master closes connections to its address: workers are ready, and none has a TCP server. */
  get closing(): boolean {
    return this.#closing;
  }

  /** A worker became ready, attached its server, or left: decide again. */
  update(): void {
    const ready = this.#workers().filter((worker) => worker.state === 'listening');
    if (ready.length === 0) return; // nobody ready: the next one decides
    if (ready.some((worker) => worker.servesTcp)) this.#servedTcp = true;
    const closing = !this.#servedTcp;
    if (closing === this.#closing) return;
    this.#closing = closing;
    this.#handle.noServer(closing);
    this.#log.log(
      'info',
      closing
        ? `no ready worker has a TCP server (the app binds UDP only): connections to ${this.#where} are closed as soon as the master accepts them`
        : `a worker has a TCP server now: connections to ${this.#where} go to the workers again`,
    );
  }
}


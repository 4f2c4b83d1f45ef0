// Tells the master how many connections this worker has open, for
// schedulers that place connections by load (least-conn).
//
// The master already hears the count with every acknowledgement (so it knows
// about new connections as soon as they are taken) and with every heartbeat.
// What it would not hear in time is connections *closing*: a worker whose
// long connections all ended would look loaded until the next heartbeat. So,
// when the scheduler asks for it (WorkerConfig.reportLoad), each close
// schedules one check at the end of the event-loop turn (setImmediate, as
// the acknowledgements are batched), and a `load` message goes out only if
// the count differs from the last one the master was told. A hundred
// connections closing in one turn cost one message, and none at all if an
// acknowledgement goes out in that turn anyway (it carries the count); rr
// never sends any.

import type net from 'node:net';
import { CMD, type WorkerMessage } from '../../wire/protocol.js';

export class LoadReport {
  readonly #send: (message: WorkerMessage) => void;
  readonly #count: () => number;
  readonly #ackPending: () => boolean;
  /** The count the master was last told, by an acknowledgement or by us. */
  #told = 0;
  #scheduled = false;

  constructor(send: (message: WorkerMessage) => void, count: () => number, ackPending: () => boolean) {
    this.#send = send;
    this.#count = count;
    this.#ackPending = ackPending;
  }

  /** The count to put in an acknowledgement: the master will know it from that. */
  take(): number {
    this.#told = this.#count();
    return this.#told;
  }

  /** Reports closes on `server`'s connections from now on. */
  follow(server: net.Server): void {
    server.on('connection', (socket) => socket.once('close', this.#changed));
  }

  #changed = (): void => {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  };

  #flush = (): void => {
    this.#scheduled = false;
    if (this.#ackPending()) return; // it goes out later in this same turn, with the count
    const active = this.#count();
    if (active === this.#told) return;
    this.#told = active;
    this.#send({ cmd: CMD, type: 'load', active });
  };
}

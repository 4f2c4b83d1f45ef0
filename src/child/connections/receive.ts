// A connection the master handed over, in the worker (child.js onconnection()):
// refused, so the master gives it to another worker, or answered "accepted"
// and given to its server as if the server had accepted it itself. A
// connection for one of the app's other listen()s goes to that server
// (listens.ts).
//
// With --trace, each socket the server gets is named by the master's seq of
// its hand-off (s1, s2, ... for those a worker accepts itself from a shared
// socket), so that the trace can say when it closed.

import type net from 'node:net';
import { readFdLimit, workerFdHeadroom } from '../../fd-limit.js';
import type { Tracer } from '../../trace.js';
import type { TcpHandle } from '../../wire/node-internals.js';
import type { Attacher } from '../attach.js';
import type { ListenRouter } from '../listens.js';
import type { AckBatcher } from './acks.js';

export interface ReceiverParts {
  trace: Tracer | null;
  acks: AckBatcher;
  attacher: Attacher;
  listens: ListenRouter;
}

export class ConnectionReceiver {
  readonly #trace: Tracer | null;
  readonly #acks: AckBatcher;
  readonly #attacher: Attacher;
  readonly #listens: ListenRouter;
  /**
   * A hand-off that arrives on a descriptor at least this high is refused:
   * descriptors are numbered lowest-free-first, so it says how many are open,
   * and near the limit the app itself could no longer open a file. The master
   * gives the connection to another worker (see fd-limit.ts).
   */
  readonly #fdCeiling: number | undefined;
  /** With --trace: the master's seq of the connection being delivered right now, to name its socket. */
  #deliveringSeq: number | undefined;
  #selfAccepted = 0;

  constructor({ trace, acks, attacher, listens }: ReceiverParts) {
    this.#trace = trace;
    this.#acks = acks;
    this.#attacher = attacher;
    this.#listens = listens;
    const fdLimit = readFdLimit();
    this.#fdCeiling = fdLimit === undefined ? undefined : fdLimit - workerFdHeadroom(fdLimit);
  }

  /** A hand-off from the master: `listener` 0 is the master's own socket; `handle` undefined if its descriptor did not come. */
  receive(seq: number, listener: number, handle: TcpHandle | undefined): void {
    const trace = this.#trace;
    const acks = this.#acks;
    const attacher = this.#attacher;
    trace?.conn(seq, listener === 0 ? 'received by the worker' : `received by the worker, for listener ${listener}`);
    if (handle === undefined) {
      trace?.conn(seq, 'arrived without its descriptor: refused');
      return acks.refuse(seq);
    }
    if (listener !== 0) return this.#receiveOther(seq, listener, handle);
    if (!attacher.canAccept()) {
      handle.close();
      trace?.conn(seq, 'refused: server closed or at maxConnections');
      return acks.refuse(seq);
    }
    if (this.#fdCeiling !== undefined && handle.fd >= this.#fdCeiling) {
      handle.close();
      trace?.conn(seq, `refused: fd ${handle.fd} is near this worker's limit of open files`);
      return acks.refuse(seq);
    }
    acks.accept(seq); // before the socket exists: see acks.ts
    this.#deliveringSeq = seq;
    try {
      attacher.deliver(handle); // the user's 'connection' listeners run in here, and may throw
    } finally {
      this.#deliveringSeq = undefined;
    }
  }

  /** A connection for one of the app's other listen()s (listens.ts). */
  #receiveOther(seq: number, listener: number, handle: TcpHandle): void {
    if (!this.#listens.canAccept(listener)) {
      handle.close();
      this.#trace?.conn(seq, `refused: no open server on listener ${listener}, or at maxConnections`);
      return this.#acks.refuse(seq);
    }
    this.#acks.accept(seq); // before the socket exists: see acks.ts
    this.#trace?.conn(seq, `accepted by the server on listener ${listener}`);
    this.#listens.deliver(listener, handle);
  }

  /** With --trace: names each socket `server` gets, and traces its close. */
  followSockets(server: net.Server): void {
    server.on('connection', (socket) => {
      let name: number | string | undefined = this.#deliveringSeq;
      if (name === undefined) {
        name = `s${++this.#selfAccepted}`;
        this.#trace?.conn(name, 'accepted by the worker itself, from the shared socket');
      } else {
        this.#trace?.conn(name, 'accepted: the server has it as a net.Socket');
      }
      const seq = name;
      socket.once('close', () => this.#trace?.conn(seq, 'closed'));
    });
  }
}

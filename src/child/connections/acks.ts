// The worker's answers to the master's hand-offs, batched: one message per
// event-loop turn, however many connections arrived in it.
//
// Why batching keeps the reclaim guarantee. The master re-dispatches a
// connection it holds no answer for only once the worker's channel is closed,
// i.e. once every answer the worker wrote has been read. A connection is safe
// to re-dispatch as long as nobody has read from it. Here, connections arrive
// in the poll phase and are handed to the server at once (in the tick right
// after the read that brought them, see fast-handoff.ts); the server starts
// reading a socket no earlier than the next poll phase (readStart only
// registers interest). The batch is written in the check phase in between
// (setImmediate). So by the time any byte of a connection can have been read,
// its "accepted" is already in the kernel, and the master will not give it to
// anyone else. Before exiting, the worker flushes what is left (flush()).

import { ackLine } from '../../wire/protocol.js';

export class AckBatcher {
  #accepted: number[] = [];
  #refused: number[] = [];
  #scheduled = false;
  readonly #send: (line: string, done?: () => void) => void;
  readonly #active: () => number;

  /** `send` writes one line on the channel to the master (see createLineWriter in fast-handoff.ts). */
  constructor(send: (line: string, done?: () => void) => void, active: () => number) {
    this.#send = send;
    this.#active = active;
  }

  /** An acknowledgement will go out at the end of this event-loop turn (carrying the open-connection count). */
  get pending(): boolean {
    return this.#scheduled;
  }

  accept(seq: number): void {
    this.#accepted.push(seq);
    this.#schedule();
  }

  refuse(seq: number): void {
    this.#refused.push(seq);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what is pending now; `done` runs once it is written (also when nothing was pending). */
  flush(done?: () => void): void {
    this.#scheduled = false;
    if (this.#accepted.length === 0 && this.#refused.length === 0 && done === undefined) return;
    const line = ackLine(this.#accepted, this.#refused, this.#active());
    this.#accepted = [];
    this.#refused = [];
    this.#send(line, done);
  }
}

// When the master says 'ready': once every slot has a listening worker (and
// systemd is told, Type=notify); a successor only once it has taken over;
// after reforking was given up, as soon as any worker listens, so a caller
// waiting for 'ready' is not left hanging.

import type { Logger } from '../../cli/log.js';
import { notifySystemd } from '../../operations/upgrade/sd-notify.js';
import type { Pool } from '../pool.js';
import type { Handover } from './handover.js';

export class Readiness {
  #ready = false;
  readonly #pool: Pool;
  readonly #handover: Handover;
  readonly #log: Logger;
  readonly #emit: () => void;

  constructor(pool: Pool, handover: Handover, log: Logger, emit: () => void) {
    this.#pool = pool;
    this.#handover = handover;
    this.#log = log;
    this.#emit = emit;
  }

  /** A worker is listening: ready if every slot now has one. */
  check(): void {
    if (this.#ready) return;
    const slots = this.#pool.slots;
    if (slots.length === 0 || !slots.every((slot) => slot.current?.state === 'listening')) return;
    const successor = this.#handover.successor;
    if (successor?.pending) return successor.ready(); // ready is emitted once it has taken over
    this.#become();
    notifySystemd(['--ready'], this.#log); // Type=notify
  }

  /** A successor has taken over from the old master. */
  tookOver(): void {
    this.#become();
  }

  /** Reforking was given up: ready with the workers there are, if any listens. */
  gaveUp(anyListening: boolean): void {
    if (!this.#ready && anyListening) this.#become();
  }

  #become(): void {
    this.#ready = true;
    this.#emit();
  }
}

// The new master's side of an upgrade (see upgrade.ts for the whole
// sequence). A master started with HANDOFF_LISTEN_FDS by an old master:
//  - forks its workers on the inherited sockets without accepting on them;
//  - once every worker is ready, says `ready` and waits for `take-over`;
//  - then takes over (control socket, pid file, accepting) and says `took-over`.
// Until it has taken over, a worker that exits means the new version does not
// work: it says `failed` with the reason and stops, and the old master goes on.
// If the old master goes away before the handover (killed), nobody else
// serves: the successor takes over by itself as soon as it is ready.

import type { Logger } from '../cli/log.js';
import { notifySystemd } from './sd-notify.js';
import { UPGRADE_CMD, type OldMasterMessage, type SuccessorMessage } from './upgrade.js';

type Phase = 'starting' | 'ready' | 'taking-over' | 'took-over' | 'failed';

export class Successor {
  /** The pid of the master being replaced. */
  readonly from: number;
  readonly #log: Logger;
  readonly #takeOver: () => Promise<boolean>;
  #phase: Phase = 'starting';
  #parentGone = false;

  /** `takeOver` binds the control socket, writes the pid file and starts accepting; false if it could not. */
  constructor(from: number, log: Logger, takeOver: () => Promise<boolean>) {
    this.from = from;
    this.#log = log;
    this.#takeOver = takeOver;
    process.on('internalMessage', (raw: unknown) => {
      const message = raw as Partial<OldMasterMessage> | null;
      if (message?.cmd === UPGRADE_CMD && message.type === 'take-over' && this.#phase === 'ready') void this.#run();
    });
    // Killed early, the old master may be gone before this code runs: its 'disconnect' has been and gone.
    if (process.connected) process.once('disconnect', () => this.#parentLeft());
    else this.#parentLeft();
  }

  #parentLeft(): void {
    this.#parentGone = true;
    if (this.#phase === 'starting' || this.#phase === 'ready') {
      this.#log.log('warn', `upgrade: the old master (${this.from}) went away before the handover: this master takes over ${this.#phase === 'ready' ? 'now' : 'once its workers are ready'}`);
    }
    if (this.#phase === 'ready') void this.#run();
  }

  /** Still replacing the old master: not accepting, and no worker may fail. */
  get pending(): boolean {
    return this.#phase === 'starting' || this.#phase === 'ready' || this.#phase === 'taking-over';
  }

  /** Every worker is ready. */
  ready(): void {
    if (this.#phase !== 'starting') return;
    this.#phase = 'ready';
    if (this.#parentGone) void this.#run();
    else this.#send({ cmd: UPGRADE_CMD, type: 'ready', node: process.version });
  }

  /** The new master cannot serve: tell the old one why (it rolls back). */
  failed(why: string): void {
    if (!this.pending) return;
    this.#phase = 'failed';
    this.#log.log('error', `upgrade: this new master cannot take over: ${why}`);
    this.#send({ cmd: UPGRADE_CMD, type: 'failed', error: why });
  }

  async #run(): Promise<void> {
    this.#phase = 'taking-over';
    if (!(await this.#takeOver())) return; // it called failed()
    this.#phase = 'took-over';
    this.#send({ cmd: UPGRADE_CMD, type: 'took-over' });
    // systemd (Type=notify, NotifyAccess=all): the service's main pid is now this one.
    notifySystemd([`--pid=${process.pid}`, '--ready'], this.#log);
  }

  #send(message: SuccessorMessage): void {
    if (this.#parentGone || !process.connected) return;
    try {
      process.send?.(message);
    } catch {
      // the old master is gone; its 'disconnect' is on its way
    }
  }
}

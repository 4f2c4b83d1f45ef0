// The worker slots: how many workers there should be, which process fills
// each slot now, and every way a process enters or leaves one.
//
// A slot is a stable position (0..n-1). A replacement takes over the slot of
// the worker it replaces, which is what lets ip-hash keep clients in place,
// lets backoff count "consecutive crashes of a slot", and lets status show
// restarts per slot.

import { EventEmitter } from 'node:events';
import { CMD, type DrainReason, type SerializedError } from '../wire/protocol.js';
import { retirements, type RetireReason } from './retire.js';
import type { PoolOptions } from './pool-config.js';
import { RestartPolicy } from './restart-policy.js';
import { formatDuration } from '../units.js';
import { describeExit, Worker } from './worker.js';
import { CutLedger } from './cut.js';

/**
 * After a worker's own kill timeout, how long the master waits before SIGKILL.
 * Long enough for a loaded machine to run the worker's own timer first.
 */
export const KILL_GRACE_MS = 1000;

export interface Slot {
  readonly index: number;
  /** The process that fills the slot now (during a rotation, the new one). */
  current: Worker | undefined;
  /** Unexpected exits replaced in this slot. */
  restarts: number;
  /** A backoff timer waiting to refork this slot. */
  pendingFork: NodeJS.Timeout | undefined;
}

/** What replace() did: forked at once, will fork after the backoff, or does not replace at all (and why). */
export type Replacement = 'forked' | 'after-backoff' | 'gave-up' | 'not-restarting' | 'none';

/** The outcome of rotate() or refill(): whether the new worker became ready, and which it was. */
export interface Rotation {
  ok: boolean;
  worker: Worker | undefined;
}

export interface GiveUp {
  exitsInWindow: number;
  windowMs: number;
  lastError: string;
}

export interface PoolEvents {
  /** A process was forked; the master wires its messages. */
  worker: [worker: Worker];
  giveup: [info: GiveUp];
}

export class Pool extends EventEmitter<PoolEvents> {
  readonly #options: PoolOptions;
  readonly #slots: Slot[] = [];
  /** Every live process, by id, including closing ones. */
  readonly #workers = new Map<number, Worker>();
  readonly #restarts: RestartPolicy;
  /** What every worker that left this pool cut: read by the shutdown for the exit code. */
  readonly cut: CutLedger;
  #nextId = 1;
  #stopping = false;
  /**
   * The size start() fills to. The master may open its control socket before
   * it starts the pool, and a SIGTTIN in that moment resizes a pool with no
   * slots yet: it changes this number instead of forking early.
   */
  #startSize: number;
  #started = false;

  constructor(options: PoolOptions) {
    super();
    this.#options = options;
    this.#startSize = options.size;
    this.#restarts = new RestartPolicy(options.restart);
    this.cut = new CutLedger(options.logger);
  }

  get size(): number {
    return this.#started ? this.#slots.length : this.#startSize;
  }

  get slots(): readonly Slot[] {
    return this.#slots;
  }

  get gaveUp(): boolean {
    return this.#restarts.gaveUp;
  }

  /** Live processes, oldest first. */
  workers(): Worker[] {
    return [...this.#workers.values()];
  }

  /** Fills every slot. */
  start(): void {
    this.#started = true;
    for (let index = 0; index < this.#startSize; index++) this.#addSlot();
  }

  #addSlot(): Slot {
    const slot: Slot = { index: this.#slots.length, current: undefined, restarts: 0, pendingFork: undefined };
    this.#slots.push(slot);
    this.fork(slot);
    return slot;
  }

  /** Forks a process into `slot`; it becomes the slot's current worker. */
  fork(slot: Slot): Worker {
    clearTimeout(slot.pendingFork);
    slot.pendingFork = undefined;
    const worker = new Worker({
      id: this.#nextId++,
      slot: slot.index,
      config: this.#options.config,
      args: this.#options.args,
      env: this.#options.env,
      transport: this.#options.transport,
      output: this.#options.output,
    });
    slot.current = worker;
    this.#workers.set(worker.id, worker);
    this.#options.trace?.worker(worker.id, worker.pid, `forked into slot ${slot.index}`);
    // With --no-restart a worker may be a one-shot job that never listens: no deadline for it.
    const listenTimer = this.#options.replaceExited ? setTimeout(() => this.#notReadyInTime(worker), this.#options.listenTimeout) : undefined;
    worker.once('exit', () => {
      clearTimeout(listenTimer);
      this.#workers.delete(worker.id);
      if (slot.current === worker) slot.current = undefined;
    });
    // Exited, and its exit report read (or known never to come): what it cut goes on the books.
    worker.once('gone', () => this.cut.workerGone(worker));
    this.emit('worker', worker);
    return worker;
  }

  #notReadyInTime(worker: Worker): void {
    if (worker.state === 'listening' || worker.state === 'dead' || worker.state === 'closing') return;
    const error = notReadyError(this.#options.listenTimeout);
    worker.lastError ??= error;
    this.#options.logger.log('warn', `worker ${worker.id} (pid ${worker.pid}) was ${error.message}; killing it`);
    worker.kill('SIGKILL');
  }

  /** Resolves true once `worker` listens, false if it exits (or is killed for being too slow) first. */
  whenReady(worker: Worker): Promise<boolean> {
    if (worker.state === 'listening') return Promise.resolve(true);
    if (worker.state === 'dead' || worker.state === 'closing') return Promise.resolve(false);
    return new Promise((resolve) => {
      const onState = (): void => {
        if (worker.state === 'listening') done(true);
        else if (worker.state === 'closing') done(false);
      };
      const onExit = (): void => done(false);
      const done = (ready: boolean): void => {
        worker.off('state', onState);
        worker.off('exit', onExit);
        resolve(ready);
      };
      worker.on('state', onState);
      worker.once('exit', onExit);
    });
  }

  /**
   * A worker left without being asked to (it crashed, or sent the suicide
   * signal, or went silent): fork its replacement now, or after the backoff,
   * or give up (said once, when it happens). Called once per worker.
   */
  replace(worker: Worker): Replacement {
    if (this.exitExpected(worker)) return 'none';
    worker.replaced = true;
    const slot = this.#slots[worker.slot];
    if (slot === undefined || (slot.current !== worker && slot.current !== undefined)) return 'none';
    if (!this.#options.replaceExited) {
      this.#options.logger.log('info', `worker ${worker.id} (pid ${worker.pid}) is not replaced (--no-restart)`);
      if (slot.current === worker) slot.current = undefined;
      return 'not-restarting';
    }
    const alreadyGaveUp = this.#restarts.gaveUp;
    const decision = this.#restarts.onUnexpectedExit(worker.slot, worker.uptime());
    if (!decision.restart) {
      if (slot.current === worker) slot.current = undefined;
      if (alreadyGaveUp) return 'gave-up'; // said once, when it happened
      const lastError = worker.lastError?.message ?? describeExit(worker.exitCode, worker.exitSignal);
      this.emit('giveup', { exitsInWindow: decision.exitsInWindow, windowMs: this.#options.restart.windowMs, lastError });
      return 'gave-up';
    }
    slot.restarts++;
    if (decision.delayMs === 0) {
      this.fork(slot);
      return 'forked';
    }
    if (slot.current === worker) slot.current = undefined;
    this.#options.trace?.worker(worker.id, worker.pid, `slot ${slot.index} crashed ${decision.streak} times in a row: refork in ${decision.delayMs} ms`);
    slot.pendingFork = setTimeout(() => {
      if (!this.#stopping) this.fork(slot);
    }, decision.delayMs);
    return 'after-backoff';
  }

  /**
   * The one way a worker leaves (retire.ts): out of the rotation, replaced if
   * it failed, drained or left to drain, SIGKILLed if it outlives the kill
   * timeout. Returns what became of its slot.
   */
  retire(worker: Worker, reason: RetireReason): Replacement {
    if (worker.state === 'dead') return 'none';
    const how = retirements[reason];
    worker.retiredFor ??= reason;
    if (how.asked) worker.exitedAfterDisconnect = true;
    if (reason === 'suicide') worker.drainReason = reason;
    else if (reason !== 'silent') worker.drainReason ??= reason;
    worker.moveTo('closing');
    const replacement = how.replace ? this.replace(worker) : 'none';
    const { killTimeout } = this.#options;
    if (how.drain) worker.send({ cmd: CMD, type: 'drain', reason: reason as DrainReason, timeoutMs: killTimeout });
    if (how.kill === 'now') {
      worker.kill('SIGKILL');
      return replacement;
    }
    const deadline = killTimeout + KILL_GRACE_MS;
    const said = how.asked ? `still alive ${formatDuration(deadline)} ${how.forced}` : `did not exit ${formatDuration(deadline)} ${how.forced}`;
    worker.killAfter(deadline, () => this.#options.logger.log('warn', `worker ${worker.id} (pid ${worker.pid}) ${said}: SIGKILL`));
    return replacement;
  }

  /** The one place that says whether an exit was expected: asked for, already replaced, a probation fork, or the pool stopping. */
  exitExpected(worker: Worker): boolean {
    return worker.exitedAfterDisconnect || worker.replaced || worker.onProbation || this.#stopping;
  }

  /**
   * Replaces a healthy worker without losing capacity: fork the replacement,
   * wait until it is ready, and only then drain the old one. If the
   * replacement does not become ready, the old worker stays and keeps serving.
   */
  async rotate(worker: Worker, reason: 'reload' | 'max-memory' | 'max-lifetime'): Promise<Rotation> {
    const slot = this.#slots[worker.slot];
    if (slot === undefined || worker.state !== 'listening' || worker.replaced || this.#stopping) return { ok: false, worker: undefined };
    worker.replaced = true;
    const fresh = this.#forkOnProbation(slot);
    const ready = await this.whenReady(fresh);
    if (!ready) {
      // Shutting down: the new worker was asked to drain like every other, and exits by itself.
      if (!fresh.exitedAfterDisconnect) fresh.kill('SIGKILL');
      worker.replaced = false;
      if (!isDead(worker)) slot.current = worker;
      return { ok: false, worker: fresh };
    }
    this.retire(worker, reason);
    return { ok: true, worker: fresh };
  }

  /** Fills a slot left empty (after a give-up) and waits until its worker is ready. */
  async refill(slot: Slot): Promise<Rotation> {
    if (this.#stopping) return { ok: false, worker: undefined };
    const fresh = this.#forkOnProbation(slot);
    const ready = await this.whenReady(fresh);
    if (!ready) {
      if (!fresh.exitedAfterDisconnect) fresh.kill('SIGKILL'); // as in rotate()
      if (slot.current === fresh) slot.current = undefined;
    }
    return { ok: ready, worker: fresh };
  }

  /** A fork whose failure before it is ready is its caller's to handle: it is not replaced. */
  #forkOnProbation(slot: Slot): Worker {
    const fresh = this.fork(slot);
    fresh.onProbation = true;
    fresh.once('state', function ready(state) {
      if (state === 'listening') fresh.onProbation = false;
      else fresh.once('state', ready);
    });
    return fresh;
  }

  /** Changes the number of slots: new ones are forked, surplus ones drained (newest first). */
  resize(size: number): void {
    if (!this.#started) {
      this.#startSize = size;
      return;
    }
    while (this.#slots.length < size) this.#addSlot();
    while (this.#slots.length > size) {
      const slot = this.#slots.pop() as Slot;
      clearTimeout(slot.pendingFork);
      if (slot.current) this.retire(slot.current, 'scale-down');
    }
  }

  /** Forget the given-up state (a reload is a fresh start). */
  resetRestarts(): void {
    this.#restarts.reset();
  }

  /** No refork from now on; cancels pending ones. */
  stop(): void {
    this.#stopping = true;
    for (const slot of this.#slots) {
      clearTimeout(slot.pendingFork);
      slot.pendingFork = undefined;
    }
  }

  get stopping(): boolean {
    return this.#stopping;
  }
}

/** A function, so TypeScript does not carry a narrowed state across an await. */
function isDead(worker: Worker): boolean {
  return worker.state === 'dead';
}

function notReadyError(timeoutMs: number): SerializedError {
  const message =
    `not ready within --listen-timeout ${formatDuration(timeoutMs)}: the script must call listen() or bind a UDP socket, or export a server or a request handler ` +
    `(with --wait-ready: call process.send('ready')); an app that takes longer to start needs a longer one, e.g. --listen-timeout 30s`;
  return { message, stack: message };
}

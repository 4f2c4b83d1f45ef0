// The worker side of broadcast, messages to the master and shared state.
//
// The runtime installs one WorkerChannel on globalThis under a registered
// symbol. The module users import (handoff/worker, api.cts) only looks it up
// there, so that it needs no import of ours (it is CommonJS, so that require()
// works in Node 20), a copy from another install reaches the same channel,
// and importing it outside a worker fails clearly.

import { EventEmitter } from 'node:events';
import { CMD, type WorkerMessage } from '../wire/protocol.js';

export const CHANNEL_KEY = Symbol.for('handoff.worker.channel');

export interface WorkerChannelEvents {
  /** A message from another worker's broadcast(), or from the master. */
  message: [data: unknown, from: number | 'master'];
  /** The shared state changed (or arrived); `state` is the whole of it. */
  state: [state: Readonly<Record<string, unknown>>];
  /** This worker began draining; what is still open at `deadline` (ms since the epoch) will be cut. */
  drain: [reason: string, deadline: number];
}

export class WorkerChannel extends EventEmitter<WorkerChannelEvents> {
  readonly id: number;
  readonly slot: number;
  #state: Readonly<Record<string, unknown>> = Object.freeze({});
  #draining: { reason: string; deadline: number } | undefined;
  readonly #send: (message: WorkerMessage) => void;

  constructor(id: number, slot: number, send: (message: WorkerMessage) => void) {
    super();
    this.id = id;
    this.slot = slot;
    this.#send = send;
  }

  get state(): Readonly<Record<string, unknown>> {
    return this.#state;
  }

  broadcast(data: unknown, options: { includeSelf?: boolean } = {}): void {
    this.#send({ cmd: CMD, type: 'broadcast', data, includeSelf: options.includeSelf ?? false });
  }

  sendToMaster(data: unknown): void {
    this.#send({ cmd: CMD, type: 'to-master', data });
  }

  setState(key: string, value: unknown): void {
    this.#send({ cmd: CMD, type: 'set-state', key, value });
  }

  incrementState(key: string, by: number): void {
    this.#send({ cmd: CMD, type: 'increment-state', key, by });
  }

  /** Runtime only: a relayed message arrived. */
  deliver(from: number | 'master', data: unknown): void {
    this.emit('message', data, from);
  }

  /**
   * Listens for the drain. One added after the drain began is called at once
   * (on the next tick): an app that opens a WebSocket late must still hear it.
   */
  onDrain(listener: (reason: string, deadline: number) => void): void {
    this.on('drain', listener);
    const draining = this.#draining;
    if (draining !== undefined) process.nextTick(() => this.listeners('drain').includes(listener) && listener(draining.reason, draining.deadline));
  }

  /** Runtime only: the drain began. Each listener runs on its own: one that throws is the app's uncaught exception, and the others still run. */
  startDrain(reason: string, deadline: number): void {
    if (this.#draining !== undefined) return;
    this.#draining = { reason, deadline };
    for (const listener of this.listeners('drain')) process.nextTick(listener as (reason: string, deadline: number) => void, reason, deadline);
  }

  /** Runtime only: the master sent the current shared state. */
  replaceState(state: Record<string, unknown>): void {
    this.#state = Object.freeze({ ...state });
    this.emit('state', this.#state);
  }
}

export function installChannel(channel: WorkerChannel): void {
  (globalThis as Record<symbol, unknown>)[CHANNEL_KEY] = channel;
}

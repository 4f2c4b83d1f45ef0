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
}

export class WorkerChannel extends EventEmitter<WorkerChannelEvents> {
  readonly id: number;
  readonly slot: number;
  #state: Readonly<Record<string, unknown>> = Object.freeze({});
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

  /** Runtime only: the master sent the current shared state. */
  replaceState(state: Record<string, unknown>): void {
    this.#state = Object.freeze({ ...state });
    this.emit('state', this.#state);
  }
}

export function installChannel(channel: WorkerChannel): void {
  (globalThis as Record<symbol, unknown>)[CHANNEL_KEY] = channel;
}

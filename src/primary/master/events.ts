// What a Master emits, for whoever drives it: the CLI, an embedding program,
// a --primary module through the cluster view.

import type { BoundAddress } from '../../dispatch/listener.js';
import type { ReloadResult } from '../../operations/reload.js';
import type { GiveUp } from '../pool.js';
import type { Worker } from '../worker.js';

export interface MasterEvents {
  fork: [worker: Worker];
  online: [worker: Worker];
  listening: [worker: Worker];
  /** Every slot has a listening worker (emitted once). */
  ready: [address: BoundAddress];
  exit: [worker: Worker, code: number | null, signal: NodeJS.Signals | null];
  /** Data a worker's code sent: process.send(data), or send(data) from handoff/worker. */
  message: [worker: Worker, data: unknown, handle: unknown];
  giveup: [info: GiveUp];
  reload: [result: ReloadResult];
  /** The master has stopped; `exitCode` is what a CLI should exit with. */
  close: [exitCode: number];
}

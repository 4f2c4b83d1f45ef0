// The master's half of handoff/worker: it relays broadcasts between workers
// and sends everyone the shared state after each change (Dong Yuanxin,
// "NodeJS 集群：cluster.js 和 PM2", https://dongyuanxin.github.io/2022-05-07-process-cluster/: 进程更新
// 公共状态后，需要向其它进程「同步」最新的公共状态).

import { CMD } from '../wire/protocol.js';
import { SharedState, type StateChange } from './shared-state.js';
import type { Worker } from '../primary/worker.js';

export class Messaging {
  readonly state = new SharedState();
  readonly #workers: () => Worker[];

  constructor(workers: () => Worker[]) {
    this.#workers = workers;
  }

  /** Sends `data` from `from` to every worker whose runtime is up, but the sender unless `includeSelf`. */
  relay(from: Worker | 'master', data: unknown, includeSelf: boolean): void {
    const sender = from === 'master' ? 'master' : from.id;
    for (const worker of this.#workers()) {
      if (worker === from && !includeSelf) continue;
      if (worker.state !== 'starting') worker.send({ cmd: CMD, type: 'relay', from: sender, data });
    }
  }

  /** A change to the shared state: if it was made, every worker gets the new state. */
  apply(change: StateChange): StateChange {
    if (change.ok) this.publishState();
    return change;
  }

  publishState(): void {
    const state = this.state.snapshot();
    for (const worker of this.#workers()) if (worker.state !== 'starting') worker.send({ cmd: CMD, type: 'state', state });
  }
}

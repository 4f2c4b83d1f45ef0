// What the workers cut, over the master's whole life: the source of truth for
// "exit 0 only if nothing was cut".
//
// A worker says, as it exits (its 'exit' event, whatever made it exit), how
// many HTTP requests it had not finished answering and how many connections
// it still had open. Requests in flight are cut whatever the exit code: an
// app whose SIGINT handler calls process.exit(0) mid-request cut that
// request. Other open connections (idle keep-alive, WebSockets, raw TCP)
// count only if the exit was not clean (forced out at the deadline, crashed):
// a clean exit closed them on purpose. A worker that could not say anything
// (SIGKILL) cut what it last reported open.

import type { Logger } from '../cli/log.js';
import { describeExit, type Worker } from './worker.js';

export class CutLedger {
  readonly #log: Logger;
  #requests = 0;
  #connections = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Requests and connections cut so far. */
  get total(): number {
    return this.#requests + this.#connections;
  }

  /** `worker` has exited and its channel has been read to the end (its last report is in). */
  workerGone(worker: Worker): void {
    const clean = worker.exitCode === 0 && worker.exitSignal === null;
    const report = worker.exitReport;
    const requests = report?.inFlight ?? 0;
    const connections = clean ? 0 : Math.max(0, (report?.open ?? worker.active) - requests);
    if (requests + connections === 0) return;
    this.#requests += requests;
    this.#connections += connections;
    const what = [requests > 0 ? plural(requests, 'request') + ' unanswered' : '', connections > 0 ? plural(connections, 'connection') + ' open' : ''].filter(Boolean).join(' and ');
    const how = report === undefined ? ' without a word (it last reported' + ` ${plural(worker.active, 'open connection')})` : '';
    this.#log.log('warn', `worker ${worker.id} (pid ${worker.pid}) exited (${describeExit(worker.exitCode, worker.exitSignal)})${how} with ${what}: cut`);
  }

  /** The closing line of a shutdown that cut something. */
  summary(): string {
    return `cut over this run: ${plural(this.#requests, 'request')} in flight, ${plural(this.#connections, 'other connection')} (see the lines above)`;
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

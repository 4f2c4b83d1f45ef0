// Fake workers, sockets and connections for driving the dispatcher without
// processes: each fake worker records the order in which it was handed
// connections (as undici's round-robin pool test records clientOrder).

import { Dispatcher } from '../../dist/dispatch/round-robin-handle.js';
import type { PendingConnection } from '../../dist/dispatch/connection.js';
import type { Scheduler } from '../../dist/scheduler/types.js';
import type { TcpHandle } from '../../dist/wire/node-internals.js';

export class FakeSocket {
  onconnection: (client: TcpHandle) => void = () => undefined;
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
}

let nextFd = 100;
export class FakeHandle {
  readonly fd = nextFd++;
  closed = false;
  /** The client reset: getpeername() fails with ENOTCONN, as on a real socket. */
  reset = false;
  constructor(readonly address: string) {}
  getpeername(out: Record<string, unknown>): number {
    if (this.reset) return -107;
    out['address'] = this.address;
    return 0;
  }
  close(): void {
    this.closed = true;
  }
}

export class FakeWorker {
  state: 'listening' | 'closing' | 'dead' = 'listening';
  active = 0;
  readonly pid: number;
  /** Connections handed to it and not yet answered, in order. */
  readonly unanswered: number[] = [];
  /** False: every write fails, as on a closing channel. */
  writable = true;
  constructor(
    readonly id: number,
    readonly slot: number,
    private readonly order: string[],
  ) {
    this.pid = 1000 + id;
  }
  sendConnection(connection: PendingConnection): boolean {
    if (!this.writable) return false;
    this.unanswered.push(connection.seq);
    this.order.push(`w${this.id}#${connection.seq}`);
    return true;
  }
}

export interface Rig {
  dispatcher: Dispatcher;
  socket: FakeSocket;
  handles: FakeHandle[];
  /** Every hand-off, in order: "w<id>#<seq>". */
  order: string[];
  workers: FakeWorker[];
  /** A new worker in `slot` (its id is the next one), added to the dispatcher. */
  worker(slot?: number): FakeWorker;
  /** `n` new workers in the next slots. */
  addWorkers(n: number): FakeWorker[];
  /** `n` clients connect, from `address`. */
  connect(n: number, address?: string): void;
  /** `worker` accepts everything it was handed (or only `seqs`). */
  accept(worker: FakeWorker, seqs?: number[]): void;
  refuse(worker: FakeWorker, seqs?: number[]): void;
  /** Which worker got each connection so far, by id: "w1 w2 w1". */
  who(): string;
  now: number;
}

export function rig(scheduler: Scheduler, maxPending = 10_000): Rig {
  const socket = new FakeSocket();
  const order: string[] = [];
  const handles: FakeHandle[] = [];
  const workers: FakeWorker[] = [];
  const r: Rig = {
    socket,
    order,
    handles,
    workers,
    now: 1_000_000,
    dispatcher: undefined as unknown as Dispatcher,
    worker(slot = workers.length) {
      const w = new FakeWorker(workers.length + 1, slot, order);
      workers.push(w);
      r.dispatcher.add(w);
      return w;
    },
    addWorkers(n) {
      return Array.from({ length: n }, () => r.worker());
    },
    connect(n, address = '10.0.0.1') {
      for (let i = 0; i < n; i++) {
        const handle = new FakeHandle(address);
        handles.push(handle);
        socket.onconnection(handle as unknown as TcpHandle);
      }
    },
    accept(worker, seqs) {
      const answered = take(worker, seqs);
      r.dispatcher.acknowledge(worker, answered, []);
    },
    refuse(worker, seqs) {
      const answered = take(worker, seqs);
      r.dispatcher.acknowledge(worker, [], answered);
    },
    who() {
      return order.map((entry) => entry.split('#')[0]).join(' ');
    },
  };
  r.dispatcher = new Dispatcher('127.0.0.1:0:IPv4', socket, scheduler, { maxPending, trace: null, now: () => r.now });
  return r;
}

function take(worker: FakeWorker, seqs?: number[]): number[] {
  const answered = seqs ?? [...worker.unanswered];
  for (const seq of answered) worker.unanswered.splice(worker.unanswered.indexOf(seq), 1);
  return answered;
}

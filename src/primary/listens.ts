// What the master does with a worker's listen()s and dgram bind()s:
// cluster's queryServer (primary.js), and the one log line that says how the
// app's own address is served when the master's listener takes it.
//
// The master's own listener (--port) takes the app's listen() on $PORT, or
// else its first TCP listen() (child/listens.ts decides, in the
// worker). Every other TCP listen() arrives here as a `listen-request`: the
// table binds the address once and adds the worker to its handle, or the
// bind's errno goes back to that listen(). A dgram bind() that is not
// exclusive arrives as a `udp-request`: the table's UDP sockets bind it once
// (udp/udp-sockets.ts), and the socket itself goes back with the reply.

import os from 'node:os';
import util from 'node:util';
import { CMD, type AskedAddress, type MasterMessage, type WorkerMessage } from '../wire/protocol.js';
import { showAddress, type HandleTable } from '../dispatch/handle-table.js';
import type { BoundAddress } from '../dispatch/listener.js';
import type { Logger } from '../cli/log.js';
import type { Tracer } from '../trace.js';
import type { Worker } from './worker.js';

type Request = Extract<WorkerMessage, { type: 'listen-request' }>;
type Close = Extract<WorkerMessage, { type: 'listen-close' }>;
type UdpRequest = Extract<WorkerMessage, { type: 'udp-request' }>;
type UdpClose = Extract<WorkerMessage, { type: 'udp-close' }>;

const ECANCELED = -(os.constants.errno.ECANCELED ?? 125);

export interface ListenHandlers {
  'listen-request'(worker: Worker, message: Request): void;
  'listen-close'(worker: Worker, message: Close): void;
  'udp-request'(worker: Worker, message: UdpRequest): void;
  'udp-close'(worker: Worker, message: UdpClose): void;
  /** Logs, once per distinct mapping, how the app's listen() is served by the master's own listener. */
  mapped(asked: AskedAddress | undefined): void;
}

export function createListenHandlers(table: HandleTable, address: BoundAddress, log: Logger, trace: Tracer | null): ListenHandlers {
  const said = new Set<string>();
  /** A line logged once (every worker asks, and a crashed one's replacement asks again). */
  const once = (line: string): void => {
    if (said.has(line)) return;
    said.add(line);
    log.log('info', line);
  };
  return {
    'listen-request'(worker, message) {
      const asked = showAddress(message.address, message.port);
      const reply = (fields: Pick<Extract<MasterMessage, { type: 'listen-reply' }>, 'listener' | 'address' | 'errno'>, socket?: unknown): void => {
        worker.send({ cmd: CMD, type: 'listen-reply', request: message.request, ...fields }, socket);
      };
      if (worker.state === 'closing' || worker.state === 'dead') return reply({ listener: -1, address, errno: ECANCELED });
      const answer = table.request(worker, message);
      if (!answer.ok) {
        trace?.worker(worker.id, worker.pid, `listen on ${asked}: errno ${answer.errno}`);
        return reply({ listener: -1, address, errno: answer.errno });
      }
      trace?.worker(worker.id, worker.pid, `listen on ${asked}: listener ${answer.id} (${showAddress(answer.address.address, answer.address.port)})`);
      const fields = { listener: answer.id, address: answer.address, errno: 0 };
      if (answer.socket === undefined) return reply(fields);
      void answer.socket.then((socket) => reply(fields, socket)); // shared: the worker accepts on the socket itself
    },
    'listen-close'(worker, message) {
      trace?.worker(worker.id, worker.pid, `closed its server on listener ${message.listener}`);
      table.closedBy(worker, message.listener);
    },
    'udp-request'(worker, message) {
      const asked = `UDP ${showAddress(message.address, message.port)}`;
      const reply = (socket: number, errno: number, handle?: unknown): boolean =>
        worker.send({ cmd: CMD, type: 'udp-reply', request: message.request, socket, errno }, handle);
      if (worker.state === 'closing' || worker.state === 'dead') return void reply(0, ECANCELED);
      const answer = table.udp.request(worker, message);
      if (!answer.ok) {
        trace?.worker(worker.id, worker.pid, `bind ${asked}: errno ${answer.errno}`);
        once(`app's bind on ${asked} failed: ${util.getSystemErrorName(answer.errno)} (given to its bind() as the error)`);
        return void reply(0, answer.errno);
      }
      const port = message.port === 0 ? ` (port ${answer.port})` : '';
      const how = answer.from === undefined ? 'bound once by the master' : `the socket ${answer.from} handed over`;
      if (answer.fresh) once(`app binds ${asked}${port}: ${how}, shared by every worker`);
      trace?.worker(worker.id, worker.pid, `bind ${asked}: UDP socket ${answer.id}`);
      if (!reply(answer.id, 0, answer.handle)) table.udp.closedBy(worker, answer.id); // not sent: this worker does not hold it
    },
    'udp-close'(worker, message) {
      trace?.worker(worker.id, worker.pid, `closed its UDP socket ${message.socket}`);
      table.udp.closedBy(worker, message.socket);
    },
    mapped(asked) {
      if (asked === undefined) return;
      const app = showAddress(asked.host, asked.port);
      const ours = showAddress(address.address, address.port);
      if (app === ours) return;
      once(`app listens on ${app}; served on ${ours} (--port${asked.host !== undefined ? ', --host' : ''})`);
    },
  };
}

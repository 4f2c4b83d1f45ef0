// What waits in a listening socket's accept queue, read from /proc/net/tcp
// (Linux): for a socket in LISTEN, rx_queue is the number of connections the
// kernel completed that nobody has accepted yet.

import fs from 'node:fs';
import { eventually } from './process.js';

/** Connections waiting in the accept queue of the IPv4 listening socket on `port`. */
export function acceptQueue(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue ...
    const [, local, , state, queues] = line.trim().split(/\s+/);
    if (state === '0A' && local?.endsWith(`:${hexPort}`)) return parseInt(queues?.split(':')[1] ?? '0', 16);
  }
  return 0;
}

/** Waits until at least `count` connections wait in the accept queue on `port`. */
export function queued(port: number, count: number, timeoutMs = 5000): Promise<void> {
  return eventually(() => acceptQueue(port) >= count, timeoutMs, `${count} connection(s) waiting in the accept queue of port ${port} (saw ${acceptQueue(port)})`);
}

// Is a master listening on this socket file? A connect() tells: a master that
// was SIGKILLed leaves its socket file behind, and connecting to it is
// refused. Used by a starting master (may it take this path over?) and by
// `handoff ctl` (which of the sockets in the default directory are alive?).
//
// A listening Unix socket accepts in the kernel, so even a master whose event
// loop is busy answers a probe at once; the timeout is only for the odd case
// of a full accept backlog.

import net from 'node:net';

export type Liveness =
  /** Something accepted the connection. */
  | 'live'
  /** The file is there and nobody listens on it (ECONNREFUSED). */
  | 'stale'
  /** No file at that path. */
  | 'absent'
  /** Anything else (EACCES, a timeout): we cannot tell, so do not touch it. */
  | 'unknown';

export function probe(file: string, timeoutMs = 1000): Promise<{ liveness: Liveness; errno?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(file);
    const done = (liveness: Liveness, errno?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(errno === undefined ? { liveness } : { liveness, errno });
    };
    const timer = setTimeout(() => done('unknown', 'ETIMEDOUT'), timeoutMs);
    socket.once('connect', () => done('live'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const errno = error.code ?? 'EUNKNOWN';
      done(errno === 'ECONNREFUSED' ? 'stale' : errno === 'ENOENT' ? 'absent' : 'unknown', errno);
    });
  });
}

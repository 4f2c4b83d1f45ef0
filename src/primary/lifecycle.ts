// A worker's life as one string union, with every allowed move in one table.
//
// Node's primary uses 'none' -> 'online' -> 'listening' -> 'disconnected' ->
// 'dead' (lib/internal/cluster/primary.js; 'disconnecting' and 'destroying'
// are set only inside the worker process, by child.js). handoff has one
// 'closing' state between listening and gone, because what matters to the
// dispatcher is only "may this worker get new connections?".

export type WorkerState =
  /** fork() returned; the runtime has not said hello yet. */
  | 'starting'
  /** The runtime is up and is loading the user's script. */
  | 'online'
  /** The user's server is attached and ready: the only state that gets connections. */
  | 'listening'
  /** Draining: no new connections; it exits once its open ones close, or is forced out. */
  | 'closing'
  /** The process has exited. */
  | 'dead';

const transitions: Readonly<Record<WorkerState, readonly WorkerState[]>> = {
  starting: ['online', 'closing', 'dead'],
  online: ['listening', 'closing', 'dead'],
  listening: ['closing', 'dead'],
  closing: ['dead'],
  dead: [],
};

export function canMove(from: WorkerState, to: WorkerState): boolean {
  return transitions[from].includes(to);
}

// The programmatic API: `import { createMaster } from 'handoff'`.
export { createMaster, Master, type MasterEvents } from './master/master.js';
export type { MasterOptions, ResolvedOptions } from './master/options.js';
export type { Worker } from './master/worker.js';
export type { WorkerState } from './master/worker-state.js';
export type { BoundAddress } from './master/listener.js';
export type { Logger, LogLevel } from './master/log.js';
export { HandoffError, InvalidOptionError, ListenError, type HandoffErrorCode } from './errors.js';
export type { Scheduler, WorkerView, ConnectionInfo, SchedulerFactory, SchedulerChoice } from './scheduler/types.js';
export { loadScheduler } from './scheduler/load.js';

// The programmatic API: `import { createMaster } from 'handoff'`.
export { createMaster, Master, type MasterEvents } from './primary/primary.js';
export type { MasterOptions, ResolvedOptions } from './cli/options.js';
export type { Worker } from './primary/worker.js';
export type { WorkerState } from './primary/lifecycle.js';
export type { BoundAddress } from './dispatch/listener.js';
export type { Logger, LogLevel } from './cli/log.js';
export type { UpgradeOptions, UpgradeResult } from './operations/upgrade.js';
export { HandoffError, InvalidOptionError, ListenError, type HandoffErrorCode } from './errors.js';
export type { Scheduler, WorkerView, ConnectionInfo, SchedulerFactory, SchedulerChoice } from './scheduler/types.js';
export { loadScheduler } from './scheduler/from-file.js';

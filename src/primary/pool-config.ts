// What a pool of workers is configured with, made from the master's
// options, and how a "scale" request translates into a pool size.

import { HandoffError } from '../errors.js';
import type { WorkerConfig } from '../wire/protocol.js';
import { TRACE_ORIGIN_ENV, type Tracer } from '../trace.js';
import type { Logger } from '../cli/log.js';
import type { ResolvedOptions } from '../cli/options.js';
import type { TransportName } from '../wire/transport.js';
import type { WorkerInit } from './worker.js';
import { parseCount } from '../units.js';

export interface PoolOptions {
  size: number;
  /** False with --no-restart: a worker that exits is never replaced. */
  replaceExited: boolean;
  output: WorkerInit['output'];
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  config: Omit<WorkerConfig, 'id' | 'slot'>;
  transport: TransportName;
  killTimeout: number;
  listenTimeout: number;
  restart: { maxRestarts: number; windowMs: number; baseDelayMs: number };
  logger: Logger;
  trace: Tracer | null;
}

/** What the pool needs, from the master's options and the parts it has made. */
export function poolOptions(
  options: ResolvedOptions,
  made: { address: WorkerConfig['address']; accepts: WorkerConfig['accepts']; transport: TransportName; reportLoad: boolean; traceOrigin: bigint; logger: Logger; trace: Tracer | null },
): PoolOptions {
  return {
    size: options.workers,
    replaceExited: options.restart,
    // A worker's --trace lines pass through as they are; everything else it prints gets its prefix.
    output: (worker, stream, line) => (stream === 'stderr' && line.startsWith('trace ') ? made.logger.trace(line) : made.logger.output(worker, stream, line)),
    args: options.args,
    // PORT: the convention most apps and platforms follow; a listen() on it is served by the master's own listener.
    env: { ...process.env, ...options.env, PORT: String(made.address.port), [TRACE_ORIGIN_ENV]: made.traceOrigin.toString() },
    config: {
      script: options.script,
      accepts: made.accepts,
      address: made.address,
      killTimeout: options.killTimeout,
      heartbeatInterval: options.heartbeatInterval,
      waitReady: options.waitReady,
      killSignal: options.killSignal,
      trace: options.trace,
      reportLoad: made.reportLoad,
      metrics: options.metrics !== undefined,
    },
    transport: made.transport,
    killTimeout: options.killTimeout,
    listenTimeout: options.listenTimeout,
    restart: { maxRestarts: options.maxRestarts, windowMs: options.restartWindow, baseDelayMs: options.restartDelay },
    logger: made.logger,
    trace: made.trace,
  };
}

/** The pool size `target` asks for: "4", "+1" or "-1", never below 1 nor above 1024. */
export function scaledSize(current: number, target: number | string): number {
  const text = String(target).trim();
  const parsed = parseCount(text);
  const wanted = parsed === undefined ? NaN : parsed.relative ? current + parsed.count : parsed.count;
  if (!Number.isSafeInteger(wanted)) throw new HandoffError('ERR_HANDOFF_INVALID_OPTION', `scale '${text}': expected a number of workers, +N or -N`);
  return Math.min(1024, Math.max(1, wanted));
}

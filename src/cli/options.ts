// A master's settings: what they are, their defaults, and how given values
// (CLI, env, config file or createMaster()) become them, each checked by its
// kind in its spec (option-specs.ts, where every setting is described).

import os from 'node:os';
import { InvalidOptionError } from '../errors.js';
import { defaultScheduler, type SchedulerChoice } from '../scheduler/index.js';
import { parseDuration, parseSize } from '../units.js';
import { optionSpecs, type OptionSpec } from './option-specs.js';

/** The resolved settings of a running master; see optionSpecs (option-specs.ts) for each one's meaning. */
export interface ResolvedOptions {
  script: string;
  args: string[];
  /** Added to every worker's environment. */
  env: Record<string, string>;
  port: number;
  host: string | undefined;
  workers: number;
  /** A built-in name or a module's path (CLI, env); programmatically also a Scheduler or a factory. */
  scheduler: SchedulerChoice;
  transport: 'auto' | 'fast' | 'send';
  maxPending: number;
  killTimeout: number;
  shutdownDelay: number;
  maxRestarts: number;
  restartWindow: number;
  restartDelay: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  listenTimeout: number;
  maxMemory: number;
  maxLifetime: number;
  waitReady: boolean;
  pidFile: string | undefined;
  control: string | undefined;
  restart: boolean;
  killSignal: NodeJS.Signals;
  cronRestart: string | undefined;
  watch: string[] | undefined;
  watchDelay: number;
  watchIgnore: string[];
  logFormat: 'text' | 'json';
  timestamps: boolean;
  trace: boolean;
  /** [host:]port of the /metrics, /healthz and /readyz endpoint; undefined: none. */
  metrics: string | undefined;
  /** A module loaded into the master, with node:cluster's primary API, before any fork. */
  primary: string | undefined;
}

/** What createMaster() accepts: the script, and any setting by its camelCase name. */
export type MasterOptions = { script: string; args?: string[]; env?: Record<string, string> } & {
  [K in SettingKey]?: ResolvedOptions[K] | string;
};

export type SettingKey = Exclude<keyof ResolvedOptions, 'script' | 'args' | 'env'>;

export function defaultOptions(): Omit<ResolvedOptions, 'script' | 'args' | 'env'> {
  return {
    port: 3000,
    host: undefined,
    workers: os.availableParallelism(),
    scheduler: defaultScheduler,
    transport: 'auto',
    maxPending: 1024,
    killTimeout: 5000,
    shutdownDelay: 0,
    maxRestarts: 10,
    restartWindow: 60_000,
    restartDelay: 100,
    heartbeatInterval: 1000,
    heartbeatTimeout: 5000,
    listenTimeout: 3000,
    maxMemory: 0,
    maxLifetime: 0,
    waitReady: false,
    pidFile: undefined,
    control: undefined,
    restart: true,
    killSignal: 'SIGINT',
    cronRestart: undefined,
    watch: undefined,
    watchDelay: 500,
    watchIgnore: ['node_modules', '.git'],
    logFormat: 'text',
    timestamps: true,
    trace: /\bhandoff\b/i.test(process.env['NODE_DEBUG'] ?? ''),
    metrics: undefined,
    primary: undefined,
  };
}

/**
 * Checks and converts every given setting; strings (from the CLI, env or a
 * config file) and native values (from createMaster) go through the same checks.
 */
export function resolveOptions(input: MasterOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const resolved: Record<string, unknown> = { ...defaultOptions() };
  for (const key of Object.keys(optionSpecs) as SettingKey[]) {
    const spec = optionSpecs[key];
    let raw: unknown = input[key];
    if (raw === undefined && spec.env !== undefined) raw = env[spec.env] || undefined;
    if (raw === undefined) continue;
    resolved[key] = convert(spec, raw);
  }
  return { ...(resolved as Omit<ResolvedOptions, 'script' | 'args' | 'env'>), script: input.script, args: input.args ?? [], env: input.env ?? {} };
}

export function convert(spec: OptionSpec, raw: unknown): unknown {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (spec.kind) {
    case 'signal': {
      const name = typeof text === 'string' ? text.toUpperCase().replace(/^(?!SIG)/, 'SIG') : '';
      if (name in os.constants.signals && name !== 'SIGKILL' && name !== 'SIGSTOP') return name;
      throw new InvalidOptionError(spec.flag, raw, 'a signal name such as SIGINT, SIGTERM or SIGUSR2 (not SIGKILL or SIGSTOP, which an app cannot handle)');
    }
    case 'list': {
      const items = Array.isArray(text) ? text : typeof text === 'string' ? text.split(',') : undefined;
      if (items !== undefined && items.every((item) => typeof item === 'string')) return (items as string[]).map((item) => item.trim()).filter((item) => item !== '');
      throw new InvalidOptionError(spec.flag, raw, 'a comma-separated list, or an array of strings');
    }
    case 'boolean':
      if (typeof text === 'boolean') return text;
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      throw new InvalidOptionError(spec.flag, raw, 'true or false');
    case 'string':
      if (typeof text === 'string' && text !== '') return text;
      throw new InvalidOptionError(spec.flag, raw, 'a non-empty string');
    case 'scheduler':
      // Which names and modules exist is the scheduler table's business (resolveScheduler, loadScheduler).
      if ((typeof text === 'string' && text !== '') || typeof text === 'function' || (typeof text === 'object' && text !== null)) return text;
      throw new InvalidOptionError(spec.flag, raw, 'a scheduler name, the path of a scheduler module, or a scheduler');
    case 'choice':
      if (typeof text === 'string' && spec.choices?.includes(text)) return text;
      throw new InvalidOptionError(spec.flag, raw, `one of ${spec.choices?.join(', ')}`);
    case 'port': {
      const port = toInteger(text);
      if (port !== undefined && port >= 0 && port <= 65535) return port;
      throw new InvalidOptionError(spec.flag, raw, 'a port number from 0 to 65535 (0 = any free port)');
    }
    case 'count': {
      const count = toInteger(text);
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (count !== undefined && count >= min && count <= max) return count;
      const range = spec.max === undefined ? `${min} or more` : `from ${min} to ${max}`;
      throw new InvalidOptionError(spec.flag, raw, `a whole number ${range}`);
    }
    case 'duration': {
      if (spec.zeroMeansOff && (text === 'off' || text === 0 || text === '0')) return 0;
      const ms = typeof text === 'number' ? (Number.isSafeInteger(text) && text >= 0 ? text : undefined) : typeof text === 'string' ? parseDuration(text) : undefined;
      if (ms !== undefined && ms >= (spec.min ?? 0)) return ms;
      const off = spec.zeroMeansOff ? '; 0 or off disables it' : '';
      throw new InvalidOptionError(spec.flag, raw, `a duration such as 5000 (ms), 500ms, 5s, 30m or 6h${off}`);
    }
    case 'size': {
      if (spec.zeroMeansOff && (text === 'off' || text === 0 || text === '0')) return 0;
      const bytes = typeof text === 'number' ? (Number.isSafeInteger(text) && text > 0 ? text : undefined) : typeof text === 'string' ? parseSize(text) : undefined;
      if (bytes !== undefined) return bytes;
      const off = spec.zeroMeansOff ? '; 0 or off disables it' : '';
      throw new InvalidOptionError(spec.flag, raw, `a size such as 300M, 1G, 512K or a number of bytes${off}`);
    }
  }
}

function toInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

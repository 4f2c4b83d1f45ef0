// Every setting of the master, described once: its flag, kind, limits, env
// variable and help. The CLI parser, --help, the programmatic createMaster()
// and the config file all read this table, so a flag cannot exist in one place
// and be missing or checked differently in another (options.ts checks a given
// value by its spec's kind).

import { defaultScheduler, schedulerNames } from '../scheduler/index.js';
import type { SettingKey } from './options.js';

type Kind = 'count' | 'port' | 'duration' | 'size' | 'string' | 'boolean' | 'choice' | 'signal' | 'list' | 'scheduler';

export interface OptionSpec {
  /** The CLI name: --kill-timeout. */
  readonly flag: string;
  readonly short?: string;
  readonly kind: Kind;
  /** Smallest accepted value for counts and durations. */
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** 0 (or "off") turns the feature off. */
  readonly zeroMeansOff?: boolean;
  /** Read from this environment variable when the flag is absent. */
  readonly env?: string;
  readonly section: 'server' | 'lifecycle' | 'operations' | 'output';
  readonly help: string;
  /** What --help shows for the value, when the kind's default word would not say it. */
  readonly placeholder?: string;
}

export const optionSpecs: Readonly<Record<SettingKey, OptionSpec>> = {
  port: { flag: 'port', kind: 'port', section: 'server', help: 'TCP port to listen on; 0 picks any free port (default 3000)' },
  host: { flag: 'host', kind: 'string', placeholder: 'address', section: 'server', help: 'IP address to listen on, or localhost (default: all interfaces, like net.Server)' },
  workers: { flag: 'workers', short: 'w', kind: 'count', min: 1, max: 1024, section: 'server', help: 'number of worker processes (default: os.availableParallelism())' },
  scheduler: {
    flag: 'scheduler',
    kind: 'scheduler',
    env: 'HANDOFF_SCHEDULER',
    section: 'server',
    help: `how connections reach workers: ${schedulerNames().join(' | ')}, or ./your-scheduler.js (default ${defaultScheduler}; env HANDOFF_SCHEDULER; see docs/schedulers.md)`,
  },
  transport: {
    flag: 'transport',
    kind: 'choice',
    choices: ['auto', 'fast', 'send'],
    env: 'HANDOFF_TRANSPORT',
    section: 'server',
    help: 'how rr hands a connection to a worker: fast (a direct write on the IPC pipe), send (subprocess.send), auto (fast if this Node allows it; default)',
  },
  maxPending: {
    flag: 'max-pending',
    kind: 'count',
    min: 1,
    section: 'server',
    help: 'connections the master may hold for busy workers before it stops accepting (default 1024)',
  },
  killTimeout: {
    flag: 'kill-timeout',
    kind: 'duration',
    section: 'lifecycle',
    help: 'how long a closing worker may drain before it is forced out (default 5000 ms)',
  },
  shutdownDelay: {
    flag: 'shutdown-delay',
    kind: 'duration',
    section: 'lifecycle',
    help: 'on SIGTERM, SIGINT or ctl stop, keep serving this long before draining, while a load balancer stops sending (default 0)',
  },
  maxRestarts: {
    flag: 'max-restarts',
    kind: 'count',
    min: 0,
    section: 'lifecycle',
    help: 'unexpected exits tolerated within --restart-window before the master stops reforking (default 10)',
  },
  restartWindow: { flag: 'restart-window', kind: 'duration', min: 1, section: 'lifecycle', help: 'the window --max-restarts counts in (default 60s)' },
  restartDelay: {
    flag: 'restart-delay',
    kind: 'duration',
    section: 'lifecycle',
    help: 'backoff base: repeated crashes of a slot wait this x 1.5 per crash, up to 15s (default 100 ms)',
  },
  heartbeatInterval: {
    flag: 'heartbeat-interval',
    kind: 'duration',
    zeroMeansOff: true,
    section: 'lifecycle',
    help: 'how often each worker reports it is alive; 0 disables heartbeats (default 1000 ms)',
  },
  heartbeatTimeout: {
    flag: 'heartbeat-timeout',
    kind: 'duration',
    zeroMeansOff: true,
    section: 'lifecycle',
    help: 'a worker silent this long (a busy loop) is replaced and killed; 0 disables (default 5000 ms)',
  },
  listenTimeout: {
    flag: 'listen-timeout',
    kind: 'duration',
    min: 1,
    section: 'lifecycle',
    help: 'how long a new worker may take to become ready before it counts as failed (default 3000 ms)',
  },
  maxMemory: {
    flag: 'max-memory',
    kind: 'size',
    zeroMeansOff: true,
    section: 'lifecycle',
    help: 'replace a worker whose memory (RSS) passes this, e.g. 300M or 1G: replacement first, then a graceful drain (default off)',
  },
  maxLifetime: {
    flag: 'max-lifetime',
    kind: 'duration',
    zeroMeansOff: true,
    section: 'lifecycle',
    help: 'rotate each worker gracefully once it is this old, e.g. 30m or 6h, one worker at a time (default off)',
  },
  waitReady: {
    flag: 'wait-ready',
    kind: 'boolean',
    section: 'operations',
    help: "a worker is ready only once the app calls process.send('ready'), within --listen-timeout (PM2's wait_ready)",
  },
  pidFile: { flag: 'pid-file', kind: 'string', placeholder: 'file', section: 'operations', help: "write the master's pid to this file, for init systems (removed at exit)" },
  control: {
    flag: 'control',
    kind: 'string',
    placeholder: 'path',
    section: 'operations',
    help: 'path of the control socket for handoff ctl, or off (default: <runtime dir>/handoff-<uid>/<pid>.sock; see handoff ctl --help)',
  },
  restart: {
    flag: 'restart',
    kind: 'boolean',
    section: 'lifecycle',
    help: 'never replace a worker that exits: each runs once, and the master stops when none is left (one-shot jobs)',
  },
  killSignal: {
    flag: 'kill-signal',
    kind: 'signal',
    env: 'HANDOFF_KILL_SIGNAL',
    section: 'lifecycle',
    help: "signal a worker also gets when it is asked to stop, so the app's own handler runs (default SIGINT, as PM2)",
  },
  cronRestart: {
    flag: 'cron-restart',
    kind: 'string',
    placeholder: 'cron',
    section: 'operations',
    help: 'rolling restart on a schedule, a cron expression such as "0 3 * * *" (seconds allowed: "*/30 * * * * *")',
  },
  watch: {
    flag: 'watch',
    kind: 'list',
    section: 'operations',
    help: "reload (rolling) when files change: bare --watch watches the script's folder, --watch=src,lib those paths",
  },
  watchDelay: { flag: 'watch-delay', kind: 'duration', section: 'operations', help: 'wait this long after the last change before reloading (default 500 ms)' },
  watchIgnore: {
    flag: 'watch-ignore',
    kind: 'list',
    section: 'operations',
    help: 'names or globs to ignore under --watch, comma-separated (default node_modules,.git)',
  },
  logFormat: {
    flag: 'log-format',
    kind: 'choice',
    choices: ['text', 'json'],
    section: 'output',
    help: 'text: "[w2 4711] line"; json: one object per line, for log shippers (default text)',
  },
  timestamps: { flag: 'timestamps', kind: 'boolean', section: 'output', help: 'leave the time out of log lines (it starts each line by default)' },
  trace: { flag: 'trace', kind: 'boolean', section: 'output', help: 'print each step of every connection and worker (also NODE_DEBUG=handoff)' },
  metrics: {
    flag: 'metrics',
    kind: 'string',
    placeholder: '[host:]port',
    section: 'operations',
    help: "serve /metrics (Prometheus: handoff's series and the app's prom-client metrics over all workers), /healthz and /readyz on this port (default off)",
  },
  primary: {
    flag: 'primary',
    kind: 'string',
    placeholder: 'module',
    section: 'operations',
    help: "load this module into the master before any fork, with node:cluster's primary API (e.g. @socket.io/cluster-adapter's setupPrimary())",
  },
};

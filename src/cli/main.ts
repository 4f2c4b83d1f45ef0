// The command line: `handoff <script> [options] [-- worker args]`.
// Exit codes: 0 after a clean shutdown; 1 when the master cannot go on (port
// in use, script missing, workers given up, a dirty shutdown); 2 for a wrong
// command line, which also prints the usage.

import { ctl } from '../control/ctl.js';
import { formatHostPort, formatUrl } from '../control/format.js';
import { isHandoffError, type HandoffErrorCode } from '../errors.js';
import { loadScheduler } from '../scheduler/from-file.js';
import { VERSION } from '../version.js';
import { parseCommandLine, usage } from './cli.js';
import { loadConfigFile } from './config-file.js';
import { createMaster, type Master } from '../primary/primary.js';
import { optionSpecs } from './option-specs.js';
import type { MasterOptions } from './options.js';

const usageErrors: ReadonlySet<HandoffErrorCode> = new Set([
  'ERR_HANDOFF_INVALID_OPTION',
  'ERR_HANDOFF_UNKNOWN_OPTION',
  'ERR_HANDOFF_MISSING_SCRIPT',
  'ERR_HANDOFF_UNKNOWN_SCHEDULER',
]);
/**
 * Also exit 2, but the usage would not help: the problem is inside the named
 * file (a config file, a scheduler module), or the choice needs a newer Node.
 */
const fileErrors: ReadonlySet<HandoffErrorCode> = new Set(['ERR_HANDOFF_INVALID_CONFIG', 'ERR_HANDOFF_INVALID_SCHEDULER', 'ERR_HANDOFF_UNSUPPORTED_NODE']);

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'ctl') return ctl(argv.slice(1)); // a worker script named ctl: handoff ./ctl
  let master: Master;
  try {
    const command = parseCommandLine(argv);
    if (command.kind === 'help') {
      process.stdout.write(`${usage()}\n`);
      return 0;
    }
    if (command.kind === 'version') {
      process.stdout.write(`handoff ${VERSION} (node ${process.version})\n`);
      return 0;
    }
    let options = command.options;
    if (command.configFile !== undefined) {
      // Flags on the command line win over the file; the file wins over the defaults.
      const fromFile = await loadConfigFile(command.configFile);
      const fromFlags = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined && value !== ''));
      options = { ...fromFile, ...fromFlags, script: options.script || fromFile.script || '' };
    }
    // The CLI always opens a control socket (the API only when asked): 'auto' is the default path.
    master = createMaster(await withScheduler({ ...options, control: options.control ?? 'auto' }));
  } catch (error) {
    return reportStartError(error);
  }
  return run(master);
}

function reportStartError(error: unknown): number {
  if (!isHandoffError(error)) throw error;
  process.stderr.write(`handoff: ${error.message}\n`);
  if (usageErrors.has(error.code)) {
    process.stderr.write(`\n${usage()}\n`);
    return 2;
  }
  return fileErrors.has(error.code) ? 2 : 1;
}

/** A scheduler module is imported before the master starts: import() is asynchronous, createMaster() is not. */
async function withScheduler(options: MasterOptions): Promise<MasterOptions> {
  const env = optionSpecs.scheduler.env;
  const spec = options.scheduler ?? ((env && process.env[env]) || undefined);
  return typeof spec === 'string' && spec.trim() !== '' ? { ...options, scheduler: await loadScheduler(spec.trim()) } : options;
}

/** What is served, truthfully: the master's address, or for an app that binds UDP only its UDP sockets. */
function readyLine(master: Master): string {
  const count = master.listeningWorkers.length;
  const workers = `${count} worker${count === 1 ? '' : 's'}, master pid ${process.pid}`;
  const status = master.status();
  if (status.noTcpServer) {
    const udp = (status.udp ?? []).map((socket) => formatUrl(socket.address, 'udp')).join(', ');
    return `listening on ${udp} (${workers}); the app serves UDP only: connections to ${formatHostPort(master.address)} are closed`;
  }
  const scheme = master.listeningWorkers.some((worker) => worker.tls) ? 'https' : 'http';
  return `listening on ${formatUrl(master.address, scheme)} (scheduler ${master.scheduler.name}, ${workers})`;
}

function run(master: Master): Promise<number> {
  master.once('ready', () => process.stdout.write(`handoff: ${readyLine(master)}\n`));

  const log = master.logger;
  // SIGTERM / SIGINT: graceful shutdown. A second SIGINT: stop now.
  let interrupts = 0;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGINT' && ++interrupts > 1) {
      log.log('warn', 'second SIGINT, stopping now');
      for (const worker of master.workers) worker.kill('SIGKILL');
      process.exit(130);
    }
    log.log('info', `${signal}, shutting down gracefully (${signal === 'SIGINT' ? 'press Ctrl-C again to stop now' : 'send SIGINT twice to stop now'})`);
    void master.close();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  // The gunicorn/nginx conventions: HUP or USR2 reload, TTIN/TTOU add or remove a worker.
  const reload = (signal: NodeJS.Signals): void => {
    log.log('info', `${signal}, rolling reload of ${master.workers.length} workers`);
    void master.reload();
  };
  process.on('SIGHUP', reload);
  process.on('SIGUSR2', reload);
  process.on('SIGTTIN', () => master.scale('+1'));
  process.on('SIGTTOU', () => master.scale('-1'));

  return new Promise((resolve) => master.once('close', resolve));
}

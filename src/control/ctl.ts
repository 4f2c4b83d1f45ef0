// `handoff ctl <command>`: the command line that talks to a running master
// over its control socket.
// Exit codes: 0 done; 1 failed (no master answers, or it refused or could not
// do it); 2 a wrong command line, which also prints the ctl usage.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { isHandoffError } from '../errors.js';
import { ControlClient, findMaster } from './client.js';
import { renderStatus } from './format.js';
import type { ControlErrorReply } from './protocol.js';
import { top } from './top.js';
import { parseCount } from '../units.js';

export function ctlUsage(): string {
  return [
    'Usage: handoff ctl <command> [options]',
    '',
    "Talks to a running master over its control socket.",
    '',
    'Commands:',
    '  status                 the master, and a table of its worker processes',
    '  top                    the same table, redrawn every second; q or Ctrl-C quits',
    '  reload                 rolling reload; returns once every worker is replaced',
    '  scale <n|+n|-n>        set the number of workers, or add or remove some',
    '  stop                   graceful shutdown; returns once the master has stopped',
    '  upgrade                replace the master itself by a new one started from what is',
    '                         on disk now, on the same sockets; returns once the old master',
    '                         has drained and exited (exit 0), or the upgrade was rolled',
    '                         back and the old master goes on serving (exit 1)',
    '',
    'Options:',
    '  --control <path>       the master\'s control socket (default: the one master',
    '                         running in $XDG_RUNTIME_DIR/handoff-<uid>/, or',
    '                         $TMPDIR/handoff-<uid>/ without XDG_RUNTIME_DIR)',
    '  --node <path>          upgrade: the node binary to run the new master on',
    '                         (default: node on the master\'s PATH)',
    '  --json                 print JSON: the status, or the reply',
    '  -h, --help             print this help',
    '',
    'A master started with `handoff <script>` listens on <that dir>/<master pid>.sock',
    '(mode 0600), or on its --control <path>; --control off starts it without one.',
    '',
    'Exit codes: 0 done; 1 no master answered, or it refused; 2 wrong command line.',
  ].join('\n');
}

type Parsed =
  | { kind: 'help' }
  | { kind: 'run'; command: 'status' | 'top' | 'reload' | 'stop' | 'scale' | 'upgrade'; workers: string; control: string | undefined; node: string | undefined; json: boolean; iterations: number };

class UsageError extends Error {}

function parse(argv: readonly string[]): Parsed {
  // "scale -1" would read as an unknown flag -1; take a signed count after "scale" out first.
  const args = [...argv];
  const at = args.indexOf('scale');
  const signed = at !== -1 && /^-\d+$/.test(args[at + 1] ?? '') ? args.splice(at + 1, 1)[0] : undefined;

  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        control: { type: 'string' },
        node: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        iterations: { type: 'string' }, // hidden: `top` stops after this many frames
      },
    });
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message)?.[1];
    throw new UsageError(unknown !== undefined ? `unknown option '${unknown}'` : (message.split('\n')[0] ?? message));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  const [command, ...rest] = positionals;
  if (command === undefined) throw new UsageError('no command given: status, top, reload, scale <n>, stop or upgrade');
  if (command !== 'status' && command !== 'top' && command !== 'reload' && command !== 'stop' && command !== 'scale' && command !== 'upgrade') {
    throw new UsageError(`unknown command '${command}': expected status, top, reload, scale <n>, stop or upgrade`);
  }
  if (values.node !== undefined && command !== 'upgrade') throw new UsageError('--node goes with upgrade only');
  if (values.node === '') throw new UsageError('--node needs a path');
  let workers = '';
  if (command === 'scale') {
    workers = signed ?? rest.shift() ?? '';
    if (parseCount(workers) === undefined) throw new UsageError(`scale ${workers === '' ? 'needs a count' : `'${workers}'`}: expected a number of workers, +N or -N`);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}' after ${command}`);
  const iterations = values.iterations === undefined ? 0 : Number(values.iterations);
  if (!Number.isSafeInteger(iterations) || iterations < 0) throw new UsageError(`--iterations '${values.iterations}': expected a whole number`);
  if (values.control === '') throw new UsageError('--control needs a path');
  // A relative --node is the caller's, not the master's: made absolute here.
  const node = values.node === undefined ? undefined : path.resolve(values.node);
  return { kind: 'run', command, workers, control: values.control, node, json: values.json === true, iterations };
}

export async function ctl(argv: readonly string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`handoff: ${error.message}\n\n${ctlUsage()}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${ctlUsage()}\n`);
    return 0;
  }
  try {
    const file = parsed.control === undefined ? await findMaster() : path.resolve(parsed.control);
    const client = await ControlClient.connect(file);
    try {
      return await run(parsed, client);
    } finally {
      client.close();
    }
  } catch (error) {
    if (!isHandoffError(error)) throw error;
    process.stderr.write(`handoff: ${error.message}\n`);
    return 1;
  }
}

async function run(options: Extract<Parsed, { kind: 'run' }>, client: ControlClient): Promise<number> {
  const out = (text: string): void => void process.stdout.write(`${text}\n`);
  const failed = (reply: ControlErrorReply): number => {
    if (options.json) out(JSON.stringify(reply, null, 2));
    process.stderr.write(`handoff: ${reply.error}\n`);
    return 1;
  };

  switch (options.command) {
    case 'status': {
      const reply = await client.request<'status'>({ command: 'status' }, 5000);
      if (!reply.ok) return failed(reply);
      out(options.json ? JSON.stringify(reply.status, null, 2) : renderStatus(reply.status));
      return 0;
    }
    case 'top':
      return top({ client, stdout: process.stdout, stdin: process.stdin, stderr: process.stderr, iterations: options.iterations });
    case 'reload': {
      const reply = await client.request<'reload'>({ command: 'reload' });
      if (!reply.ok) return failed(reply);
      out(options.json ? JSON.stringify(reply, null, 2) : `handoff: reload done: ${plural(reply.replaced, 'worker')} replaced`);
      return 0;
    }
    case 'scale': {
      const reply = await client.request<'scale'>({ command: 'scale', workers: options.workers }, 5000);
      if (!reply.ok) return failed(reply);
      const said = reply.workers === reply.previous ? `already at ${plural(reply.workers, 'worker')}` : `scaling from ${reply.previous} to ${plural(reply.workers, 'worker')}`;
      out(options.json ? JSON.stringify(reply, null, 2) : `handoff: ${said}`);
      return 0;
    }
    case 'stop': {
      const reply = await client.request<'stop'>({ command: 'stop' }, 5000);
      if (!reply.ok) return failed(reply);
      if (options.json) out(JSON.stringify(reply, null, 2));
      else out(`handoff: master ${reply.pid} is shutting down gracefully`);
      // The master closes the control socket last of all: the connection closing means it has stopped.
      await client.closed;
      if (!options.json) out(`handoff: master ${reply.pid} has stopped`);
      return 0;
    }
    case 'upgrade': {
      const reply = await client.request<'upgrade'>(options.node === undefined ? { command: 'upgrade' } : { command: 'upgrade', node: options.node });
      if (!reply.ok) return failed(reply);
      if (options.json) out(JSON.stringify(reply, null, 2));
      else out(`handoff: master ${reply.previous} handed over to master ${reply.pid} (node ${reply.node}); the old workers are draining`);
      // The old master closes this connection last of all, as it exits.
      await client.closed;
      if (!options.json) out(`handoff: master ${reply.previous} has drained and exited; master ${reply.pid} serves`);
      return 0;
    }
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

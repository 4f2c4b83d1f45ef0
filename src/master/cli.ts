// Turns argv into a command: run a master, print help, print the version.
// Flags are declared once, in options.ts; this file only adapts them to
// node:util parseArgs and words the errors.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HandoffError } from '../errors.js';
import { optionSpecs, type MasterOptions, type OptionSpec } from './options.js';

export type CliCommand =
  | { kind: 'run'; options: MasterOptions }
  | { kind: 'help' }
  | { kind: 'version' };

type ParseOptions = NonNullable<ParseArgsConfig['options']>;

const specsByFlag = new Map<string, [string, OptionSpec]>(Object.entries(optionSpecs).map(([key, spec]) => [spec.flag, [key, spec]]));

export function parseCommandLine(argv: readonly string[]): CliCommand {
  const options: ParseOptions = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const spec of Object.values(optionSpecs)) {
    options[spec.flag] = spec.short ? { type: spec.kind === 'boolean' ? 'boolean' : 'string', short: spec.short } : { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  }

  let parsed;
  try {
    parsed = parseArgs({ args: attachNegativeValues(argv), options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw new HandoffError('ERR_HANDOFF_UNKNOWN_OPTION', describeParseError(error));
  }
  const { values, tokens } = parsed;
  if (values['help']) return { kind: 'help' };
  if (values['version']) return { kind: 'version' };

  // Positionals before "--" name the worker script; everything after it is the worker's own argv.
  const terminator = tokens.findIndex((token) => token.kind === 'option-terminator');
  const before = tokens.filter((token, index) => token.kind === 'positional' && (terminator === -1 || index < terminator));
  const after = terminator === -1 ? [] : tokens.slice(terminator + 1).filter((token) => token.kind === 'positional');
  const scripts = before.map((token) => (token.kind === 'positional' ? token.value : ''));
  if (scripts.length === 0) {
    throw new HandoffError('ERR_HANDOFF_MISSING_SCRIPT', 'no worker script given: name the file to run, e.g. handoff examples/hello.js');
  }
  if (scripts.length > 1) {
    throw new HandoffError('ERR_HANDOFF_UNKNOWN_OPTION', `one worker script expected, got ${scripts.length} (${scripts.join(', ')}); put arguments for the worker after --`);
  }

  const run: Record<string, unknown> = { script: scripts[0], args: after.map((token) => (token.kind === 'positional' ? token.value : '')) };
  for (const [flag, value] of Object.entries(values)) {
    const entry = specsByFlag.get(flag);
    if (entry) run[entry[0]] = value;
  }
  return { kind: 'run', options: run as MasterOptions };
}

/** parseArgs refuses "--workers -1" as ambiguous; we want to reject -1 as a bad value instead. */
function attachNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    const spec = arg.startsWith('--') ? specsByFlag.get(arg.slice(2))?.[1] : undefined;
    if (spec && spec.kind !== 'boolean' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  return message.split('\n')[0] ?? message;
}

function placeholder(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'boolean':
      return '';
    case 'choice':
      return ` <${spec.choices?.join('|')}>`;
    case 'duration':
      return ' <time>';
    default:
      return ` <${{ count: 'n', port: 'port', size: 'size', string: 'text', scheduler: 'name|path' }[spec.kind]}>`;
  }
}

export function usage(): string {
  const sections: Record<OptionSpec['section'], string[]> = { server: [], lifecycle: [], operations: [], output: [] };
  for (const spec of Object.values(optionSpecs)) {
    const names = `${spec.short ? `-${spec.short}, ` : '    '}--${spec.flag}${placeholder(spec)}`;
    sections[spec.section].push(`  ${names.padEnd(32)} ${spec.help}`);
  }
  const titles: Record<OptionSpec['section'], string> = {
    server: 'Server',
    lifecycle: 'Worker lifecycle',
    operations: 'Operations',
    output: 'Output',
  };
  const blocks = (Object.keys(sections) as OptionSpec['section'][])
    .filter((section) => sections[section].length > 0)
    .map((section) => `${titles[section]}:\n${sections[section].join('\n')}`);
  return [
    'Usage: handoff <worker-script> [options] [-- args for the worker]',
    '',
    'Starts a master that owns the listening socket and hands connections to',
    'worker processes running <worker-script>.',
    '',
    ...blocks.flatMap((block) => [block, '']),
    'Other:',
    '  -h, --help                       print this help',
    '  -v, --version                    print the version',
  ].join('\n');
}

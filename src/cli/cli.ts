// Turns argv into a command: run a master, print help, print the version.
// Flags are declared once, in option-specs.ts; this file only adapts them to
// node:util parseArgs and words the errors.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage, HandoffError } from '../errors.js';
import { optionSpecs, type OptionSpec } from './option-specs.js';
import { defaultOptions, type MasterOptions } from './options.js';

export type CliCommand =
  /** `options.script` is '' when only a config file names it. */
  | { kind: 'run'; options: MasterOptions; configFile: string | undefined }
  | { kind: 'help' }
  | { kind: 'version' };

type ParseOptions = NonNullable<ParseArgsConfig['options']>;

const specsByFlag = new Map<string, [string, OptionSpec]>(Object.entries(optionSpecs).map(([key, spec]) => [spec.flag, [key, spec]]));

export function parseCommandLine(argv: readonly string[]): CliCommand {
  const options: ParseOptions = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
    config: { type: 'string' },
  };
  for (const spec of Object.values(optionSpecs)) {
    const type = spec.kind === 'boolean' ? 'boolean' : 'string';
    options[spec.flag] = spec.short ? { type, short: spec.short } : { type };
    if (spec.kind === 'boolean') options[`no-${spec.flag}`] = { type: 'boolean' };
  }

  let parsed;
  try {
    parsed = parseArgs({ args: normalize(argv), options, allowPositionals: true, strict: true, tokens: true });
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
  const configFile = values['config'] as string | undefined;
  if (scripts.length === 0 && configFile === undefined) {
    throw new HandoffError('ERR_HANDOFF_MISSING_SCRIPT', 'no worker script given: name the file to run, e.g. handoff examples/hello.js');
  }
  if (scripts.length > 1) {
    const watchHint = values['watch'] !== undefined ? ', and paths to watch in --watch=src,lib' : '';
    throw new HandoffError('ERR_HANDOFF_UNKNOWN_OPTION', `one worker script expected, got ${scripts.length} (${scripts.join(', ')}); put arguments for the worker after --${watchHint}`);
  }

  const run: Record<string, unknown> = { script: scripts[0] ?? '' };
  if (terminator !== -1) run['args'] = after.map((token) => (token.kind === 'positional' ? token.value : ''));
  for (const [flag, value] of Object.entries(values)) {
    const entry = specsByFlag.get(flag.replace(/^no-/, ''));
    if (entry) run[entry[0]] = flag.startsWith('no-') ? !value : value;
  }
  return { kind: 'run', options: run as MasterOptions, configFile };
}

/**
 * Two adjustments before parseArgs sees argv: "--workers -1" (which it
 * refuses as ambiguous) becomes "--workers=-1", to be rejected as a bad
 * value; and a bare "--watch", whose paths are optional, becomes "--watch="
 * (watch the script's folder).
 */
function normalize(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const spec = arg.startsWith('--') ? specsByFlag.get(arg.slice(2))?.[1] : undefined;
    if (spec?.flag === 'watch') {
      out.push('--watch=');
    } else if (spec && spec.kind !== 'boolean' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function describeParseError(error: unknown): string {
  const message = errorMessage(error);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  return message.split('\n')[0] ?? message;
}

function placeholder(spec: OptionSpec): string {
  if (spec.placeholder !== undefined) return ` <${spec.placeholder}>`;
  switch (spec.kind) {
    case 'boolean':
      return '';
    case 'choice':
      return ` <${spec.choices?.join('|')}>`;
    case 'list':
      return spec.flag === 'watch' ? '[=<paths>]' : ' <a,b>';
    default:
      return ` <${{ count: 'n', port: 'port', size: 'size', string: 'text', duration: 'time', signal: 'signal', scheduler: 'name|path' }[spec.kind]}>`;
  }
}

export function usage(): string {
  const sections: Record<OptionSpec['section'], string[]> = { server: [], lifecycle: [], operations: [], output: [] };
  const defaults = defaultOptions() as Record<string, unknown>;
  for (const [key, spec] of Object.entries(optionSpecs)) {
    const negated = spec.kind === 'boolean' && defaults[key] === true;
    const names = `${spec.short ? `-${spec.short}, ` : '    '}--${negated ? 'no-' : ''}${spec.flag}${placeholder(spec)}`;
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
    '       handoff ctl <status|top|reload|scale|stop|upgrade> [options]   (see handoff ctl --help)',
    '',
    'Starts a master that owns the listening socket and hands connections to',
    'worker processes running <worker-script>.',
    '',
    ...blocks.flatMap((block) => [block, '']),
    'Other:',
    '      --config <file>              read settings from a JSON file, or a .js/.mjs/.cjs module exporting an object;',
    '                                   flags on the command line win over it',
    '  -h, --help                       print this help',
    '  -v, --version                    print the version',
  ].join('\n');
}

// --config: the settings of a master, from a file.
//
//   { "script": "server.js", "workers": 4, "kill-timeout": "10s",
//     "args": ["--verbose"], "env": { "NODE_ENV": "production" } }
//
// Any flag is a key, by its flag name ("kill-timeout") or camelCase
// ("killTimeout"), with the same checks as on the command line. A .js, .mjs or
// .cjs file may export the object, or a function (async or not) returning
// it. Relative paths in it (script, watch, pid-file, control, primary, a scheduler
// module) are resolved from the file's folder. Flags given on the command
// line win over the file.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, errorMessage, HandoffError, InvalidOptionError } from '../errors.js';
import { isSchedulerPath } from '../scheduler/custom.js';
import { optionSpecs } from './option-specs.js';
import { convert, type MasterOptions, type SettingKey } from './options.js';

const extraKeys = ['script', 'args', 'env'] as const;
const pathKeys: ReadonlySet<string> = new Set(['script', 'pidFile', 'control', 'primary']);

export async function loadConfigFile(file: string): Promise<Partial<MasterOptions>> {
  const absolute = path.resolve(file);
  const shown = path.relative(process.cwd(), absolute) || absolute;
  const fail = (message: string): never => {
    throw new HandoffError('ERR_HANDOFF_INVALID_CONFIG', `${shown}: ${message}`);
  };
  if (!fs.existsSync(absolute)) fail('no such file');

  let raw: unknown;
  try {
    if (/\.(?:[cm]?js)$/.test(absolute)) {
      let exported = ((await import(pathToFileURL(absolute).href)) as { default?: unknown }).default;
      if (typeof exported === 'function') exported = await (exported as () => unknown)();
      raw = exported;
    } else {
      raw = JSON.parse(fs.readFileSync(absolute, 'utf8'));
    }
  } catch (error) {
    fail(`cannot read it: ${errorMessage(error)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`expected an object of settings, got ${asWritten(raw)}`);
  return checkSettings(raw as Record<string, unknown>, path.dirname(absolute), fail);
}

function checkSettings(raw: Record<string, unknown>, folder: string, fail: (message: string) => never): Partial<MasterOptions> {
  const keys = new Map<string, SettingKey>();
  for (const [key, spec] of Object.entries(optionSpecs) as Array<[SettingKey, (typeof optionSpecs)[SettingKey]]>) {
    keys.set(key, key);
    keys.set(spec.flag, key);
  }
  const settings: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name === 'script') {
      if (typeof value !== 'string' || value === '') fail(`script: expected the path of the worker script, got ${asWritten(value)}`);
      settings['script'] = path.resolve(folder, value as string);
    } else if (name === 'args') {
      if (!Array.isArray(value) || !value.every((arg) => typeof arg === 'string')) fail(`args: expected an array of strings, got ${asWritten(value)}`);
      settings['args'] = value;
    } else if (name === 'env') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`env: expected an object of strings, got ${asWritten(value)}`);
      for (const [variable, text] of Object.entries(value as object)) {
        if (typeof text !== 'string') fail(`env.${variable}: expected a string, got ${asWritten(text)}`);
      }
      settings['env'] = value;
    } else {
      const key = keys.get(name);
      if (key === undefined) fail(`unknown key '${name}'${suggest(name, [...keys.keys(), ...extraKeys])}`);
      const spec = optionSpecs[key as SettingKey];
      try {
        settings[key as string] = convert(spec, value);
      } catch (error) {
        if (error instanceof InvalidOptionError) fail(`${name}: expected ${error.expected}, got ${asWritten(value)}`);
        throw error;
      }
      if (pathKeys.has(key as string)) settings[key as string] = path.resolve(folder, settings[key as string] as string);
      if (key === 'watch') settings['watch'] = (settings['watch'] as string[]).map((entry) => path.resolve(folder, entry));
      if (key === 'scheduler' && isSchedulerPath(settings['scheduler'] as string)) settings['scheduler'] = path.resolve(folder, settings['scheduler'] as string);
    }
  }
  return settings as Partial<MasterOptions>;
}

/** A value as it would be written in the file. */
function asWritten(value: unknown): string {
  return describe(value, { missing: 'undefined', quoteStrings: false });
}

/** " (did you mean 'workers'?)" for a key one or two edits away from a real one. */
function suggest(name: string, known: string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

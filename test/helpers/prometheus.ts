// A strict reader of the Prometheus text format (version 0.0.4): it throws,
// naming the line, at anything Prometheus would refuse or that would mislead
// it -- a malformed name, label or value, a sample before its TYPE, a family
// split in two, a series given twice, histogram buckets that go down or
// disagree with _count. And promtool, where it is installed, for a second opinion.

import { execFileSync, spawnSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES: Record<Family['type'], readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: Family | undefined;
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, index) => {
    const where = `line ${index + 1}: ${JSON.stringify(line)}`;
    const open = (name: string): Family => {
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (current?.name === name) return current;
      if (current !== undefined) closed.add(current.name);
      if (closed.has(name)) throw new Error(`${where}: family ${name} appears in two places`);
      const family = families.get(name) ?? { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, family);
      current = family;
      return family;
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (meta === null) return; // a plain comment
      const family = open(meta[2] as string);
      if (meta[1] === 'HELP') {
        if (family.help !== undefined) throw new Error(`${where}: second HELP`);
        family.help = unescape(meta[3] ?? '', false, where);
      } else {
        if (family.samples.length > 0) throw new Error(`${where}: TYPE after samples`);
        const type = meta[3];
        if (type !== 'counter' && type !== 'gauge' && type !== 'histogram' && type !== 'summary' && type !== 'untyped') throw new Error(`${where}: bad type`);
        family.type = type;
      }
      return;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (match === null) throw new Error(`${where}: not a sample`);
    const sampleName = match[1] as string;
    const labels = parseLabels(match[3] ?? '', where);
    const value = parseValue(match[4] as string, where);
    const family = current !== undefined && SUFFIXES[current.type].some((suffix) => `${current?.name}${suffix}` === sampleName) ? current : open(sampleName);
    if (!SUFFIXES[family.type].some((suffix) => `${family.name}${suffix}` === sampleName)) throw new Error(`${where}: ${sampleName} does not belong to ${family.type} ${family.name}`);
    const key = `${sampleName}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: the same series twice`);
    seen.add(key);
    family.samples.push({ name: sampleName, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = /^([^=]+)="((?:[^"\\]|\\.)*)"(,?)/.exec(rest);
    if (match === null) throw new Error(`${where}: bad labels`);
    const name = match[1] as string;
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${where}: bad label name ${name}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = unescape(match[2] as string, true, where);
    rest = rest.slice(match[0].length);
    if (match[3] === '' && rest.length > 0) throw new Error(`${where}: bad labels`);
  }
  return labels;
}

function unescape(text: string, quoted: boolean, where: string): string {
  return text.replace(/\\(.)/g, (_, char: string) => {
    if (char === 'n') return '\n';
    if (char === '\\') return '\\';
    if (char === '"' && quoted) return '"';
    throw new Error(`${where}: bad escape \\${char}`);
  });
}

/** As Prometheus reads a value (Go's strconv.ParseFloat): NaN and Inf in any case -- prom-client writes "Nan". */
function parseValue(text: string, where: string): number {
  if (/^nan$/i.test(text)) return NaN;
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

/** Per label set (without le): buckets ascending by le, counts never going down, +Inf equal to _count. */
function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  const keyOf = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).filter(([name]) => name !== 'le').sort());
  for (const sample of family.samples) {
    const group = groups.get(keyOf(sample.labels)) ?? { buckets: [] };
    groups.set(keyOf(sample.labels), group);
    if (sample.name.endsWith('_bucket')) {
      const le = sample.labels['le'];
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      group.buckets.push([parseValue(le, family.name), sample.value]);
    } else if (sample.name.endsWith('_count')) group.count = sample.value;
  }
  for (const [key, group] of groups) {
    const last = group.buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
    group.buckets.forEach(([le, count], index) => {
      const previous = group.buckets[index - 1];
      if (previous !== undefined && (le <= previous[0] || count < previous[1])) throw new Error(`${family.name}${key}: buckets out of order or decreasing`);
    });
    if (group.count !== last[1]) throw new Error(`${family.name}${key}: +Inf bucket ${last[1]} != _count ${group.count}`);
  }
}

/** The value of one series, or undefined. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value)) return sample.value;
    }
  }
  return undefined;
}

/** The sum of every series of `name` (over all label sets). */
export function sumOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value)) sum += sample.value;
    }
  }
  return sum;
}

export const promtool: string | undefined = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

/** `promtool check metrics` on the text: its complaints, or '' when it has none (undefined: no promtool here). */
export function promtoolCheck(text: string): string | undefined {
  if (promtool === undefined) return undefined;
  const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  if (result.error) throw result.error;
  // promtool exits 1 for lint warnings too; any output is a complaint.
  return `${result.stdout}${result.stderr}`.trim();
}

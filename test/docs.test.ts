// The README's command-line reference is the real --help output.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { cli, root } from './helpers/process.js';

test('README shows the current --help (regenerate with: node scripts/readme-help.mjs)', () => {
  const help = execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /<!-- help:start[^\n]*\n```\n([\s\S]*?)```\n<!-- help:end -->/.exec(readme)?.[1];
  expect(block).toBe(help);
});

test('the custom scheduler example in docs/schedulers.md is the fixture the tests run', () => {
  const docs = fs.readFileSync(path.join(root, 'docs/schedulers.md'), 'utf8');
  const fixture = fs.readFileSync(path.join(root, 'test/fixtures/schedulers/two-choices.mjs'), 'utf8');
  const examples = [...docs.matchAll(/```js\n([\s\S]*?)```\n/g)].map((match) => match[1]);
  expect(examples).toContain(fixture);
  expect(fixture.split('\n').length).toBeLessThanOrEqual(25);
});

test('the file map in docs/architecture.md lists every folder and file under src/, and nothing else', () => {
  const docs = fs.readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
  const block = /<!-- files:start -->\n```\n([\s\S]*?)```\n<!-- files:end -->/.exec(docs)?.[1] ?? '';
  // Each line is a name indented two spaces per level below its folder's line.
  const listed: string[] = [];
  const folders: string[] = [];
  for (const line of block.split('\n').filter(Boolean)) {
    const depth = (line.length - line.trimStart().length) / 2;
    const name = line.trim().split(/\s+/)[0] as string;
    folders.length = depth;
    const entry = [...folders, name].join('');
    listed.push(entry);
    if (name.endsWith('/')) folders.push(name);
  }
  const walk = (dir: string): string[] =>
    fs
      .readdirSync(path.join(root, dir), { withFileTypes: true })
      .flatMap((entry) => (entry.isDirectory() ? [`${dir}${entry.name}/`, ...walk(`${dir}${entry.name}/`)] : [`${dir}${entry.name}`]));
  expect([...listed].sort()).toEqual(['src/', ...walk('src/')].sort());
});

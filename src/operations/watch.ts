// --watch: a rolling reload whenever files change, debounced by --watch-delay.
//
// Why chokidar and not fs.watch({ recursive: true }): on Linux, Node 20's
// recursive watch walks the whole tree at start, synchronously, and puts a
// watch on every file -- node_modules included, with no way to skip it.
// chokidar never descends into ignored folders, copes with editors that save
// by renaming a temporary file, and is what most of the ecosystem uses.

import path from 'node:path';
import { errorMessage, InvalidOptionError } from '../errors.js';
import type { Logger } from '../cli/log.js';
import fs from 'node:fs';

export interface WatchOptions {
  paths: string[];
  ignore: string[];
  delayMs: number;
}

export interface Watching {
  close(): Promise<void>;
}

/** Checks the paths now, so a typo fails at start; the watcher itself starts asynchronously. */
export function checkWatchPaths(paths: string[]): string[] {
  return paths.map((entry) => {
    const absolute = path.resolve(entry);
    if (!fs.existsSync(absolute)) throw new InvalidOptionError('watch', entry, 'paths that exist (comma-separated, e.g. --watch=src,lib)');
    return absolute;
  });
}

export async function startWatching(options: WatchOptions, logger: Logger, onChange: () => void): Promise<Watching> {
  const { watch } = await import('chokidar');
  const ignored = ignoreMatcher(options.ignore);
  const watcher = watch(options.paths, { ignoreInitial: true, ignored: (file) => ignored(file) });
  let timer: NodeJS.Timeout | undefined;
  let changed: string[] = [];
  watcher.on('all', (_event, file) => {
    changed.push(path.relative(process.cwd(), file) || file);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const first = changed[0];
      const more = changed.length > 1 ? ` and ${changed.length - 1} more` : '';
      changed = [];
      logger.log('info', `${first}${more} changed: reloading`);
      onChange();
    }, options.delayMs);
  });
  watcher.on('error', (error) => logger.log('warn', `--watch: ${errorMessage(error)}`));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}

/** A pattern without wildcards matches any path segment ("node_modules"); with * or ? it is a glob on each segment. */
function ignoreMatcher(patterns: string[]): (file: string) => boolean {
  const tests = patterns.map((pattern) => {
    if (!/[*?]/.test(pattern)) return (segment: string) => segment === pattern;
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return (segment: string) => regex.test(segment);
  });
  return (file) => file.split(path.sep).some((segment) => tests.some((test) => test(segment)));
}

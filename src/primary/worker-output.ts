// Cuts a worker's stdout or stderr into whole lines, so the master can write
// each one with its worker's prefix and never split or interleave them.

import type { Readable } from 'node:stream';

/** A line this long without a newline is passed on anyway, so a runaway writer cannot fill the master's memory. */
const MAX_LINE = 1024 * 1024;

export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (let newline = chunk.indexOf('\n'); newline !== -1; newline = chunk.indexOf('\n', start)) {
      onLine(partial + chunk.slice(start, newline));
      partial = '';
      start = newline + 1;
    }
    partial += chunk.slice(start);
    if (partial.length >= MAX_LINE) {
      onLine(partial);
      partial = '';
    }
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
    partial = '';
  });
}

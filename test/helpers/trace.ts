// Reading --trace output: lines with a monotonic timestamp in seconds.

export interface TraceLine {
  at: number;
  text: string;
}

export function traceLines(output: string): TraceLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('trace '))
    .map((line) => ({ at: Number(line.split(/\s+/)[1]), text: line }));
}

/** The first trace line matching `pattern`; throws if there is none. */
export function traceAt(output: string, pattern: RegExp): TraceLine {
  const line = traceLines(output).find((l) => pattern.test(l.text));
  if (!line) throw new Error(`no trace line matches ${pattern}\n${output}`);
  return line;
}

/** Index of the first output line matching `pattern` (-1 if none). */
export function lineIndex(output: string, pattern: RegExp): number {
  return output.split('\n').findIndex((line) => pattern.test(line));
}

// Parsing and formatting of the human units flags accept and status shows: durations ("5000", "500ms", "5s",
// "30m", "6h") and sizes ("300M", "1G", "512K", "1048576").
// Each parser returns undefined for nonsense; the caller names the flag.

const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** Milliseconds from "5000" (bare numbers are ms), "250ms", "5s", "1.5m", "6h", "1d". */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = durationUnits[(match[2] ?? 'ms').toLowerCase()];
  if (unit === undefined) return undefined;
  const ms = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Bytes from "1048576", "512K", "300M", "1G" (binary multiples, case-insensitive). */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = sizeUnits[(match[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${trim(ms / 1000)}s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)}m`;
  return `${trim(ms / 3_600_000)}h`;
}

/** The largest of G, M, K that `bytes` reaches, and the value in it (B below 1K). */
function inByteUnit(bytes: number): { value: number; unit: 'G' | 'M' | 'K' | 'B' } {
  if (bytes >= 1024 ** 3) return { value: bytes / 1024 ** 3, unit: 'G' };
  if (bytes >= 1024 ** 2) return { value: bytes / 1024 ** 2, unit: 'M' };
  if (bytes >= 1024) return { value: bytes / 1024, unit: 'K' };
  return { value: bytes, unit: 'B' };
}

/** As flags are written: 512K, 300M, 1.5G. */
export function formatSize(bytes: number): string {
  const { value, unit } = inByteUnit(bytes);
  return `${trim(value)}${unit}`;
}

/** As status shows memory: 512K, 45.2M, 1.3G; "-" before the first sample. */
export function formatRss(bytes: number): string {
  if (!(bytes > 0)) return '-';
  const { value, unit } = inByteUnit(bytes);
  return unit === 'G' || unit === 'M' ? `${value.toFixed(1)}${unit}` : `${Math.max(1, Math.round(bytes / 1024))}K`;
}

/** As status shows uptime: 42s, 3m12s, 2h05m, 3d04h; "-" for a worker that is not ready. */
export function formatUptime(ms: number): string {
  if (!(ms > 0)) return '-';
  const seconds = Math.floor(ms / 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${two(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${two(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${two(hours % 24)}h`;
}

/** A number of workers, absolute ("4") or relative ("+1", "-2"): the one parser of +N/-N. */
export function parseCount(text: string): { count: number; relative: boolean } | undefined {
  const match = /^([+-])?(\d+)$/.exec(text);
  if (!match) return undefined;
  return { count: Number(text), relative: match[1] !== undefined };
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

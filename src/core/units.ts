/**
 * @module core/units
 * Durations and data sizes as MOSN writes them, so a MOSN config reads the same here.
 * Durations follow Go's `time.ParseDuration` ("30s", "1m30s", "1.5h", "300us", "0");
 * a bare number is nanoseconds, as a Go `time.Duration` decoded from JSON. Sizes follow
 * the c2h5oh/datasize package MOSN uses ("10MB", "10 mb", "32K", "512"): binary units,
 * 1 KB = 1024 B, no fractions. Parsers throw a plain `Error` naming the bad input; the
 * config schema turns it into an issue with a JSON path. `MAX_TIMER_MS` is the longest
 * delay a Node timer honours: the config refuses longer durations.
 * This module depends on nothing.
 */

const NS_PER_MS = 1e6;

/**
 * The longest delay, in ms, that Node's timers honour: 2^31-1 ms, about 24.8 days
 * (formatDuration gives "596h31m23.647s"). A longer `setTimeout` fires after 1 ms, with
 * only a TimeoutOverflowWarning, so a longer duration in a config is an error.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Nanoseconds per Go duration unit (Go accepts both micro signs, U+00B5 and U+03BC). */
const DURATION_UNITS_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  '\u00b5s': 1e3,
  '\u03bcs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_DURATION_NS = 9223372036854775807;

/** One `<number><unit>` component: digits, an optional fraction, then a run of non-digits. */
const DURATION_COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]*)/;

/**
 * Parses a Go duration into milliseconds (a float: "300us" is 0.3).
 * A string follows `time.ParseDuration`: an optional sign, then one or more
 * `<decimal><unit>` parts with units ns, us (or µs), ms, s, m, h; "0" alone needs no unit.
 * A number is nanoseconds and must be an integer.
 * Throws an `Error` for anything else.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || Math.abs(value) > MAX_DURATION_NS) {
      throw new Error(`invalid duration ${value}: a number is nanoseconds and must be an integer`);
    }
    return value / NS_PER_MS;
  }
  if (typeof value !== 'string') {
    throw new Error(`invalid duration ${String(value)}: expected a string such as "30s" or a number of nanoseconds`);
  }
  let rest = value;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new Error(`invalid duration ${JSON.stringify(value)}: empty`);
  let totalNs = 0;
  while (rest !== '') {
    const m = DURATION_COMPONENT.exec(rest);
    const whole = m?.[1] ?? '';
    const fraction = m?.[2];
    const unit = m?.[3] ?? '';
    if (!m || (whole === '' && (fraction === undefined || fraction === ''))) {
      throw new Error(`invalid duration ${JSON.stringify(value)}: expected a number before ${JSON.stringify(rest)}`);
    }
    if (unit === '') {
      throw new Error(`invalid duration ${JSON.stringify(value)}: missing unit (use ns, us, ms, s, m or h)`);
    }
    const unitNs = DURATION_UNITS_NS[unit];
    if (unitNs === undefined) {
      throw new Error(`invalid duration ${JSON.stringify(value)}: unknown unit ${JSON.stringify(unit)} (use ns, us, ms, s, m or h)`);
    }
    // Whole part exact, fraction truncated to the nanosecond, as Go does.
    totalNs += Number(whole || '0') * unitNs + Math.trunc(Number(`0.${fraction || '0'}`) * unitNs);
    if (totalNs > MAX_DURATION_NS) {
      throw new Error(`invalid duration ${JSON.stringify(value)}: too large (Go durations stop near 2562047h)`);
    }
    rest = rest.slice(m[0].length);
  }
  return (sign * totalNs) / NS_PER_MS;
}

/**
 * Formats milliseconds as Go's `Duration.String()` does: "1m30s", "500ms", "1h0m0s",
 * "1.5s", "300µs", "0s". `parseDuration(formatDuration(ms))` gives `ms` back (to the ns).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new Error(`cannot format duration ${ms}`);
  let ns = BigInt(Math.round(ms * NS_PER_MS));
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  if (ns < 0n) ns = -ns;
  if (ns < 1_000n) return `${sign}${ns}ns`;
  if (ns < 1_000_000n) return `${sign}${withFraction(ns, 1_000n)}\u00b5s`;
  if (ns < 1_000_000_000n) return `${sign}${withFraction(ns, 1_000_000n)}ms`;
  const totalSeconds = ns / 1_000_000_000n;
  const hours = totalSeconds / 3600n;
  const minutes = (totalSeconds / 60n) % 60n;
  const seconds = withFraction((totalSeconds % 60n) * 1_000_000_000n + (ns % 1_000_000_000n), 1_000_000_000n);
  let out = sign;
  if (hours > 0n) out += `${hours}h`;
  if (hours > 0n || minutes > 0n) out += `${minutes}m`;
  return `${out}${seconds}s`;
}

/** `value / unit` as a decimal without trailing zeros: (1500n, 1000n) -> "1.5". */
function withFraction(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rest = value % unit;
  if (rest === 0n) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Bytes per datasize unit name (lower-cased), as c2h5oh/datasize spells them. */
const SIZE_UNITS: Readonly<Record<string, number>> = (() => {
  const table: Record<string, number> = { '': 1, b: 1, byte: 1, bytes: 1 };
  const names: ReadonlyArray<readonly string[]> = [
    ['k', 'kb', 'kilo', 'kilobyte', 'kilobytes'],
    ['m', 'mb', 'mega', 'megabyte', 'megabytes'],
    ['g', 'gb', 'giga', 'gigabyte', 'gigabytes'],
    ['t', 'tb', 'tera', 'terabyte', 'terabytes'],
    ['p', 'pb', 'peta', 'petabyte', 'petabytes'],
    ['e', 'eb', 'exa', 'exabyte', 'exabytes'],
  ];
  names.forEach((group, i) => {
    for (const name of group) table[name] = 1024 ** (i + 1);
  });
  return table;
})();

/** datasize reads a capital prefix with a small "b" as bits, and refuses it. */
const BIT_UNITS = new Set(['Kb', 'Mb', 'Gb', 'Tb', 'Pb', 'Eb']);

/**
 * Parses a data size into bytes: digits, optional spaces, then a unit (B, K/KB, M/MB,
 * G/GB, T/TB, P/PB, E/EB, any case; none means bytes). Binary: "1KB" is 1024.
 * A number is bytes and must be a non-negative integer. "10Mb" (bits) is refused, as
 * datasize does. Throws an `Error` for anything else.
 */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error(`invalid size ${value}: a number is bytes and must be a non-negative integer`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new Error(`invalid size ${String(value)}: expected a string such as "10MB" or a number of bytes`);
  }
  const m = /^(\d+)\s*(.*)$/.exec(value.trim());
  if (!m) throw new Error(`invalid size ${JSON.stringify(value)}: expected digits then a unit, such as "10MB"`);
  const digits = m[1] ?? '';
  const unit = (m[2] ?? '').trim();
  if (BIT_UNITS.has(unit)) {
    throw new Error(`invalid size ${JSON.stringify(value)}: "${unit}" means bits; write "${unit.toUpperCase()}" for bytes`);
  }
  const multiplier = SIZE_UNITS[unit.toLowerCase()];
  if (multiplier === undefined) {
    throw new Error(`invalid size ${JSON.stringify(value)}: unknown unit ${JSON.stringify(unit)} (use B, KB, MB, GB, TB, PB or EB)`);
  }
  const bytes = Number(digits) * multiplier;
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid size ${JSON.stringify(value)}: too large`);
  return bytes;
}

/** Formats bytes as datasize's `ByteSize.String()` does: the largest exact unit ("10MB", "1536B"). */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`cannot format size ${bytes}`);
  if (bytes === 0) return '0B';
  const units = ['EB', 'PB', 'TB', 'GB', 'MB', 'KB'] as const;
  for (const [i, unit] of units.entries()) {
    const size = 1024 ** (units.length - i);
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

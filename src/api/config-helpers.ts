/**
 * @module api/config-helpers
 * Small helpers for filter factories that read MOSN-style JSON configs the way MOSN
 * (Go's encoding/json) does: keys match case-insensitively, durations are Go strings.
 * Every failure throws FilterConfigError naming the JSON path and the expected shape.
 */
import { FilterConfigError } from './filter-factory.ts';
import { parseDuration } from '../core/units.ts';
import { foldKey, goKeyLookup } from '../core/go-json.ts';

/** A plain object from config, or throws. `undefined`/`null` give `{}`. */
export function configObject(raw: unknown, path: string): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new FilterConfigError(path, 'an object');
  return raw as Record<string, unknown>;
}

/**
 * Reads `key` from `obj` as Go's encoding/json (and so MOSN) would: keys match ignoring
 * case, the last matching key wins, a `null` keeps the earlier value. Undefined when absent.
 */
export function configValue(obj: Record<string, unknown>, key: string): unknown {
  return goKeyLookup(obj, key);
}

/** Keys of `obj` that match none of `known` (ignoring case, as Go does), for unknown-key warnings. */
export function unknownKeys(obj: Record<string, unknown>, known: readonly string[]): string[] {
  const set = new Set(known.map(foldKey));
  return Object.keys(obj).filter((k) => !set.has(foldKey(k)));
}

export function optionalString(obj: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = configValue(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new FilterConfigError(`${path}.${key}`, 'a string');
  return v;
}

export function optionalInteger(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  range: { min?: number; max?: number } = {},
): number | undefined {
  const v = configValue(obj, key);
  if (v === undefined || v === null) return undefined;
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FilterConfigError(`${path}.${key}`, `an integer in ${min}..${max}`);
  }
  return v;
}

/** A Go duration string ("30s", "1m30s") or a number of nanoseconds (Go's JSON rule), in ms. */
export function optionalDurationMs(obj: Record<string, unknown>, key: string, path: string): number | undefined {
  const v = configValue(obj, key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new FilterConfigError(`${path}.${key}`, 'a duration like "30s" or "1m30s"');
  }
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch {
    throw new FilterConfigError(`${path}.${key}`, `a duration like "30s" or "1m30s", got ${JSON.stringify(v)}`);
  }
  // Node timers take 0..2^31-1 ms; beyond that they would fire at once.
  if (ms < 0 || ms > MAX_TIMER_MS) {
    throw new FilterConfigError(`${path}.${key}`, `a duration from 0s to 596h31m23s, got ${JSON.stringify(v)}`);
  }
  return ms;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export function optionalArray(obj: Record<string, unknown>, key: string, path: string): unknown[] {
  const v = configValue(obj, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new FilterConfigError(`${path}.${key}`, 'an array');
  return v;
}

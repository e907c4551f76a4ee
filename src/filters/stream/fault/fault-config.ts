/**
 * @module filters/stream/fault/fault-config
 * Parses the `fault` stream filter config in MOSN's shape (v2.StreamFaultInject), used both
 * for the `stream_filters` entry and for a route's or virtual host's
 * `per_filter_config.fault`:
 *
 *   { "delay": { "percentage": 50, "fixed_delay": "200ms" },
 *     "abort": { "percentage": 10, "status": 503 },
 *     "upstream_cluster": "backend",
 *     "headers": [ { "name": "x-fault", "value": "on", "regex": false } ] }
 *
 * Every part is optional: no `delay` (or a zero percentage or duration) injects no delay,
 * no `abort` (or a zero percentage) no abort, no `upstream_cluster` and no `headers` match
 * every request. Where mosnode is stricter than MOSN, on purpose: percentages above 100, an
 * abort without a valid HTTP status, an empty header name and a regex Go would refuse are
 * config errors (MOSN accepts them and then injects nonsense or silently drops the matcher,
 * which makes the fault apply to more requests than asked).
 * Depends on api/ and the pure router/re2 translator (header regexes mean what Go means).
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import {
  configObject,
  configValue,
  optionalArray,
  optionalDurationMs,
  optionalInteger,
  optionalString,
  unknownKeys,
} from '../../../api/config-helpers.ts';
import { compileRe2 } from '../../../router/re2.ts';

/**
 * One `headers[]` matcher: the request header `name` must be present and equal `value`
 * (or, with `regex`, contain a match of it, as Go's `MatchString`). The name "method"
 * matches the request method exactly, as MOSN's HTTP header matcher does.
 */
export interface FaultHeaderMatcher {
  /** Lower-case header name; "" when `method`. */
  readonly name: string;
  readonly method: boolean;
  readonly value: string;
  readonly regex: RegExp | undefined;
}

/** What to inject, and into which requests. */
export interface FaultRule {
  /** 0..100: share of matching requests delayed. */
  readonly delayPercent: number;
  /** The delay in ms (may be fractional: "300us" is 0.3). */
  readonly delayMs: number;
  /** 0..100: share of matching requests aborted (after the delay, if both apply). */
  readonly abortPercent: number;
  /** The status an abort answers with (200..599); 0 when no abort is configured. */
  readonly abortStatus: number;
  /** Only requests routed to this cluster, when set. */
  readonly upstreamCluster: string | undefined;
  /** All must match (AND); none means every request. */
  readonly headers: readonly FaultHeaderMatcher[];
}

const CONFIG_KEYS = ['delay', 'abort', 'upstream_cluster', 'headers'] as const;
const DELAY_KEYS = ['percentage', 'fixed_delay'] as const;
const ABORT_KEYS = ['percentage', 'status'] as const;
const HEADER_KEYS = ['name', 'value', 'regex'] as const;
/** Keys of the network filter `fault_inject` (v2.FaultInjectConfig), often put here by mistake. */
const NETWORK_FAULT_KEYS = new Set(['delay_percent', 'delay_duration']);

/**
 * Parses one `fault` config at `path`. `clusterKnown` lets a misspelt `upstream_cluster`
 * be reported (a warning: clusters may also arrive later, dynamically).
 */
export function parseFaultRule(
  raw: unknown,
  path: string,
  warn: (message: string) => void = () => {},
  clusterKnown: (name: string) => boolean = () => true,
): FaultRule {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) {
    const hint = NETWORK_FAULT_KEYS.has(key.toLowerCase())
      ? ' (that is a key of the network filter "fault_inject"; the stream filter "fault" takes delay{percentage, fixed_delay} and abort{percentage, status})'
      : '';
    warn(`${path}.${key}: unknown key, ignored${hint}`);
  }

  const delayPath = `${path}.delay`;
  const delay = configObject(configValue(obj, 'delay'), delayPath);
  for (const key of unknownKeys(delay, DELAY_KEYS)) warn(`${delayPath}.${key}: unknown key, ignored`);
  const delayPercent = optionalInteger(delay, 'percentage', delayPath, { min: 0, max: 100 }) ?? 0;
  const delayMs = optionalDurationMs(delay, 'fixed_delay', delayPath) ?? 0;
  if (delayPercent > 0 && delayMs === 0) warn(`${delayPath}.fixed_delay: not set (or 0): no delay is injected although percentage is ${delayPercent}`);

  const abortPath = `${path}.abort`;
  const abort = configObject(configValue(obj, 'abort'), abortPath);
  for (const key of unknownKeys(abort, ABORT_KEYS)) warn(`${abortPath}.${key}: unknown key, ignored`);
  const abortPercent = optionalInteger(abort, 'percentage', abortPath, { min: 0, max: 100 }) ?? 0;
  const status = configValue(abort, 'status');
  let abortStatus = 0;
  if (status !== undefined && status !== null && status !== 0) {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
      throw new FilterConfigError(`${abortPath}.status`, `an HTTP status in 200..599, got ${JSON.stringify(status)}`);
    }
    abortStatus = status;
  }
  if (abortPercent > 0 && abortStatus === 0) {
    throw new FilterConfigError(`${abortPath}.status`, `an HTTP status in 200..599 (abort.percentage is ${abortPercent})`);
  }

  const upstreamCluster = optionalString(obj, 'upstream_cluster', path) || undefined;
  if (upstreamCluster !== undefined && !clusterKnown(upstreamCluster)) {
    warn(`${path}.upstream_cluster: no cluster "${upstreamCluster}" in cluster_manager (yet): the fault applies only once a route sends requests to it`);
  }

  const headers = optionalArray(obj, 'headers', path).map((item, i) => parseHeaderMatcher(item, `${path}.headers[${i}]`, warn));

  return { delayPercent, delayMs, abortPercent, abortStatus, upstreamCluster, headers };
}

function parseHeaderMatcher(item: unknown, path: string, warn: (message: string) => void): FaultHeaderMatcher {
  const h = configObject(item, path);
  for (const key of unknownKeys(h, HEADER_KEYS)) warn(`${path}.${key}: unknown key, ignored`);
  const name = optionalString(h, 'name', path);
  if (name === undefined || name === '') throw new FilterConfigError(`${path}.name`, 'a header name');
  const value = optionalString(h, 'value', path) ?? '';
  const regexFlag = configValue(h, 'regex');
  if (regexFlag !== undefined && regexFlag !== null && typeof regexFlag !== 'boolean') {
    throw new FilterConfigError(`${path}.regex`, 'true or false');
  }
  const method = name === 'method';
  let regex: RegExp | undefined;
  // MOSN compares the method exactly, whatever `regex` says.
  if (regexFlag === true && !method) {
    try {
      regex = compileRe2(value).regex;
    } catch (err) {
      throw new FilterConfigError(`${path}.value`, `a Go (RE2) regular expression, got ${JSON.stringify(value)}: ${(err as Error).message}`);
    }
  }
  return { name: method ? '' : name.toLowerCase(), method, value, regex };
}

/** True if every matcher of `rule` matches the request (and so when there are none). */
export function headersMatch(rule: FaultRule, request: { method: string; headers: { get(name: string): string | undefined } }): boolean {
  for (const m of rule.headers) {
    const value = m.method ? request.method : request.headers.get(m.name);
    if (value === undefined) return false;
    if (m.regex !== undefined ? !m.regex.test(value) : value !== m.value) return false;
  }
  return true;
}

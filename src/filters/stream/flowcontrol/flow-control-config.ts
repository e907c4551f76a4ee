/**
 * @module filters/stream/flowcontrol/flow-control-config
 * Parses the `flowControlFilter` config in MOSN's shape (pkg/filter/stream/flowcontrol
 * Config, whose `rules` are sentinel-golang v1 flow rules):
 *
 *   { "global_switch": true, "monitor": false, "limit_key_type": "PATH",
 *     "action": { "status": 429, "body": "slow down" },
 *     "rules": [ { "resource": "/api", "threshold": 100, "statIntervalInMs": 1000,
 *                  "controlBehavior": 0, "maxQueueingTimeMs": 0 } ] }
 *
 * Defaults as MOSN: `global_switch` false (the filter lets everything through: a warning
 * says so when rules are given), `limit_key_type` "PATH", `action.body` "current request
 * is limited". One deliberate exception: `action.status` defaults to 429 Too Many Requests
 * (RFC 6585, what clients and SDKs retry on), where MOSN answers its non-standard 509
 * (api.LimitExceededCode); set `"action": {"status": 509}` for MOSN's answer. 0 also means
 * the default (MOSN would answer 200). Keys MOSN reads but that change nothing here (`app_name`,
 * `log_path`, `direction`: sentinel's own bookkeeping) are accepted silently.
 *
 * Stricter than MOSN, on purpose, because each of these makes MOSN enforce something other
 * than what the config says, silently: a rule without `resource` or `threshold` (sentinel
 * drops the first and reads the second as 0, which blocks everything; the pre-1.0 name
 * `count` is ignored by MOSN's sentinel), a warm-up or associated-resource rule (not
 * implemented here, so refused rather than enforced differently), and an `action.status`
 * outside 200..599 are config errors.
 * Depends on api/ only.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalArray, optionalInteger, optionalString, unknownKeys } from '../../../api/config-helpers.ts';

/** What names the resource of a request (MOSN's api.ProtocolResourceName values it accepts). */
export type LimitKeyType = 'PATH' | 'URI' | 'ARG';

/** One sentinel flow rule, normalized. */
export interface FlowRule {
  readonly resource: string;
  /** Requests let through per `intervalMs` (per second with the default interval). */
  readonly threshold: number;
  /** sentinel's statIntervalInMs; 0 in config means 1000. */
  readonly intervalMs: number;
  /** sentinel's controlBehavior: 0 Reject (count in a sliding window), 1 Throttling (pace). */
  readonly behavior: 'Reject' | 'Throttling';
  /** Throttling only: the longest a request may be held to keep the pace, ms; 0 = never held. */
  readonly maxQueueingTimeMs: number;
}

export interface FlowControlConfig {
  /** `global_switch`: false = the filter does nothing. */
  readonly enabled: boolean;
  /** `monitor`: count what would be limited, limit nothing. */
  readonly monitor: boolean;
  readonly keyType: LimitKeyType;
  /** `action.status`: the answer to a limited request. */
  readonly status: number;
  /** `action.body`. */
  readonly body: string;
  readonly rules: readonly FlowRule[];
}

/** 429 Too Many Requests; MOSN's default is 509 (api.LimitExceededCode), see the module comment. */
export const DEFAULT_LIMIT_STATUS = 429;
/** MOSN's defaultResponse. */
export const DEFAULT_LIMIT_BODY = 'current request is limited';
const DEFAULT_INTERVAL_MS = 1000;
/** Node timers hold at most 2^31-1 ms; a throttled request waits on one. */
const MAX_QUEUEING_MS = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

const CONFIG_KEYS = ['app_name', 'callback_name', 'log_path', 'global_switch', 'monitor', 'limit_key_type', 'action', 'rules', 'dynamic_data_resources', 'direction'];
const ACTION_KEYS = ['status', 'body'];
/** sentinel-golang v1 flow.Rule keys, then pre-1.0 keys that MOSN's sample configs still carry. */
const RULE_KEYS = [
  'id', 'resource', 'tokenCalculateStrategy', 'controlBehavior', 'threshold', 'relationStrategy', 'refResource',
  'maxQueueingTimeMs', 'warmUpPeriodSec', 'warmUpColdFactor', 'statIntervalInMs', 'adaptiveConfigName',
  'limitApp', 'grade', 'strategy', 'count',
];
const KEY_TYPES: readonly string[] = ['PATH', 'URI', 'ARG'];

/** Parses one `flowControlFilter` config at `path`; throws FilterConfigError, warns on what it ignores. */
export function parseFlowControlConfig(raw: unknown, path: string, warn: (message: string) => void = () => {}): FlowControlConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) warn(`${path}.${key}: unknown flowControlFilter key, ignored`);
  for (const key of ['app_name', 'log_path', 'direction']) optionalString(obj, key, path);
  const callback = optionalString(obj, 'callback_name', path);
  if (callback !== undefined && callback !== '') {
    warn(`${path}.callback_name: custom flow control callbacks are not supported; the default behaviour applies (as MOSN does for an unregistered name)`);
  }
  if (optionalArray(obj, 'dynamic_data_resources', path).length > 0) {
    warn(`${path}.dynamic_data_resources: rules from data sources (nacos) are not loaded; only "rules" apply`);
  }
  const enabled = optionalBoolean(obj, 'global_switch', path) ?? false;
  const monitor = optionalBoolean(obj, 'monitor', path) ?? false;
  const keyType = optionalString(obj, 'limit_key_type', path) ?? 'PATH';
  if (!KEY_TYPES.includes(keyType)) throw new FilterConfigError(`${path}.limit_key_type`, '"PATH", "URI" or "ARG"');

  const actionPath = `${path}.action`;
  const action = configObject(configValue(obj, 'action'), actionPath);
  for (const key of unknownKeys(action, ACTION_KEYS)) warn(`${actionPath}.${key}: unknown action key, ignored`);
  const status = configValue(action, 'status') ?? 0;
  if (typeof status !== 'number' || !(status === 0 || (Number.isInteger(status) && status >= 200 && status <= 599))) {
    throw new FilterConfigError(`${actionPath}.status`, `an HTTP status from 200 to 599 (0 or absent: ${DEFAULT_LIMIT_STATUS})`);
  }
  const body = optionalString(action, 'body', actionPath) ?? DEFAULT_LIMIT_BODY;

  const rules = optionalArray(obj, 'rules', path).map((r, i) => parseRule(r, `${path}.rules[${i}]`, warn));
  if (!enabled && rules.length > 0) warn(`${path}.global_switch: not true, so these rules are not enforced (MOSN's default is false)`);
  return { enabled, monitor, keyType: keyType as LimitKeyType, status: status === 0 ? DEFAULT_LIMIT_STATUS : status, body, rules };
}

function parseRule(raw: unknown, path: string, warn: (message: string) => void): FlowRule {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FilterConfigError(path, 'a flow rule object');
  const obj = raw as Record<string, unknown>;
  for (const key of unknownKeys(obj, RULE_KEYS)) warn(`${path}.${key}: unknown flow rule key, ignored`);

  const resource = optionalString(obj, 'resource', path);
  if (resource === undefined || resource === '') throw new FilterConfigError(`${path}.resource`, 'a non-empty string (the PATH, URI or ARG value to limit)');
  const threshold = configValue(obj, 'threshold');
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0) {
    const hint = configValue(obj, 'count') !== undefined ? ' ("count" is the pre-1.0 sentinel name, which MOSN ignores)' : '';
    throw new FilterConfigError(`${path}.threshold`, `a number >= 0: requests per statIntervalInMs${hint}`);
  }

  const strategy = optionalInteger(obj, 'tokenCalculateStrategy', path, { min: 0, max: 1 }) ?? 0;
  if (strategy !== 0) throw new FilterConfigError(`${path}.tokenCalculateStrategy`, '0 (Direct); 1 (WarmUp) is not supported by mosnode');
  const relation = optionalInteger(obj, 'relationStrategy', path, { min: 0, max: 1 }) ?? 0;
  if (relation !== 0) throw new FilterConfigError(`${path}.relationStrategy`, '0 (CurrentResource); 1 (AssociatedResource) is not supported by mosnode');
  const behavior = optionalInteger(obj, 'controlBehavior', path, { min: 0, max: 1 }) ?? 0;
  const maxQueueingTimeMs = optionalInteger(obj, 'maxQueueingTimeMs', path, { min: 0, max: MAX_QUEUEING_MS }) ?? 0;
  const intervalMs = optionalInteger(obj, 'statIntervalInMs', path, { min: 0, max: UINT32_MAX }) || DEFAULT_INTERVAL_MS;
  optionalString(obj, 'id', path);
  optionalString(obj, 'refResource', path);
  optionalString(obj, 'adaptiveConfigName', path);
  optionalInteger(obj, 'warmUpPeriodSec', path, { min: 0, max: UINT32_MAX });
  optionalInteger(obj, 'warmUpColdFactor', path, { min: 0, max: UINT32_MAX });

  // Pre-1.0 sentinel keys: MOSN's sentinel ignores them; say so when they ask for something else.
  const grade = configValue(obj, 'grade');
  if (grade !== undefined && grade !== null && grade !== 1) {
    warn(`${path}.grade: ignored, as MOSN's sentinel-golang does; the rule limits requests per statIntervalInMs (grade 1, QPS)`);
  }
  const legacyStrategy = configValue(obj, 'strategy');
  if (legacyStrategy !== undefined && legacyStrategy !== null && legacyStrategy !== 0) warn(`${path}.strategy: ignored (pre-1.0 sentinel key); use relationStrategy`);
  if (configValue(obj, 'count') !== undefined) warn(`${path}.count: ignored (pre-1.0 sentinel key); threshold applies`);
  const limitApp = configValue(obj, 'limitApp');
  if (typeof limitApp === 'string' && limitApp !== '' && limitApp !== 'default') warn(`${path}.limitApp: ignored (pre-1.0 sentinel key); the rule applies to every caller`);

  return { resource, threshold, intervalMs, behavior: behavior === 1 ? 'Throttling' : 'Reject', maxQueueingTimeMs };
}

function optionalBoolean(obj: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const v = configValue(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new FilterConfigError(`${path}.${key}`, 'true or false');
  return v;
}

/**
 * @module filters/stream/mirror/mirror-config
 * Parses the `mirror` stream filter config in MOSN's shape (pkg/filter/stream/mirror):
 *
 *   { "amplification": 3, "broadcast": false, "max_inflight": 1024 }
 *
 * - `amplification` (default 1): copies sent for each mirrored request.
 * - `broadcast` (default false): one copy to every healthy host of the mirror cluster
 *   instead (`amplification` is then unused).
 * - `max_inflight` (mosnode's, default 1024): copies of this filter entry that may be
 *   unanswered at once; beyond it copies are dropped and counted, never queued.
 *
 * Stricter than MOSN, on purpose: MOSN silently reads a non-number, zero or negative
 * `amplification` as 1 and truncates a fraction, and panics on a non-boolean `broadcast`;
 * here each is a config error. `amplification` is capped at 1000 (each copy is sent on the
 * request's own turn of the event loop).
 * Depends on api/ only.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalInteger, unknownKeys } from '../../../api/config-helpers.ts';

export interface MirrorConfig {
  readonly amplification: number;
  readonly broadcast: boolean;
  readonly maxInflight: number;
}

export const MAX_AMPLIFICATION = 1000;
export const DEFAULT_MAX_INFLIGHT = 1024;
const KEYS = ['amplification', 'broadcast', 'max_inflight'];

export function parseMirrorConfig(raw: unknown, path: string, warn: (message: string) => void = () => {}): MirrorConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, KEYS)) warn(`${path}.${key}: unknown mirror key, ignored`);
  const amplification = optionalInteger(obj, 'amplification', path, { min: 1, max: MAX_AMPLIFICATION }) ?? 1;
  const broadcast = configValue(obj, 'broadcast');
  if (broadcast !== undefined && broadcast !== null && typeof broadcast !== 'boolean') {
    throw new FilterConfigError(`${path}.broadcast`, 'true or false');
  }
  if (broadcast === true && configValue(obj, 'amplification') !== undefined) {
    warn(`${path}.amplification: unused with broadcast (one copy per healthy host)`);
  }
  const maxInflight = optionalInteger(obj, 'max_inflight', path, { min: 1, max: 1_000_000 }) ?? DEFAULT_MAX_INFLIGHT;
  return { amplification, broadcast: broadcast === true, maxInflight };
}

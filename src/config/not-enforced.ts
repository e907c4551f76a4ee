/**
 * @module config/not-enforced
 * MOSN settings that mosnode accepts (validates, keeps in the typed config and in
 * config_dump) but does not act on yet. When a config sets one, the loader warns once per
 * occurrence, naming the JSON path: "<path>: accepted but not enforced by mosnode yet".
 * A setting left at MOSN's default (or at Go's zero value, which MOSN reads as "not set")
 * draws no warning, so MOSN's own example configs stay quiet where they write defaults.
 *
 * When a feature lands, delete its line from NOT_ENFORCED_YET (and its test).
 * Runs on the canonical document (keys canonical, values not yet validated); a value of
 * the wrong type is left to the schema. Depends on core/units and config/schema (DEFAULTS).
 */
import { parseDuration } from '../core/units.ts';
import type { PathSegment } from './config-error.ts';
import { DEFAULTS } from './schema.ts';

/** Where a setting lives in the document. */
type Scope = 'top' | 'metrics' | 'server' | 'listener' | 'cluster' | 'circuit_breaker' | 'virtual_host' | 'route' | 'route_match' | 'route_action';

interface NotEnforced {
  scope: Scope;
  key: string;
  /** True when the config sets it to something mosnode would have to act on. */
  isSet: (value: unknown) => boolean;
}

/** Set to something other than Go's zero value ("", 0, false, [], {}, absent). */
function notEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '' || value === 0) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Set, and not to `fallback` (MOSN's default, which mosnode applies anyway). */
const differsFrom =
  (...fallbacks: unknown[]) =>
  (value: unknown): boolean =>
    notEmpty(value) && !fallbacks.includes(value);

/** A duration other than zero (Go's zero value, "not set"); one that does not parse is left to the schema. */
function nonZeroDuration(value: unknown): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  try {
    return parseDuration(value) !== 0;
  } catch {
    return false;
  }
}

/** Accepted but not enforced yet: one line per MOSN setting. Delete the line when the feature lands. */
export const NOT_ENFORCED_YET: readonly NotEnforced[] = [
  // cluster_manager.clusters[]
  { scope: 'cluster', key: 'health_check', isSet: notEmpty },
  { scope: 'cluster', key: 'conn_buffer_limit_bytes', isSet: differsFrom(DEFAULTS.bufferLimitBytes) },
  { scope: 'cluster', key: 'lb_subset_config', isSet: notEmpty },
  { scope: 'cluster', key: 'slow_start', isSet: notEmpty },
  // clusters[].circuit_breakers[] (max_connections is enforced)
  { scope: 'circuit_breaker', key: 'max_pending_requests', isSet: notEmpty },
  { scope: 'circuit_breaker', key: 'max_requests', isSet: notEmpty },
  { scope: 'circuit_breaker', key: 'max_retries', isSet: notEmpty },
  // servers[].listeners[] (reuseport and use_original_dst are implemented)
  { scope: 'listener', key: 'inspector', isSet: notEmpty },
  // routers[].virtual_hosts[].routers[] (router/ implements the rest of MOSN's route keys)
  { scope: 'route_match', key: 'variables', isSet: notEmpty },
  { scope: 'route_match', key: 'dsl_expressions', isSet: notEmpty },
  { scope: 'route_action', key: 'cluster_variable', isSet: notEmpty },
  { scope: 'route_action', key: 'upstream_protocol', isSet: notEmpty },
  { scope: 'route_action', key: 'hash_policy', isSet: notEmpty },
  { scope: 'route_action', key: 'metadata_match', isSet: notEmpty },
];

export const NOT_ENFORCED_MESSAGE = 'accepted but not enforced by mosnode yet';

type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function entries(value: unknown, path: PathSegment[]): Array<{ obj: Json; path: PathSegment[] }> {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item, i) => {
    const obj = asObject(item);
    return obj ? [{ obj, path: [...path, i] }] : [];
  });
}

/** Every object a rule can apply to, with its scope and path, in document order. */
function* places(doc: Json): Generator<{ scope: Scope; obj: Json; path: PathSegment[] }> {
  for (const server of entries(doc['servers'], ['servers'])) {
    yield { scope: 'server', ...server };
    for (const listener of entries(server.obj['listeners'], [...server.path, 'listeners'])) yield { scope: 'listener', ...listener };
    for (const router of entries(server.obj['routers'], [...server.path, 'routers'])) {
      for (const host of entries(router.obj['virtual_hosts'], [...router.path, 'virtual_hosts'])) {
        yield { scope: 'virtual_host', ...host };
        for (const route of entries(host.obj['routers'], [...host.path, 'routers'])) {
          yield { scope: 'route', ...route };
          const match = asObject(route.obj['match']);
          if (match) yield { scope: 'route_match', obj: match, path: [...route.path, 'match'] };
          const action = asObject(route.obj['route']);
          if (action) yield { scope: 'route_action', obj: action, path: [...route.path, 'route'] };
        }
      }
    }
  }
  for (const cluster of entries(asObject(doc['cluster_manager'])?.['clusters'], ['cluster_manager', 'clusters'])) {
    yield { scope: 'cluster', ...cluster };
    for (const breaker of entries(cluster.obj['circuit_breakers'], [...cluster.path, 'circuit_breakers'])) {
      yield { scope: 'circuit_breaker', ...breaker };
    }
  }
  const metrics = asObject(doc['metrics']);
  if (metrics) yield { scope: 'metrics', obj: metrics, path: ['metrics'] };
  yield { scope: 'top', obj: doc, path: [] };
}

/** One warning per NOT_ENFORCED_YET setting the document sets, in document order. */
export function notEnforcedWarnings(doc: Json): Array<{ path: PathSegment[]; message: string }> {
  const warnings: Array<{ path: PathSegment[]; message: string }> = [];
  for (const { scope, obj, path } of places(doc)) {
    for (const rule of NOT_ENFORCED_YET) {
      if (rule.scope === scope && rule.isSet(obj[rule.key])) warnings.push({ path: [...path, rule.key], message: NOT_ENFORCED_MESSAGE });
    }
  }
  return warnings;
}

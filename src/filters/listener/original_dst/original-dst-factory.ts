/**
 * @module filters/listener/original_dst/original-dst-factory
 * The `original_dst` listener filter factory, with MOSN's name and config
 * (pkg/filter/listener/originaldst, OriginalDstConfig):
 *
 *   { "type": "redirect" | "tproxy",   // default "redirect", as in MOSN
 *     "fallback_to_local": false }     // no exact listener: prefer 127.0.0.1:<port> over 0.0.0.0:<port>
 *
 * A listener with `use_original_dst` gets this filter implicitly, after its own listener
 * filters, with `type` from that setting (server/listener-builder.ts), as MOSN adds it.
 *
 * One deliberate difference from MOSN: MOSN's filter does nothing on a listener without
 * `use_original_dst`; here it still sets the connection's local address to the original
 * destination (as Envoy's does), so tcp_proxy `destination_addrs` routes work behind a
 * REDIRECT rule with one listener. Only `use_original_dst` moves connections between
 * listeners, as in MOSN.
 *
 * Stats (group `original_dst`, label `listener`): found, not_found, error.
 */
import { FilterConfigError, defineListenerFilter } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalString, unknownKeys } from '../../../api/config-helpers.ts';
import { getOriginalDst, native, nativeLoadError } from '../../../core/native.ts';
import { OriginalDstFilter, type OriginalDstConfig, type OriginalDstLookup, type OriginalDstStats } from './original-dst-filter.ts';

const CONFIG_KEYS = ['type', 'fallback_to_local'] as const;

interface ParsedOriginalDst {
  readonly config: OriginalDstConfig;
  readonly stats: OriginalDstStats;
  readonly warned: { done: boolean };
}

export function parseOriginalDstConfig(raw: unknown, path: string, warn: (message: string) => void): OriginalDstConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) warn(`${path}.${key}: unknown key, ignored`);
  const type = (optionalString(obj, 'type', path) ?? '').toLowerCase();
  if (type !== '' && type !== 'redirect' && type !== 'tproxy') {
    throw new FilterConfigError(`${path}.type`, `"redirect" or "tproxy", got ${JSON.stringify(configValue(obj, 'type'))}`);
  }
  const fallback = configValue(obj, 'fallback_to_local');
  if (fallback !== undefined && fallback !== null && typeof fallback !== 'boolean') {
    throw new FilterConfigError(`${path}.fallback_to_local`, 'true or false');
  }
  return { type: type === 'tproxy' ? 'tproxy' : 'redirect', fallbackToLocal: fallback === true };
}

/** Lets tests stand in for the kernel; production reads conntrack through the addon. */
let lookup: OriginalDstLookup = getOriginalDst;

/** Replaces the SO_ORIGINAL_DST lookup (tests); returns the previous one. */
export function setOriginalDstLookup(next: OriginalDstLookup): OriginalDstLookup {
  const previous = lookup;
  lookup = next;
  return previous;
}

export const originalDstFactory = defineListenerFilter<ParsedOriginalDst>({
  type: 'original_dst',
  parseConfig(raw, context) {
    const config = parseOriginalDstConfig(raw, context.path, (m) => context.warn(m));
    if (config.type === 'redirect' && native === undefined) {
      context.warn(`${context.path}: original_dst "redirect" reads SO_ORIGINAL_DST through the native addon, which is unavailable (${nativeLoadError ?? 'unknown reason'}): every connection stays on this listener with its own addresses (counted in original_dst.error)`);
    }
    const stats: OriginalDstStats = {
      found: context.stats.counter('found'),
      notFound: context.stats.counter('not_found'),
      error: context.stats.counter('error'),
    };
    return { config, stats, warned: { done: false } };
  },
  create({ config, stats, warned }, context) {
    return new OriginalDstFilter(config, stats, context.logger, (fd) => lookup(fd), warned);
  },
});

/**
 * @module filters/network/fault_inject/fault-inject-factory
 * The `fault_inject` network filter factory, with MOSN's name and config (v2.FaultInject):
 *
 *   { "delay_percent": 50,        // 0..100: share of reads that start a delay (0 = never)
 *     "delay_duration": "200ms" } // each delay; Go duration (0 = no delay)
 *
 * Put it before `tcp_proxy` in `filter_chains[0].filters`: it delays what tcp_proxy
 * receives. Before `proxy` it has no effect in mosnode (that filter takes the raw socket
 * for its HTTP codec, so no bytes pass through network filters): the factory warns, and
 * the stream filter `fault` is the one to use there.
 *
 * Where mosnode is stricter than MOSN, on purpose: a percentage above 100 is a config
 * error (MOSN treats it as 100), a fractional one too (MOSN's field is an integer, and Go
 * refuses 12.5 as well).
 * Stats (group `fault_inject`, label `listener`): delays_injected, delays_cancelled,
 * active_faults.
 */
import { defineNetworkFilter } from '../../../api/filter-factory.ts';
import type { ListenerConfig } from '../../../config/types.ts';
import { configObject, optionalDurationMs, optionalInteger, unknownKeys } from '../../../api/config-helpers.ts';
import { FaultInjectFilter, type FaultInjectConfig, type FaultInjectStats } from './fault-inject-filter.ts';

const CONFIG_KEYS = ['delay_percent', 'delay_duration'] as const;
/** Keys of the stream filter `fault`, often put here by mistake. */
const STREAM_FAULT_KEYS = new Set(['delay', 'abort', 'fixed_delay', 'percentage', 'upstream_cluster', 'headers']);

interface ParsedFaultInject {
  readonly config: FaultInjectConfig;
  readonly stats: FaultInjectStats;
}

/** Held bytes per delayed connection when the listener's limit is unknown (MOSN's default buffer limit). */
export const DEFAULT_MAX_HELD_BYTES = 32 * 1024;

export function parseFaultInjectConfig(
  raw: unknown,
  path: string,
  warn: (message: string) => void,
  maxHeldBytes: number = DEFAULT_MAX_HELD_BYTES,
): FaultInjectConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) {
    const hint = STREAM_FAULT_KEYS.has(key.toLowerCase())
      ? ' (that is a key of the stream filter "fault"; the network filter "fault_inject" takes delay_percent and delay_duration)'
      : '';
    warn(`${path}.${key}: unknown key, ignored${hint}`);
  }
  const delayPercent = optionalInteger(obj, 'delay_percent', path, { min: 0, max: 100 }) ?? 0;
  const delayMs = optionalDurationMs(obj, 'delay_duration', path) ?? 0;
  if (delayPercent > 0 && delayMs === 0) warn(`${path}.delay_duration: not set (or 0): no delay is injected although delay_percent is ${delayPercent}`);
  if (delayPercent === 0 && delayMs > 0) warn(`${path}.delay_percent: not set (or 0): the delay_duration is never injected`);
  return { delayPercent, delayMs, maxHeldBytes };
}

export const faultInjectFactory = defineNetworkFilter<ParsedFaultInject>({
  type: 'fault_inject',
  parseConfig(raw, context) {
    const listener = context.services.get('listener') as { config: ListenerConfig } | undefined;
    const config = parseFaultInjectConfig(raw, context.path, (m) => context.warn(m), listener?.config.per_connection_buffer_limit_bytes || undefined);
    if (listener?.config.filter_chains[0]?.filters.some((f) => f.type === 'proxy')) {
      context.warn(`${context.path}: fault_inject delays nothing on a listener with the "proxy" filter (it reads the socket itself); use the stream filter "fault" (delay.fixed_delay, delay.percentage) there`);
    }
    const stats: FaultInjectStats = {
      delaysInjected: context.stats.counter('delays_injected'),
      delaysCancelled: context.stats.counter('delays_cancelled'),
      activeFaults: context.stats.gauge('active_faults'),
    };
    return { config, stats };
  },
  createFilters({ config, stats }, chain) {
    chain.addReadFilter(new FaultInjectFilter(config, stats));
  },
});

/**
 * @module server/listener-builder
 * Turns a listener's config into what runs it: resolves every listener and network filter
 * type in the registry and lets each factory validate its config ONCE, before anything
 * binds, so a bad filter config stops the process with the JSON path. Stream filters are
 * parsed here too and handed to the listener's `proxy` filter (service "streamFilters");
 * unknown ones are skipped with a warning, as MOSN does. A `use_original_dst` listener gets
 * an `original_dst` listener filter after its own ones unless it names one, as MOSN adds it.
 */
import type { ListenerConfig } from '../config/types.ts';
import type { FilterRegistry } from '../api/registry.ts';
import type { FilterFactoryContext, FilterStats, ListenerFilterFactory, NetworkFilterFactory } from '../api/filter-factory.ts';
import type { UpstreamClusters } from '../api/upstream.ts';
import type { ListenerFilter } from '../api/listener-filter.ts';
import type { Logger } from '../core/logger.ts';
import { MosnError, isMosnError, describeError } from '../core/errors.ts';
import type { DownstreamConnection } from '../network/connection.ts';
import type { ListenerHandlers } from '../network/listener.ts';
import type { PreparedStreamFilter } from '../proxy/stream-filter-chain.ts';
import { MetricsRegistry, type MetricGroup } from '../metrics/metrics-registry.ts';
import { MetricTypes } from '../metrics/names.ts';

interface Prepared<F> {
  factory: F;
  config: unknown;
  context: FilterFactoryContext;
}

export interface BuildContext {
  registry: FilterRegistry;
  clusters: UpstreamClusters;
  logger: Logger;
  services: ReadonlyMap<string, unknown>;
  warn(message: string): void;
}

/** The listener filter a `use_original_dst` listener runs (MOSN's v2.ORIGINALDST_LISTENER_FILTER). */
const ORIGINAL_DST_FILTER = 'original_dst';

/** JSON path of listener `index`. */
export function listenerPath(index: number): string {
  return `servers[0].listeners[${index}]`;
}

function parseWith<F extends { type: string; parseConfig(raw: unknown, ctx: FilterFactoryContext): unknown }>(
  factory: F,
  raw: unknown,
  context: FilterFactoryContext,
): unknown {
  try {
    return factory.parseConfig(raw, context);
  } catch (err) {
    if (isMosnError(err)) throw err;
    throw new MosnError('MOSN_ERR_FILTER_CONFIG', `${context.path}: ${describeError(err)}`, { cause: err });
  }
}

let detachedMetrics: MetricsRegistry | undefined;
/** Metrics nobody exports, for a build without a server registry (unit tests of factories). */
function fallbackMetrics(): MetricsRegistry {
  detachedMetrics ??= new MetricsRegistry();
  return detachedMetrics;
}

/** Reserved metric types a plugin's type name must not take over ("downstream" -> "filter_downstream"). */
const RESERVED_METRIC_TYPES = new Set<string>(Object.values(MetricTypes));

/** The metric group of filter `type` on `listenerName`, created at the first metric asked for. */
function filterStats(metrics: MetricsRegistry, type: string, listenerName: string): FilterStats {
  const groupType = RESERVED_METRIC_TYPES.has(type) ? `filter_${type}` : type;
  let group: MetricGroup | undefined;
  const get = (): MetricGroup => (group ??= metrics.group(groupType, { listener: listenerName }));
  return {
    counter: (key) => get().counter(key),
    gauge: (key) => get().gauge(key),
  };
}

/**
 * Validates every filter of listener `index` and returns the handlers the Listener calls
 * per socket and per connection. Throws MosnError naming the JSON path.
 */
export function buildListenerHandlers(listener: ListenerConfig, index: number, ctx: BuildContext): ListenerHandlers {
  const base = listenerPath(index);
  const logger = ctx.logger.child({ listener: listener.name });
  const services = new Map(ctx.services);
  const metrics = ctx.services.get('metrics');
  const contextFor = (path: string, type: string): FilterFactoryContext => ({
    path,
    logger,
    clusters: ctx.clusters,
    listenerName: listener.name,
    services,
    stats: filterStats(metrics instanceof MetricsRegistry ? metrics : fallbackMetrics(), type, listener.name),
    warn: ctx.warn,
  });

  const streamFilters: PreparedStreamFilter[] = [];
  listener.stream_filters.forEach((entry, i) => {
    const path = `${base}.stream_filters[${i}]`;
    const factory = ctx.registry.getStreamFilter(entry.type);
    if (factory === undefined) {
      ctx.warn(`${path}: stream filter "${entry.type}" is not registered; skipped (registered: ${ctx.registry.names('stream').join(', ') || 'none'})`);
      return;
    }
    const context = contextFor(`${path}.config`, entry.type);
    streamFilters.push({ type: entry.type, factory, config: parseWith(factory, entry.config, context), failures: context.stats.counter('filter_failures') });
  });
  services.set('streamFilters', streamFilters);
  services.set('listener', { config: listener, path: base });
  services.set('streamFilterRegistry', ctx.registry);

  const listenerFilters: Prepared<ListenerFilterFactory>[] = listener.listener_filters.map((entry, i) => {
    const path = `${base}.listener_filters[${i}]`;
    const factory = ctx.registry.getListenerFilter(entry.type);
    if (factory === undefined) {
      throw new MosnError(
        'MOSN_ERR_FILTER_UNKNOWN',
        `${path}.type: unknown listener filter "${entry.type}" (registered: ${ctx.registry.names('listener').join(', ') || 'none'})`,
      );
    }
    const context = contextFor(`${path}.config`, entry.type);
    return { factory, config: parseWith(factory, entry.config, context), context };
  });
  if (listener.use_original_dst !== false && !listener.listener_filters.some((f) => f.type === ORIGINAL_DST_FILTER)) {
    const factory = ctx.registry.getListenerFilter(ORIGINAL_DST_FILTER);
    if (factory === undefined) {
      throw new MosnError('MOSN_ERR_FILTER_UNKNOWN', `${base}.use_original_dst: needs the "${ORIGINAL_DST_FILTER}" listener filter, which is not registered`);
    }
    const context = contextFor(`${base}.use_original_dst`, ORIGINAL_DST_FILTER);
    listenerFilters.push({ factory, config: parseWith(factory, { type: listener.use_original_dst }, context), context });
  }

  const chain = listener.filter_chains[0];
  const networkFilters: Prepared<NetworkFilterFactory>[] = (chain?.filters ?? []).map((entry, i) => {
    const path = `${base}.filter_chains[0].filters[${i}]`;
    const factory = ctx.registry.getNetworkFilter(entry.type);
    if (factory === undefined) {
      throw new MosnError(
        'MOSN_ERR_FILTER_UNKNOWN',
        `${path}.type: unknown network filter "${entry.type}" (registered: ${ctx.registry.names('network').join(', ')})`,
      );
    }
    const context = contextFor(`${path}.config`, entry.type);
    return { factory, config: parseWith(factory, entry.config, context), context };
  });
  if (networkFilters.length === 0) {
    throw new MosnError('MOSN_ERR_CONFIG_INVALID', `${base}.filter_chains[0].filters: expected at least one network filter`);
  }
  if (chain?.tls_context !== undefined) {
    throw new MosnError('MOSN_ERR_CONFIG_UNSUPPORTED', `${base}.filter_chains[0].tls_context: TLS listeners are not supported yet`);
  }

  return {
    createListenerFilters(): ListenerFilter[] {
      return listenerFilters.map((p) => p.factory.create(p.config, p.context));
    },
    installNetworkFilters(connection: DownstreamConnection): void {
      for (const p of networkFilters) {
        p.factory.createFilters(p.config, connection, connection, p.context);
      }
    },
  };
}

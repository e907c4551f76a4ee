/**
 * A FilterFactoryContext for unit tests of a filter factory's `parseConfig` and filters:
 * a silent logger, no clusters unless given, a fresh metrics registry (so stats can be
 * asserted), warnings collected in `warnings`.
 */
import pino from 'pino';
import type { FilterFactoryContext, FilterStats } from '../../src/api/filter-factory.ts';
import { ClusterManager } from '../../src/upstream/cluster-manager.ts';
import { MetricsRegistry } from '../../src/metrics/metrics-registry.ts';
import type { ClusterConfig } from '../../src/config/types.ts';

export interface TestFilterContext extends FilterFactoryContext {
  readonly warnings: string[];
  readonly metrics: MetricsRegistry;
}

export function testFilterContext(
  options: { path?: string; type?: string; listenerName?: string; clusters?: ClusterConfig[]; services?: Map<string, unknown> } = {},
): TestFilterContext {
  const metrics = new MetricsRegistry();
  const listenerName = options.listenerName ?? 'test_listener';
  const type = options.type ?? 'test_filter';
  const warnings: string[] = [];
  const stats: FilterStats = {
    counter: (key) => metrics.group(type, { listener: listenerName }).counter(key),
    gauge: (key) => metrics.group(type, { listener: listenerName }).gauge(key),
  };
  return {
    path: options.path ?? 'servers[0].listeners[0].stream_filters[0].config',
    logger: pino({ level: 'silent' }),
    clusters: new ClusterManager(options.clusters ?? [], { metrics }),
    listenerName,
    services: options.services ?? new Map(),
    stats,
    warnings,
    metrics,
    warn: (message) => void warnings.push(message),
  };
}

/**
 * @module filters/network/tcp_proxy/tcp-proxy-factory
 * The `tcp_proxy` network filter factory (MOSN's name and config): validates the config
 * once (clusters must exist) and installs a TcpProxyFilter on every connection.
 */
import { defineNetworkFilter } from '../../../api/filter-factory.ts';
import type { MetricsRegistry } from '../../../metrics/metrics-registry.ts';
import { downstreamListenerMetrics, type DownstreamMetrics } from '../../../metrics/metric-bundles.ts';
import { parseTcpProxyConfig, type TcpProxyConfig } from './tcp-proxy-config.ts';
import { TcpProxyFilter } from './tcp-proxy-filter.ts';

interface ParsedTcpProxy {
  config: TcpProxyConfig;
  /** The listener's downstream metrics: each proxied session counts as one request. */
  metrics: DownstreamMetrics | undefined;
}

export const tcpProxyFactory = defineNetworkFilter<ParsedTcpProxy>({
  type: 'tcp_proxy',
  parseConfig(raw, context) {
    const config = parseTcpProxyConfig(raw, context.path, (name) => context.clusters.getCluster(name) !== undefined, context.warn);
    const registry = context.services.get('metrics') as MetricsRegistry | undefined;
    return { config, metrics: registry && downstreamListenerMetrics(registry, context.listenerName) };
  },
  createFilters({ config, metrics }, chain, _connection, context) {
    chain.addReadFilter(new TcpProxyFilter(config, context.clusters, context.logger, metrics));
  },
});

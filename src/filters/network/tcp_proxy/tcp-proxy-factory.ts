/**
 * @module filters/network/tcp_proxy/tcp-proxy-factory
 * The `tcp_proxy` network filter factory (MOSN's name and config): validates the config
 * once (clusters must exist) and installs a TcpProxyFilter on every connection.
 */
import { defineNetworkFilter } from '../../../api/filter-factory.ts';
import { parseTcpProxyConfig, type TcpProxyConfig } from './tcp-proxy-config.ts';
import { TcpProxyFilter } from './tcp-proxy-filter.ts';

export const tcpProxyFactory = defineNetworkFilter<TcpProxyConfig>({
  type: 'tcp_proxy',
  parseConfig(raw, context) {
    return parseTcpProxyConfig(raw, context.path, (name) => context.clusters.getCluster(name) !== undefined);
  },
  createFilters(config, chain, _connection, context) {
    chain.addReadFilter(new TcpProxyFilter(config, context.clusters, context.logger));
  },
});

/**
 * @module filters/network/proxy/proxy-factory
 * The `proxy` network filter factory (MOSN's name and config): validates the config and
 * its router once, keeps one HTTP/1.1 proxy per filter entry, and hands each new
 * connection's socket to it.
 */
import { defineNetworkFilter } from '../../../api/filter-factory.ts';
import type { RouterConfig } from '../../../config/types.ts';
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { RouteTable } from '../../../router/route-table.ts';
import type { MetricsRegistry } from '../../../metrics/metrics-registry.ts';
import { downstreamProxyMetrics } from '../../../metrics/metric-bundles.ts';
import { parseProxyConfig } from './proxy-config.ts';
import { Http1Proxy } from './http1-proxy.ts';

export const proxyFactory = defineNetworkFilter<Http1Proxy>({
  type: 'proxy',
  parseConfig(raw, context) {
    const routers = (context.services.get('routers') as RouterConfig[] | undefined) ?? [];
    const config = parseProxyConfig(raw, context.path, (name) => routers.some((r) => r.router_config_name === name));
    const index = routers.findIndex((r) => r.router_config_name === config.routerConfigName);
    let routes: RouteTable;
    try {
      routes = new RouteTable(routers[index]!, `servers[0].routers[${index}]`);
    } catch (err) {
      throw new FilterConfigError(`${context.path}.router_config_name`, `a valid router: ${(err as Error).message}`);
    }
    const registry = context.services.get('metrics') as MetricsRegistry | undefined;
    return new Http1Proxy({
      routes,
      clusters: context.clusters,
      logger: context.logger,
      metrics: registry && downstreamProxyMetrics(registry),
    });
  },
  createFilters(proxy, chain, connection) {
    chain.addReadFilter({
      onNewConnection() {
        const socket = connection.detachSocket();
        connection.onDrain(() => proxy.drain(socket));
        proxy.accept(socket);
        return 'Stop';
      },
      onData() {
        return 'Stop';
      },
    });
  },
});

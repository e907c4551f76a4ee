/**
 * @module filters/network/proxy/proxy-factory
 * The `proxy` network filter factory (MOSN's name and config): validates the config and
 * compiles its router once at load time; the HTTP/1.1 proxy for a filter entry is built
 * on its first connection and shared by every later one.
 */
import { defineNetworkFilter } from '../../../api/filter-factory.ts';
import { MosnError } from '../../../core/errors.ts';
import type { RouterConfig } from '../../../config/types.ts';
import { RouteTable } from '../../../router/route-table.ts';
import type { MetricsRegistry } from '../../../metrics/metrics-registry.ts';
import { downstreamListenerMetrics, downstreamProxyMetrics } from '../../../metrics/metric-bundles.ts';
import { parseProxyConfig, type ProxyConfig } from './proxy-config.ts';
import { Http1Proxy, type Http1ProxyOptions } from './http1-proxy.ts';
import { MIGRATION_KEY, type MigrationProvider } from '../../../network/migration.ts';

interface ParsedProxy {
  config: ProxyConfig;
  options: Http1ProxyOptions;
}

const proxies = new WeakMap<ParsedProxy, Http1Proxy>();

export const proxyFactory = defineNetworkFilter<ParsedProxy>({
  type: 'proxy',
  parseConfig(raw, context) {
    const routers = (context.services.get('routers') as RouterConfig[] | undefined) ?? [];
    const config = parseProxyConfig(raw, context.path, (name) => routers.some((r) => r.router_config_name === name), context.warn);
    const index = routers.findIndex((r) => r.router_config_name === config.routerConfigName);
    let routes: RouteTable;
    try {
      routes = new RouteTable(routers[index]!, `servers[0].routers[${index}]`);
    } catch (err) {
      // The router's own message already names its JSON path.
      throw new MosnError('MOSN_ERR_CONFIG_INVALID', (err as Error).message, { cause: err });
    }
    const registry = context.services.get('metrics') as MetricsRegistry | undefined;
    return {
      config,
      options: {
        routes,
        clusters: context.clusters,
        logger: context.logger,
        metrics: registry === undefined ? [] : [downstreamListenerMetrics(registry, context.listenerName), downstreamProxyMetrics(registry)],
      },
    };
  },
  createFilters(parsed, chain, connection) {
    let proxy = proxies.get(parsed);
    if (proxy === undefined) {
      proxy = new Http1Proxy(parsed.options);
      proxies.set(parsed, proxy);
    }
    const http = proxy;
    chain.addReadFilter({
      onNewConnection() {
        const socket = connection.detachSocket();
        connection.onDrain(() => http.drain(socket));
        const provider: MigrationProvider = {
          worthWaiting: () => http.isIdle(socket),
          prepareMigration: () => http.prepareMigration(socket),
        };
        connection.state.set(MIGRATION_KEY, provider);
        http.accept(socket);
        return 'Stop';
      },
      onData() {
        return 'Stop';
      },
    });
  },
});

/**
 * @module filters
 * THE one visible list of mosnode's built-in filters. Each lives in its own folder under
 * filters/<kind>/<name>/; adding a built-in means adding a line here, nothing else.
 */
import type { FilterRegistry } from '../api/registry.ts';
import { tcpProxyFactory } from './network/tcp_proxy/tcp-proxy-factory.ts';
import { proxyFactory } from './network/proxy/proxy-factory.ts';

/** Registers every built-in filter on `registry`. */
export function registerBuiltinFilters(registry: FilterRegistry): void {
  registry.registerNetworkFilter(tcpProxyFactory);
  registry.registerNetworkFilter(proxyFactory);
}

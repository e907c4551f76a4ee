/**
 * @module filters/network/proxy/proxy-config
 * Parses the `proxy` network filter config in MOSN's shape: `downstream_protocol`,
 * `upstream_protocol`, `router_config_name`. This first slice speaks HTTP/1.1 only;
 * other protocols are rejected with a clear reason rather than misread.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, optionalString } from '../../../api/config-helpers.ts';

export interface ProxyConfig {
  downstreamProtocol: 'Http1';
  upstreamProtocol: 'Http1';
  routerConfigName: string;
}

const SUPPORTED = ['Http1', 'HTTP1'];

function protocol(value: string | undefined, path: string, fallback: string): 'Http1' {
  const v = value ?? fallback;
  if (SUPPORTED.includes(v)) return 'Http1';
  if (['Http2', 'HTTP2', 'Auto', 'AUTO'].includes(v)) {
    throw new FilterConfigError(path, `"Http1" (protocol "${v}" is not supported yet; HTTP/2 and Auto come with the L7 proxy)`);
  }
  throw new FilterConfigError(path, `"Http1" (protocol "${v}" is not supported yet)`);
}

export function parseProxyConfig(raw: unknown, path: string, routerExists: (name: string) => boolean): ProxyConfig {
  const obj = configObject(raw, path);
  const downstreamProtocol = protocol(optionalString(obj, 'downstream_protocol', path), `${path}.downstream_protocol`, 'Http1');
  const upstreamProtocol = protocol(optionalString(obj, 'upstream_protocol', path), `${path}.upstream_protocol`, downstreamProtocol);
  const routerConfigName = optionalString(obj, 'router_config_name', path);
  if (!routerConfigName) throw new FilterConfigError(`${path}.router_config_name`, 'the name of a router in servers[0].routers');
  if (!routerExists(routerConfigName)) {
    throw new FilterConfigError(`${path}.router_config_name`, `the name of a router in servers[0].routers, got "${routerConfigName}"`);
  }
  return { downstreamProtocol, upstreamProtocol, routerConfigName };
}

/**
 * @module filters/network/proxy/proxy-config
 * Parses the `proxy` network filter config in MOSN's shape: `downstream_protocol`,
 * `upstream_protocol`, `router_config_name`. This first slice speaks HTTP/1.1 only;
 * other protocols are rejected with a clear reason rather than misread.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, optionalString, unknownKeys } from '../../../api/config-helpers.ts';

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

const KNOWN_KEYS = ['downstream_protocol', 'upstream_protocol', 'router_config_name'] as const;
/** MOSN keys this slice accepts but does not act on yet. */
const NOT_YET = ['fallback_for_unknown_protocol', 'extend_config', 'name', 'router_handler_name', 'concurrency_num'] as const;

export function parseProxyConfig(
  raw: unknown,
  path: string,
  routerExists: (name: string) => boolean,
  warn: (message: string) => void = () => {},
): ProxyConfig {
  const obj = configObject(raw, path);
  const notYet = new Set<string>(NOT_YET);
  for (const key of unknownKeys(obj, KNOWN_KEYS)) {
    warn(notYet.has(key.toLowerCase()) ? `${path}.${key}: not supported yet, ignored` : `${path}.${key}: unknown key, ignored`);
  }
  const downstreamProtocol = protocol(optionalString(obj, 'downstream_protocol', path), `${path}.downstream_protocol`, 'Http1');
  const upstreamProtocol = protocol(optionalString(obj, 'upstream_protocol', path), `${path}.upstream_protocol`, downstreamProtocol);
  const routerConfigName = optionalString(obj, 'router_config_name', path);
  if (!routerConfigName) throw new FilterConfigError(`${path}.router_config_name`, 'the name of a router in servers[0].routers');
  if (!routerExists(routerConfigName)) {
    throw new FilterConfigError(`${path}.router_config_name`, `the name of a router in servers[0].routers, got "${routerConfigName}"`);
  }
  return { downstreamProtocol, upstreamProtocol, routerConfigName };
}

/**
 * @module filters/network/proxy/proxy-config
 * Parses the `proxy` network filter config in MOSN's shape: `downstream_protocol`,
 * `upstream_protocol`, `router_config_name`. Protocols: "Http1", "Http2" (h2c), "Auto"
 * (downstream: sniff the HTTP/2 preface; upstream: the same protocol as the downstream
 * request). RPC protocols (bolt, dubbo, ...) are rejected with a clear reason.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, optionalString, unknownKeys } from '../../../api/config-helpers.ts';

export type ProxyProtocol = 'Http1' | 'Http2' | 'Auto';

export interface ProxyConfig {
  downstreamProtocol: ProxyProtocol;
  upstreamProtocol: ProxyProtocol;
  routerConfigName: string;
}

const NAMES: Record<string, ProxyProtocol> = {
  http1: 'Http1',
  http2: 'Http2',
  auto: 'Auto',
};

function protocol(value: string | undefined, path: string, fallback: ProxyProtocol): ProxyProtocol {
  if (value === undefined || value === '') return fallback;
  const known = NAMES[value.toLowerCase()];
  if (known !== undefined) return known;
  throw new FilterConfigError(path, `"Http1", "Http2" or "Auto" (protocol "${value}" is not supported yet)`);
}

const KNOWN_KEYS = ['downstream_protocol', 'upstream_protocol', 'router_config_name'] as const;
/** MOSN keys accepted but not acted on yet. */
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
  // MOSN: an absent upstream protocol means the downstream's.
  const upstreamProtocol = protocol(optionalString(obj, 'upstream_protocol', path), `${path}.upstream_protocol`, downstreamProtocol);
  const routerConfigName = optionalString(obj, 'router_config_name', path);
  if (!routerConfigName) throw new FilterConfigError(`${path}.router_config_name`, 'the name of a router in servers[0].routers');
  if (!routerExists(routerConfigName)) {
    throw new FilterConfigError(`${path}.router_config_name`, `the name of a router in servers[0].routers, got "${routerConfigName}"`);
  }
  return { downstreamProtocol, upstreamProtocol, routerConfigName };
}

/**
 * @module filters/network/tcp_proxy/tcp-proxy-config
 * Parses the `tcp_proxy` network filter config in MOSN's shape:
 * `{cluster, routes[{cluster, source_addrs[{address,length}], destination_addrs[...],
 * source_port, destination_port}], idle_timeout, max_connect_attempts}`.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import {
  configObject,
  optionalArray,
  optionalDurationMs,
  optionalInteger,
  optionalString,
  unknownKeys,
} from '../../../api/config-helpers.ts';
import { CidrSet, PortRanges } from '../../../network/address.ts';

export interface TcpProxyRoute {
  cluster: string;
  sourceAddrs: CidrSet;
  destinationAddrs: CidrSet;
  sourcePorts: PortRanges;
  destinationPorts: PortRanges;
}

export interface TcpProxyConfig {
  /** When set, every connection goes here and routes are not consulted (MOSN's rule). */
  cluster: string | undefined;
  routes: TcpProxyRoute[];
  /** ms of no traffic in either direction before both sides are closed; undefined = none (MOSN's default). */
  idleTimeoutMs: number | undefined;
  /** Hosts tried before giving up on a connection; default 1. */
  maxConnectAttempts: number;
}

function parseCidrs(list: unknown[], path: string): CidrSet {
  const ranges = list.map((item, i) => {
    const obj = configObject(item, `${path}[${i}]`);
    const address = optionalString(obj, 'address', `${path}[${i}]`);
    const length = optionalInteger(obj, 'length', `${path}[${i}]`, { min: 0, max: 128 });
    if (address === undefined) throw new FilterConfigError(`${path}[${i}].address`, 'an IP address');
    return { address, length: length ?? (address.includes(':') ? 128 : 32) };
  });
  try {
    return new CidrSet(ranges);
  } catch (err) {
    throw new FilterConfigError(path, `CIDR ranges {address, length}: ${(err as Error).message}`);
  }
}

function parsePorts(spec: string | undefined, path: string): PortRanges {
  try {
    return new PortRanges(spec ?? '');
  } catch (err) {
    throw new FilterConfigError(path, `ports like "80,8000-9000": ${(err as Error).message}`);
  }
}

const CONFIG_KEYS = ['cluster', 'routes', 'idle_timeout', 'max_connect_attempts', 'stat_prefix'] as const;
const ROUTE_KEYS = ['cluster', 'source_addrs', 'destination_addrs', 'source_port', 'destination_port'] as const;

export function parseTcpProxyConfig(
  raw: unknown,
  path: string,
  clusterExists: (name: string) => boolean,
  warn: (message: string) => void = () => {},
): TcpProxyConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) warn(`${path}.${key}: unknown key, ignored`);
  const cluster = optionalString(obj, 'cluster', path) || undefined;
  const routes = optionalArray(obj, 'routes', path).map((item, i): TcpProxyRoute => {
    const p = `${path}.routes[${i}]`;
    const r = configObject(item, p);
    for (const key of unknownKeys(r, ROUTE_KEYS)) warn(`${p}.${key}: unknown key, ignored`);
    const routeCluster = optionalString(r, 'cluster', p);
    if (!routeCluster) throw new FilterConfigError(`${p}.cluster`, 'a cluster name');
    return {
      cluster: routeCluster,
      sourceAddrs: parseCidrs(optionalArray(r, 'source_addrs', p), `${p}.source_addrs`),
      destinationAddrs: parseCidrs(optionalArray(r, 'destination_addrs', p), `${p}.destination_addrs`),
      sourcePorts: parsePorts(optionalString(r, 'source_port', p), `${p}.source_port`),
      destinationPorts: parsePorts(optionalString(r, 'destination_port', p), `${p}.destination_port`),
    };
  });
  if (cluster === undefined && routes.length === 0) {
    throw new FilterConfigError(path, 'a "cluster" or at least one entry in "routes"');
  }
  if (cluster !== undefined && !clusterExists(cluster)) {
    throw new FilterConfigError(`${path}.cluster`, `the name of a cluster in cluster_manager.clusters, got "${cluster}"`);
  }
  routes.forEach((route, i) => {
    if (!clusterExists(route.cluster)) {
      throw new FilterConfigError(`${path}.routes[${i}].cluster`, `the name of a cluster in cluster_manager.clusters, got "${route.cluster}"`);
    }
  });
  return {
    cluster,
    routes,
    idleTimeoutMs: optionalDurationMs(obj, 'idle_timeout', path) || undefined,
    maxConnectAttempts: optionalInteger(obj, 'max_connect_attempts', path, { min: 1, max: 100 }) ?? 1,
  };
}

/**
 * The cluster for a connection: the configured `cluster` if any, else the first route
 * whose every non-empty matcher matches (an empty matcher matches any connection; MOSN
 * treats an empty list as matching nothing, which makes such routes dead).
 */
export function selectCluster(
  config: TcpProxyConfig,
  remote: { ip: string; port: number },
  local: { ip: string; port: number },
): string | undefined {
  if (config.cluster !== undefined) return config.cluster;
  for (const r of config.routes) {
    if (r.sourceAddrs.size > 0 && !r.sourceAddrs.contains(remote.ip)) continue;
    if (r.sourcePorts.size > 0 && !r.sourcePorts.contains(remote.port)) continue;
    if (r.destinationAddrs.size > 0 && !r.destinationAddrs.contains(local.ip)) continue;
    if (r.destinationPorts.size > 0 && !r.destinationPorts.contains(local.port)) continue;
    return r.cluster;
  }
  return undefined;
}

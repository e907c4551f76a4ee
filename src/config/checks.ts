/**
 * @module config/checks
 * The rules of a MOSN config that span several values: exactly one server, exactly one
 * filter chain per listener, unique listener / router / cluster names, a listener address
 * shaped for its network; and the warnings that need a path (clamped host weights,
 * unknown log levels, names that refer to nothing, areas mosnode ignores for now, and the
 * settings it accepts but does not enforce yet, listed in config/not-enforced).
 * They run on the canonical document (keys already canonical, values not yet validated),
 * so they report even when a value elsewhere fails its schema; a value of the wrong type
 * is left to the schema.
 * Depends on config/config-error, config/schema (constants only) and config/not-enforced.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { PathSegment } from './config-error.ts';
import { showValue } from './config-error.ts';
import { DEFAULTS, LATER_TOP_LEVEL_KEYS, LISTEN_ADDRESS_SHAPE, LOG_LEVEL_NAMES, NETWORKS } from './schema.ts';
import { notEnforcedWarnings } from './not-enforced.ts';

/**
 * A problem or a note. Paths stay in segments so the loader can re-map values that came
 * from elsewhere (another file); `seeAlso` is the other place a duplicate name is defined,
 * written after the message as "(also at <path>)".
 */
export interface Finding {
  path: PathSegment[];
  message: string;
  seeAlso?: PathSegment[];
}

export interface CheckResult {
  issues: Finding[];
  warnings: Finding[];
}

type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * Checks a listener address against its network ("tcp", "udp", "unix" or undefined to
 * infer it). Returns undefined when it is fine, else the problem ("expected ..., got ...").
 */
export function checkListenAddress(address: string, network: string | undefined): string | undefined {
  const looksUnix = address.startsWith('/') || address.startsWith('@');
  if (network === 'unix' || (network === undefined && looksUnix)) {
    return address === '' ? 'expected a unix socket path, got ""' : undefined;
  }
  const bracketed = /^\[([^\]]*)\]:(\d+)$/.exec(address);
  const plain = /^([^:[\]]*):(\d+)$/.exec(address);
  const host = bracketed?.[1] ?? plain?.[1];
  const port = Number(bracketed?.[2] ?? plain?.[2]);
  const hostOk =
    host !== undefined &&
    (bracketed ? isIPv6(host) : host === '' || isIPv4(host) || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host));
  if (hostOk && Number.isInteger(port) && port <= 65_535) return undefined;
  const shape = network === undefined ? LISTEN_ADDRESS_SHAPE : `"ip:port" or "[ipv6]:port" (network "${network}")`;
  const why = hostOk && port > 65_535 ? ': port above 65535' : '';
  return `expected ${shape}, got ${showValue(address)}${why}`;
}

/** Runs every cross-value rule on a canonical document. */
export function checkDocument(doc: Json): CheckResult {
  const issues: Finding[] = [];
  const warnings: Finding[] = [];

  for (const key of LATER_TOP_LEVEL_KEYS) {
    const value = doc[key];
    const empty = value === undefined || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
    if (!empty) warnings.push({ path: [key], message: 'not supported by mosnode yet, ignored' });
  }
  if (doc['close_graceful'] !== undefined) {
    warnings.push({ path: ['close_graceful'], message: 'deprecated in MOSN, read as "disable_upgrade"' });
  }

  const servers = asArray(doc['servers']);
  if (servers.length > 1) {
    issues.push({ path: ['servers'], message: `expected exactly one server (MOSN supports one), got ${servers.length}` });
  }

  const clusterNames = checkClusters(doc, issues, warnings);
  servers.forEach((server, s) => checkServer(asObject(server), ['servers', s], clusterNames, issues, warnings));
  warnings.push(...notEnforcedWarnings(doc));
  return { issues, warnings };
}

function checkServer(
  server: Json | undefined,
  base: PathSegment[],
  clusterNames: ReadonlySet<string>,
  issues: Finding[],
  warnings: Finding[],
): void {
  if (!server) return;
  const level = server['default_log_level'];
  const upper = typeof level === 'string' ? level.toUpperCase() : undefined;
  if (upper !== undefined && upper !== 'WARNING' && !LOG_LEVEL_NAMES.some((name) => name === upper)) {
    warnings.push({
      path: [...base, 'default_log_level'],
      message: `unknown level ${showValue(level)} (expected one of ${LOG_LEVEL_NAMES.join(', ')}), using INFO as MOSN does`,
    });
  }

  const routerNames = new Map<string, PathSegment[]>();
  asArray(server['routers']).forEach((router, r) => {
    const name = asObject(router)?.['router_config_name'];
    if (typeof name !== 'string') return;
    const path = [...base, 'routers', r, 'router_config_name'];
    const first = routerNames.get(name);
    if (first) issues.push({ path, message: `duplicate router_config_name ${showValue(name)}`, seeAlso: first });
    else routerNames.set(name, path);
    checkRouteClusters(asObject(router), [...base, 'routers', r], clusterNames, warnings);
  });

  const listenerNames = new Map<string, PathSegment[]>();
  asArray(server['listeners']).forEach((item, l) => {
    const listener = asObject(item);
    if (!listener) return;
    const path: PathSegment[] = [...base, 'listeners', l];
    const address = listener['address'];
    const rawNetwork = listener['network'];
    const network = typeof rawNetwork === 'string' ? rawNetwork.toLowerCase() : undefined;
    if (typeof address === 'string' && (network === undefined || (NETWORKS as readonly string[]).includes(network))) {
      const problem = checkListenAddress(address, network);
      if (problem) issues.push({ path: [...path, 'address'], message: problem });
    }

    const name = typeof listener['name'] === 'string' && listener['name'] !== '' ? listener['name'] : address;
    if (typeof name === 'string') {
      const first = listenerNames.get(name);
      const namePath = [...path, typeof listener['name'] === 'string' && listener['name'] !== '' ? 'name' : 'address'];
      if (first) issues.push({ path: namePath, message: `duplicate listener name ${showValue(name)}`, seeAlso: first });
      else listenerNames.set(name, namePath);
    }

    const chains = listener['filter_chains'];
    if (Array.isArray(chains) && chains.length > 1) {
      issues.push({
        path: [...path, 'filter_chains'],
        message: `expected exactly one filter chain (MOSN's rule), got ${chains.length}`,
      });
    }
    asArray(chains).forEach((chain, c) => {
      checkFilterChain(asObject(chain), [...path, 'filter_chains', c], routerNames, clusterNames, issues, warnings);
      warnGoPlugins(asObject(chain)?.['filters'], [...path, 'filter_chains', c, 'filters'], warnings);
    });
    warnGoPlugins(listener['stream_filters'], [...path, 'stream_filters'], warnings);
    warnGoPlugins(listener['listener_filters'], [...path, 'listener_filters'], warnings);
  });
}

/** MOSN's Go `.so` filter plugins cannot load in Node: say what replaces them. */
function warnGoPlugins(filters: unknown, base: PathSegment[], warnings: Finding[]): void {
  asArray(filters).forEach((filter, i) => {
    const plugin = asObject(filter)?.['go_plugin_config'];
    if (plugin === undefined || plugin === null) return;
    warnings.push({
      path: [...base, i, 'go_plugin_config'],
      message: 'Go plugins do not load in mosnode, ignored; list an ES module or npm package in the top-level "plugins" instead (docs/plugins.md)',
    });
  });
}

function checkFilterChain(
  chain: Json | undefined,
  path: PathSegment[],
  routerNames: ReadonlyMap<string, unknown>,
  clusterNames: ReadonlySet<string>,
  issues: Finding[],
  warnings: Finding[],
): void {
  if (!chain) return;
  const set = chain['tls_context_set'];
  if (chain['tls_context'] !== undefined && Array.isArray(set) && set.length > 0) {
    issues.push({ path: [...path, 'tls_context_set'], message: 'use either "tls_context" or "tls_context_set", not both' });
  } else if (Array.isArray(set) && set.length > 1) {
    warnings.push({
      path: [...path, 'tls_context_set'],
      message: 'several certificates per listener are not supported by mosnode yet; the first enabled one is used',
    });
  }
  asArray(chain['filters']).forEach((item, f) => {
    const filter = asObject(item);
    const config = asObject(filter?.['config']);
    if (!filter || !config) return;
    const configPath = [...path, 'filters', f, 'config'];
    const router = config['router_config_name'];
    if (filter['type'] === 'proxy' && typeof router === 'string' && !routerNames.has(router)) {
      warnings.push({
        path: [...configPath, 'router_config_name'],
        message: `no router named ${showValue(router)} in this server's "routers"`,
      });
    }
    const cluster = config['cluster'];
    if ((filter['type'] === 'tcp_proxy' || filter['type'] === 'udp_proxy') && typeof cluster === 'string' && !clusterNames.has(cluster)) {
      warnings.push({ path: [...configPath, 'cluster'], message: `no cluster named ${showValue(cluster)} in cluster_manager` });
    }
  });
}

function checkRouteClusters(
  router: Json | undefined,
  base: PathSegment[],
  clusterNames: ReadonlySet<string>,
  warnings: Finding[],
): void {
  asArray(router?.['virtual_hosts']).forEach((host, h) => {
    asArray(asObject(host)?.['routers']).forEach((route, r) => {
      const routePath: PathSegment[] = [...base, 'virtual_hosts', h, 'routers', r];
      const check = (cluster: unknown, path: PathSegment[]): void => {
        if (typeof cluster === 'string' && cluster !== '' && !clusterNames.has(cluster)) {
          warnings.push({ path, message: `no cluster named ${showValue(cluster)} in cluster_manager` });
        }
      };
      const action = asObject(asObject(route)?.['route']);
      check(action?.['cluster_name'], [...routePath, 'route', 'cluster_name']);
      asArray(action?.['weighted_clusters']).forEach((w, i) => {
        check(asObject(asObject(w)?.['cluster'])?.['name'], [...routePath, 'route', 'weighted_clusters', i, 'cluster', 'name']);
      });
      const mirror = asObject(asObject(route)?.['request_mirror_policies']);
      check(mirror?.['cluster'], [...routePath, 'request_mirror_policies', 'cluster']);
    });
  });
}

/** Checks cluster names and host weights; returns the names. */
function checkClusters(doc: Json, issues: Finding[], warnings: Finding[]): Set<string> {
  const names = new Map<string, PathSegment[]>();
  asArray(asObject(doc['cluster_manager'])?.['clusters']).forEach((item, c) => {
    const cluster = asObject(item);
    if (!cluster) return;
    const path: PathSegment[] = ['cluster_manager', 'clusters', c];
    const name = cluster['name'];
    if (typeof name === 'string') {
      const first = names.get(name);
      if (first) issues.push({ path: [...path, 'name'], message: `duplicate cluster name ${showValue(name)}`, seeAlso: first });
      else names.set(name, [...path, 'name']);
    }
    asArray(cluster['hosts']).forEach((host, h) => {
      const weight = asObject(host)?.['weight'];
      if (typeof weight !== 'number' || !Number.isInteger(weight)) return;
      const weightPath = [...path, 'hosts', h, 'weight'];
      if (weight === 0) warnings.push({ path: weightPath, message: `0 read as ${DEFAULTS.hostWeight}, as MOSN does (weights are 1..128)` });
      if (weight > DEFAULTS.maxHostWeight) {
        warnings.push({ path: weightPath, message: `${weight} clamped to ${DEFAULTS.maxHostWeight}, as MOSN does (weights are 1..128)` });
      }
    });
  });
  return new Set(names.keys());
}

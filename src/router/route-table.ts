/**
 * @module router/route-table
 * MOSN routing for one `routers[]` entry, compiled once: the virtual host is chosen by
 * Host/:authority, then the first route of that host whose matcher holds (see
 * router/route-entry for the route rules). No fall-through: when the chosen host has no
 * matching route, there is no route.
 *
 * Virtual host choice, MOSN's precedence (pkg/router/routers_impl.go). Domains and the
 * request host are lower-cased and split as Go's net.SplitHostPort ("[::1]:80" is host
 * "::1", port "80"; no port is port ""):
 *   1. exact host and exact port ("example.com" is port "" and so matches only a request
 *      without a port; "example.com:8080" only port 8080);
 *   2. exact host, any port ("example.com:*");
 *   3. "*suffix" host and exact port ("*.example.com", "*.example.com:8080"), longest
 *      suffix first; the request host must be longer than the suffix;
 *   4. "*suffix" host, any port ("*.example.com:*");
 *   5. the default: "*" or "*:*" (at most one per router).
 * "*:8080" is a wildcard with an empty suffix: any host on port 8080, at level 3.
 * A router whose only virtual host is the default uses it for every request without
 * reading the host. A host that Go cannot split ("a:b:c") gets no virtual host; an empty
 * one gets the default (MOSN: none). A virtual host without domains is never chosen, as
 * in MOSN (and warned). A domain listed twice at one level, a second default, an empty
 * domain or a "*" other than at the start are errors.
 * Depends on api/ types, config/types, core/errors and router/ modules.
 */
import { MosnError } from '../core/errors.ts';
import type { RouterConfig, VirtualHostConfig } from '../config/types.ts';
import { HeaderEdits } from './header-edits.ts';
import { normalizePath, splitHostPort } from './http-path.ts';
import { parsePerFilterConfigs, RouteEntry, type MatchedRoute, type RouteRequest, type RouteScope } from './route-entry.ts';

export type { MatchedRoute, RetryPolicy, RouteRequest } from './route-entry.ts';
export { MOSN_DEFAULT_RETRY_POLICY, MOSN_DEFAULT_TIMEOUT_MS, ORIGINAL_PATH_HEADER } from './route-entry.ts';

export interface RouteTableOptions {
  /**
   * Parses a per_filter_config entry for a stream filter type; may throw with a
   * path-named message; the return value is stored. Without it the raw JSON is stored.
   */
  parsePerFilterConfig?(type: string, raw: unknown, path: string): unknown;
}

interface CompiledVirtualHost {
  readonly name: string;
  readonly routes: readonly RouteEntry[];
}

interface Wildcard {
  /** What the host must end with ("*.example.com" -> ".example.com"; "*" alone -> ""). */
  readonly suffix: string;
  readonly host: CompiledVirtualHost;
}

export class RouteTable {
  readonly name: string;
  /** Notes about the config, each naming its JSON path (MOSN behaviours that may surprise). */
  readonly warnings: readonly string[];
  /** host -> port ("" = none, "*" = any) -> virtual host */
  readonly #exact = new Map<string, Map<string, CompiledVirtualHost>>();
  /** port -> wildcards, longest suffix first */
  readonly #wildcards = new Map<string, Wildcard[]>();
  #default: CompiledVirtualHost | undefined;

  /** `path` is the JSON path of this router config ("servers[0].routers[1]"), for errors. Throws on a config MOSN would refuse. */
  constructor(config: RouterConfig, path: string, options: RouteTableOptions = {}) {
    this.name = config.router_config_name;
    const warnings: string[] = [];
    this.warnings = warnings;
    const parse = options.parsePerFilterConfig?.bind(options);
    const routerRequest = new HeaderEdits(config.request_headers_to_add, config.request_headers_to_remove);
    const routerResponse = new HeaderEdits(config.response_headers_to_add, config.response_headers_to_remove);
    warnVariables(`${path}`, [routerRequest, routerResponse], warnings);

    config.virtual_hosts.forEach((vh, v) => {
      const vhPath = `${path}.virtual_hosts[${v}]`;
      const compiled = compileVirtualHost(vh, v, vhPath, { routerRequest, routerResponse, parse, warnings });
      if (vh.domains.length === 0) {
        warnings.push(`${vhPath}.domains: empty: this virtual host is never chosen (MOSN's rule); write "*" for the default`);
      }
      vh.domains.forEach((domain, d) => this.#addDomain(domain, compiled, `${vhPath}.domains[${d}]`));
    });
    for (const list of this.#wildcards.values()) list.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  #addDomain(domain: string, vh: CompiledVirtualHost, where: string): void {
    const lower = domain.toLowerCase();
    const hp = splitHostPort(lower);
    if (hp === undefined || (hp.host === '' && hp.port === '')) {
      throw invalid(where, `expected a domain such as "example.com", "*.example.com", "*" or "example.com:8080", got ${JSON.stringify(domain)}`);
    }
    const { host, port } = hp;
    if (host === '*' && (port === '*' || port === '')) {
      if (this.#default !== undefined) throw invalid(where, `expected one default ("*") virtual host per router, found another`);
      this.#default = vh;
      return;
    }
    if (!host.includes('*')) {
      let ports = this.#exact.get(host);
      if (ports === undefined) this.#exact.set(host, (ports = new Map()));
      if (ports.has(port)) throw invalid(where, `expected unique domains, ${JSON.stringify(domain)} is listed twice`);
      ports.set(port, vh);
      return;
    }
    if (!host.startsWith('*') || host.indexOf('*', 1) >= 0) {
      throw invalid(where, `expected "*" only at the start of a domain ("*.example.com"), got ${JSON.stringify(domain)}`);
    }
    let list = this.#wildcards.get(port);
    if (list === undefined) this.#wildcards.set(port, (list = []));
    const suffix = host.slice(1);
    if (list.some((w) => w.suffix === suffix)) throw invalid(where, `expected unique domains, ${JSON.stringify(domain)} is listed twice`);
    list.push({ suffix, host: vh });
  }

  /** The matching route for a request, or undefined (the proxy answers 404). Hot path. */
  match(req: RouteRequest): MatchedRoute | undefined {
    const vh = this.#virtualHost(req.authority);
    if (vh === undefined) return undefined;
    const target = req.path;
    const q = target.indexOf('?');
    const path = normalizePath(q < 0 ? target : target.slice(0, q));
    for (const route of vh.routes) if (route.matches(path, req)) return route;
    return undefined;
  }

  #virtualHost(authority: string): CompiledVirtualHost | undefined {
    if (this.#exact.size === 0 && this.#wildcards.size === 0) return this.#default;
    if (authority === '') return this.#default;
    const lower = authority.toLowerCase();
    let host = lower;
    let port = '';
    // A host without port or brackets needs no split (and allocates nothing).
    if (lower.indexOf(':') >= 0 || lower.indexOf('[') >= 0 || lower.indexOf(']') >= 0) {
      const hp = splitHostPort(lower);
      if (hp === undefined) return undefined;
      host = hp.host;
      port = hp.port;
    }
    const ports = this.#exact.get(host);
    if (ports !== undefined) {
      const vh = ports.get(port) ?? ports.get('*');
      if (vh !== undefined) return vh;
    }
    return wildcardFor(this.#wildcards.get(port), host) ?? wildcardFor(this.#wildcards.get('*'), host) ?? this.#default;
  }
}

function wildcardFor(list: readonly Wildcard[] | undefined, host: string): CompiledVirtualHost | undefined {
  if (list === undefined) return undefined;
  for (const w of list) if (host.length > w.suffix.length && host.endsWith(w.suffix)) return w.host;
  return undefined;
}

function compileVirtualHost(
  vh: VirtualHostConfig,
  index: number,
  vhPath: string,
  router: {
    routerRequest: HeaderEdits;
    routerResponse: HeaderEdits;
    parse: RouteTableOptions['parsePerFilterConfig'];
    warnings: string[];
  },
): CompiledVirtualHost {
  const request = new HeaderEdits(vh.request_headers_to_add, vh.request_headers_to_remove);
  const response = new HeaderEdits(vh.response_headers_to_add, vh.response_headers_to_remove);
  warnVariables(vhPath, [request, response], router.warnings);
  const scope: RouteScope = {
    virtualHostName: vh.name,
    virtualHostLabel: `virtual_hosts[${index}]`,
    requestEdits: [request, router.routerRequest],
    responseEdits: [response, router.routerResponse],
    perFilterConfig: parsePerFilterConfigs(vh.per_filter_config, `${vhPath}.per_filter_config`, router.parse),
    parsePerFilterConfig: router.parse,
    warn: (message) => router.warnings.push(message),
  };
  const routes = vh.routers.map((route, r) => new RouteEntry(route, `${vhPath}.routers[${r}]`, r, scope));
  return { name: vh.name, routes };
}

function warnVariables(path: string, edits: readonly HeaderEdits[], warnings: string[]): void {
  for (const e of edits) {
    for (const value of e.variableValues) {
      warnings.push(`${path}: header value ${JSON.stringify(value)} is a MOSN variable reference; mosnode sends it as written`);
    }
  }
}

function invalid(where: string, message: string): MosnError {
  return new MosnError('MOSN_ERR_CONFIG_INVALID', `${where}: ${message}`);
}

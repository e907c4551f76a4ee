/**
 * @module router/route-table
 * MOSN routing for one `routers[]` entry: choose the virtual host by Host/:authority
 * (exact domain, then the longest "*.suffix" wildcard, then "*"; a domain may carry a
 * port), then the first route whose match holds: `prefix`, `path` (exact) or `regex` on
 * the path without its query, ANDed with every `headers[]` matcher; a route with only
 * headers matches on headers alone. Depends on config/types only.
 */
import type { RouteConfig, RouterConfig, VirtualHostConfig } from '../config/types.ts';

/** Header lookup by lower-case name; returns undefined when absent. */
export type HeaderLookup = (lowerName: string) => string | undefined;

interface CompiledRoute {
  config: RouteConfig;
  prefix: string | undefined;
  path: string | undefined;
  regex: RegExp | undefined;
  headers: Array<{ name: string; value: string | undefined; regex: RegExp | undefined }>;
}

interface CompiledVirtualHost {
  config: VirtualHostConfig;
  routes: CompiledRoute[];
}

export interface RouteMatch {
  virtualHost: VirtualHostConfig;
  route: RouteConfig;
}

/**
 * Compiles a MOSN (Go RE2) route regex, anchored. Go's leading `(?i)` flag becomes JS's
 * `i`. JS regexes backtrack where RE2 does not: patterns come from the operator's config,
 * not from clients, but a pathological one can still be slow on a long path.
 */
function anchored(pattern: string, where: string): RegExp {
  let flags = '';
  if (pattern.startsWith('(?i)')) {
    flags = 'i';
    pattern = pattern.slice(4);
  }
  try {
    return new RegExp(`^(?:${pattern})$`, flags);
  } catch (err) {
    throw new Error(`${where}: expected a valid regular expression, got ${JSON.stringify(pattern)} (${(err as Error).message})`);
  }
}

export class RouteTable {
  readonly name: string;
  readonly #exact = new Map<string, CompiledVirtualHost>();
  /** "*.suffix" domains, longest suffix first. */
  readonly #wildcards: Array<{ suffix: string; host: CompiledVirtualHost }> = [];
  #default: CompiledVirtualHost | undefined;

  /** `path` is the JSON path of this router config, for error messages. */
  constructor(config: RouterConfig, path: string) {
    this.name = config.router_config_name;
    config.virtual_hosts.forEach((vh, v) => {
      const vhPath = `${path}.virtual_hosts[${v}]`;
      const compiled: CompiledVirtualHost = {
        config: vh,
        routes: vh.routers.map((route, r) => compileRoute(route, `${vhPath}.routers[${r}]`)),
      };
      for (const domain of vh.domains.length > 0 ? vh.domains : ['*']) {
        const d = domain.toLowerCase();
        if (d === '*') {
          if (this.#default !== undefined) throw new Error(`${vhPath}.domains: expected one "*" virtual host per router, found another`);
          this.#default = compiled;
        } else if (d.startsWith('*')) {
          const suffix = d.slice(1);
          if (this.#wildcards.some((w) => w.suffix === suffix)) {
            throw new Error(`${vhPath}.domains: expected unique domains, "${domain}" is listed twice`);
          }
          this.#wildcards.push({ suffix, host: compiled });
        } else {
          if (this.#exact.has(d)) throw new Error(`${vhPath}.domains: expected unique domains, "${domain}" is listed twice`);
          this.#exact.set(d, compiled);
        }
      }
    });
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  /** The matching route for a request, or undefined (the proxy answers 404). */
  match(host: string, path: string, header: HeaderLookup): RouteMatch | undefined {
    const vh = this.#virtualHost(host.toLowerCase());
    if (vh === undefined) return undefined;
    const q = path.indexOf('?');
    const bare = q < 0 ? path : path.slice(0, q);
    for (const route of vh.routes) {
      if (matches(route, bare, header)) return { virtualHost: vh.config, route: route.config };
    }
    return undefined;
  }

  #virtualHost(host: string): CompiledVirtualHost | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    // "example.com:8080" also matches a domain written without the port.
    const colon = host.lastIndexOf(':');
    const bare = colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
    if (bare !== host) {
      const byBare = this.#exact.get(bare);
      if (byBare !== undefined) return byBare;
    }
    for (const { suffix, host: vh } of this.#wildcards) {
      if ((host.endsWith(suffix) && host.length > suffix.length) || (bare.endsWith(suffix) && bare.length > suffix.length)) return vh;
    }
    return this.#default;
  }
}

function compileRoute(route: RouteConfig, path: string): CompiledRoute {
  const m = route.match;
  return {
    config: route,
    prefix: m.prefix,
    path: m.path,
    regex: m.regex !== undefined ? anchored(m.regex, `${path}.match.regex`) : undefined,
    headers: m.headers.map((h, i) => ({
      name: h.name.toLowerCase(),
      value: h.regex ? undefined : h.value,
      regex: h.regex ? anchored(h.value, `${path}.match.headers[${i}].value`) : undefined,
    })),
  };
}

function matches(route: CompiledRoute, path: string, header: HeaderLookup): boolean {
  // MOSN's precedence: prefix, then path, then regex; headers are ANDed in.
  if (route.prefix !== undefined) {
    if (!path.startsWith(route.prefix)) return false;
  } else if (route.path !== undefined) {
    if (path !== route.path) return false;
  } else if (route.regex !== undefined) {
    if (!route.regex.test(path)) return false;
  } else if (route.headers.length === 0) {
    return false; // a route with no matcher at all never matches
  }
  for (const h of route.headers) {
    const value = header(h.name);
    if (value === undefined) return false;
    if (h.regex !== undefined ? !h.regex.test(value) : value !== h.value) return false;
  }
  return true;
}

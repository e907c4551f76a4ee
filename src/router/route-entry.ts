/**
 * @module router/route-entry
 * One route of a virtual host, compiled once when the router is built: its matcher
 * (MOSN's RouteRule kinds) and everything the proxy asks of a matched route. The object
 * itself is what `RouteTable.match()` returns, so a match allocates nothing; per-request
 * inputs are arguments (`clusterName(headers)`, `rewrite(request)`, ...).
 *
 * MOSN's rules kept here (pkg/router/*.go, pkg/proxy/downstream.go):
 *   - the rule kind is the first of `prefix`, `path`, `regex`, `variables`,
 *     `dsl_expressions` that is set; with none of them the route is a header rule;
 *   - `prefix` is case-sensitive, `path` compares ignoring case, `regex` is unanchored
 *     (Go's MatchString), all on the normalized path without its query;
 *   - `headers[]` are ANDed: the header must be present and equal `value` exactly
 *     ("" = present and empty), or match the unanchored regex; the name `method` compares
 *     the request method; a header rule with no header at all matches every request, and
 *     a header rule whose only header is `service` matches any non-empty value when its
 *     value is ".*" (MOSN's RPC fast path);
 *   - `direct_response` wins over `redirect`, which wins over forwarding;
 *   - `prefix_rewrite` wins over `regex_rewrite`; the rewritten path goes upstream escaped,
 *     with the query kept, and the path before rewriting in `x-mosn-original-path`;
 *   - header edits run route, then virtual host, then router level.
 * Where mosnode departs from MOSN, on purpose: `method` is matched in header rules too
 * (MOSN only with a path rule); `regex_rewrite` applies to every route kind (MOSN skips
 * header rules); `prefix_rewrite` on a `path` route applies whenever the route matched
 * (MOSN skips a case mismatch); `num_retries` is honoured as written (MOSN never goes below
 * 3); an invalid header regex is an error (MOSN drops the matcher, widening the route).
 * Depends on api/ (headers, stream-filter types), config/types and router/ helpers.
 */
import type { HeaderMap } from '../api/headers.ts';
import { MosnError } from '../core/errors.ts';
import type { RequestHead } from '../api/stream-filter.ts';
import type { RouteConfig } from '../config/types.ts';
import { HeaderEdits } from './header-edits.ts';
import { escapePath, normalizePath, splitHostPort } from './http-path.ts';
import { compileGoTemplate, compileRe2, replaceAllGo, type Re2Pattern } from './re2.ts';

/** What routing reads from a request. */
export interface RouteRequest {
  /** Host / :authority, as received (with a port if the client sent one). */
  authority: string;
  /** Path with query, as received ("/a/b?x=1"). */
  path: string;
  /** Lower-case names. */
  headers: HeaderMap;
  /** For a `headers[]` matcher named "method" (MOSN matches it on the method); absent = never equal. */
  method?: string;
}

/**
 * When and how often to try the upstream again.
 * MOSN's semantics: a connection failure is always retryable; with `retry_on`, a reset or a
 * per-try timeout is too, and so is a response whose status is in `retryOnStatus`
 * (`status_codes` when given, else every 5xx).
 */
export interface RetryPolicy {
  /** Retries after the first try. */
  numRetries: number;
  /** undefined = the whole-request timeout only. */
  perTryTimeoutMs: number | undefined;
  retryOnConnectFailure: boolean;
  /** A reset or closed upstream stream, or a per-try timeout, before a response. */
  retryOnReset: boolean;
  retryOnStatus: ReadonlySet<number>;
}

export interface MatchedRoute {
  /**
   * For the access log `%route_name%`. MOSN routes have no name key (its `route_name`
   * variable stays empty), so this is the route's place in the config, stable across
   * reloads of the same file: "<virtual host name>.routers[<index>]", with
   * "virtual_hosts[<index>]" standing for a virtual host without a name.
   */
  readonly name: string;
  readonly virtualHostName: string;
  readonly directResponse: { status: number; body: string } | undefined;
  /**
   * undefined unless the route is a redirect (and has no direct_response, which MOSN
   * checks first); else the status and the Location value, built as MOSN does: each of
   * scheme, host and path from the config when set, else from the request (the path
   * normalized); the query kept; the port dropped when the scheme changes to http with
   * port 443 or to https with port 80.
   */
  redirect(req: { scheme: string; authority: string; path: string }): { status: number; location: string } | undefined;
  /**
   * `weighted_clusters` when set (a draw by weight, with Math.random), else `cluster_name`,
   * else the value of the `cluster_header` request header; undefined if none.
   */
  clusterName(headers: HeaderMap): string | undefined;
  /**
   * Applies `prefix_rewrite` or `regex_rewrite` (MOSN semantics, query kept) and then
   * `host_rewrite` or `auto_host_rewrite_header` to the request in place. Call once, after
   * routing and before `applyRequestHeaders`.
   */
  rewrite(req: RequestHead): void;
  /**
   * MOSN: set the Host sent upstream to the chosen host's hostname (MOSN does it for
   * STRICT_DNS clusters only). False when `host_rewrite` or `auto_host_rewrite_header` is set,
   * as they win in MOSN.
   */
  readonly autoHostRewrite: boolean;
  /** ms; undefined = the proxy's default (MOSN: 60 s). */
  readonly timeoutMs: number | undefined;
  /**
   * undefined when the route has no `retry_policy`. MOSN then still retries a connection
   * failure (see MOSN_DEFAULT_RETRY_POLICY).
   */
  readonly retryPolicy: RetryPolicy | undefined;
  /** `request_mirror_policies` (MOSN allows one); percent 1..100. */
  readonly mirrors: ReadonlyArray<{ cluster: string; percent: number }>;
  /** Request headers add/remove at route, virtual host and router level, in MOSN's order. */
  applyRequestHeaders(headers: HeaderMap): void;
  applyResponseHeaders(headers: HeaderMap): void;
  /** The parsed per_filter_config of this stream filter type: route level first, else virtual host; undefined if none. */
  perFilterConfig(type: string): unknown;
}

/** MOSN's whole-request timeout when the route sets none (pkg/types: GlobalTimeout). */
export const MOSN_DEFAULT_TIMEOUT_MS = 60_000;

/** What MOSN does for a route without retry_policy: up to 3 retries of a connection failure. */
export const MOSN_DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  numRetries: 3,
  perTryTimeoutMs: undefined,
  retryOnConnectFailure: true,
  retryOnReset: false,
  retryOnStatus: new Set<number>(),
});

/** Every 5xx: what `retry_on` retries when `status_codes` is empty (MOSN: code >= 500). */
const ALL_5XX: ReadonlySet<number> = new Set(Array.from({ length: 100 }, (_, i) => 500 + i));
const NO_STATUS: ReadonlySet<number> = new Set();

/** The header MOSN writes the path into before a rewrite. */
export const ORIGINAL_PATH_HEADER = 'x-mosn-original-path';

type PathRule =
  | { kind: 'prefix'; prefix: string }
  | { kind: 'path'; path: string; lower: string }
  | { kind: 'regex'; source: string; regex: RegExp }
  | { kind: 'headers' }
  | { kind: 'never' };

interface HeaderRule {
  /** Lower-case; "" for the method rule. */
  readonly name: string;
  readonly method: boolean;
  readonly value: string;
  readonly regex: RegExp | undefined;
}

/** What a route inherits from its virtual host and router. */
export interface RouteScope {
  readonly virtualHostName: string;
  /** Name for `name` when the virtual host has none: "virtual_hosts[<index>]". */
  readonly virtualHostLabel: string;
  readonly requestEdits: readonly HeaderEdits[];
  readonly responseEdits: readonly HeaderEdits[];
  readonly perFilterConfig: ReadonlyMap<string, unknown>;
  readonly parsePerFilterConfig: ((type: string, raw: unknown, path: string) => unknown) | undefined;
  readonly warn: (message: string) => void;
}

/** Compiles a Go regex for the router; throws MOSN_ERR_CONFIG_INVALID naming `where`. */
export function routeRegex(pattern: string, where: string, flags = ''): Re2Pattern {
  try {
    return compileRe2(pattern, flags);
  } catch (err) {
    throw new MosnError(
      'MOSN_ERR_CONFIG_INVALID',
      `${where}: expected a Go (RE2) regular expression, got ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

/** Parses a `per_filter_config` object into a map, each value through the stream filter's parser. */
export function parsePerFilterConfigs(
  raw: Record<string, unknown>,
  path: string,
  parse: ((type: string, raw: unknown, path: string) => unknown) | undefined,
): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [type, value] of Object.entries(raw)) {
    const where = /^[A-Za-z_][A-Za-z0-9_]*$/.test(type) ? `${path}.${type}` : `${path}[${JSON.stringify(type)}]`;
    out.set(type, parse === undefined ? value : parse(type, value, where));
  }
  return out;
}

export class RouteEntry implements MatchedRoute {
  readonly name: string;
  readonly virtualHostName: string;
  readonly directResponse: { status: number; body: string } | undefined;
  readonly autoHostRewrite: boolean;
  readonly timeoutMs: number | undefined;
  readonly retryPolicy: RetryPolicy | undefined;
  readonly mirrors: ReadonlyArray<{ cluster: string; percent: number }>;

  readonly #rule: PathRule;
  readonly #headers: readonly HeaderRule[];
  /** MOSN's RPC fast path: a lone `service` header matcher. */
  readonly #serviceFastMatch: string | undefined;
  readonly #redirect: { status: number; scheme: string | undefined; host: string | undefined; path: string | undefined } | undefined;
  readonly #clusterName: string | undefined;
  readonly #clusterHeader: string | undefined;
  readonly #weightNames: readonly string[];
  /** Running totals of the weights, for the draw. */
  readonly #weightEnds: readonly number[];
  readonly #weightTotal: number;
  readonly #prefixRewrite: string | undefined;
  readonly #regexRewrite: { pattern: Re2Pattern; template: ReturnType<typeof compileGoTemplate> } | undefined;
  readonly #hostRewrite: string | undefined;
  readonly #hostRewriteHeader: string | undefined;
  readonly #requestEdits: readonly HeaderEdits[];
  readonly #responseEdits: readonly HeaderEdits[];
  readonly #perFilterConfig: ReadonlyMap<string, unknown>;

  /** `path` is the route's JSON path, for errors and warnings; `index` its place in the virtual host. */
  constructor(config: RouteConfig, path: string, index: number, scope: RouteScope) {
    const warn = (where: string, message: string): void => scope.warn(`${path}${where}: ${message}`);
    this.name = `${scope.virtualHostName !== '' ? scope.virtualHostName : scope.virtualHostLabel}.routers[${index}]`;
    this.virtualHostName = scope.virtualHostName;

    // Matcher: the first path rule set decides the kind (MOSN's NewRouteBase).
    const m = config.match;
    if (m.prefix !== undefined && m.prefix !== '') {
      this.#rule = { kind: 'prefix', prefix: m.prefix };
    } else if (m.path !== undefined && m.path !== '') {
      this.#rule = { kind: 'path', path: m.path, lower: m.path.toLowerCase() };
    } else if (m.regex !== undefined && m.regex !== '') {
      this.#rule = { kind: 'regex', source: m.regex, regex: routeRegex(m.regex, `${path}.match.regex`).regex };
    } else if (nonEmptyArray(m['variables']) || nonEmptyArray(m['dsl_expressions'])) {
      const key = nonEmptyArray(m['variables']) ? 'variables' : 'dsl_expressions';
      warn(`.match.${key}`, 'not supported by mosnode yet: this route never matches');
      this.#rule = { kind: 'never' };
    } else {
      this.#rule = { kind: 'headers' };
    }
    this.#headers = m.headers.map((h, i): HeaderRule => {
      const method = h.name === 'method';
      return {
        name: method ? '' : h.name.toLowerCase(),
        method,
        value: h.value,
        // MOSN compares the method exactly, whatever `regex` says.
        regex: h.regex && !method ? routeRegex(h.value, `${path}.match.headers[${i}].value`).regex : undefined,
      };
    });
    const only = m.headers[0];
    this.#serviceFastMatch = this.#rule.kind === 'headers' && m.headers.length === 1 && only?.name === 'service' ? only.value : undefined;

    // Answers other than forwarding.
    this.directResponse =
      config.direct_response === undefined ? undefined : { status: config.direct_response.status, body: config.direct_response.body ?? '' };
    const r = config.redirect;
    if (r !== undefined && this.directResponse !== undefined) warn('.redirect', 'ignored: direct_response wins, as in MOSN');
    this.#redirect =
      r === undefined || this.directResponse !== undefined
        ? undefined
        : { status: r.response_code, scheme: r.scheme_redirect, host: r.host_redirect, path: r.path_redirect };

    // Forwarding.
    const a = config.route;
    this.#clusterName = a?.cluster_name !== undefined && a.cluster_name !== '' ? a.cluster_name : undefined;
    this.#clusterHeader = a?.cluster_header !== undefined && a.cluster_header !== '' ? a.cluster_header.toLowerCase() : undefined;
    const weighted = a?.weighted_clusters ?? [];
    let total = 0;
    this.#weightNames = weighted.map((w) => w.cluster.name);
    this.#weightEnds = weighted.map((w) => (total += w.cluster.weight));
    this.#weightTotal = total;
    if (weighted.length > 0 && total === 0) {
      throw new MosnError('MOSN_ERR_CONFIG_INVALID', `${path}.route.weighted_clusters: expected weights that sum to more than 0, got a total of 0`);
    }
    if (weighted.length > 0 && this.#clusterName !== undefined) warn('.route.cluster_name', 'not used: weighted_clusters is set');

    this.#prefixRewrite = a?.prefix_rewrite !== undefined && a.prefix_rewrite !== '' ? a.prefix_rewrite : undefined;
    if (this.#prefixRewrite !== undefined && this.#rule.kind === 'regex') {
      warn('.route.prefix_rewrite', 'on a regex route it rewrites only paths that start with the regex text itself (MOSN\'s rule); use regex_rewrite');
    } else if (this.#prefixRewrite !== undefined && (this.#rule.kind === 'headers' || this.#rule.kind === 'never')) {
      warn('.route.prefix_rewrite', 'no effect on a route without prefix, path or regex (MOSN\'s rule)');
    }
    const rr = a?.regex_rewrite;
    if (rr !== undefined && this.#prefixRewrite !== undefined) {
      warn('.route.regex_rewrite', 'ignored: prefix_rewrite wins, as in MOSN');
      this.#regexRewrite = undefined;
    } else if (rr !== undefined && rr.pattern.regex.length <= 1) {
      // MOSN only compiles a pattern longer than one character.
      warn('.route.regex_rewrite.pattern.regex', 'ignored: MOSN ignores a pattern of fewer than two characters');
      this.#regexRewrite = undefined;
    } else if (rr !== undefined) {
      const pattern = routeRegex(rr.pattern.regex, `${path}.route.regex_rewrite.pattern.regex`, 'g');
      this.#regexRewrite = { pattern, template: compileGoTemplate(rr.substitution, pattern) };
    } else {
      this.#regexRewrite = undefined;
    }
    this.#hostRewrite = a?.host_rewrite !== undefined && a.host_rewrite !== '' ? a.host_rewrite : undefined;
    const hostHeader = a?.['auto_host_rewrite_header'];
    this.#hostRewriteHeader = typeof hostHeader === 'string' && hostHeader !== '' ? hostHeader.toLowerCase() : undefined;
    this.autoHostRewrite = (a?.auto_host_rewrite ?? false) && this.#hostRewrite === undefined && this.#hostRewriteHeader === undefined;

    this.timeoutMs = a?.timeout;
    const rp = a?.retry_policy;
    if (rp === undefined) {
      this.retryPolicy = undefined;
    } else {
      const tryTimeout = rp.retry_timeout;
      this.retryPolicy = Object.freeze({
        // MOSN starts from 3 and only raises it; mosnode honours a smaller count written in the config.
        numRetries: rp.num_retries > 0 ? rp.num_retries : 3,
        // MOSN drops a per-try timeout that is not shorter than the whole request's.
        perTryTimeoutMs:
          tryTimeout !== undefined && tryTimeout < (this.timeoutMs ?? MOSN_DEFAULT_TIMEOUT_MS) ? tryTimeout : undefined,
        retryOnConnectFailure: true,
        retryOnReset: rp.retry_on,
        retryOnStatus: !rp.retry_on ? NO_STATUS : rp.status_codes.length > 0 ? new Set(rp.status_codes) : ALL_5XX,
      });
    }
    const mirror = config.request_mirror_policies;
    this.mirrors =
      mirror === undefined || mirror.cluster === '' || mirror.percent === 0
        ? []
        : Object.freeze([Object.freeze({ cluster: mirror.cluster, percent: Math.min(mirror.percent, 100) })]);

    const requestEdits = new HeaderEdits(a?.request_headers_to_add ?? [], a?.request_headers_to_remove ?? []);
    const responseEdits = new HeaderEdits(a?.response_headers_to_add ?? [], a?.response_headers_to_remove ?? []);
    for (const value of [...requestEdits.variableValues, ...responseEdits.variableValues]) {
      warn('.route', `header value ${JSON.stringify(value)} is a MOSN variable reference; mosnode sends it as written`);
    }
    this.#requestEdits = [requestEdits, ...scope.requestEdits].filter((e) => !e.isEmpty);
    this.#responseEdits = [responseEdits, ...scope.responseEdits].filter((e) => !e.isEmpty);

    const own = parsePerFilterConfigs(config.per_filter_config, `${path}.per_filter_config`, scope.parsePerFilterConfig);
    this.#perFilterConfig = own.size === 0 ? scope.perFilterConfig : new Map([...scope.perFilterConfig, ...own]);
  }

  /** Whether the request matches; `path` is the normalized path without query. Hot path: allocates nothing. */
  matches(path: string, req: RouteRequest): boolean {
    const rule = this.#rule;
    switch (rule.kind) {
      case 'prefix':
        if (!path.startsWith(rule.prefix)) return false;
        break;
      case 'path':
        if (path.length !== rule.path.length || (path !== rule.path && path.toLowerCase() !== rule.lower)) return false;
        break;
      case 'regex':
        if (!rule.regex.test(path)) return false;
        break;
      case 'never':
        return false;
      case 'headers':
        if (this.#serviceFastMatch !== undefined) {
          const service = req.headers.get('service');
          return service !== undefined && service !== '' && (this.#serviceFastMatch === '.*' || service === this.#serviceFastMatch);
        }
        break;
    }
    for (const h of this.#headers) {
      const value = h.method ? req.method : req.headers.get(h.name);
      if (value === undefined) return false;
      if (h.regex !== undefined ? !h.regex.test(value) : value !== h.value) return false;
    }
    return true;
  }

  redirect(req: { scheme: string; authority: string; path: string }): { status: number; location: string } | undefined {
    const r = this.#redirect;
    if (r === undefined) return undefined;
    const { path: current, query } = splitQuery(req.path);
    const currentScheme = req.scheme.toLowerCase();
    const scheme = r.scheme ?? currentScheme;
    let host = r.host ?? req.authority;
    if (scheme !== currentScheme) {
      const hp = splitHostPort(host);
      if (hp !== undefined && ((scheme === 'http' && hp.port === '443') || (scheme === 'https' && hp.port === '80'))) {
        host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
      }
    }
    const path = r.path ?? normalizePath(current);
    // Go's url.String() puts a "/" between a host and a relative path.
    const slash = host !== '' && path !== '' && !path.startsWith('/') ? '/' : '';
    return { status: r.status, location: `${scheme}://${host}${slash}${escapePath(path)}${query === '' ? '' : `?${query}`}` };
  }

  clusterName(headers: HeaderMap): string | undefined {
    if (this.#weightTotal > 0) {
      const draw = Math.floor(Math.random() * this.#weightTotal);
      const ends = this.#weightEnds;
      for (let i = 0; i < ends.length; i++) if (draw < ends[i]!) return this.#weightNames[i];
    }
    if (this.#clusterName !== undefined) return this.#clusterName;
    if (this.#clusterHeader !== undefined) {
      const value = headers.get(this.#clusterHeader);
      return value === '' ? undefined : value;
    }
    return undefined;
  }

  rewrite(req: RequestHead): void {
    if (this.#prefixRewrite !== undefined || this.#regexRewrite !== undefined) this.#rewritePath(req);
    if (this.#hostRewrite !== undefined) {
      req.authority = this.#hostRewrite;
    } else if (this.#hostRewriteHeader !== undefined) {
      const value = req.headers.get(this.#hostRewriteHeader);
      if (value !== undefined && value !== '') req.authority = value;
    }
  }

  #rewritePath(req: RequestHead): void {
    const { path: raw, query } = splitQuery(req.path);
    const path = normalizePath(raw);
    let next: string | undefined;
    if (this.#prefixRewrite !== undefined) {
      const matched = this.#matchedPrefixLength(path);
      if (matched >= 0) next = this.#prefixRewrite + path.slice(matched);
    } else if (this.#regexRewrite !== undefined) {
      const replaced = replaceAllGo(path, this.#regexRewrite.pattern, this.#regexRewrite.template);
      if (replaced !== path) next = replaced;
    }
    if (next === undefined) return;
    req.headers.set(ORIGINAL_PATH_HEADER, path);
    req.path = `${escapePath(next)}${query === '' ? '' : `?${query}`}`;
  }

  /** How much of `path` prefix_rewrite replaces, or -1 when it does not apply (MOSN's finalizePathHeader). */
  #matchedPrefixLength(path: string): number {
    const rule = this.#rule;
    switch (rule.kind) {
      case 'prefix':
        return path.startsWith(rule.prefix) ? rule.prefix.length : -1;
      case 'path':
        // The route matched ignoring case: the whole path is replaced (MOSN would skip a case mismatch).
        return path.length === rule.path.length && path.toLowerCase() === rule.lower ? path.length : -1;
      case 'regex':
        return path.startsWith(rule.source) ? rule.source.length : -1;
      default:
        return -1;
    }
  }

  applyRequestHeaders(headers: HeaderMap): void {
    for (const edits of this.#requestEdits) edits.apply(headers);
  }

  applyResponseHeaders(headers: HeaderMap): void {
    for (const edits of this.#responseEdits) edits.apply(headers);
  }

  perFilterConfig(type: string): unknown {
    return this.#perFilterConfig.get(type);
  }
}

function nonEmptyArray(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

/** Splits "/a?x=1" into the path and the query (without "?"). */
export function splitQuery(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

import { test, describe, mock } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../api/headers.ts';
import type { RequestHead } from '../api/stream-filter.ts';
import { MosnError } from '../core/errors.ts';
import type {
  HeaderMatcherConfig,
  HeaderValueOption,
  RouteActionConfig,
  RouteConfig,
  RouteMatchConfig,
  RouterConfig,
  VirtualHostConfig,
} from '../config/types.ts';
import { MOSN_DEFAULT_RETRY_POLICY, RouteTable, type MatchedRoute, type RouteRequest, type RouteTableOptions } from './route-table.ts';

// ---------------------------------------------------------------------------------------
// Builders of normalized configs (what config/ hands the router)

type MatchSpec = Partial<Omit<RouteMatchConfig, 'headers'>> & { headers?: HeaderMatcherConfig[] };

function action(spec: Partial<RouteActionConfig> = {}): RouteActionConfig {
  return {
    cluster_name: undefined,
    cluster_header: undefined,
    weighted_clusters: [],
    timeout: undefined,
    retry_policy: undefined,
    prefix_rewrite: undefined,
    regex_rewrite: undefined,
    host_rewrite: undefined,
    auto_host_rewrite: false,
    auto_host_rewrite_header: undefined,
    request_headers_to_add: [],
    request_headers_to_remove: [],
    response_headers_to_add: [],
    response_headers_to_remove: [],
    ...spec,
  };
}

function route(match: MatchSpec, act: Partial<RouteActionConfig> | undefined = {}, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    match: { prefix: undefined, path: undefined, regex: undefined, ...match, headers: match.headers ?? [] },
    route: act === undefined ? undefined : action(act),
    direct_response: undefined,
    redirect: undefined,
    request_mirror_policies: undefined,
    per_filter_config: {},
    ...extra,
  };
}

/** A route to cluster `cluster`. */
const to = (cluster: string, match: MatchSpec, act: Partial<RouteActionConfig> = {}): RouteConfig =>
  route(match, { cluster_name: cluster, ...act });

function vhost(
  name: string,
  domains: string[],
  routers: RouteConfig[] = [to(name, { prefix: '/' })],
  extra: Partial<VirtualHostConfig> = {},
): VirtualHostConfig {
  return {
    name,
    domains,
    routers,
    request_headers_to_add: [],
    request_headers_to_remove: [],
    response_headers_to_add: [],
    response_headers_to_remove: [],
    per_filter_config: {},
    ...extra,
  };
}

function router(virtualHosts: VirtualHostConfig[], extra: Partial<RouterConfig> = {}): RouterConfig {
  return {
    router_config_name: 'server_router',
    virtual_hosts: virtualHosts,
    request_headers_to_add: [],
    request_headers_to_remove: [],
    response_headers_to_add: [],
    response_headers_to_remove: [],
    ...extra,
  };
}

const PATH = 'servers[0].routers[0]';
const ROUTE0 = `${PATH}.virtual_hosts[0].routers[0]`;

function table(virtualHosts: VirtualHostConfig[], extra: Partial<RouterConfig> = {}, options?: RouteTableOptions): RouteTable {
  return new RouteTable(router(virtualHosts, extra), PATH, options);
}

/** A table with one "*" virtual host holding `routes`. */
const tableOf = (routes: RouteConfig[], options?: RouteTableOptions): RouteTable => table([vhost('default', ['*'], routes)], {}, options);

function req(path: string, headers: Record<string, string> = {}, authority = 'any.host', method?: string): RouteRequest {
  const r: RouteRequest = { authority, path, headers: new HeaderMap(Object.entries(headers).flat()) };
  if (method !== undefined) r.method = method;
  return r;
}

/** The cluster chosen for `path` in `t`, or undefined when nothing matches. */
function clusterFor(t: RouteTable, path: string, headers: Record<string, string> = {}, method?: string): string | undefined {
  const request = req(path, headers, 'any.host', method);
  return t.match(request)?.clusterName(request.headers);
}

/** The virtual host chosen for `host`. */
function hostFor(t: RouteTable, host: string): string | undefined {
  return t.match(req('/', {}, host))?.virtualHostName;
}

function head(path: string, headers: Record<string, string> = {}, authority = 'example.com'): RequestHead {
  return { method: 'GET', path, authority, scheme: 'http', headers: new HeaderMap(Object.entries(headers).flat()) };
}

function matched(t: RouteTable, path = '/', headers: Record<string, string> = {}): MatchedRoute {
  const m = t.match(req(path, headers));
  assert.ok(m, `no route for ${path}`);
  return m;
}

const add = (key: string, value: string, append = true): HeaderValueOption => ({ header: { key, value }, append });

/** Asserts a MOSN_ERR_CONFIG_INVALID whose message starts with `path: ` and matches `re`. */
function assertConfigError(fn: () => unknown, path: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MosnError, String(err));
    assert.equal(err.code, 'MOSN_ERR_CONFIG_INVALID');
    assert.ok(err.message.startsWith(`${path}: `), err.message);
    assert.match(err.message, re);
    return true;
  });
}

// ---------------------------------------------------------------------------------------

describe('virtual host choice: MOSN precedence', () => {
  test('keeps the router_config_name', () => {
    assert.equal(tableOf([]).name, 'server_router');
  });

  test('exact host+port, exact host with "*" port, wildcard with port, wildcard any port, default', () => {
    // The domains and expectations of MOSN's routers_impl_test.go TestVirtulHostWithPortMatch.
    const t = table([
      vhost('0', ['www.test.com']),
      vhost('1', ['www.test.com:8080']),
      vhost('2', ['www.test.com:*']),
      vhost('3', ['*.test.com:30888']),
      vhost('4', ['*.com:30888']),
      vhost('5', ['*.com:*', '*.com']),
      vhost('6', ['*:*']),
      vhost('7', ['*:80']),
    ]);
    const expected: Array<[string, string]> = [
      ['www.test.com', '0'],
      ['www.test.com:8080', '1'],
      ['www.test.com:80', '2'],
      ['www.test.com:30888', '2'],
      ['hello.test.com:30888', '3'],
      ['hello.com:30888', '4'],
      ['hello.com:30777', '5'],
      ['hello.cn:30777', '6'],
      ['hello.cn', '6'],
      ['hello.cn:80', '7'],
    ];
    for (const [host, name] of expected) assert.equal(hostFor(t, host), name, host);
  });

  test('a domain without a port matches only a host without a port (MOSN), case-insensitively', () => {
    const t = table([vhost('exact', ['WWW.Example.com']), vhost('fallback', ['*'])]);
    assert.equal(hostFor(t, 'www.example.com'), 'exact');
    assert.equal(hostFor(t, 'WWW.EXAMPLE.COM'), 'exact');
    assert.equal(hostFor(t, 'www.example.com:8080'), 'fallback');
    const wild = table([vhost('wild', ['*.example.com']), vhost('fallback', ['*'])]);
    assert.equal(hostFor(wild, 'a.example.com'), 'wild');
    assert.equal(hostFor(wild, 'a.example.com:8080'), 'fallback');
  });

  test('wildcards: longest suffix first whatever the config order; the host must be longer than the suffix', () => {
    for (const hosts of [
      [vhost('short', ['*.c.com']), vhost('long', ['*.b.c.com'])],
      [vhost('long', ['*.b.c.com']), vhost('short', ['*.c.com'])],
    ]) {
      const t = table([...hosts, vhost('fallback', ['*'])]);
      assert.equal(hostFor(t, 'a.b.c.com'), 'long');
      assert.equal(hostFor(t, 'a.x.c.com'), 'short');
      assert.equal(hostFor(t, '.c.com'), 'fallback');
      assert.equal(hostFor(t, 'c.com'), 'fallback');
    }
    // The suffix need not start with a dot (MOSN compares the tail).
    const dashed = table([vhost('short', ['*.baz.com']), vhost('long', ['*-bar.baz.com'])]);
    assert.equal(hostFor(dashed, 'f-bar.baz.com'), 'long');
    assert.equal(hostFor(dashed, 'bar.baz.com'), 'short');
  });

  test('an exact domain wins over a longer wildcard', () => {
    const t = table([vhost('wild', ['*.api.example.com']), vhost('exact', ['v1.api.example.com'])]);
    assert.equal(hostFor(t, 'v1.api.example.com'), 'exact');
    assert.equal(hostFor(t, 'v2.api.example.com'), 'wild');
  });

  test('IPv6 hosts are split as Go does: "[::1]:8080" is host ::1 port 8080', () => {
    const t = table([vhost('port', ['[::1]:8080']), vhost('bare', ['[::1]']), vhost('fallback', ['*'])]);
    assert.equal(hostFor(t, '[::1]:8080'), 'port');
    assert.equal(hostFor(t, '[::1]'), 'bare');
    assert.equal(hostFor(t, '[::1]:9090'), 'fallback');
  });

  test('no matching host and no default gives undefined; a host Go cannot split gives undefined', () => {
    const t = table([vhost('only', ['only.example.com'])]);
    assert.equal(t.match(req('/', {}, 'other.example.com')), undefined);
    assert.equal(hostFor(t, 'only.example.com'), 'only');
    const withDefault = table([vhost('only', ['only.example.com']), vhost('fallback', ['*'])]);
    assert.equal(withDefault.match(req('/', {}, 'a:b:c')), undefined);
  });

  test('an empty host gets the default (MOSN: no virtual host)', () => {
    const t = table([vhost('only', ['only.example.com']), vhost('fallback', ['*'])]);
    assert.equal(hostFor(t, ''), 'fallback');
  });

  test('a router whose only virtual host is the default takes every host, even one Go cannot split', () => {
    const t = table([vhost('fallback', ['*'])]);
    for (const host of ['x', '', 'a:b:c', '[::1]:80']) assert.equal(hostFor(t, host), 'fallback', host);
  });

  test('a virtual host without domains is never chosen, with a warning (MOSN)', () => {
    const t = table([vhost('empty', []), vhost('named', ['a.com'])]);
    assert.equal(hostFor(t, 'anything.example.com'), undefined);
    assert.deepEqual(t.warnings, [`${PATH}.virtual_hosts[0].domains: empty: this virtual host is never chosen (MOSN's rule); write "*" for the default`]);
  });

  test('a router without virtual hosts matches nothing', () => {
    assert.equal(table([]).match(req('/')), undefined);
  });

  test('no fall-through: no matching route in the chosen host gives undefined', () => {
    const t = table([vhost('api', ['api.example.com'], [to('api', { prefix: '/api' })]), vhost('any', ['*'], [to('any', { prefix: '/' })])]);
    assert.equal(t.match(req('/web', {}, 'api.example.com')), undefined);
    assert.equal(t.match(req('/api/x', {}, 'api.example.com'))?.virtualHostName, 'api');
    assert.equal(t.match(req('/web', {}, 'www.example.com'))?.virtualHostName, 'any');
  });
});

describe('virtual host config errors name the domain', () => {
  const D = (v: number, d: number): string => `${PATH}.virtual_hosts[${v}].domains[${d}]`;

  test('an exact domain listed twice, across hosts or within one, ignoring case', () => {
    assertConfigError(() => table([vhost('a', ['x.example.com']), vhost('b', ['X.example.com'])]), D(1, 0), /"X\.example\.com" is listed twice/);
    assertConfigError(() => table([vhost('a', ['x.com', 'y.com', 'x.com'])]), D(0, 2), /listed twice/);
    assertConfigError(() => table([vhost('a', ['x.com:80']), vhost('b', ['x.com:80'])]), D(1, 0), /listed twice/);
  });

  test('the same host on different ports is fine', () => {
    const t = table([vhost('a', ['x.com']), vhost('b', ['x.com:80']), vhost('c', ['x.com:*'])]);
    assert.equal(hostFor(t, 'x.com:80'), 'b');
  });

  test('two defaults ("*" and "*:*" are both the default)', () => {
    assertConfigError(() => table([vhost('a', ['*']), vhost('b', ['a.com']), vhost('c', ['*:*'])]), D(2, 0), /one default \("\*"\) virtual host/);
  });

  test('a wildcard listed twice for one port; the same wildcard on two ports is fine', () => {
    assertConfigError(() => table([vhost('a', ['*.example.com']), vhost('b', ['*.example.com'])]), D(1, 0), /listed twice/);
    const t = table([vhost('a', ['*.example.com']), vhost('b', ['*.example.com:8080'])]);
    assert.equal(hostFor(t, 'x.example.com:8080'), 'b');
  });

  test('an empty domain, a "*" inside a domain, and a domain Go cannot split', () => {
    assertConfigError(() => table([vhost('a', [''])]), D(0, 0), /expected a domain such as/);
    assertConfigError(() => table([vhost('a', ['foo.*.com'])]), D(0, 0), /"\*" only at the start/);
    assertConfigError(() => table([vhost('a', ['ok.com', 'a:b:c'])]), D(0, 1), /expected a domain such as .* got "a:b:c"/);
  });
});

describe('route matching', () => {
  test('prefix: case-sensitive, on the path without its query', () => {
    const t = tableOf([to('api', { prefix: '/api' })]);
    assert.equal(clusterFor(t, '/api'), 'api');
    assert.equal(clusterFor(t, '/api/v1/users?x=1'), 'api');
    assert.equal(clusterFor(t, '/apix'), 'api');
    assert.equal(clusterFor(t, '/API'), undefined);
    assert.equal(clusterFor(t, '/ap?i'), undefined);
  });

  test('path: exact but ignoring case (MOSN uses strings.EqualFold), query ignored', () => {
    const t = tableOf([to('exact', { path: '/health' })]);
    assert.equal(clusterFor(t, '/health'), 'exact');
    assert.equal(clusterFor(t, '/HEALTH?verbose=1'), 'exact');
    assert.equal(clusterFor(t, '/health/'), undefined);
    assert.equal(clusterFor(t, '/healthz'), undefined);
  });

  test('regex: unanchored like Go\'s MatchString; ^ and $ anchor; query ignored', () => {
    const t = tableOf([to('re', { regex: '/a.*' })]);
    assert.equal(clusterFor(t, '/a'), 're');
    assert.equal(clusterFor(t, '/x/abc'), 're');
    assert.equal(clusterFor(t, '/b'), undefined);
    const anchored = tableOf([to('re', { regex: '^/users/\\d+$' })]);
    assert.equal(anchored.match(req('/users/42?x=y'))?.clusterName(new HeaderMap()), 're');
    assert.equal(clusterFor(anchored, '/users/42/x'), undefined);
    assert.equal(clusterFor(anchored, '/v1/users/42'), undefined);
  });

  test('regex: Go flags and classes mean what they mean in Go', () => {
    const t = tableOf([to('ci', { regex: '^(?i)/api/[[:digit:]]+$' })]);
    assert.equal(clusterFor(t, '/API/12'), 'ci');
    assert.equal(clusterFor(t, '/api/x'), undefined);
  });

  test('precedence inside one match: prefix, then path, then regex', () => {
    const t = tableOf([to('p', { prefix: '/a', path: '/nope', regex: 'nope' }), to('next', { prefix: '/' })]);
    assert.equal(clusterFor(t, '/abc'), 'p');
    assert.equal(clusterFor(t, '/nope'), 'next');
    const pathOverRegex = tableOf([to('path', { path: '/x', regex: '.*' }), to('next', { prefix: '/' })]);
    assert.equal(clusterFor(pathOverRegex, '/y'), 'next');
  });

  test('routes match the normalized path, as MOSN (fasthttp) does: decoded, "//" and dot segments resolved', () => {
    const t = tableOf([to('admin', { prefix: '/admin' }), to('public', { prefix: '/' })]);
    assert.equal(clusterFor(t, '/public/../admin/x'), 'admin');
    assert.equal(clusterFor(t, '/public/%2e%2e/admin'), 'admin');
    assert.equal(clusterFor(t, '//admin'), 'admin');
    assert.equal(clusterFor(t, '/%61dmin'), 'admin');
    assert.equal(clusterFor(t, '/./admin'), 'admin');
    assert.equal(clusterFor(t, '/admi%6E?q=%2F'), 'admin');
    const exact = tableOf([to('space', { path: '/a b' })]);
    assert.equal(clusterFor(exact, '/a%20b'), 'space');
  });

  test('headers are ANDed with the path rule; names ignore case, values are exact', () => {
    const t = tableOf([
      to('canary', {
        prefix: '/',
        headers: [
          { name: 'X-Canary', value: 'yes', regex: false },
          { name: 'x-zone', value: 'gz', regex: false },
        ],
      }),
    ]);
    assert.equal(clusterFor(t, '/x', { 'x-canary': 'yes', 'x-zone': 'gz' }), 'canary');
    assert.equal(clusterFor(t, '/x', { 'x-canary': 'yes', 'x-zone': 'sh' }), undefined);
    assert.equal(clusterFor(t, '/x', { 'x-canary': 'yes' }), undefined);
    assert.equal(clusterFor(t, '/x', { 'x-canary': 'YES', 'x-zone': 'gz' }), undefined);
  });

  test('a path rule that fails is not rescued by matching headers', () => {
    const t = tableOf([to('h', { path: '/only', headers: [{ name: 'a', value: '1', regex: false }] })]);
    assert.equal(clusterFor(t, '/only', { a: '1' }), 'h');
    assert.equal(clusterFor(t, '/other', { a: '1' }), undefined);
  });

  test('an empty value matches a header that is present and empty (MOSN has no presence-only matcher)', () => {
    const t = tableOf([to('empty', { prefix: '/', headers: [{ name: 'x-flag', value: '', regex: false }] })]);
    assert.equal(clusterFor(t, '/', { 'x-flag': '' }), 'empty');
    assert.equal(clusterFor(t, '/', { 'x-flag': '1' }), undefined);
    assert.equal(clusterFor(t, '/'), undefined);
  });

  test('a header regex is unanchored (Go MatchString); a missing header never matches, even ".*"', () => {
    const t = tableOf([to('v', { prefix: '/', headers: [{ name: 'x-version', value: 'v[12]', regex: true }] })]);
    assert.equal(clusterFor(t, '/', { 'x-version': 'v1' }), 'v');
    assert.equal(clusterFor(t, '/', { 'x-version': 'xv2y' }), 'v');
    assert.equal(clusterFor(t, '/', { 'x-version': 'v3' }), undefined);
    const any = tableOf([to('any', { prefix: '/', headers: [{ name: 'x-any', value: '.*', regex: true }] })]);
    assert.equal(clusterFor(any, '/'), undefined);
    assert.equal(clusterFor(any, '/', { 'x-any': '' }), 'any');
  });

  test('the header matcher "method" compares the request method, exactly', () => {
    const t = tableOf([to('get', { prefix: '/', headers: [{ name: 'method', value: 'GET', regex: false }] }), to('other', { prefix: '/' })]);
    assert.equal(clusterFor(t, '/', {}, 'GET'), 'get');
    assert.equal(clusterFor(t, '/', { method: 'GET' }, 'POST'), 'other');
    assert.equal(clusterFor(t, '/'), 'other');
  });

  test('a headers-only route matches on headers alone, any path', () => {
    const t = tableOf([to('h', { headers: [{ name: 'x-env', value: 'test', regex: false }] })]);
    assert.equal(clusterFor(t, '/anything/at/all', { 'x-env': 'test' }), 'h');
    assert.equal(clusterFor(t, '/', { 'x-env': 'prod' }), undefined);
  });

  test('a route with an empty match matches every request (MOSN: a header rule with no header)', () => {
    const t = tableOf([to('all', {}), to('never', { prefix: '/' })]);
    assert.equal(clusterFor(t, '/x'), 'all');
  });

  test('a lone "service" matcher of ".*" matches any non-empty service (MOSN\'s RPC fast path)', () => {
    const t = tableOf([to('rpc', { headers: [{ name: 'service', value: '.*', regex: false }] })]);
    assert.equal(clusterFor(t, '/', { service: 'com.alipay.Demo' }), 'rpc');
    assert.equal(clusterFor(t, '/', { service: '' }), undefined);
    assert.equal(clusterFor(t, '/'), undefined);
    const exact = tableOf([to('rpc', { headers: [{ name: 'service', value: 'a.B', regex: false }] })]);
    assert.equal(clusterFor(exact, '/', { service: 'a.B' }), 'rpc');
    assert.equal(clusterFor(exact, '/', { service: 'aXB' }), undefined);
  });

  test('a route matching on variables or dsl_expressions never matches (not supported), with a warning', () => {
    const t = tableOf([to('vars', { variables: [{ name: 'x-mosn-host', value: 'a' }] }), to('next', { prefix: '/' })]);
    assert.equal(clusterFor(t, '/'), 'next');
    assert.deepEqual(t.warnings, [`${ROUTE0}.match.variables: not supported by mosnode yet: this route never matches`]);
  });

  test('the first matching route wins, in config order', () => {
    const t = tableOf([
      to('exact', { path: '/api/health' }),
      to('api', { prefix: '/api' }),
      to('narrower-but-later', { prefix: '/api/v1' }),
      to('root', { prefix: '/' }),
    ]);
    assert.equal(clusterFor(t, '/api/health'), 'exact');
    assert.equal(clusterFor(t, '/api/v1/x'), 'api');
    assert.equal(clusterFor(t, '/web'), 'root');
  });

  test('match returns the same pre-built route object every time', () => {
    const t = tableOf([to('a', { prefix: '/' })]);
    assert.equal(t.match(req('/x')), t.match(req('/y?z')));
  });
});

describe('regular expressions: Go (RE2) syntax only, errors name the JSON path', () => {
  test('an invalid path regex', () => {
    assertConfigError(
      () => tableOf([to('c', { prefix: '/' }), to('c', { regex: '/(a' })]),
      `${PATH}.virtual_hosts[0].routers[1].match.regex`,
      /expected a Go \(RE2\) regular expression, got "\/\(a": missing closing \)/,
    );
  });

  test('backreferences and lookaround, which RE2 refuses', () => {
    assertConfigError(() => tableOf([to('c', { regex: '(a)\\1' })]), `${ROUTE0}.match.regex`, /backreferences \(\\1\) are not supported by RE2/);
    assertConfigError(() => tableOf([to('c', { regex: '/(?!admin)' })]), `${ROUTE0}.match.regex`, /lookahead and lookbehind/);
    assertConfigError(() => tableOf([to('c', { regex: '(?<=a)b' })]), `${ROUTE0}.match.regex`, /lookahead and lookbehind/);
  });

  test('an invalid header regex names the header matcher; a "[" value is fine when not a regex', () => {
    const bad = to('c', { prefix: '/', headers: [{ name: 'a', value: 'x', regex: false }, { name: 'b', value: '[', regex: true }] });
    assertConfigError(() => tableOf([bad]), `${ROUTE0}.match.headers[1].value`, /missing closing \]/);
    const plain = tableOf([to('c', { headers: [{ name: 'b', value: '[', regex: false }] })]);
    assert.equal(clusterFor(plain, '/', { b: '[' }), 'c');
  });

  test('an invalid regex_rewrite pattern', () => {
    const bad = to('c', { prefix: '/' }, { regex_rewrite: { pattern: { regex: '(?=x)y' }, substitution: '' } });
    assertConfigError(() => tableOf([bad]), `${ROUTE0}.route.regex_rewrite.pattern.regex`, /lookahead/);
  });
});

describe('cluster choice', () => {
  test('cluster_name', () => {
    assert.equal(clusterFor(tableOf([to('c1', { prefix: '/' })]), '/'), 'c1');
  });

  test('cluster_header: the value of that request header (name ignoring case); absent or empty gives undefined', () => {
    const t = tableOf([route({ prefix: '/' }, { cluster_header: 'X-Cluster' })]);
    assert.equal(clusterFor(t, '/', { 'x-cluster': 'blue' }), 'blue');
    assert.equal(clusterFor(t, '/', { 'x-cluster': '' }), undefined);
    assert.equal(clusterFor(t, '/'), undefined);
  });

  test('no cluster at all gives undefined', () => {
    assert.equal(clusterFor(tableOf([route({ prefix: '/' }, {})]), '/'), undefined);
  });

  const weighted = (weights: Array<[string, number]>, act: Partial<RouteActionConfig> = {}): RouteTable =>
    tableOf([
      route(
        { prefix: '/' },
        { weighted_clusters: weights.map(([name, weight]) => ({ cluster: { name, weight, metadata_match: undefined } })), ...act },
      ),
    ]);

  test('weighted_clusters: drawn in proportion to the weights (statistical, fixed tolerance)', () => {
    const t = weighted([
      ['a', 10],
      ['b', 30],
      ['zero', 0],
      ['c', 60],
    ]);
    const m = matched(t);
    const counts = new Map<string, number>();
    const draws = 60_000;
    const headers = new HeaderMap();
    for (let i = 0; i < draws; i++) {
      const name = m.clusterName(headers)!;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    // Standard deviation of a share at 60 000 draws is at most 0.2%: 1.5% is over 7 sigma.
    for (const [name, share] of [
      ['a', 0.1],
      ['b', 0.3],
      ['c', 0.6],
    ] as const) {
      assert.ok(Math.abs((counts.get(name) ?? 0) / draws - share) < 0.015, `${name}: ${counts.get(name)} of ${draws}`);
    }
    assert.equal(counts.get('zero'), undefined);
  });

  test('weighted_clusters: the draw maps onto the weights exactly at the edges', (t) => {
    const m = matched(weighted([
      ['a', 1],
      ['b', 3],
    ]));
    const random = mock.method(Math, 'random', () => 0);
    t.after(() => random.mock.restore());
    const headers = new HeaderMap();
    assert.equal(m.clusterName(headers), 'a');
    random.mock.mockImplementation(() => 0.2499);
    assert.equal(m.clusterName(headers), 'a');
    random.mock.mockImplementation(() => 0.25);
    assert.equal(m.clusterName(headers), 'b');
    random.mock.mockImplementation(() => 0.99999);
    assert.equal(m.clusterName(headers), 'b');
  });

  test('weighted_clusters win over cluster_name, with a warning', () => {
    const t = weighted([['w', 1]], { cluster_name: 'plain' });
    assert.equal(clusterFor(t, '/'), 'w');
    assert.deepEqual(t.warnings, [`${ROUTE0}.route.cluster_name: not used: weighted_clusters is set`]);
  });

  test('weights summing to 0 are refused (MOSN would fail every request)', () => {
    assertConfigError(() => weighted([['a', 0]]), `${ROUTE0}.route.weighted_clusters`, /sum to more than 0/);
  });
});

describe('direct response and redirect', () => {
  test('direct_response: status and body ("" when absent)', () => {
    const t = tableOf([route({ prefix: '/' }, undefined, { direct_response: { status: 200, body: 'Welcome' } })]);
    assert.deepEqual(matched(t).directResponse, { status: 200, body: 'Welcome' });
    const empty = tableOf([route({ prefix: '/' }, undefined, { direct_response: { status: 503, body: undefined } })]);
    assert.deepEqual(matched(empty).directResponse, { status: 503, body: '' });
    assert.equal(matched(tableOf([to('c', { prefix: '/' })])).directResponse, undefined);
  });

  const redirecting = (r: Partial<NonNullable<RouteConfig['redirect']>>): MatchedRoute =>
    matched(
      tableOf([
        route({ prefix: '/' }, undefined, {
          redirect: { response_code: 301, path_redirect: undefined, host_redirect: undefined, scheme_redirect: undefined, ...r },
        }),
      ]),
    );

  test('a route without redirect answers undefined', () => {
    assert.equal(matched(tableOf([to('c', { prefix: '/' })])).redirect({ scheme: 'http', authority: 'a', path: '/' }), undefined);
  });

  test('scheme, host and path come from the config when set, else from the request; the query is kept', () => {
    assert.deepEqual(redirecting({ scheme_redirect: 'https' }).redirect({ scheme: 'http', authority: 'example.com', path: '/a/b?x=1' }), {
      status: 301,
      location: 'https://example.com/a/b?x=1',
    });
    const moved = redirecting({ response_code: 307, host_redirect: 'new.example.com', path_redirect: '/moved' });
    assert.deepEqual(moved.redirect({ scheme: 'http', authority: 'old.example.com:8080', path: '/a?x=1' }), {
      status: 307,
      location: 'http://new.example.com/moved?x=1',
    });
  });

  test('the request path is the normalized one, escaped as Go does', () => {
    assert.equal(redirecting({ host_redirect: 'h' }).redirect({ scheme: 'http', authority: 'a', path: '/x/../a%20b' })?.location, 'http://h/a%20b');
  });

  test('changing the scheme drops an explicit port of the other scheme (MOSN: http with 443, https with 80)', () => {
    const toHttps = redirecting({ scheme_redirect: 'https' });
    assert.equal(toHttps.redirect({ scheme: 'http', authority: 'example.com:80', path: '/' })?.location, 'https://example.com/');
    assert.equal(toHttps.redirect({ scheme: 'http', authority: 'example.com:8080', path: '/' })?.location, 'https://example.com:8080/');
    assert.equal(toHttps.redirect({ scheme: 'http', authority: '[::1]:80', path: '/' })?.location, 'https://[::1]/');
    const toHttp = redirecting({ scheme_redirect: 'http' });
    assert.equal(toHttp.redirect({ scheme: 'https', authority: 'example.com:443', path: '/' })?.location, 'http://example.com/');
    // Same scheme: the port stays.
    assert.equal(toHttps.redirect({ scheme: 'https', authority: 'example.com:80', path: '/' })?.location, 'https://example.com:80/');
  });

  test('direct_response wins over redirect, as MOSN checks it first (warned)', () => {
    const t = tableOf([
      route({ prefix: '/' }, undefined, {
        direct_response: { status: 200, body: 'x' },
        redirect: { response_code: 302, path_redirect: '/y', host_redirect: undefined, scheme_redirect: undefined },
      }),
    ]);
    assert.equal(matched(t).redirect({ scheme: 'http', authority: 'a', path: '/' }), undefined);
    assert.deepEqual(t.warnings, [`${ROUTE0}.redirect: ignored: direct_response wins, as in MOSN`]);
  });
});

describe('rewrites', () => {
  function rewritten(r: RouteConfig, path: string, headers: Record<string, string> = {}, authority = 'example.com'): RequestHead {
    const t = tableOf([r]);
    const h = head(path, headers, authority);
    const m = t.match({ authority: h.authority, path: h.path, headers: h.headers });
    assert.ok(m);
    m.rewrite(h);
    return h;
  }

  test('prefix_rewrite replaces the matched prefix, keeps the query, and records the original path', () => {
    const h = rewritten(to('c', { prefix: '/api/' }, { prefix_rewrite: '/v2/' }), '/api/users?id=1');
    assert.equal(h.path, '/v2/users?id=1');
    assert.equal(h.headers.get('x-mosn-original-path'), '/api/users');
    assert.equal(rewritten(to('c', { prefix: '/' }, { prefix_rewrite: '/base/' }), '/a').path, '/base/a');
    assert.equal(rewritten(to('c', { prefix: '/old' }, { prefix_rewrite: '/' }), '/old').path, '/');
  });

  test('prefix_rewrite on a path route replaces the whole path (matched ignoring case)', () => {
    assert.equal(rewritten(to('c', { path: '/health' }, { prefix_rewrite: '/status' }), '/HEALTH?full=1').path, '/status?full=1');
  });

  test('prefix_rewrite on a regex route rewrites only paths starting with the regex text (MOSN), warned', () => {
    const r = to('c', { regex: '^/api' }, { prefix_rewrite: '/v2' });
    assert.equal(rewritten(r, '/api/x').path, '/api/x');
    assert.equal(tableOf([r]).warnings.length, 1);
    assert.match(tableOf([r]).warnings[0]!, /route\.prefix_rewrite: on a regex route/);
  });

  test('prefix_rewrite has no effect on a headers-only route (MOSN), warned', () => {
    const r = to('c', { headers: [{ name: 'x', value: '1', regex: false }] }, { prefix_rewrite: '/v2' });
    assert.equal(rewritten(r, '/api', { x: '1' }).path, '/api');
    assert.deepEqual(tableOf([r]).warnings, [`${ROUTE0}.route.prefix_rewrite: no effect on a route without prefix, path or regex (MOSN's rule)`]);
  });

  test('regex_rewrite: every match replaced (Go ReplaceAllString), with $1, ${name} and $$; query kept', () => {
    const rr = (regex: string, substitution: string): RouteConfig =>
      to('c', { prefix: '/' }, { regex_rewrite: { pattern: { regex }, substitution } });
    const h = rewritten(rr('^/v1/(?P<rest>.*)$', '/v2/${rest}'), '/v1/a/b?x=1');
    assert.equal(h.path, '/v2/a/b?x=1');
    assert.equal(h.headers.get('x-mosn-original-path'), '/v1/a/b');
    assert.equal(rewritten(rr('/(\\d+)', '/id-$1'), '/a/12/b/34').path, '/a/id-12/b/id-34');
    assert.equal(rewritten(rr('/x', '/$$'), '/x').path, '/$');
    // "$1x" is the group named "1x" in Go: empty.
    assert.equal(rewritten(rr('/(a)', '/$1x'), '/a').path, '/');
  });

  test('regex_rewrite that changes nothing leaves the request alone', () => {
    const h = rewritten(to('c', { prefix: '/' }, { regex_rewrite: { pattern: { regex: '^/zzz' }, substitution: '/y' } }), '/a?q');
    assert.equal(h.path, '/a?q');
    assert.equal(h.headers.has('x-mosn-original-path'), false);
  });

  test('regex_rewrite applies to headers-only routes too', () => {
    const r = to('c', { headers: [{ name: 'x', value: '1', regex: false }] }, { regex_rewrite: { pattern: { regex: '^/a' }, substitution: '/b' } });
    assert.equal(rewritten(r, '/a/c', { x: '1' }).path, '/b/c');
  });

  test('prefix_rewrite wins over regex_rewrite; a one-character pattern is ignored as in MOSN (both warned)', () => {
    const both = to('c', { prefix: '/a' }, { prefix_rewrite: '/p', regex_rewrite: { pattern: { regex: '^/a' }, substitution: '/r' } });
    assert.equal(rewritten(both, '/a/x').path, '/p/x');
    assert.deepEqual(tableOf([both]).warnings, [`${ROUTE0}.route.regex_rewrite: ignored: prefix_rewrite wins, as in MOSN`]);
    const short = to('c', { prefix: '/' }, { regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } });
    assert.equal(rewritten(short, '/a').path, '/a');
    assert.match(tableOf([short]).warnings[0]!, /regex_rewrite\.pattern\.regex: ignored: MOSN ignores a pattern of fewer than two characters/);
  });

  test('a rewritten path is the normalized path, escaped for the request line', () => {
    assert.equal(rewritten(to('c', { prefix: '/api' }, { prefix_rewrite: '/v2' }), '/x/../api/a%20b?q=%20').path, '/v2/a%20b?q=%20');
    assert.equal(rewritten(to('c', { prefix: '/api' }, { prefix_rewrite: '/v 2' }), '/api/é').path, '/v%202/%C3%A9');
  });

  test('without a rewrite the path is left exactly as received', () => {
    assert.equal(rewritten(to('c', { prefix: '/' }), '/a//b/%41?x').path, '/a//b/%41?x');
  });

  test('host_rewrite sets the authority; auto_host_rewrite_header takes it from a request header; both turn autoHostRewrite off', () => {
    assert.equal(rewritten(to('c', { prefix: '/' }, { host_rewrite: 'upstream.local' }), '/').authority, 'upstream.local');
    const fromHeader = to('c', { prefix: '/' }, { auto_host_rewrite_header: 'X-Upstream-Host', auto_host_rewrite: true });
    assert.equal(rewritten(fromHeader, '/', { 'x-upstream-host': 'h.local' }).authority, 'h.local');
    assert.equal(rewritten(fromHeader, '/').authority, 'example.com');
    assert.equal(matched(tableOf([fromHeader])).autoHostRewrite, false);
    assert.equal(matched(tableOf([to('c', { prefix: '/' }, { auto_host_rewrite: true, host_rewrite: 'x' })])).autoHostRewrite, false);
    assert.equal(matched(tableOf([to('c', { prefix: '/' }, { auto_host_rewrite: true })])).autoHostRewrite, true);
    assert.equal(matched(tableOf([to('c', { prefix: '/' })])).autoHostRewrite, false);
  });
});

describe('timeouts, retries and mirrors', () => {
  const policy = (retry: NonNullable<RouteActionConfig['retry_policy']>, act: Partial<RouteActionConfig> = {}) =>
    matched(tableOf([to('c', { prefix: '/' }, { retry_policy: retry, ...act })])).retryPolicy;

  test('timeout in ms; undefined when the route sets none', () => {
    assert.equal(matched(tableOf([to('c', { prefix: '/' }, { timeout: 1500 })])).timeoutMs, 1500);
    assert.equal(matched(tableOf([to('c', { prefix: '/' })])).timeoutMs, undefined);
  });

  test('no retry_policy: undefined (MOSN would still retry connection failures: MOSN_DEFAULT_RETRY_POLICY)', () => {
    assert.equal(matched(tableOf([to('c', { prefix: '/' })])).retryPolicy, undefined);
    assert.equal(MOSN_DEFAULT_RETRY_POLICY.numRetries, 3);
    assert.equal(MOSN_DEFAULT_RETRY_POLICY.retryOnConnectFailure, true);
  });

  test('retry_on with no status codes retries every 5xx and resets; connection failures always', () => {
    const p = policy({ retry_on: true, retry_timeout: undefined, num_retries: 2, status_codes: [] });
    assert.ok(p);
    assert.equal(p.numRetries, 2);
    assert.equal(p.retryOnConnectFailure, true);
    assert.equal(p.retryOnReset, true);
    for (const code of [500, 502, 503, 504, 599]) assert.ok(p.retryOnStatus.has(code), String(code));
    assert.equal(p.retryOnStatus.has(404), false);
    assert.equal(p.perTryTimeoutMs, undefined);
  });

  test('status_codes replace the 5xx default', () => {
    const p = policy({ retry_on: true, retry_timeout: undefined, num_retries: 1, status_codes: [503, 429] });
    assert.deepEqual([...(p?.retryOnStatus ?? [])].sort(), [429, 503]);
  });

  test('without retry_on only connection failures are retried', () => {
    const p = policy({ retry_on: false, retry_timeout: undefined, num_retries: 4, status_codes: [503] });
    assert.equal(p?.retryOnReset, false);
    assert.equal(p?.retryOnStatus.size, 0);
    assert.equal(p?.retryOnConnectFailure, true);
    assert.equal(p?.numRetries, 4);
  });

  test('num_retries 0 (not set) is 3, MOSN\'s count', () => {
    assert.equal(policy({ retry_on: true, retry_timeout: undefined, num_retries: 0, status_codes: [] })?.numRetries, 3);
  });

  test('a per-try timeout not shorter than the request timeout is dropped (MOSN); default request timeout 60 s', () => {
    const base = { retry_on: true, num_retries: 1, status_codes: [] };
    assert.equal(policy({ ...base, retry_timeout: 500 }, { timeout: 2000 })?.perTryTimeoutMs, 500);
    assert.equal(policy({ ...base, retry_timeout: 2000 }, { timeout: 2000 })?.perTryTimeoutMs, undefined);
    assert.equal(policy({ ...base, retry_timeout: 59_999 })?.perTryTimeoutMs, 59_999);
    assert.equal(policy({ ...base, retry_timeout: 60_000 })?.perTryTimeoutMs, undefined);
  });

  test('request_mirror_policies: one mirror; none when the percent is 0; above 100 is 100', () => {
    const mirrors = (percent: number) => {
      const mirror = { cluster: 'shadow', percent, trace_sampled: false };
      return matched(tableOf([route({ prefix: '/' }, { cluster_name: 'c' }, { request_mirror_policies: mirror })])).mirrors;
    };
    assert.deepEqual(mirrors(10), [{ cluster: 'shadow', percent: 10 }]);
    assert.deepEqual(mirrors(0), []);
    assert.deepEqual(mirrors(250), [{ cluster: 'shadow', percent: 100 }]);
    assert.deepEqual(matched(tableOf([to('c', { prefix: '/' })])).mirrors, []);
  });
});

describe('header edits', () => {
  test('route, then virtual host, then router level; with append: false the last level wins', () => {
    const t = table(
      [
        vhost('v', ['*'], [to('c', { prefix: '/' }, { request_headers_to_add: [add('x-level', 'route', false)] })], {
          request_headers_to_add: [add('x-level', 'vhost', false)],
        }),
      ],
      { request_headers_to_add: [add('x-level', 'router', false)] },
    );
    const headers = new HeaderMap();
    matched(t).applyRequestHeaders(headers);
    assert.deepEqual(headers.toFlat(), ['x-level', 'router']);
  });

  test('append (the default) joins an existing non-empty value with ",", in level order', () => {
    const t = table(
      [
        vhost('v', ['*'], [to('c', { prefix: '/' }, { request_headers_to_add: [add('X-Trail', 'route')] })], {
          request_headers_to_add: [add('x-trail', 'vhost')],
        }),
      ],
      { request_headers_to_add: [add('x-trail', 'router')] },
    );
    const headers = new HeaderMap(['x-trail', 'client']);
    matched(t).applyRequestHeaders(headers);
    assert.deepEqual(headers.toFlat(), ['x-trail', 'client,route,vhost,router']);
    const empty = new HeaderMap(['x-trail', '']);
    matched(t).applyRequestHeaders(empty);
    assert.deepEqual(empty.toFlat(), ['x-trail', 'route,vhost,router']);
  });

  test('append joins every line of the name into one', () => {
    const t = tableOf([to('c', { prefix: '/' }, { request_headers_to_add: [add('x-a', '3')] })]);
    const headers = new HeaderMap(['x-a', '1', 'other', 'o', 'x-a', '2']);
    matched(t).applyRequestHeaders(headers);
    assert.deepEqual(headers.toFlat(), ['x-a', '1,2,3', 'other', 'o']);
  });

  test('within a level adds run before removes; a lower level removes before a higher level adds', () => {
    const t = table(
      [
        vhost('v', ['*'], [to('c', { prefix: '/' }, { request_headers_to_add: [add('x-tmp', '1')], request_headers_to_remove: ['X-Tmp', 'x-vh'] })], {
          request_headers_to_add: [add('x-vh', 'kept')],
        }),
      ],
    );
    const headers = new HeaderMap(['x-vh', 'client']);
    matched(t).applyRequestHeaders(headers);
    assert.deepEqual(headers.toFlat(), ['x-vh', 'kept']);
  });

  test('response headers: same rules; set-cookie is appended as its own line', () => {
    const t = table(
      [
        vhost('v', ['*'], [
          to('c', { prefix: '/' }, { response_headers_to_add: [add('set-cookie', 'b=2')], response_headers_to_remove: ['server'] }),
        ]),
      ],
      { response_headers_to_add: [add('x-served-by', 'mosnode', false)] },
    );
    const headers = new HeaderMap(['server', 'up', 'set-cookie', 'a=1']);
    matched(t).applyResponseHeaders(headers);
    assert.deepEqual(headers.toFlat(), ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-served-by', 'mosnode']);
    const request = new HeaderMap(['server', 'kept']);
    matched(t).applyRequestHeaders(request);
    assert.deepEqual(request.toFlat(), ['server', 'kept']);
  });

  test('a MOSN %variable% value is sent as written, with a warning', () => {
    const t = tableOf([to('c', { prefix: '/' }, { request_headers_to_add: [add('x-ip', '%downstream_remote_address%')] })]);
    assert.deepEqual(t.warnings, [`${ROUTE0}.route: header value "%downstream_remote_address%" is a MOSN variable reference; mosnode sends it as written`]);
    const headers = new HeaderMap();
    matched(t).applyRequestHeaders(headers);
    assert.equal(headers.get('x-ip'), '%downstream_remote_address%');
  });
});

describe('per_filter_config, names', () => {
  test('route level first, else virtual host; undefined if none; the raw JSON without a parser', () => {
    const vhConfig = { per_filter_config: { fault: { delay: 'vh' }, limit: { max: 1 } } };
    const t = table([vhost('v', ['*'], [to('inherits', { prefix: '/' })], vhConfig)]);
    const own = table([vhost('v', ['*'], [{ ...to('own', { prefix: '/' }), per_filter_config: { fault: { delay: 'route' } } }], vhConfig)]);
    assert.deepEqual(matched(own).perFilterConfig('fault'), { delay: 'route' });
    assert.deepEqual(matched(own).perFilterConfig('limit'), { max: 1 });
    assert.deepEqual(matched(t, '/x').perFilterConfig('fault'), { delay: 'vh' });
    assert.equal(matched(t, '/x').perFilterConfig('other'), undefined);
  });

  test('each entry goes through parsePerFilterConfig once, with its JSON path; the result is stored', () => {
    const calls: string[] = [];
    const options: RouteTableOptions = {
      parsePerFilterConfig(type, raw, path) {
        calls.push(`${type} ${path}`);
        return { parsed: raw };
      },
    };
    const t = table(
      [vhost('v', ['*'], [{ ...to('c', { prefix: '/' }), per_filter_config: { fault: 1 } }], { per_filter_config: { 'mosn.limit': 2 } })],
      {},
      options,
    );
    assert.deepEqual(calls, [`mosn.limit ${PATH}.virtual_hosts[0].per_filter_config["mosn.limit"]`, `fault ${ROUTE0}.per_filter_config.fault`]);
    assert.deepEqual(matched(t).perFilterConfig('fault'), { parsed: 1 });
    assert.deepEqual(matched(t).perFilterConfig('mosn.limit'), { parsed: 2 });
  });

  test('a parser error propagates as it is', () => {
    const boom = new Error(`${ROUTE0}.per_filter_config.fault: expected an object`);
    const options: RouteTableOptions = {
      parsePerFilterConfig() {
        throw boom;
      },
    };
    assert.throws(() => tableOf([{ ...to('c', { prefix: '/' }), per_filter_config: { fault: 1 } }], options), (err) => err === boom);
  });

  test('route name: "<virtual host>.routers[<i>]", or the virtual host\'s place when it has no name', () => {
    const t = table([vhost('api', ['api.com'], [to('a', { path: '/a' }), to('b', { prefix: '/' })]), vhost('', ['*'])]);
    assert.equal(t.match(req('/a', {}, 'api.com'))?.name, 'api.routers[0]');
    assert.equal(t.match(req('/b', {}, 'api.com'))?.name, 'api.routers[1]');
    assert.equal(t.match(req('/b', {}, 'other'))?.name, 'virtual_hosts[1].routers[0]');
    assert.equal(t.match(req('/b', {}, 'other'))?.virtualHostName, '');
  });
});

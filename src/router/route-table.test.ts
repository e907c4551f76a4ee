import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMatcherConfig, RouteConfig, RouterConfig, VirtualHostConfig } from '../config/types.ts';
import { RouteTable } from './route-table.ts';
import type { HeaderLookup } from './route-table.ts';

interface MatchSpec {
  prefix?: string;
  path?: string;
  regex?: string;
  headers?: HeaderMatcherConfig[];
}

function route(cluster: string, spec: MatchSpec): RouteConfig {
  return {
    match: { prefix: spec.prefix, path: spec.path, regex: spec.regex, headers: spec.headers ?? [] },
    route: {
      cluster_name: cluster,
      cluster_header: undefined,
      timeout: undefined,
      prefix_rewrite: undefined,
      host_rewrite: undefined,
      auto_host_rewrite: false,
      request_headers_to_add: [],
      request_headers_to_remove: [],
      response_headers_to_add: [],
      response_headers_to_remove: [],
    },
    direct_response: undefined,
    redirect: undefined,
    per_filter_config: {},
  };
}

function vhost(name: string, domains: string[], routers: RouteConfig[] = [route(name, { prefix: '/' })]): VirtualHostConfig {
  return {
    name,
    domains,
    routers,
    request_headers_to_add: [],
    request_headers_to_remove: [],
    response_headers_to_add: [],
    response_headers_to_remove: [],
    per_filter_config: {},
  };
}

function router(virtualHosts: VirtualHostConfig[]): RouterConfig {
  return {
    router_config_name: 'server_router',
    virtual_hosts: virtualHosts,
    request_headers_to_add: [],
    request_headers_to_remove: [],
    response_headers_to_add: [],
    response_headers_to_remove: [],
  };
}

const PATH = 'servers[0].routers[0]';
const noHeaders: HeaderLookup = () => undefined;

function headers(map: Record<string, string>): HeaderLookup {
  return (name) => map[name];
}

/** The virtual host name chosen for `host`, or undefined. */
function hostFor(table: RouteTable, host: string): string | undefined {
  return table.match(host, '/', noHeaders)?.virtualHost.name;
}

/** The cluster of the route matched in a single-"*"-host table, or undefined. */
function clusterFor(table: RouteTable, path: string, lookup: HeaderLookup = noHeaders): string | undefined {
  return table.match('any.host', path, lookup)?.route.route?.cluster_name;
}

function tableOf(routes: RouteConfig[]): RouteTable {
  return new RouteTable(router([vhost('default', ['*'], routes)]), PATH);
}

describe('RouteTable virtual host choice', () => {
  const table = new RouteTable(
    router([
      vhost('exact', ['www.example.com', 'api.example.com:8080']),
      vhost('short-wild', ['*.example.com']),
      vhost('long-wild', ['*.api.example.com']),
      vhost('fallback', ['*']),
    ]),
    PATH,
  );

  test('keeps the router_config_name', () => {
    assert.equal(table.name, 'server_router');
  });

  test('an exact domain wins over wildcards, case-insensitively', () => {
    assert.equal(hostFor(table, 'www.example.com'), 'exact');
    assert.equal(hostFor(table, 'WWW.Example.COM'), 'exact');
  });

  test('"host:port" matches a domain written without the port', () => {
    assert.equal(hostFor(table, 'www.example.com:8080'), 'exact');
  });

  test('a domain written with a port matches that "host:port" only', () => {
    assert.equal(hostFor(table, 'api.example.com:8080'), 'exact');
    // Without the port, "api.example.com" falls to the "*.example.com" wildcard.
    assert.equal(hostFor(table, 'api.example.com'), 'short-wild');
    assert.equal(hostFor(table, 'api.example.com:9090'), 'short-wild');
  });

  test('"*.suffix" wildcards are tried longest suffix first', () => {
    assert.equal(hostFor(table, 'v1.api.example.com'), 'long-wild');
    assert.equal(hostFor(table, 'v1.api.example.com:8080'), 'long-wild');
    assert.equal(hostFor(table, 'img.example.com'), 'short-wild');
  });

  test('a wildcard needs at least one character before its suffix', () => {
    assert.equal(hostFor(table, 'example.com'), 'fallback');
    assert.equal(hostFor(table, '.example.com'), 'fallback');
    assert.equal(hostFor(table, 'x.example.com'), 'short-wild');
  });

  test('"*" takes every other host', () => {
    assert.equal(hostFor(table, 'other.org'), 'fallback');
    assert.equal(hostFor(table, ''), 'fallback');
    assert.equal(hostFor(table, '[::1]:80'), 'fallback');
  });

  test('longest suffix wins whatever the config order', () => {
    const reversed = new RouteTable(
      router([vhost('long', ['*.b.c.com']), vhost('short', ['*.c.com'])]),
      PATH,
    );
    assert.equal(hostFor(reversed, 'a.b.c.com'), 'long');
    const ordered = new RouteTable(
      router([vhost('short', ['*.c.com']), vhost('long', ['*.b.c.com'])]),
      PATH,
    );
    assert.equal(hostFor(ordered, 'a.b.c.com'), 'long');
    assert.equal(hostFor(ordered, 'a.x.c.com'), 'short');
  });

  test('no matching host and no "*" host gives undefined', () => {
    const noDefault = new RouteTable(router([vhost('only', ['only.example.com'])]), PATH);
    assert.equal(noDefault.match('other.example.com', '/', noHeaders), undefined);
    assert.equal(hostFor(noDefault, 'only.example.com'), 'only');
  });

  test('a virtual host with no domains is the "*" host', () => {
    const t = new RouteTable(router([vhost('empty', [])]), PATH);
    assert.equal(hostFor(t, 'anything.example.com'), 'empty');
  });

  test('an IPv6 host with brackets matches a bracketed domain with and without port', () => {
    const t = new RouteTable(router([vhost('v6', ['[::1]'])]), PATH);
    assert.equal(hostFor(t, '[::1]'), 'v6');
    assert.equal(hostFor(t, '[::1]:8080'), 'v6');
  });

  test('the match returns the virtual host and route config objects themselves', () => {
    const r = route('c1', { prefix: '/' });
    const vh = vhost('one', ['*'], [r]);
    const t = new RouteTable(router([vh]), PATH);
    const m = t.match('x', '/a', noHeaders);
    assert.ok(m);
    assert.equal(m.virtualHost, vh);
    assert.equal(m.route, r);
  });
});

describe('RouteTable config errors', () => {
  test('a domain listed twice throws with the JSON path of the second host', () => {
    assert.throws(
      () => new RouteTable(router([vhost('a', ['x.example.com']), vhost('b', ['X.example.com'])]), PATH),
      (err: Error) => {
        assert.match(err.message, /^servers\[0\]\.routers\[0\]\.virtual_hosts\[1\]\.domains: /);
        assert.match(err.message, /"X\.example\.com" is listed twice/);
        return true;
      },
    );
  });

  test('a domain listed twice in one host throws', () => {
    assert.throws(
      () => new RouteTable(router([vhost('a', ['x.com', 'x.com'])]), PATH),
      (err: Error) => err.message.startsWith('servers[0].routers[0].virtual_hosts[0].domains: '),
    );
  });

  test('two "*" hosts throw with the JSON path of the second', () => {
    assert.throws(
      () => new RouteTable(router([vhost('a', ['*']), vhost('b', ['a.com']), vhost('c', ['*'])]), PATH),
      (err: Error) => {
        assert.match(err.message, /^servers\[0\]\.routers\[0\]\.virtual_hosts\[2\]\.domains: /);
        assert.match(err.message, /"\*"/);
        return true;
      },
    );
  });

  test('a host with no domains counts as a "*" host', () => {
    assert.throws(
      () => new RouteTable(router([vhost('a', ['*']), vhost('b', [])]), PATH),
      (err: Error) => err.message.startsWith('servers[0].routers[0].virtual_hosts[1].domains: '),
    );
  });

  test('a wildcard domain listed twice throws (MOSN: ErrDuplicateVirtualHost, "only unique wildcard domain permitted")', () => {
    assert.throws(
      () => new RouteTable(router([vhost('a', ['*.example.com']), vhost('b', ['*.example.com'])]), PATH),
      (err: Error) => err.message.startsWith('servers[0].routers[0].virtual_hosts[1].domains'),
    );
  });

  test('an invalid path regex throws naming the route', () => {
    assert.throws(
      () => new RouteTable(router([vhost('a', ['*'], [route('c', { prefix: '/' }), route('c', { regex: '/(a' })])]), PATH),
      (err: Error) => {
        assert.match(err.message, /^servers\[0\]\.routers\[0\]\.virtual_hosts\[0\]\.routers\[1\]\.match\.regex: /);
        assert.match(err.message, /"\/\(a"/);
        return true;
      },
    );
  });

  test('an invalid header regex throws naming the header matcher', () => {
    const bad = route('c', { prefix: '/', headers: [{ name: 'a', value: 'x', regex: false }, { name: 'b', value: '[', regex: true }] });
    assert.throws(
      () => new RouteTable(router([vhost('a', ['*'], [bad])]), PATH),
      (err: Error) => err.message.startsWith('servers[0].routers[0].virtual_hosts[0].routers[0].match.headers[1].value: '),
    );
  });

  test('a "[" header value is fine when the matcher is not a regex', () => {
    const plain = route('c', { headers: [{ name: 'b', value: '[', regex: false }] });
    const t = tableOf([plain]);
    assert.equal(clusterFor(t, '/', headers({ b: '[' })), 'c');
  });
});

describe('RouteTable route matching', () => {
  test('prefix matches paths that start with it, case-sensitively', () => {
    const t = tableOf([route('api', { prefix: '/api' })]);
    assert.equal(clusterFor(t, '/api'), 'api');
    assert.equal(clusterFor(t, '/api/v1/users'), 'api');
    assert.equal(clusterFor(t, '/apix'), 'api');
    assert.equal(clusterFor(t, '/API'), undefined);
    assert.equal(clusterFor(t, '/ap'), undefined);
  });

  test('prefix is checked against the path without its query', () => {
    const t = tableOf([route('q', { prefix: '/a?b' })]);
    assert.equal(clusterFor(t, '/a?b'), undefined);
  });

  test('path is an exact match that ignores the query string', () => {
    const t = tableOf([route('exact', { path: '/health' })]);
    assert.equal(clusterFor(t, '/health'), 'exact');
    assert.equal(clusterFor(t, '/health?verbose=1'), 'exact');
    assert.equal(clusterFor(t, '/health/'), undefined);
    assert.equal(clusterFor(t, '/healthz'), undefined);
    assert.equal(clusterFor(t, '/'), undefined);
  });

  test('regex is anchored to the whole path', () => {
    const t = tableOf([route('re', { regex: '/a.*' })]);
    assert.equal(clusterFor(t, '/a'), 're');
    assert.equal(clusterFor(t, '/abc/d'), 're');
    assert.equal(clusterFor(t, '/ba'), undefined);
  });

  test('an alternation regex is anchored as a whole', () => {
    const t = tableOf([route('re', { regex: '/a|/b' })]);
    assert.equal(clusterFor(t, '/a'), 're');
    assert.equal(clusterFor(t, '/b'), 're');
    assert.equal(clusterFor(t, '/ab'), undefined);
    assert.equal(clusterFor(t, '/xb'), undefined);
  });

  test('regex ignores the query string', () => {
    const t = tableOf([route('re', { regex: '/users/\\d+' })]);
    assert.equal(clusterFor(t, '/users/42?x=y'), 're');
    assert.equal(clusterFor(t, '/users/abc'), undefined);
  });

  test('prefix takes precedence over path and regex in one match', () => {
    const t = tableOf([route('p', { prefix: '/a', path: '/nope', regex: 'nope' })]);
    assert.equal(clusterFor(t, '/abc'), 'p');
  });

  test('headers are ANDed with a path rule', () => {
    const t = tableOf([
      route('canary', {
        prefix: '/',
        headers: [
          { name: 'X-Canary', value: 'yes', regex: false },
          { name: 'x-zone', value: 'gz', regex: false },
        ],
      }),
    ]);
    assert.equal(clusterFor(t, '/x', headers({ 'x-canary': 'yes', 'x-zone': 'gz' })), 'canary');
    assert.equal(clusterFor(t, '/x', headers({ 'x-canary': 'yes', 'x-zone': 'sh' })), undefined);
    assert.equal(clusterFor(t, '/x', headers({ 'x-canary': 'yes' })), undefined);
    assert.equal(clusterFor(t, '/x', headers({ 'x-canary': 'YES', 'x-zone': 'gz' })), undefined);
  });

  test('a path rule that fails is not rescued by matching headers', () => {
    const t = tableOf([route('h', { path: '/only', headers: [{ name: 'a', value: '1', regex: false }] })]);
    assert.equal(clusterFor(t, '/only', headers({ a: '1' })), 'h');
    assert.equal(clusterFor(t, '/other', headers({ a: '1' })), undefined);
  });

  test('header names are looked up in lower case', () => {
    const seen: string[] = [];
    const t = tableOf([route('h', { headers: [{ name: 'X-User-Id', value: '7', regex: false }] })]);
    assert.equal(
      clusterFor(t, '/', (name) => {
        seen.push(name);
        return '7';
      }),
      'h',
    );
    assert.deepEqual(seen, ['x-user-id']);
  });

  test('a headers-only route matches on headers alone, any path', () => {
    const t = tableOf([route('h', { headers: [{ name: 'x-env', value: 'test', regex: false }] })]);
    assert.equal(clusterFor(t, '/anything/at/all', headers({ 'x-env': 'test' })), 'h');
    assert.equal(clusterFor(t, '/', headers({ 'x-env': 'prod' })), undefined);
    assert.equal(clusterFor(t, '/'), undefined);
  });

  test('a header regex is anchored to the whole value', () => {
    const t = tableOf([route('v', { prefix: '/', headers: [{ name: 'x-version', value: 'v[12]', regex: true }] })]);
    assert.equal(clusterFor(t, '/', headers({ 'x-version': 'v1' })), 'v');
    assert.equal(clusterFor(t, '/', headers({ 'x-version': 'v2' })), 'v');
    assert.equal(clusterFor(t, '/', headers({ 'x-version': 'v3' })), undefined);
    assert.equal(clusterFor(t, '/', headers({ 'x-version': 'v12' })), undefined);
    assert.equal(clusterFor(t, '/', headers({ 'x-version': 'xv1' })), undefined);
  });

  test('a missing header never matches, even an always-true regex', () => {
    const t = tableOf([route('v', { prefix: '/', headers: [{ name: 'x-any', value: '.*', regex: true }] })]);
    assert.equal(clusterFor(t, '/'), undefined);
    assert.equal(clusterFor(t, '/', headers({ 'x-any': '' })), 'v');
  });

  test('a route with no matcher at all never matches', () => {
    const t = tableOf([route('none', {}), route('next', { prefix: '/' })]);
    assert.equal(clusterFor(t, '/x'), 'next');
  });

  test('the first matching route wins, in config order', () => {
    const t = tableOf([
      route('exact', { path: '/api/health' }),
      route('api', { prefix: '/api' }),
      route('narrower-but-later', { prefix: '/api/v1' }),
      route('root', { prefix: '/' }),
    ]);
    assert.equal(clusterFor(t, '/api/health'), 'exact');
    assert.equal(clusterFor(t, '/api/v1/x'), 'api');
    assert.equal(clusterFor(t, '/web'), 'root');
  });

  test('no matching route in the chosen host gives undefined (no fall-through to "*")', () => {
    const t = new RouteTable(
      router([
        vhost('api', ['api.example.com'], [route('api', { prefix: '/api' })]),
        vhost('any', ['*'], [route('any', { prefix: '/' })]),
      ]),
      PATH,
    );
    assert.equal(t.match('api.example.com', '/web', noHeaders), undefined);
    assert.equal(t.match('api.example.com', '/api/x', noHeaders)?.route.route?.cluster_name, 'api');
    assert.equal(t.match('www.example.com', '/web', noHeaders)?.route.route?.cluster_name, 'any');
  });
});

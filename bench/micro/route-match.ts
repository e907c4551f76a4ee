/**
 * Micro-benchmark cases: `RouteTable.match()` (router/route-table.ts), the per-request
 * route lookup, over router configs of growing size. Configs go through the real loader
 * (config/load.ts parseConfigText), so the table is built exactly as mosnode builds it.
 * Each case asserts its request lands on the intended route before it is timed. Run
 * through bench/micro/run.ts.
 */
import { HeaderMap } from '../../src/api/headers.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { RouteTable, type RouteRequest } from '../../src/router/route-table.ts';
import type { MicroCase } from '../lib/micro.ts';

type RawRoute = Record<string, unknown>;
type RawVirtualHost = { name: string; domains: string[]; routers: RawRoute[] };

const to = (cluster: string, match: Record<string, unknown>): RawRoute => ({ match, route: { cluster_name: cluster } });

function table(virtualHosts: RawVirtualHost[]): RouteTable {
  const doc = {
    servers: [{ routers: [{ router_config_name: 'bench', virtual_hosts: virtualHosts }] }],
    cluster_manager: { clusters: [{ name: 'c', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: '127.0.0.1:1' }] }] },
  };
  const router = parseConfigText(JSON.stringify(doc), { format: 'json' }).config.servers[0].routers[0];
  if (router === undefined) throw new Error('no router in the bench config');
  return new RouteTable(router, 'servers[0].routers[0]');
}

/** A case that matches `request` against `t` and checks, once, that the route chosen is `expected`. */
function matchCase(name: string, build: () => { t: RouteTable; request: RouteRequest; expected: string }): MicroCase {
  return {
    group: 'route match',
    name,
    source: 'router/route-table.ts RouteTable.match',
    setup: () => {
      const { t, request, expected } = build();
      const got = t.match(request)?.name;
      if (got !== expected) throw new Error(`${name}: expected route ${expected}, got ${got}`);
      return () => t.match(request);
    },
  };
}

const request = (authority: string, path: string, headers: string[] = [], method = 'GET'): RouteRequest => ({
  authority,
  path,
  headers: new HeaderMap(headers),
  method,
});

export const cases: MicroCase[] = [
  matchCase('one "*" host, prefix "/" (the bench config)', () => ({
    t: table([{ name: 'all', domains: ['*'], routers: [to('c', { prefix: '/' })] }]),
    request: request('127.0.0.1:8030', '/small'),
    expected: 'all.routers[0]',
  })),
  matchCase('one "*" host, 20 prefix routes, 20th matches', () => ({
    t: table([{ name: 'all', domains: ['*'], routers: Array.from({ length: 20 }, (_, i) => to('c', { prefix: `/svc${i}/` })) }]),
    request: request('127.0.0.1:8030', '/svc19/items/42?page=2'),
    expected: 'all.routers[19]',
  })),
  matchCase('50 exact-domain hosts x 5 path routes, host:port', () => ({
    t: table(
      Array.from({ length: 50 }, (_, v) => ({
        name: `svc${v}`,
        domains: [`svc${v}.example.com`, `svc${v}.example.com:8080`],
        routers: ['/login', '/logout', '/api/v1/cart', '/api/v1/users', '/api/v2/orders'].map((path) => to('c', { path })),
      })),
    ),
    request: request('SVC37.example.com:8080', '/api/v2/orders'),
    expected: 'svc37.routers[4]',
  })),
  matchCase('wildcard "*.example.com" among 10 wildcard hosts', () => ({
    t: table(
      Array.from({ length: 10 }, (_, v) => ({
        name: `w${v}`,
        domains: [v === 9 ? '*.example.com' : `*.zone${v}.example.org`],
        routers: [to('c', { prefix: '/' })],
      })),
    ),
    request: request('api.eu.example.com', '/'),
    expected: 'w9.routers[0]',
  })),
  matchCase('header rule: 2 exact headers + method', () => ({
    t: table([
      {
        name: 'all',
        domains: ['*'],
        routers: [
          to('c', { prefix: '/', headers: [{ name: 'x-tenant', value: 'green' }] }),
          to('c', { prefix: '/', headers: [{ name: 'x-tenant', value: 'blue' }, { name: 'x-canary', value: '1' }, { name: 'method', value: 'GET' }] }),
        ],
      },
    ]),
    request: request('shop.example.com', '/cart', ['user-agent', 'curl/8.0', 'accept', '*/*', 'x-tenant', 'blue', 'x-canary', '1']),
    expected: 'all.routers[1]',
  })),
  matchCase('regex route "^/users/[0-9]+/orders$"', () => ({
    t: table([{ name: 'all', domains: ['*'], routers: [to('c', { regex: '^/users/[0-9]+/orders$' })] }]),
    request: request('shop.example.com', '/users/123456/orders?limit=10'),
    expected: 'all.routers[0]',
  })),
];

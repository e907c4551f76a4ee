/**
 * MOSN routing end to end through a spawned mosnode: virtual host choice by Host, route
 * matchers, cluster choice (name, header, weights), rewrites, direct responses,
 * redirects, header edits at three levels, request mirroring and route timeouts. Real
 * node:http upstreams on 127.0.0.1 record what reaches them.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { proxyConfig, h1, h2 } from '../helpers/l7.ts';
import { closedPort } from '../helpers/servers.ts';
import { until } from '../helpers/sockets.ts';
import { startRecordingUpstream, parseSeen, type RecordingUpstream } from '../helpers/recording-upstream.ts';

const direct = (body: string): { status: number; body: string } => ({ status: 200, body });
const add = (key: string, value: string, append?: boolean): Record<string, unknown> => ({ header: { key, value }, ...(append !== undefined && { append }) });

/** One request over a keep-alive agent (fast loops); Host may be set. */
function get(port: number, path: string, options: { agent?: Agent | false; headers?: Record<string, string>; method?: string; body?: string } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('L7 routing (MOSN semantics)', () => {
  let a: RecordingUpstream;
  let b: RecordingUpstream;
  let c: RecordingUpstream;
  let mirror: RecordingUpstream;
  let mirrorHang: RecordingUpstream;
  let proc: MosnodeProcess;
  let port: number;

  before(async () => {
    [a, b, c, mirror, mirrorHang] = await Promise.all([
      startRecordingUpstream('a'),
      startRecordingUpstream('b'),
      startRecordingUpstream('c'),
      startRecordingUpstream('mirror'),
      startRecordingUpstream('mirror-hang', { hangAll: true }),
    ]);
    const dead = await closedPort();
    const virtualHosts = [
      { name: 'exact', domains: ['exact.test'], routers: [{ match: { prefix: '/' }, direct_response: direct('vh:exact') }] },
      { name: 'exact-port', domains: ['exact.test:8080'], routers: [{ match: { prefix: '/' }, direct_response: direct('vh:exact-port') }] },
      { name: 'any-port', domains: ['anyport.test:*'], routers: [{ match: { prefix: '/' }, direct_response: direct('vh:any-port') }] },
      { name: 'narrow', domains: ['narrow.test'], routers: [{ match: { prefix: '/only' }, direct_response: direct('vh:narrow') }] },
      { name: 'suffix', domains: ['*.suffix.test'], routers: [{ match: { prefix: '/' }, direct_response: direct('vh:suffix') }] },
      { name: 'deep-suffix', domains: ['*.deep.suffix.test'], routers: [{ match: { prefix: '/' }, direct_response: direct('vh:deep-suffix') }] },
      {
        name: 'headers',
        domains: ['headers.test'],
        request_headers_to_add: [add('x-chain', 'vh'), add('x-vh-only', 'vh')],
        request_headers_to_remove: ['x-late'],
        response_headers_to_add: [add('x-resp-chain', 'vh')],
        routers: [
          {
            match: { prefix: '/' },
            route: {
              cluster_name: 'a',
              request_headers_to_add: [add('x-chain', 'route'), add('x-replace', 'route', false), add('x-tmp', 'tmp'), add('x-late', 'route'), add('x-final', 'route')],
              request_headers_to_remove: ['x-tmp', 'x-client-drop'],
              response_headers_to_add: [add('x-resp-chain', 'route')],
              response_headers_to_remove: ['x-upstream'],
            },
          },
        ],
      },
      {
        name: 'default',
        domains: ['*'],
        routers: [
          { match: { prefix: '/hdr', headers: [{ name: 'x-env', value: 'canary' }] }, direct_response: direct('hdr:canary') },
          {
            match: { prefix: '/hdr', headers: [{ name: 'x-ver', value: '^v[0-9]+$', regex: true }, { name: 'x-team', value: 'core' }] },
            direct_response: direct('hdr:regex+exact'),
          },
          { match: { prefix: '/hdr', headers: [{ name: 'method', value: 'POST' }] }, direct_response: direct('hdr:post') },
          { match: { prefix: '/hdr', headers: [{ name: 'X-Empty', value: '' }] }, direct_response: direct('hdr:present-and-empty') },
          { match: { prefix: '/hdr' }, direct_response: direct('hdr:plain') },
          { match: { path: '/Exact/Path' }, direct_response: direct('path') },
          { match: { regex: '^/re/[0-9]+$' }, direct_response: direct('regex:anchored') },
          { match: { regex: '/unanchored/[0-9]+' }, direct_response: direct('regex:unanchored') },
          { match: { prefix: '/Case' }, direct_response: direct('prefix:Case') },
          { match: { prefix: '/cluster-header' }, route: { cluster_header: 'x-target' } },
          { match: { prefix: '/weighted' }, route: { weighted_clusters: [{ cluster: { name: 'a', weight: 75 } }, { cluster: { name: 'b', weight: 25 } }] } },
          { match: { prefix: '/old/' }, route: { cluster_name: 'a', prefix_rewrite: '/new/' } },
          { match: { prefix: '/rx/' }, route: { cluster_name: 'a', regex_rewrite: { pattern: { regex: '^/rx/(\\w+)/(\\w+)' }, substitution: '/swapped/$2/$1' } } },
          { match: { prefix: '/host-rewrite' }, route: { cluster_name: 'a', host_rewrite: 'rewritten.example' } },
          { match: { prefix: '/auto-host' }, route: { cluster_name: 'named', auto_host_rewrite: true } },
          { match: { prefix: '/host-from-header' }, route: { cluster_name: 'a', auto_host_rewrite_header: 'x-host' } },
          { match: { prefix: '/plain-host' }, route: { cluster_name: 'named' } },
          {
            match: { prefix: '/direct' },
            direct_response: { status: 202, body: 'direct body' },
            route: { response_headers_to_add: [add('x-direct', 'route-level')] },
          },
          { match: { prefix: '/redirect/secure' }, redirect: { scheme_redirect: 'https', host_redirect: 'secure.example', response_code: 302 } },
          { match: { prefix: '/redirect/path' }, redirect: { path_redirect: '/landing' } },
          { match: { prefix: '/redirect/https' }, redirect: { scheme_redirect: 'https', response_code: 308 } },
          { match: { prefix: '/mirror-dead' }, route: { cluster_name: 'a' }, request_mirror_policies: { cluster: 'dead', percent: 100 } },
          { match: { prefix: '/mirror-hang' }, route: { cluster_name: 'a' }, request_mirror_policies: { cluster: 'mirror-hang', percent: 100 } },
          { match: { prefix: '/mirror' }, route: { cluster_name: 'a' }, request_mirror_policies: { cluster: 'mirror', percent: 100 } },
          { match: { prefix: '/timeout' }, route: { cluster_name: 'a', timeout: '300ms' } },
          { match: { prefix: '/upstream' }, route: { cluster_name: 'a' } },
          { match: { prefix: '/' }, direct_response: direct('catch-all') },
        ],
      },
    ];
    const config = proxyConfig({
      downstream: 'Auto',
      upstream: 'Http1',
      virtualHosts,
      clusters: {
        a: [a.port],
        b: [b.port],
        c: [c.port],
        mirror: [mirror.port],
        'mirror-hang': [mirrorHang.port],
        dead: [dead],
        named: { hosts: [{ address: `127.0.0.1:${c.port}`, hostname: 'named-host.internal' }] },
      },
    });
    const router = (config['servers'] as Array<{ routers: Array<Record<string, unknown>> }>)[0]!.routers[0]!;
    Object.assign(router, {
      request_headers_to_add: [add('x-chain', 'router'), add('x-final', 'router', false), add('x-router', 'router')],
      request_headers_to_remove: ['x-router-drop'],
      response_headers_to_add: [add('x-resp-chain', 'router'), add('x-router-resp', 'router')],
    });
    proc = await startMosnode(config);
    port = proc.listenerAddress('l7').port;
  });

  after(async () => {
    await proc?.cleanup();
    await Promise.all([a, b, c, mirror, mirrorHang].map((u) => u?.close()));
  });

  test('virtual host by Host: exact (case-insensitive, port-exact), host:*, longest *.suffix, then the default', async () => {
    const cases: Array<[string, string]> = [
      ['exact.test', 'vh:exact'],
      ['EXACT.Test', 'vh:exact'],
      ['exact.test:8080', 'vh:exact-port'],
      ['exact.test:9090', 'catch-all'], // "exact.test" is port "" only; no other level matches
      ['anyport.test:1234', 'vh:any-port'],
      ['anyport.test', 'vh:any-port'],
      ['www.suffix.test', 'vh:suffix'],
      ['a.b.suffix.test', 'vh:suffix'],
      ['a.b.suffix.test:8080', 'catch-all'], // MOSN: "*.suffix.test" has port "", so it matches only a Host without a port
      ['x.deep.suffix.test', 'vh:deep-suffix'], // the longest suffix wins
      ['suffix.test', 'catch-all'], // the host must be longer than ".suffix.test"
      ['other.test', 'catch-all'],
    ];
    for (const [host, expected] of cases) {
      const res = await get(port, '/', { headers: { host } });
      assert.equal(res.body, expected, `Host: ${host}`);
    }
    // No fall-through: the chosen virtual host has no route for this path, so there is no
    // route at all, although the default virtual host would match.
    assert.equal((await get(port, '/only/x', { headers: { host: 'narrow.test' } })).body, 'vh:narrow');
    const none = await get(port, '/elsewhere', { headers: { host: 'narrow.test' } });
    assert.equal(none.status, 404);
    // HTTP/2 (the listener is Auto) routes by :authority the same way.
    for (const [authority, expected] of [['www.suffix.test', 'vh:suffix'], ['exact.test:8080', 'vh:exact-port'], ['nowhere.test', 'catch-all']]) {
      const res2 = await h2(port, '/', { headers: { ':authority': authority! } });
      assert.equal(res2.body.toString(), expected, `:authority ${authority}`);
    }
  });

  test('header matchers: exact value, regex value ANDed with another header, the method; first matching route wins', async () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ 'x-env': 'canary' }, 'GET', 'hdr:canary'],
      [{ 'x-env': 'Canary' }, 'GET', 'hdr:plain'], // exact, case-sensitive value
      [{ 'x-ver': 'v12', 'x-team': 'core' }, 'GET', 'hdr:regex+exact'],
      [{ 'x-ver': 'v12' }, 'GET', 'hdr:plain'], // both headers are required
      [{ 'x-ver': 'v12x', 'x-team': 'core' }, 'GET', 'hdr:plain'], // the regex is anchored by its own ^$
      [{ 'x-env': 'canary', 'x-ver': 'v1', 'x-team': 'core' }, 'GET', 'hdr:canary'], // order decides
      [{}, 'POST', 'hdr:post'],
      [{ 'x-empty': '' }, 'GET', 'hdr:present-and-empty'], // value "" means present and empty
      [{ 'x-empty': 'full' }, 'GET', 'hdr:plain'],
      [{}, 'GET', 'hdr:plain'],
    ];
    for (const [headers, method, expected] of cases) {
      const res = await get(port, '/hdr/x', { headers, method });
      assert.equal(res.body, expected, `${method} ${JSON.stringify(headers)}`);
    }
  });

  test('path matchers: path ignores case and must be whole; prefix is case-sensitive; regex is unanchored unless written so', async () => {
    const cases: Array<[string, string]> = [
      ['/Exact/Path', 'path'],
      ['/exact/path', 'path'],
      ['/EXACT/PATH?q=1', 'path'], // the query is not part of the path
      ['/Exact/Path/more', 'catch-all'],
      ['/re/123', 'regex:anchored'],
      ['/re/123/x', 'catch-all'],
      ['/x/unanchored/42/y', 'regex:unanchored'],
      ['/Case/x', 'prefix:Case'],
      ['/case/x', 'catch-all'],
      ['//Exact//Path', 'path'], // normalized as MOSN's codec does: "//" collapsed
      ['/a/%2e%2e/Exact/Path', 'path'], // escapes decoded and ".." resolved before matching
    ];
    for (const [path, expected] of cases) {
      assert.equal((await get(port, path)).body, expected, path);
    }
  });

  test('cluster_header picks the cluster named by a request header; none or an unknown one is a 503', async () => {
    const toB = await get(port, '/cluster-header/x', { headers: { 'x-target': 'b' } });
    assert.equal(toB.headers['x-upstream'], 'b');
    const toC = await get(port, '/cluster-header/x', { headers: { 'x-target': 'c' } });
    assert.equal(toC.headers['x-upstream'], 'c');
    assert.equal((await get(port, '/cluster-header/x')).status, 503);
    assert.equal((await get(port, '/cluster-header/x', { headers: { 'x-target': 'no-such-cluster' } })).status, 503);
  });

  test('weighted_clusters: 75/25 over 200 requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      const counts: Record<string, number> = {};
      const all = await Promise.all(Array.from({ length: 200 }, () => get(port, '/weighted', { agent })));
      for (const res of all) {
        assert.equal(res.status, 200);
        const name = String(res.headers['x-upstream']);
        counts[name] = (counts[name] ?? 0) + 1;
      }
      assert.deepEqual(Object.keys(counts).sort(), ['a', 'b']);
      // Binomial(200, 0.75): mean 150, sd 6.1; +-25 is over 4 sd.
      assert.ok(Math.abs(counts['a']! - 150) <= 25, JSON.stringify(counts));
    } finally {
      agent.destroy();
    }
  });

  test('prefix_rewrite and regex_rewrite: the query is kept, the original path goes in x-mosn-original-path', async () => {
    const p = parseSeen((await get(port, '/old/deep/item?x=1&y=two')).body);
    assert.equal(p.url, '/new/deep/item?x=1&y=two');
    assert.equal(p.headers['x-mosn-original-path'], '/old/deep/item');

    const r = parseSeen((await get(port, '/rx/first/second/tail?k=v')).body);
    assert.equal(r.url, '/swapped/second/first/tail?k=v');
    assert.equal(r.headers['x-mosn-original-path'], '/rx/first/second/tail');

    // A regex that does not match leaves the path alone (and sets no header).
    const miss = parseSeen((await get(port, '/rx/only?k=v')).body);
    assert.equal(miss.url, '/rx/only?k=v');
    assert.equal(miss.headers['x-mosn-original-path'], undefined);

    // HTTP/2 downstream, HTTP/1.1 upstream: the same rewrite.
    assert.equal(parseSeen((await h2(port, '/old/h2?q=2')).body).url, '/new/h2?q=2');

    // A rewritten path goes upstream escaped (Go's EscapedPath).
    const e = parseSeen((await get(port, '/old/a%20b?q=%20')).body);
    assert.equal(e.url, '/new/a%20b?q=%20');

    // No rewrite configured: the path goes as received, and no original-path header.
    const plain = parseSeen((await get(port, '/upstream/x?z=1')).body);
    assert.equal(plain.url, '/upstream/x?z=1');
    assert.equal(plain.headers['x-mosn-original-path'], undefined);
  });

  test('host_rewrite, auto_host_rewrite (the host\'s hostname) and auto_host_rewrite_header set the Host sent upstream', async () => {
    assert.equal(parseSeen((await get(port, '/host-rewrite', { headers: { host: 'client.test' } })).body).headers.host, 'rewritten.example');
    const auto = parseSeen((await get(port, '/auto-host', { headers: { host: 'client.test' } })).body);
    assert.equal(auto.upstream, 'c');
    assert.equal(auto.headers.host, 'named-host.internal');
    assert.equal(parseSeen((await get(port, '/host-from-header', { headers: { host: 'client.test', 'x-host': 'from-header.test' } })).body).headers.host, 'from-header.test');
    assert.equal(parseSeen((await get(port, '/host-from-header', { headers: { host: 'client.test' } })).body).headers.host, 'client.test', 'no header: Host unchanged');
    assert.equal(parseSeen((await get(port, '/plain-host', { headers: { host: 'client.test' } })).body).headers.host, 'client.test', 'without a rewrite the client\'s Host goes upstream');
  });

  test('direct_response: status, body and the route / router response headers', async () => {
    const res = await get(port, '/direct/x');
    assert.equal(res.status, 202);
    assert.equal(res.body, 'direct body');
    assert.equal(res.headers['content-length'], String('direct body'.length));
    assert.equal(res.headers['x-direct'], 'route-level');
    assert.equal(res.headers['x-router-resp'], 'router');
  });

  test('redirect: status and Location built from the config and the request (query kept, port dropped on a scheme change)', async () => {
    const secure = await get(port, '/redirect/secure/x?q=1', { headers: { host: 'shop.test:8080' } });
    assert.equal(secure.status, 302);
    assert.equal(secure.headers.location, 'https://secure.example/redirect/secure/x?q=1');

    const path = await get(port, '/redirect/path/x?a=b', { headers: { host: 'shop.test:8080' } });
    assert.equal(path.status, 301, 'no response_code means 301');
    assert.equal(path.headers.location, 'http://shop.test:8080/landing?a=b');

    const https = await get(port, '/redirect/https', { headers: { host: 'shop.test:80' } });
    assert.equal(https.status, 308);
    assert.equal(https.headers.location, 'https://shop.test/redirect/https', 'port 80 is dropped when the scheme becomes https');
    const keepPort = await get(port, '/redirect/https', { headers: { host: 'shop.test:8443' } });
    assert.equal(keepPort.headers.location, 'https://shop.test:8443/redirect/https');
  });

  test('header add/remove: route, then virtual host, then router; append joins with ",", append:false replaces; removes run after adds', async () => {
    const hitsBefore = a.seen.length;
    const res = await get(port, '/h', {
      headers: { host: 'headers.test', 'x-chain': 'client', 'x-replace': 'client', 'x-client-drop': 'bye', 'x-router-drop': 'bye', 'x-final': 'client' },
    });
    assert.equal(res.status, 200);
    const seen = parseSeen(res.body);
    assert.equal(a.seen.length, hitsBefore + 1);
    assert.equal(seen.headers['x-chain'], 'client,route,vh,router');
    assert.equal(seen.headers['x-replace'], 'route');
    assert.equal(seen.headers['x-final'], 'router', 'the router level runs last and append:false replaces');
    assert.equal(seen.headers['x-tmp'], undefined, 'added and removed at the route level');
    assert.equal(seen.headers['x-late'], undefined, 'added by the route, removed by the virtual host');
    assert.equal(seen.headers['x-client-drop'], undefined);
    assert.equal(seen.headers['x-router-drop'], undefined);
    assert.equal(seen.headers['x-vh-only'], 'vh');
    assert.equal(seen.headers['x-router'], 'router');
    // Response side.
    assert.equal(res.headers['x-resp-chain'], 'route,vh,router');
    assert.equal(res.headers['x-upstream'], undefined, 'removed at the route level');
    assert.equal(res.headers['x-router-resp'], 'router');

    // The router level applies to every virtual host.
    const other = parseSeen((await get(port, '/upstream/h', { headers: { 'x-chain': 'client' } })).body);
    assert.equal(other.headers['x-chain'], 'client,router');
    assert.equal(other.headers['x-vh-only'], undefined);
  });

  test('request_mirror_policies at 100%: the mirror sees the request (body too); the client gets the main upstream\'s answer', async () => {
    const seenBefore = mirror.seen.length;
    const res = await get(port, '/mirror/x?m=1', { method: 'POST', body: 'mirrored body', headers: { 'content-type': 'text/plain', 'x-trace': 't1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-upstream'], 'a');
    const main = parseSeen(res.body);
    assert.equal(main.body, 'mirrored body');
    await until(() => mirror.seen.length === seenBefore + 1, 'the mirror to see the request');
    const copy = mirror.seen.at(-1)!;
    assert.equal(copy.method, 'POST');
    assert.equal(copy.url, '/mirror/x?m=1');
    assert.equal(copy.body, 'mirrored body');
    assert.equal(copy.headers['x-trace'], 't1');
    const getRes = await get(port, '/mirror/get');
    assert.equal(getRes.headers['x-upstream'], 'a');
    await until(() => mirror.seen.some((s) => s.url === '/mirror/get'), 'the mirror to see the GET');
  });

  test('a dead or never-answering mirror does not hurt the main request', async () => {
    const started = performance.now();
    const dead = await get(port, '/mirror-dead/x', { method: 'POST', body: 'x' });
    assert.equal(dead.status, 200);
    assert.equal(dead.headers['x-upstream'], 'a');
    const hang = await get(port, '/mirror-hang/x');
    assert.equal(hang.status, 200);
    assert.equal(hang.headers['x-upstream'], 'a');
    assert.ok(performance.now() - started < 2000, 'answered without waiting for the mirrors');
    await until(() => mirrorHang.hanging.size >= 1, 'the hanging mirror to have the request');
  });

  test('route timeout: 504 when the upstream answers too late, and the upstream request is cancelled', async () => {
    const abortedBefore = a.aborted;
    const started = performance.now();
    const res = await get(port, '/timeout/slow/3000');
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504);
    assert.ok(elapsed >= 250 && elapsed < 2000, `answered after ${Math.round(elapsed)} ms, the route timeout is 300ms`);
    await until(() => a.aborted > abortedBefore, 'the upstream request to be cancelled');
    const fast = await get(port, '/timeout/slow/10');
    assert.equal(fast.status, 200, 'an answer within the timeout passes');
  });
});

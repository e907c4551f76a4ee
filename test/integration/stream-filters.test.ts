/**
 * Stream filters end to end, in process: a MosnServer built from a config object, with
 * test stream filters registered on its registry before start(), real node:http and
 * node:http2 clients, and a real HTTP/1.1 upstream that records what it receives. Covers
 * every receive phase, send filters, sync and async filters, every status, failures,
 * bodies, per-route configs, onDestroy and unknown filter types.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import { Transform } from 'node:stream';
import type { MosnServer } from '../../src/server/server.ts';
import { defineStreamFilter, type StreamFilterChainBuilder, type StreamFilterFactory, type StreamFilterStatus } from '../../src/api/stream-filter.ts';
import { downstreamListenerMetrics, downstreamProxyMetrics } from '../../src/metrics/metric-bundles.ts';
import { proxyConfig, h1, h2, h2On, type ProxyConfigOptions } from '../helpers/l7.ts';
import { until, sleep } from '../helpers/sockets.ts';
import { startInProcess, type InProcessServer } from '../helpers/in-process.ts';
import { startRecordingUpstream, parseSeen as seenOf, type RecordingUpstream as Upstream, type SeenRequest as Seen } from '../helpers/recording-upstream.ts';

// ---------------------------------------------------------------------------------------
// In-process server

type Running = InProcessServer;

/** A filter type whose config is passed through and whose filters `add` adds per request. */
function filter(type: string, add: (chain: StreamFilterChainBuilder, config: unknown) => void, extra: Partial<StreamFilterFactory<unknown>> = {}): StreamFilterFactory<unknown> {
  return defineStreamFilter<unknown>({ type, parseConfig: (raw) => raw, createFilters: (config, chain) => add(chain, config), ...extra });
}

/**
 * Starts a MosnServer with one `proxy` listener "l7" (downstream Auto: HTTP/1.1 and h2c
 * on one port; upstream Http1), `factories` registered, `types` (or full entries) as its
 * stream_filters.
 */
function startServer(
  factories: StreamFilterFactory<unknown>[],
  streamFilters: Array<string | { type: string; config?: unknown }>,
  options: Partial<ProxyConfigOptions> & { clusters: ProxyConfigOptions['clusters'] },
): Promise<Running> {
  const config = proxyConfig({
    downstream: 'Auto',
    upstream: 'Http1',
    ...options,
    streamFilters: streamFilters.map((f) => (typeof f === 'string' ? { type: f, config: {} } : f)),
  });
  return startInProcess(config, (registry) => {
    for (const f of factories) registry.registerStreamFilter(f);
  });
}

/** HTTP/1.1 request with a given agent (keep-alive tests); resolves status, headers, body, and the socket's local port. */
function h1Agent(port: number, path: string, agent: Agent, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent }, (res) => {
      const chunks: Buffer[] = [];
      const localPort = res.socket.localPort!;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), localPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An HTTP/1.1 request expected to fail; resolves with the error. */
function h1Error(port: number, path: string): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => reject(new Error(`expected a reset, got a ${res.statusCode} response`)));
      res.on('error', resolve);
    });
    req.on('error', resolve);
    req.end();
  });
}

function failedCounts(server: MosnServer): { listener: number; proxy: number } {
  return {
    listener: downstreamListenerMetrics(server.metrics, 'l7').requestFailed.value,
    proxy: downstreamProxyMetrics(server.metrics).requestFailed.value,
  };
}

// ---------------------------------------------------------------------------------------

describe('stream filters', () => {
  let up: Upstream;
  let upB: Upstream;
  const running: Running[] = [];
  const start = async (...args: Parameters<typeof startServer>): Promise<Running> => {
    const r = await startServer(...args);
    running.push(r);
    return r;
  };

  before(async () => {
    up = await startRecordingUpstream('a');
    upB = await startRecordingUpstream('b');
  });
  after(async () => {
    for (const r of running) await r.stop();
    await up.close();
    await upB.close();
  });

  test('each receive phase sees what is known by then; send filters see everything; variables are shared', async () => {
    const records: Array<Record<string, unknown>> = [];
    const record = (phase: string, h: { info: import('../../src/api/stream-filter.ts').StreamInfo; request: { path: string } }): void => {
      records.push({
        phase,
        routeName: h.info.routeName,
        clusterName: h.info.clusterName,
        upstreamHost: h.info.upstreamHost,
        protocol: h.info.protocol,
        listener: h.info.listenerName,
        remote: h.info.downstreamRemoteAddress,
        local: h.info.downstreamLocalAddress,
        mark: h.info.variables.get('mark'),
      });
    };
    const phases = filter('phases', (chain) => {
      chain.addReceiver({ onReceive: (h) => (record('BeforeRoute', h), h.info.variables.set('mark', 'set-before-route'), 'Continue') }, 'BeforeRoute');
      chain.addReceiver({ onReceive: (h) => (record('AfterRoute', h), 'Continue') }, 'AfterRoute');
      chain.addReceiver({ onReceive: (h) => (record('AfterChooseHost', h), 'Continue') }, 'AfterChooseHost');
      chain.addSender({ onSend: (h) => (record('BeforeSend', h), 'Continue') });
    });
    const r = await start([phases], ['phases'], { clusters: { backend: [up.port] } });
    for (const client of ['h1', 'h2'] as const) {
      records.length = 0;
      const res = client === 'h1' ? await h1(r.port, '/p') : await h2(r.port, '/p');
      assert.equal(res.status, 200);
      assert.deepEqual(records.map((x) => x['phase']), ['BeforeRoute', 'AfterRoute', 'AfterChooseHost', 'BeforeSend']);
      const [beforeRoute, afterRoute, afterHost, beforeSend] = records as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
      const host = `127.0.0.1:${up.port}`;
      assert.deepEqual([beforeRoute['routeName'], beforeRoute['clusterName'], beforeRoute['upstreamHost']], [undefined, undefined, undefined]);
      assert.equal(afterRoute['routeName'], 'all.routers[0]');
      assert.equal(afterRoute['upstreamHost'], undefined);
      assert.deepEqual([afterHost['routeName'], afterHost['clusterName'], afterHost['upstreamHost']], ['all.routers[0]', 'backend', host]);
      assert.deepEqual([beforeSend['routeName'], beforeSend['clusterName'], beforeSend['upstreamHost']], ['all.routers[0]', 'backend', host]);
      for (const x of records) {
        assert.equal(x['protocol'], client === 'h1' ? 'HTTP/1.1' : 'HTTP/2');
        assert.equal(x['listener'], 'l7');
        assert.match(String(x['remote']), /^127\.0\.0\.1:\d+$/);
        assert.equal(x['local'], `127.0.0.1:${r.port}`);
      }
      assert.deepEqual(records.slice(1).map((x) => x['mark']), ['set-before-route', 'set-before-route', 'set-before-route']);
    }
  });

  test('AfterRoute already knows the cluster the route names (MOSN: the route handler picks the cluster snapshot before AfterRoute)', async () => {
    let clusterAtAfterRoute: string | undefined = 'not called';
    const f = filter('after-route-cluster', (chain) => chain.addReceiver({ onReceive: (h) => ((clusterAtAfterRoute = h.info.clusterName), 'Continue') }, 'AfterRoute'));
    const r = await start([f], ['after-route-cluster'], { clusters: { backend: [up.port] } });
    assert.equal((await h1(r.port, '/x')).status, 200);
    assert.equal(clusterAtAfterRoute, 'backend');
  });

  test('a receive filter adds and removes request headers, the upstream sees the result', async () => {
    const f = filter('edit-request', (chain) =>
      chain.addReceiver({
        onReceive(h) {
          h.request.headers.set('x-added', `by-filter ${h.request.method} ${h.request.path}`);
          h.request.headers.delete('x-secret');
          return 'Continue';
        },
      }),
    );
    const r = await start([f], ['edit-request'], { clusters: { backend: [up.port] } });
    for (const res of [await h1(r.port, '/e?q=1', { headers: { 'x-secret': 's', 'x-kept': 'k' } }), await h2(r.port, '/e?q=1', { headers: { 'x-secret': 's', 'x-kept': 'k' } })]) {
      const seen = seenOf(res.body);
      assert.equal(seen.headers['x-added'], 'by-filter GET /e?q=1');
      assert.equal(seen.headers['x-secret'], undefined);
      assert.equal(seen.headers['x-kept'], 'k');
    }
  });

  test('a send filter changes the response status and headers, for HTTP/1.1 and HTTP/2 clients', async () => {
    const f = filter('edit-response', (chain) =>
      chain.addSender({
        onSend(h) {
          assert.equal(h.response.status, 200);
          h.response.status = 203;
          h.response.headers.set('x-filtered', h.response.headers.get('x-upstream') ?? 'none');
          h.response.headers.delete('x-upstream');
          return 'Continue';
        },
      }),
    );
    const r = await start([f], ['edit-response'], { clusters: { backend: [up.port] } });
    for (const res of [await h1(r.port, '/s'), await h2(r.port, '/s')]) {
      assert.equal(res.status, 203);
      assert.equal(res.headers['x-filtered'], 'a');
      assert.equal(res.headers['x-upstream'], undefined);
      assert.equal(seenOf(res.body).url, '/s', 'the body passes untouched');
    }
  });

  test('sync and async (promise) filters run in config order, each waiting for the one before', async () => {
    const calls: string[] = [];
    const tag = (h: { request: { headers: { get(n: string): string | undefined; set(n: string, v: string): void } } }, name: string): void => {
      calls.push(name);
      const before = h.request.headers.get('x-order');
      h.request.headers.set('x-order', before === undefined ? name : `${before},${name}`);
    };
    const sync1 = filter('sync1', (c) => c.addReceiver({ onReceive: (h) => (tag(h, 'sync1'), 'Continue') }));
    const async1 = filter('async1', (c) =>
      c.addReceiver({
        async onReceive(h): Promise<StreamFilterStatus> {
          await sleep(30);
          tag(h, 'async1');
          return 'Continue';
        },
      }),
    );
    const sync2 = filter('sync2', (c) => c.addReceiver({ onReceive: (h) => (tag(h, 'sync2'), 'Continue') }));
    const sendAsync = filter('send-async', (c) =>
      c.addSender({
        onSend: (h) =>
          new Promise((resolve) =>
            setTimeout(() => {
              calls.push('send-async');
              h.response.headers.set('x-send-order', 'send-async');
              resolve('Continue');
            }, 20),
          ),
      }),
    );
    const sendSync = filter('send-sync', (c) =>
      c.addSender({
        onSend(h) {
          calls.push('send-sync');
          h.response.headers.set('x-send-order', `${h.response.headers.get('x-send-order')},send-sync`);
          return 'Continue';
        },
      }),
    );
    const r = await start([sync1, async1, sync2, sendAsync, sendSync], ['sync1', 'async1', 'sync2', 'send-async', 'send-sync'], { clusters: { backend: [up.port] } });
    const res = await h1(r.port, '/order', { method: 'POST', body: 'payload' });
    assert.equal(res.status, 200);
    const seen = seenOf(res.body);
    assert.equal(seen.headers['x-order'], 'sync1,async1,sync2');
    assert.equal(seen.body, 'payload', 'a body held while an async filter ran still reaches the upstream');
    assert.equal(res.headers['x-send-order'], 'send-async,send-sync');
    assert.deepEqual(calls, ['sync1', 'async1', 'sync2', 'send-async', 'send-sync']);
  });

  test('Stop after sendDirectResponse answers the client and never reaches the upstream (sync, async, every phase)', async () => {
    const deny = filter('deny', (chain, config) => {
      const cfg = config as { phase: 'BeforeRoute' | 'AfterRoute' | 'AfterChooseHost' };
      chain.addReceiver(
        {
          onReceive(h) {
            if (!h.request.path.startsWith('/deny')) return 'Continue';
            const answer = (): 'Stop' => {
              h.sendDirectResponse(403, { 'x-why': `denied at ${cfg.phase}` }, `nope ${h.request.path}`);
              return 'Stop';
            };
            return h.request.path.includes('async') ? sleep(5).then(answer) : answer();
          },
        },
        cfg.phase,
      );
    });
    for (const phase of ['BeforeRoute', 'AfterRoute', 'AfterChooseHost'] as const) {
      const r = await start([deny], [{ type: 'deny', config: { phase } }], { clusters: { backend: [up.port] } });
      const hits = up.seen.length;
      for (const path of ['/deny', '/deny-async']) {
        const a = await h1(r.port, path);
        assert.equal(a.status, 403, `${phase} ${path}`);
        assert.equal(a.headers['x-why'], `denied at ${phase}`);
        assert.equal(a.body.toString(), `nope ${path}`);
        const b = await h2(r.port, path);
        assert.equal(b.status, 403);
        assert.equal(b.body.toString(), `nope ${path}`);
      }
      assert.equal(up.seen.length, hits, 'the upstream was never asked');
      assert.equal((await h1(r.port, '/allowed')).status, 200);
    }
  });

  test('a send filter can replace the upstream answer with sendDirectResponse + Stop', async () => {
    const f = filter('send-replace', (chain) =>
      chain.addSender({
        onSend(h) {
          h.sendDirectResponse(418, { 'x-replaced': String(h.response.status) }, 'teapot');
          return 'Stop';
        },
      }),
    );
    const r = await start([f], ['send-replace'], { clusters: { backend: [up.port] } });
    for (const res of [await h1(r.port, '/r'), await h2(r.port, '/r')]) {
      assert.equal(res.status, 418);
      assert.equal(res.headers['x-replaced'], '200');
      assert.equal(res.body.toString(), 'teapot');
    }
  });

  test('Stop without a reply is a 500 naming the filter, counted as a failed request', async () => {
    const f = filter('silent-stop', (chain) => chain.addReceiver({ onReceive: (h) => (h.request.path === '/stop' ? 'Stop' : 'Continue') }, 'AfterRoute'));
    const r = await start([f], ['silent-stop'], { clusters: { backend: [up.port] } });
    const hits = up.seen.length;
    const before = failedCounts(r.server);
    const res = await h1(r.port, '/stop');
    assert.equal(res.status, 500);
    assert.match(res.body.toString(), /stream filter "silent-stop" failed/);
    assert.equal(up.seen.length, hits);
    const afterCounts = failedCounts(r.server);
    assert.ok(afterCounts.listener > before.listener && afterCounts.proxy > before.proxy, JSON.stringify({ before, afterCounts }));
    const line = r.logs.find((l) => l['msg'] === 'proxy: stream filter failed; answering 500');
    assert.equal(line?.['filter'], 'silent-stop');
    assert.match(JSON.stringify(line?.['err']), /Stop without sending a response/);
    assert.equal((await h1(r.port, '/fine')).status, 200);
  });

  test('Termination resets: HTTP/1.1 loses the connection, HTTP/2 gets RST_STREAM and the session lives on', async () => {
    const f = filter('terminate', (chain) => chain.addReceiver({ onReceive: (h) => (h.request.path === '/kill' ? 'Termination' : 'Continue') }));
    const r = await start([f], ['terminate'], { clusters: { backend: [up.port] } });
    const hits = up.seen.length;
    const err = await h1Error(r.port, '/kill');
    assert.ok(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '') || /socket hang up/.test(err.message), String(err));

    const session = http2.connect(`http://127.0.0.1:${r.port}`);
    try {
      const rst = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/kill' });
        stream.on('response', () => reject(new Error('expected a reset, got a response')));
        stream.on('error', () => {});
        stream.on('close', () => resolve(stream.rstCode));
        stream.resume();
      });
      assert.equal(rst, http2.constants.NGHTTP2_INTERNAL_ERROR);
      const next = await h2On(session, '/after-reset');
      assert.equal(next.status, 200, 'the same session serves the next stream');
    } finally {
      session.close();
    }
    assert.equal(up.seen.filter((s) => s.url === '/kill').length, 0);
    assert.equal(up.seen.length, hits + 1);
  });

  test('RetryMatchRoute after changing the path routes the request again, to another cluster; a loop ends in a 500', async () => {
    const routeLog: Array<[string | undefined, string]> = [];
    let earlyCalls = 0;
    // An AfterRoute filter before the one that asks: it ran already and does not run again (MOSN).
    const early = filter('early', (chain) =>
      chain.addReceiver({ onReceive: (h) => (earlyCalls++, h.request.headers.add('x-early', String(earlyCalls)), 'Continue') }, 'AfterRoute'),
    );
    const f = filter('rematch', (chain) =>
      chain.addReceiver(
        {
          onReceive(h) {
            routeLog.push([h.info.routeName, h.request.path]);
            if (h.request.path.startsWith('/old/')) {
              h.request.path = `/new/${h.request.path.slice('/old/'.length)}`;
              return 'RetryMatchRoute';
            }
            if (h.request.path === '/loop') return 'RetryMatchRoute';
            return 'Continue';
          },
        },
        'AfterRoute',
      ),
    );
    const virtualHosts = [
      {
        name: 'v',
        domains: ['*'],
        routers: [
          { match: { prefix: '/new/' }, route: { cluster_name: 'b' } },
          { match: { prefix: '/' }, route: { cluster_name: 'a' } },
        ],
      },
    ];
    const r = await start([early, f], ['early', 'rematch'], { virtualHosts, clusters: { a: [up.port], b: [upB.port] } });
    const res = await h1(r.port, '/old/thing?x=1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-upstream'], 'b');
    assert.equal(seenOf(res.body).url, '/new/thing?x=1');
    assert.equal(seenOf(res.body).headers['x-early'], '1', 'the earlier AfterRoute filter ran once');
    assert.equal(earlyCalls, 1);
    assert.deepEqual(routeLog, [
      ['v.routers[1]', '/old/thing?x=1'],
      ['v.routers[0]', '/new/thing?x=1'],
    ]);
    assert.equal((await h1(r.port, '/plain')).headers['x-upstream'], 'a');

    const loop = await h1(r.port, '/loop');
    assert.equal(loop.status, 500);
    assert.match(loop.body.toString(), /stream filter "rematch" failed/);
  });

  test('RetryChooseHost picks the host again; it is refused before a host is chosen', async () => {
    const hostsSeen: Array<string | undefined> = [];
    const refuseA = filter('refuse-a', (chain) =>
      chain.addReceiver({ onReceive: (h) => (hostsSeen.push(h.info.upstreamHost), h.info.upstreamHost === `127.0.0.1:${up.port}` ? 'RetryChooseHost' : 'Continue') }, 'AfterChooseHost'),
    );
    const early = filter('early-rechoose', (chain) => chain.addReceiver({ onReceive: (h) => (h.request.path === '/early' ? 'RetryChooseHost' : 'Continue') }, 'AfterRoute'));
    const r = await start([refuseA, early], ['refuse-a', 'early-rechoose'], { clusters: { backend: [up.port, upB.port] } });
    const hitsA = up.seen.length;
    for (let i = 0; i < 4; i++) {
      const res = await h1(r.port, `/pick${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-upstream'], 'b');
    }
    assert.equal(up.seen.length, hitsA, 'host a was never used');
    assert.ok(hostsSeen.includes(`127.0.0.1:${up.port}`), 'round robin offered host a at least once');
    for (let i = 0; i < hostsSeen.length; i++) {
      if (hostsSeen[i] === `127.0.0.1:${up.port}`) assert.equal(hostsSeen[i + 1], `127.0.0.1:${upB.port}`, 'a refused host is followed by another choice');
    }
    const early500 = await h1(r.port, '/early');
    assert.equal(early500.status, 500);
    assert.match(early500.body.toString(), /stream filter "early-rechoose" failed/);
  });

  test('a throwing filter and a rejecting promise give 500s; the server keeps serving on the same connection and counts them', async () => {
    const f = filter('faulty', (chain) => {
      chain.addReceiver({
        onReceive(h) {
          if (h.request.path === '/throw') throw new Error('sync boom');
          if (h.request.path === '/reject') return Promise.reject(new Error('async boom'));
          return 'Continue';
        },
      });
      chain.addSender({
        onSend(h) {
          if (h.request.path === '/send-throw') throw new TypeError('send boom');
          return 'Continue';
        },
      });
    });
    const r = await start([f], ['faulty'], { clusters: { backend: [up.port] } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = failedCounts(r.server);
      const first = await h1Agent(r.port, '/ok', agent);
      assert.equal(first.status, 200);
      const results = [];
      for (const path of ['/throw', '/reject', '/send-throw']) {
        const res = await h1Agent(r.port, path, agent);
        assert.equal(res.status, 500, path);
        assert.match(res.body, /stream filter "faulty" failed/);
        assert.equal(res.localPort, first.localPort, 'the connection was kept');
        results.push(res);
      }
      const last = await h1Agent(r.port, '/ok-again', agent);
      assert.equal(last.status, 200);
      assert.equal(last.localPort, first.localPort);
      const h2res = await h2(r.port, '/reject');
      assert.equal(h2res.status, 500);
      const afterCounts = failedCounts(r.server);
      assert.ok(afterCounts.listener >= before.listener + 4, JSON.stringify({ before, afterCounts }));
      assert.ok(afterCounts.proxy >= before.proxy + 4);
      const errors = r.logs.filter((l) => l['msg'] === 'proxy: stream filter failed; answering 500').map((l) => JSON.stringify(l['err']));
      assert.ok(errors.some((e) => e.includes('sync boom')) && errors.some((e) => e.includes('async boom')) && errors.some((e) => e.includes('send boom')), errors.join('\n'));
    } finally {
      agent.destroy();
    }
  });

  test('request_failed counts a failed request once (MOSN increments it once per request, in requestMetrics)', async () => {
    const f = filter('fails-once', (chain) => chain.addReceiver({ onReceive: () => { throw new Error('x'); } }));
    const r = await start([f], ['fails-once'], { clusters: { backend: [up.port] } });
    const before = failedCounts(r.server);
    assert.equal((await h1(r.port, '/x')).status, 500);
    const afterCounts = failedCounts(r.server);
    assert.deepEqual({ listener: afterCounts.listener - before.listener, proxy: afterCounts.proxy - before.proxy }, { listener: 1, proxy: 1 });
  });

  test('a needsBody receive filter reads and replaces the request body; the upstream sees it with a correct content-length', async () => {
    const bodies: string[] = [];
    const f = filter('rewrite-body', (chain) =>
      chain.addReceiver(
        {
          onReceive(h) {
            const body = h.requestBody;
            bodies.push(body === undefined ? '<none>' : body.toString());
            if (body !== undefined) h.setRequestBody(`${body.toString().toUpperCase()} (rewritten, was ${body.length} bytes)`);
            return 'Continue';
          },
        },
        'AfterRoute',
        { needsBody: true },
      ),
    );
    const r = await start([f], ['rewrite-body'], { clusters: { backend: [up.port] } });
    const expected = 'HELLO BODY (rewritten, was 10 bytes)';
    const fixed = seenOf((await h1(r.port, '/b', { method: 'POST', body: 'hello body', headers: { 'content-length': '10' } })).body);
    // No content-length: node sends it chunked.
    const chunked = await new Promise<Seen>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: r.port, path: '/b', method: 'POST', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(seenOf(Buffer.concat(chunks))));
      });
      req.on('error', reject);
      req.write('hello ');
      setTimeout(() => req.end('body'), 20);
    });
    const overH2 = seenOf((await h2(r.port, '/b', { method: 'POST', body: 'hello body' })).body);
    for (const seen of [fixed, chunked, overH2]) {
      assert.equal(seen.body, expected);
      assert.equal(seen.headers['content-length'], String(Buffer.byteLength(expected)));
      assert.equal(seen.headers['transfer-encoding'], undefined);
    }
    assert.deepEqual(bodies, ['hello body', 'hello body', 'hello body']);

    const get = await h1(r.port, '/no-body');
    assert.equal(get.status, 200);
    assert.equal(bodies.at(-1), '<none>', 'a request without a body has requestBody undefined');
  });

  test('transformRequestBody / transformResponseBody stream both bodies through user transforms, in order, without content-length', async () => {
    const upper = (): Transform => new Transform({ transform: (chunk: Buffer, _e, cb) => cb(null, Buffer.from(chunk.toString().toUpperCase())) });
    const tag = (label: string): Transform =>
      new Transform({
        transform: (chunk: Buffer, _e, cb) => cb(null, chunk),
        flush: (cb) => cb(null, Buffer.from(label)),
      });
    const f = filter('transforms', (chain) => {
      chain.addReceiver({
        onReceive(h) {
          h.transformRequestBody(upper());
          h.transformRequestBody(tag('|req-tail'));
          return 'Continue';
        },
      });
      chain.addSender({
        onSend(h) {
          h.transformResponseBody(tag('|resp-tail'));
          return 'Continue';
        },
      });
    });
    const r = await start([f], ['transforms'], { clusters: { backend: [up.port] } });
    const viaH1 = await h1(r.port, '/t', { method: 'POST', body: 'hello', headers: { 'content-length': '5' } });
    const viaH2 = await h2(r.port, '/t', { method: 'POST', body: 'hello' });
    for (const res of [viaH1, viaH2]) {
      assert.equal(res.status, 200);
      const text = res.body.toString();
      assert.ok(text.endsWith('|resp-tail'), text);
      const seen = seenOf(Buffer.from(text.slice(0, -'|resp-tail'.length)));
      assert.equal(seen.body, 'HELLO|req-tail');
      // The original length (5) never goes out; the pool may send chunked, or the true
      // length when the transformed body has fully ended before it starts sending.
      assert.ok([undefined, '14'].includes(seen.headers['content-length'] as string | undefined), String(seen.headers['content-length']));
      assert.equal(res.headers['content-length'], undefined);
    }
    // A bodiless request ignores the request transform; its response is still transformed.
    const get = await h1(r.port, '/t');
    assert.equal(get.status, 200);
    assert.ok(get.body.toString().endsWith('|resp-tail'));
    assert.equal(seenOf(Buffer.from(get.body.toString().slice(0, -10))).body, '');
  });

  test('a needsBody send filter replaces the response body; the client gets a correct content-length, for HTTP/1.1 and HTTP/2', async () => {
    const f = filter('replace-response', (chain) =>
      chain.addSender(
        {
          onSend(h) {
            h.setResponseBody(`replaced(${h.request.path}, status ${h.response.status})`);
            return 'Continue';
          },
        },
        { needsBody: true },
      ),
    );
    const r = await start([f], ['replace-response'], { clusters: { backend: [up.port] } });
    const expected = 'replaced(/resp, status 200)';
    for (const res of [await h1(r.port, '/resp'), await h2(r.port, '/resp')]) {
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), expected);
      assert.equal(res.headers['content-length'], String(expected.length));
    }
    // A bigger upstream body (under the listener's default 16 KiB buffer limit) is replaced whole too.
    const big = await h1(r.port, '/big/15000');
    assert.equal(big.body.toString(), 'replaced(/big/15000, status 200)');
  });

  test('a needsBody send filter reads the whole response body', async () => {
    let sawBody: string | undefined = 'not called';
    const f = filter('read-response', (chain) =>
      chain.addSender(
        {
          onSend(h) {
            sawBody = h.responseBody?.toString();
            return 'Continue';
          },
        },
        { needsBody: true },
      ),
    );
    const r = await start([f], ['read-response'], { clusters: { backend: [up.port] } });
    const res = await h1(r.port, '/read-me');
    assert.equal(res.status, 200);
    assert.equal(seenOf(res.body).url, '/read-me', 'the client gets the upstream body unchanged');
    assert.equal(sawBody, res.body.toString());
  });

  test('bodies over per_connection_buffer_limit_bytes: 413 for a request a filter needs whole, 502 for such a response', async () => {
    const f = filter('needs-both', (chain) => {
      chain.addReceiver({ onReceive: () => 'Continue' }, 'BeforeRoute', { needsBody: true });
      chain.addSender({ onSend: () => 'Continue' }, { needsBody: true });
    });
    const r = await start([f], ['needs-both'], { clusters: { backend: [up.port] }, listener: { per_connection_buffer_limit_bytes: 2048 } });
    const hits = up.seen.length;
    const big = await h1(r.port, '/upload', { method: 'POST', body: Buffer.alloc(8192, 'x') }).catch((e: Error) => e);
    assert.ok(!(big instanceof Error), `the client got an answer, not ${String(big)}`);
    assert.equal(big.status, 413);
    const bigH2 = await h2(r.port, '/upload', { method: 'POST', body: Buffer.alloc(8192, 'x') });
    assert.equal(bigH2.status, 413);
    assert.equal(up.seen.length, hits, 'the upstream never saw the too-large request');

    // Under the limit both ways (the upstream's JSON echo is ~1.3 KB).
    const small = await h1(r.port, '/upload', { method: 'POST', body: Buffer.alloc(500, 'x') });
    assert.equal(small.status, 200);
    assert.equal(seenOf(small.body).body.length, 500);

    assert.equal((await h1(r.port, '/big/2000')).body.length, 2000);
    const tooBig = await h1(r.port, '/big/5000');
    assert.equal(tooBig.status, 502);
    assert.equal((await h2(r.port, '/big/5000')).status, 502);
  });

  test('per_filter_config on a route and on a virtual host reaches perRouteConfig(), parsed once by parsePerRouteConfig', async () => {
    const parsedCalls: Array<{ raw: unknown; path: string }> = [];
    const seen: Array<[string, string, unknown]> = [];
    const cfg = filter(
      'cfg',
      (chain) => {
        chain.addReceiver({ onReceive: (h) => (seen.push(['BeforeRoute', h.request.path, h.perRouteConfig()]), 'Continue') }, 'BeforeRoute');
        chain.addReceiver(
          {
            onReceive(h) {
              const c = h.perRouteConfig();
              seen.push(['AfterRoute', h.request.path, c]);
              h.request.headers.set('x-per-route', JSON.stringify(c ?? null));
              return 'Continue';
            },
          },
          'AfterRoute',
        );
        chain.addSender({ onSend: (h) => (seen.push(['BeforeSend', h.request.path, h.perRouteConfig()]), 'Continue') });
      },
      {
        parsePerRouteConfig(raw, context) {
          parsedCalls.push({ raw, path: context.path });
          return { parsed: (raw as { level: string }).level };
        },
      },
    );
    // A filter type with no per_filter_config of its own sees nothing, whatever others have.
    const other = filter('other', (chain) => chain.addReceiver({ onReceive: (h) => (seen.push(['other', h.request.path, h.perRouteConfig()]), 'Continue') }, 'AfterRoute'));
    const virtualHosts = [
      {
        name: 'vh',
        domains: ['*'],
        per_filter_config: { cfg: { level: 'virtual-host' } },
        routers: [
          { match: { prefix: '/own' }, route: { cluster_name: 'backend' }, per_filter_config: { cfg: { level: 'route' } } },
          { match: { prefix: '/' }, route: { cluster_name: 'backend' } },
        ],
      },
    ];
    const r = await start([cfg, other], ['cfg', 'other'], { virtualHosts, clusters: { backend: [up.port] } });
    assert.equal(parsedCalls.length, 2, 'parsed at load time, once per entry');
    assert.deepEqual(parsedCalls.map((c) => c.raw).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [{ level: 'route' }, { level: 'virtual-host' }]);
    for (const c of parsedCalls) assert.match(c.path, /per_filter_config\.cfg$/);

    const own = seenOf((await h1(r.port, '/own')).body);
    assert.equal(own.headers['x-per-route'], '{"parsed":"route"}');
    const inherited = seenOf((await h2(r.port, '/elsewhere')).body);
    assert.equal(inherited.headers['x-per-route'], '{"parsed":"virtual-host"}');
    assert.deepEqual(seen, [
      ['BeforeRoute', '/own', undefined],
      ['AfterRoute', '/own', { parsed: 'route' }],
      ['other', '/own', undefined],
      ['BeforeSend', '/own', { parsed: 'route' }],
      ['BeforeRoute', '/elsewhere', undefined],
      ['AfterRoute', '/elsewhere', { parsed: 'virtual-host' }],
      ['other', '/elsewhere', undefined],
      ['BeforeSend', '/elsewhere', { parsed: 'virtual-host' }],
    ]);
    assert.equal(parsedCalls.length, 2, 'never parsed again per request');
  });

  test('onDestroy is called once per request: after a normal exchange, a client abort mid-upstream, and an abort while a filter is pending', async () => {
    const destroyed: string[] = [];
    let releasePending: ((s: 'Continue') => void) | undefined;
    const f = filter('lifecycle', (chain) => {
      let path = '';
      chain.addReceiver({
        onReceive(h) {
          path = h.request.path;
          if (path === '/pending') return new Promise((resolve) => (releasePending = resolve));
          return 'Continue';
        },
        onDestroy: () => destroyed.push(`recv ${path}`),
      });
      chain.addSender({ onSend: () => 'Continue', onDestroy: () => destroyed.push(`send ${path}`) });
    });
    const r = await start([f], ['lifecycle'], { clusters: { backend: [up.port] } });

    await h1(r.port, '/normal');
    await h2(r.port, '/normal');
    await until(() => destroyed.length === 4, 'onDestroy of the normal requests');
    assert.deepEqual(destroyed.sort(), ['recv /normal', 'recv /normal', 'send /normal', 'send /normal']);
    destroyed.length = 0;

    // Client leaves while the upstream holds the request.
    const abortedBefore = up.aborted;
    const req = httpRequest({ host: '127.0.0.1', port: r.port, path: '/hang', agent: false });
    req.on('error', () => {});
    req.end();
    await until(() => up.hanging.size === 1, 'the upstream to hold /hang');
    req.destroy();
    await until(() => destroyed.length === 2, 'onDestroy after the abort');
    assert.deepEqual(destroyed.sort(), ['recv /hang', 'send /hang']);
    await until(() => up.aborted === abortedBefore + 1, 'the upstream request to be cancelled too');
    destroyed.length = 0;

    // Client leaves while an async filter has not answered; its late answer changes nothing.
    const hits = up.seen.length;
    const session = http2.connect(`http://127.0.0.1:${r.port}`);
    session.on('error', () => {});
    const stream = session.request({ ':path': '/pending' });
    stream.on('error', () => {});
    await until(() => releasePending !== undefined, 'the filter to be pending');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => destroyed.length === 2, 'onDestroy after the h2 cancel');
    releasePending!('Continue');
    await sleep(50);
    assert.deepEqual(destroyed.sort(), ['recv /pending', 'send /pending']);
    assert.equal(up.seen.length, hits, 'a request whose client left is not sent upstream');
    session.close();
    assert.equal((await h1(r.port, '/still-fine')).status, 200);
  });

  test('an unknown stream filter type in the config is a warning, not an error', async () => {
    const known = filter('known', (chain) => chain.addReceiver({ onReceive: (h) => (h.request.headers.set('x-known', '1'), 'Continue') }));
    const r = await start([known], ['no_such_filter', 'known'], { clusters: { backend: [up.port] } });
    assert.ok(
      r.server.warnings.some((w) => w.includes('servers[0].listeners[0].stream_filters[0]') && w.includes('"no_such_filter" is not registered')),
      r.server.warnings.join('\n'),
    );
    const res = await h1(r.port, '/u');
    assert.equal(res.status, 200);
    assert.equal(seenOf(res.body).headers['x-known'], '1', 'the known filter after it still runs');
  });
});

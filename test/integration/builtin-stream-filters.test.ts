/**
 * The built-in stream filters `fault`, `ip_access` and `header_to_metadata` end to end:
 * an in-process MosnServer from a config object (the built-ins come from
 * filters/index.ts, as in production), real node:http and node:http2 clients, and a real
 * HTTP/1.1 upstream that records what it receives. Statuses, what the upstream saw, and
 * the filters' stats in the server's metrics are asserted.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { defineStreamFilter, type StreamFilterFactory } from '../../src/api/stream-filter.ts';
import { VAR_ROUTER_META, routerMetaOf } from '../../src/filters/stream/header_to_metadata/header-to-metadata-factory.ts';
import { proxyConfig, h1, h2, h2On, type ProxyConfigOptions } from '../helpers/l7.ts';
import { until, sleep } from '../helpers/sockets.ts';
import { startRecordingUpstream, parseSeen, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { startInProcess, type InProcessServer } from '../helpers/in-process.ts';

// ---------------------------------------------------------------------------------------
// In-process server

type Running = InProcessServer;

/**
 * Starts a MosnServer with one `proxy` listener "l7" (downstream Auto: HTTP/1.1 and h2c on
 * one port; upstream Http1), test-only `factories` registered, `streamFilters` as its
 * stream_filters.
 */
function startServer(
  factories: StreamFilterFactory<unknown>[],
  streamFilters: Array<{ type: string; config?: unknown }>,
  options: Partial<ProxyConfigOptions> & { clusters: ProxyConfigOptions['clusters'] },
): Promise<Running> {
  const config = proxyConfig({ downstream: 'Auto', upstream: 'Http1', ...options, streamFilters });
  return startInProcess(config, (registry) => {
    for (const f of factories) registry.registerStreamFilter(f);
  });
}

/** A filter's metric on listener l7, as /api/v1/stats shows it ("0" when never touched). */
function stat(r: Running, type: string, key: string): number {
  return Number(r.server.metrics.snapshot()[type]?.['listener.l7']?.[key] ?? '0');
}

/** HTTP/1.1 GET to [::1]:port. */
function h1v6(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '::1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------

describe('built-in stream filters', () => {
  let up: RecordingUpstream;
  let upB: RecordingUpstream;
  const running: Running[] = [];
  const start = async (...args: Parameters<typeof startServer>): Promise<Running> => {
    const r = await startServer(...args);
    running.push(r);
    return r;
  };
  const seen = (upstream: RecordingUpstream, path: string): number => upstream.seen.filter((s) => s.url === path).length;

  before(async () => {
    up = await startRecordingUpstream('a');
    upB = await startRecordingUpstream('b');
  });
  after(async () => {
    for (const r of running) await r.stop();
    await up.close();
    await upB.close();
  });

  describe('fault', () => {
    test('100% abort answers the abort status to HTTP/1.1 and HTTP/2 clients, never reaches the upstream, and counts', async () => {
      const r = await start([], [{ type: 'fault', config: { abort: { percentage: 100, status: 503 } } }], { clusters: { backend: [up.port] } });
      const a = await h1(r.port, '/fault-abort');
      const b = await h2(r.port, '/fault-abort');
      assert.deepEqual([a.status, b.status], [503, 503]);
      assert.equal(seen(up, '/fault-abort'), 0);
      assert.equal(stat(r, 'fault', 'aborts_injected'), 2);
      assert.equal(stat(r, 'fault', 'delays_injected'), 0);
    });

    test('100% delay holds the request at least the delay, then forwards it; active_faults counts it meanwhile', async () => {
      const r = await start([], [{ type: 'fault', config: { delay: { percentage: 100, fixed_delay: '150ms' } } }], { clusters: { backend: [up.port] } });
      const t0 = performance.now();
      const pending = h1(r.port, '/fault-delay', { method: 'POST', body: 'held body' });
      await until(() => stat(r, 'fault', 'active_faults') === 1, 'the request to be delayed');
      assert.equal(seen(up, '/fault-delay'), 0, 'not forwarded during the delay');
      const res = await pending;
      const elapsed = performance.now() - t0;
      assert.equal(res.status, 200);
      assert.ok(elapsed >= 150, `answered after ${elapsed.toFixed(1)} ms`);
      assert.equal(parseSeen(res.body).body, 'held body', 'the body waited with the request');
      const h2t0 = performance.now();
      assert.equal((await h2(r.port, '/fault-delay')).status, 200);
      assert.ok(performance.now() - h2t0 >= 150);
      assert.equal(stat(r, 'fault', 'delays_injected'), 2);
      assert.equal(stat(r, 'fault', 'active_faults'), 0);
      assert.equal(stat(r, 'fault', 'aborts_injected'), 0);
    });

    test('0% leaves requests untouched and undelayed', async () => {
      const r = await start([], [{ type: 'fault', config: { delay: { percentage: 0, fixed_delay: '2s' }, abort: { percentage: 0, status: 500 } } }], { clusters: { backend: [up.port] } });
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) assert.equal((await h1(r.port, '/fault-none')).status, 200);
      assert.ok(performance.now() - t0 < 1000, 'no request waited the 2s delay');
      assert.deepEqual(['delays_injected', 'aborts_injected', 'active_faults'].map((k) => stat(r, 'fault', k)), [0, 0, 0]);
    });

    test('headers matchers decide which requests the fault applies to (exact and regex)', async () => {
      const config = { abort: { percentage: 100, status: 429 }, headers: [{ name: 'x-fault', value: 'on' }, { name: 'x-user', value: '^test-', regex: true }] };
      const r = await start([], [{ type: 'fault', config }], { clusters: { backend: [up.port] } });
      assert.equal((await h1(r.port, '/fault-h', { headers: { 'x-fault': 'on', 'x-user': 'test-1' } })).status, 429);
      assert.equal((await h2(r.port, '/fault-h', { headers: { 'x-fault': 'on', 'x-user': 'test-2' } })).status, 429);
      assert.equal((await h1(r.port, '/fault-h', { headers: { 'x-fault': 'on', 'x-user': 'prod-1' } })).status, 200);
      assert.equal((await h1(r.port, '/fault-h', { headers: { 'x-user': 'test-1' } })).status, 200);
      assert.equal((await h1(r.port, '/fault-h')).status, 200);
      assert.equal(stat(r, 'fault', 'aborts_injected'), 2);
    });

    test('upstream_cluster: only requests routed to that cluster get the fault', async () => {
      const virtualHosts = [
        {
          name: 'v',
          domains: ['*'],
          routers: [
            { match: { prefix: '/to-b' }, route: { cluster_name: 'b' } },
            { match: { prefix: '/' }, route: { cluster_name: 'a' } },
          ],
        },
      ];
      const r = await start([], [{ type: 'fault', config: { abort: { percentage: 100, status: 503 }, upstream_cluster: 'b' } }], { virtualHosts, clusters: { a: [up.port], b: [upB.port] } });
      assert.equal((await h1(r.port, '/to-b')).status, 503);
      const toA = await h1(r.port, '/to-a');
      assert.equal(toA.status, 200);
      assert.equal(toA.headers['x-upstream'], 'a');
      assert.equal(seen(upB, '/to-b'), 0);
      assert.equal(stat(r, 'fault', 'aborts_injected'), 1);
    });

    test("a route's per_filter_config.fault replaces the listener's rule for that route", async () => {
      const virtualHosts = [
        {
          name: 'v',
          domains: ['*'],
          routers: [
            { match: { prefix: '/override' }, route: { cluster_name: 'backend' }, per_filter_config: { fault: { abort: { percentage: 100, status: 418 } } } },
            { match: { prefix: '/quiet' }, route: { cluster_name: 'backend' }, per_filter_config: { fault: {} } },
            { match: { prefix: '/' }, route: { cluster_name: 'backend' } },
          ],
        },
      ];
      const listenerRule = { abort: { percentage: 100, status: 503 }, headers: [{ name: 'x-fault', value: 'on' }] };
      const r = await start([], [{ type: 'fault', config: listenerRule }], { virtualHosts, clusters: { backend: [up.port] } });
      assert.equal((await h1(r.port, '/override')).status, 418, 'the route rule has no header matcher');
      assert.equal((await h2(r.port, '/override')).status, 418);
      assert.equal((await h1(r.port, '/quiet', { headers: { 'x-fault': 'on' } })).status, 200, 'an empty route rule turns the fault off');
      assert.equal((await h1(r.port, '/other', { headers: { 'x-fault': 'on' } })).status, 503, 'elsewhere the listener rule applies');
      assert.equal((await h1(r.port, '/other')).status, 200);
      assert.equal(stat(r, 'fault', 'aborts_injected'), 3);
    });

    test('a client leaving during a delay cancels it: active_faults back to 0, the upstream never sees the request', async () => {
      const r = await start([], [{ type: 'fault', config: { delay: { percentage: 100, fixed_delay: '5s' }, abort: { percentage: 100, status: 500 } } }], { clusters: { backend: [up.port] } });
      // HTTP/1.1: the client closes its connection.
      const req = httpRequest({ host: '127.0.0.1', port: r.port, path: '/fault-leave-h1', agent: false });
      req.on('error', () => {});
      req.end();
      await until(() => stat(r, 'fault', 'active_faults') === 1, 'the h1 request to be delayed');
      req.destroy();
      await until(() => stat(r, 'fault', 'active_faults') === 0, 'the h1 delay to be cancelled');
      assert.equal(stat(r, 'fault', 'delays_cancelled'), 1);

      // HTTP/2: the client cancels its stream; the session lives on.
      const session = http2.connect(`http://127.0.0.1:${r.port}`);
      session.on('error', () => {});
      try {
        const stream = session.request({ ':path': '/fault-leave-h2' });
        stream.on('error', () => {});
        await until(() => stat(r, 'fault', 'active_faults') === 1, 'the h2 request to be delayed');
        stream.close(http2.constants.NGHTTP2_CANCEL);
        await until(() => stat(r, 'fault', 'active_faults') === 0, 'the h2 delay to be cancelled');
        assert.equal(stat(r, 'fault', 'delays_cancelled'), 2);
        await sleep(50);
        assert.equal(seen(up, '/fault-leave-h1') + seen(up, '/fault-leave-h2'), 0, 'the upstream never saw either request');
        assert.equal(stat(r, 'fault', 'aborts_injected'), 0, 'no abort after a cancelled delay');
        assert.equal(stat(r, 'fault', 'delays_injected'), 2);
      } finally {
        session.close();
      }
    });

    test('a bad fault config stops the server from starting, naming the JSON path', async () => {
      await assert.rejects(
        startServer([], [{ type: 'fault', config: { abort: { percentage: 50 } } }], { clusters: { backend: [up.port] } }),
        (err: Error) => err.message.includes('servers[0].listeners[0].stream_filters[0].config.abort.status: expected an HTTP status'),
      );
    });
  });

  describe('ip_access', () => {
    test('an allow list with default deny lets 127.0.0.1 through; a deny list refuses it with 403; counted', async () => {
      const allow = await start([], [{ type: 'ip_access', config: { default_action: 'deny', ips: [{ action: 'allow', addrs: ['127.0.0.1'] }] } }], { clusters: { backend: [up.port] } });
      assert.equal((await h1(allow.port, '/ip-allowed')).status, 200);
      assert.equal((await h2(allow.port, '/ip-allowed')).status, 200);
      assert.deepEqual([stat(allow, 'ip_access', 'allowed'), stat(allow, 'ip_access', 'denied')], [2, 0]);

      const deny = await start([], [{ type: 'ip_access', config: { ips: [{ action: 'deny', addrs: ['10.0.0.0/8', '127.0.0.0/8'] }] } }], { clusters: { backend: [up.port] } });
      assert.equal((await h1(deny.port, '/ip-denied')).status, 403);
      assert.equal((await h2(deny.port, '/ip-denied')).status, 403);
      assert.equal(seen(up, '/ip-denied'), 0);
      assert.deepEqual([stat(deny, 'ip_access', 'allowed'), stat(deny, 'ip_access', 'denied')], [0, 2]);

      const notListed = await start([], [{ type: 'ip_access', config: { default_action: 'deny', ips: [{ action: 'allow', addrs: ['192.0.2.0/24', '::1'] }] } }], { clusters: { backend: [up.port] } });
      assert.equal((await h1(notListed.port, '/ip-default')).status, 403, 'default_action applies to an address no list has');
    });

    test('the client address comes from the configured header when the request has it', async () => {
      const config = { header: 'x-forwarded-for', default_action: 'deny', ips: [{ action: 'allow', addrs: ['203.0.113.0/24', '2001:db8::/32'] }] };
      const r = await start([], [{ type: 'ip_access', config }], { clusters: { backend: [up.port] } });
      assert.equal((await h1(r.port, '/xff', { headers: { 'x-forwarded-for': '203.0.113.5' } })).status, 200);
      assert.equal((await h2(r.port, '/xff', { headers: { 'x-forwarded-for': '2001:db8::7, 10.0.0.1' } })).status, 200);
      assert.equal((await h1(r.port, '/xff', { headers: { 'x-forwarded-for': '10.0.0.1, 203.0.113.5' } })).status, 403, 'the first entry is the client');
      assert.equal((await h1(r.port, '/xff')).status, 403, 'no header: the peer, 127.0.0.1, is not allowed');
      assert.deepEqual([stat(r, 'ip_access', 'allowed'), stat(r, 'ip_access', 'denied')], [2, 2]);
    });

    test('IPv6 clients: CIDRs of either family on an IPv6 listener', async () => {
      const listener = { address: '[::1]:0' };
      const allow = await start([], [{ type: 'ip_access', config: { default_action: 'deny', ips: [{ action: 'allow', addrs: ['::1/128'] }] } }], { clusters: { backend: [up.port] }, listener });
      assert.equal(await h1v6(allow.port, '/v6'), 200);
      const deny = await start([], [{ type: 'ip_access', config: { ips: [{ action: 'deny', addrs: ['0.0.0.0/0', '::/0'] }] } }], { clusters: { backend: [up.port] }, listener });
      assert.equal(await h1v6(deny.port, '/v6'), 403);
      assert.equal(stat(deny, 'ip_access', 'denied'), 1);
    });
  });

  describe('header_to_metadata', () => {
    test('headers become router metadata that a later filter sees; removed headers never reach the upstream', async () => {
      const seenMeta: Array<Record<string, string> | undefined> = [];
      const probe = defineStreamFilter<unknown>({
        type: 'meta-probe',
        parseConfig: () => undefined,
        createFilters: (_c, chain) =>
          chain.addReceiver(
            {
              onReceive(h) {
                const meta = routerMetaOf(h.info.variables);
                seenMeta.push(meta === undefined ? undefined : Object.fromEntries(meta));
                return 'Continue';
              },
            },
            'AfterChooseHost',
          ),
      });
      // An earlier filter's metadata is kept.
      const seed = defineStreamFilter<unknown>({
        type: 'meta-seed',
        parseConfig: () => undefined,
        createFilters: (_c, chain) => chain.addReceiver({ onReceive: (h) => (h.info.variables.set(VAR_ROUTER_META, new Map([['team', 'core']])), 'Continue') }, 'BeforeRoute'),
      });
      const config = {
        request_rules: [
          { header: 'x-version', on_header_present: { key: 'version' }, remove: true },
          { header: 'x-canary', on_header_present: { key: 'lane', value: 'canary' } },
          { header: 'x-zone', on_header_missing: { key: 'zone', value: 'default' } },
        ],
      };
      const r = await start([probe, seed], [{ type: 'meta-seed' }, { type: 'header_to_metadata', config }, { type: 'meta-probe' }], { clusters: { backend: [up.port] } });

      const a = parseSeen((await h1(r.port, '/meta', { headers: { 'x-version': 'v2', 'x-canary': '1', 'x-zone': 'eu' } })).body);
      assert.equal(a.headers['x-version'], undefined, 'removed');
      assert.equal(a.headers['x-canary'], '1', 'kept');
      assert.equal(a.headers['x-zone'], 'eu', 'kept');
      const b = parseSeen((await h2(r.port, '/meta', { headers: { 'x-version': 'v3' } })).body);
      assert.equal(b.headers['x-version'], undefined);
      assert.deepEqual(seenMeta, [
        { team: 'core', version: 'v2', lane: 'canary' },
        { team: 'core', version: 'v3', zone: 'default' },
      ]);
    });

    test('without rules that apply, no metadata is set; a bad rule stops the server from starting', async () => {
      let sawMeta: unknown = 'not called';
      const probe = defineStreamFilter<unknown>({
        type: 'meta-probe-2',
        parseConfig: () => undefined,
        createFilters: (_c, chain) => chain.addReceiver({ onReceive: (h) => ((sawMeta = h.info.variables.get(VAR_ROUTER_META)), 'Continue') }, 'AfterRoute'),
      });
      const config = { request_rules: [{ header: 'x-version', on_header_present: { key: 'version' } }] };
      const r = await start([probe], [{ type: 'header_to_metadata', config }, { type: 'meta-probe-2' }], { clusters: { backend: [up.port] } });
      assert.equal((await h1(r.port, '/no-meta')).status, 200);
      assert.equal(sawMeta, undefined);

      await assert.rejects(
        startServer([], [{ type: 'header_to_metadata', config: { request_rules: [{ header: 'x' }] } }], { clusters: { backend: [up.port] } }),
        (err: Error) => err.message.includes('servers[0].listeners[0].stream_filters[0].config.request_rules[0]: expected one of on_header_present or on_header_missing'),
      );
    });
  });

  test('the three filters are built in (registered from filters/index.ts) and work together on one listener', async () => {
    const r = await start(
      [],
      [
        { type: 'ip_access', config: { default_action: 'deny', ips: [{ action: 'allow', addrs: ['127.0.0.0/8'] }] } },
        { type: 'header_to_metadata', config: { request_rules: [{ header: 'x-version', on_header_present: { key: 'version' }, remove: true }] } },
        { type: 'fault', config: { abort: { percentage: 100, status: 503 }, headers: [{ name: 'x-version', value: 'bad' }] } },
      ],
      { clusters: { backend: [up.port] } },
    );
    const session = http2.connect(`http://127.0.0.1:${r.port}`);
    try {
      assert.equal((await h2On(session, '/all', { headers: { 'x-version': 'good' } })).status, 200);
      // header_to_metadata removed x-version before fault (later in the chain, same phase) looked.
      assert.equal((await h2On(session, '/all', { headers: { 'x-version': 'bad' } })).status, 200);
    } finally {
      session.close();
    }
    assert.ok(!r.server.warnings.some((w) => w.includes('is not registered')), r.server.warnings.join('\n'));
    assert.equal(stat(r, 'ip_access', 'allowed'), 2);
    assert.equal(stat(r, 'fault', 'aborts_injected'), 0);
  });
});

/**
 * The built-in `flowControlFilter` and `mirror` stream filters through a real running proxy
 * (in process), real node:http / node:http2 clients and real recording upstreams on
 * 127.0.0.1 port 0: statuses, what each upstream received, and the filters' counters in
 * server.metrics.snapshot().
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { proxyConfig, h1, h2 } from '../helpers/l7.ts';
import { startInProcess, type InProcessServer } from '../helpers/in-process.ts';
import { startRecordingUpstream, parseSeen, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { closedPort } from '../helpers/servers.ts';
import { until, sleep } from '../helpers/sockets.ts';

/** The metrics each filter documents (its group may hold others, such as the chain's filter_failures). */
const KEYS: Record<string, readonly string[]> = {
  flowControlFilter: ['passed', 'limited', 'delayed'],
  mirror: ['mirrored', 'failed', 'dropped', 'inflight'],
};

/** One filter's documented metrics on listener "l7", as numbers (absent: 0). */
function counters(proxy: InProcessServer, type: string): Record<string, number> {
  const group = proxy.stats()[type]?.['listener.l7'] ?? {};
  return Object.fromEntries(KEYS[type]!.map((k) => [k, Number(group[k] ?? 0)]));
}

/** How much each counter moved since `before`. */
function moved(proxy: InProcessServer, type: string, before: Record<string, number>): Record<string, number> {
  const now = counters(proxy, type);
  return Object.fromEntries(Object.keys(now).map((k) => [k, now[k]! - (before[k] ?? 0)]));
}

const route = (prefix: string, cluster: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ match: { prefix }, route: { cluster_name: cluster }, ...extra });

describe('flowControlFilter', () => {
  let upstream: RecordingUpstream;
  let limited: InProcessServer;
  let monitor: InProcessServer;
  let defaults: InProcessServer;
  let off: InProcessServer;
  let agent: Agent;

  before(async () => {
    upstream = await startRecordingUpstream('u');
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const clusters = { backend: [upstream.port] };
    [limited, monitor, defaults, off] = await Promise.all([
      startInProcess(
        proxyConfig({
          downstream: 'Auto',
          clusters,
          streamFilters: [
            {
              type: 'flowControlFilter',
              config: {
                global_switch: true,
                limit_key_type: 'PATH',
                action: { status: 429, body: 'slow down' },
                rules: [
                  { resource: '/burst', threshold: 3 },
                  { resource: '/one', threshold: 1 },
                  { resource: '/two', limitApp: '', grade: 1, threshold: 2, strategy: 0 },
                  { resource: '/refill', threshold: 2 },
                  { resource: '/paced', threshold: 10, controlBehavior: 1, maxQueueingTimeMs: 250 },
                ],
              },
            },
          ],
        }),
      ),
      startInProcess(
        proxyConfig({
          clusters,
          streamFilters: [{ type: 'flowControlFilter', config: { global_switch: true, monitor: true, rules: [{ resource: '/m', threshold: 2 }] } }],
        }),
      ),
      startInProcess(
        proxyConfig({
          downstream: 'Auto',
          clusters,
          streamFilters: [{ type: 'flowControlFilter', config: { global_switch: true, rules: [{ resource: '/d', threshold: 1 }] } }],
        }),
      ),
      startInProcess(
        proxyConfig({
          clusters,
          streamFilters: [{ type: 'flowControlFilter', config: { global_switch: false, rules: [{ resource: '/x', threshold: 0 }] } }],
        }),
      ),
    ]);
  });
  after(async () => {
    agent.destroy();
    await Promise.all([limited, monitor, defaults, off].map((p) => p?.stop()));
    await upstream.close();
  });

  const seen = (path: string): number => upstream.seen.filter((s) => s.url.split('?')[0] === path).length;

  test('a burst over the threshold within one second: exactly the excess gets action.status and action.body, never the upstream', async () => {
    const before = counters(limited, 'flowControlFilter');
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await h1(limited.port, i % 2 === 0 ? '/burst' : `/burst?n=${i}`, { agent });
      statuses.push(res.status);
      if (res.status === 429) {
        assert.equal(res.body.toString(), 'slow down');
        assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429, 429, 429]);
    assert.equal(seen('/burst'), 3);
    assert.deepEqual(moved(limited, 'flowControlFilter', before), { passed: 3, limited: 5, delayed: 0 });
  });

  test('resources are counted apart; PATH is the normalized path; a path no rule names is never limited nor counted', async () => {
    const before = counters(limited, 'flowControlFilter');
    const statuses: Array<[string, number]> = [];
    for (const path of ['/one', '/two', '/one', '/two', '//two', '/free', '/free', '/free', '/%6fne']) {
      statuses.push([path, (await h1(limited.port, path, { agent })).status]);
    }
    assert.deepEqual(statuses, [
      ['/one', 200],
      ['/two', 200],
      ['/one', 429],
      ['/two', 200],
      ['//two', 429],
      ['/free', 200],
      ['/free', 200],
      ['/free', 200],
      ['/%6fne', 429],
    ]);
    assert.deepEqual(moved(limited, 'flowControlFilter', before), { passed: 3, limited: 3, delayed: 0 });
  });

  test('the window refills one interval (1 s) after the burst', async () => {
    const burst = async (): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push((await h1(limited.port, '/refill', { agent })).status);
      return out;
    };
    const before = counters(limited, 'flowControlFilter');
    assert.deepEqual(await burst(), [200, 200, 429]);
    await sleep(1050);
    assert.deepEqual(await burst(), [200, 200, 429]);
    assert.deepEqual(moved(limited, 'flowControlFilter', before), { passed: 4, limited: 2, delayed: 0 });
    assert.equal(seen('/refill'), 4);
  });

  test('Throttling: concurrent requests are paced 100 ms apart; one that would wait over maxQueueingTimeMs is limited', async () => {
    const before = counters(limited, 'flowControlFilter');
    const started = performance.now();
    const results = await Promise.all([0, 1, 2, 3].map(() => h1(limited.port, '/paced').then((r) => ({ status: r.status, ms: performance.now() - started }))));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 200, 429]);
    const slowest = Math.max(...results.filter((r) => r.status === 200).map((r) => r.ms));
    assert.ok(slowest >= 150, `the third passing request was held about 200 ms (took ${slowest.toFixed(0)} ms)`);
    assert.deepEqual(moved(limited, 'flowControlFilter', before), { passed: 3, limited: 1, delayed: 2 });
  });

  test('monitor: nothing is limited, the counters say what would have been', async () => {
    const before = seen('/m');
    for (let i = 0; i < 5; i++) assert.equal((await h1(monitor.port, '/m')).status, 200);
    assert.equal(seen('/m') - before, 5);
    assert.deepEqual(counters(monitor, 'flowControlFilter'), { passed: 2, limited: 3, delayed: 0 });
  });

  test("the defaults: 429 and its body, over HTTP/1.1 and HTTP/2", async () => {
    assert.equal((await h1(defaults.port, '/d')).status, 200);
    const one = await h1(defaults.port, '/d');
    assert.deepEqual([one.status, one.body.toString()], [429, 'current request is limited']);
    const two = await h2(defaults.port, '/d');
    assert.deepEqual([two.status, two.body.toString()], [429, 'current request is limited']);
    assert.deepEqual(counters(defaults, 'flowControlFilter'), { passed: 1, limited: 2, delayed: 0 });
  });

  test('global_switch false: every request passes and nothing is counted', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await h1(off.port, '/x')).status, 200);
    assert.deepEqual(counters(off, 'flowControlFilter'), { passed: 0, limited: 0, delayed: 0 });
    assert.ok(off.server.warnings.some((w) => /global_switch: not true/.test(w)), 'the switched-off rules were reported at load');
  });
});

describe('mirror', () => {
  let main: RecordingUpstream;
  let shadowA: RecordingUpstream;
  let shadowB: RecordingUpstream;
  let hanging: RecordingUpstream;
  let amplified: InProcessServer;
  let broadcast: InProcessServer;
  let bounded: InProcessServer;

  before(async () => {
    [main, shadowA, shadowB, hanging] = await Promise.all([
      startRecordingUpstream('main'),
      startRecordingUpstream('shadow-a'),
      startRecordingUpstream('shadow-b'),
      startRecordingUpstream('hang', { hangAll: true }),
    ]);
    const dead = await closedPort();
    const clusters = { backend: [main.port], shadow: [shadowA.port, shadowB.port], dead: [dead], hang: [hanging.port] };
    const virtualHosts = (mirrorCluster: string): unknown[] => [
      {
        name: 'all',
        domains: ['*'],
        routers: [
          route('/mirrored', 'backend', { request_mirror_policies: { cluster: mirrorCluster, percent: 100 } }),
          route('/to-dead', 'backend', { request_mirror_policies: { cluster: 'dead', percent: 100 } }),
          route('/never', 'backend', { request_mirror_policies: { cluster: mirrorCluster, percent: 0 } }),
          route('/', 'backend'),
        ],
      },
    ];
    [amplified, broadcast, bounded] = await Promise.all([
      startInProcess(proxyConfig({ clusters, virtualHosts: virtualHosts('shadow'), streamFilters: [{ type: 'mirror', config: { amplification: 3 } }] })),
      startInProcess(proxyConfig({ clusters, virtualHosts: virtualHosts('shadow'), streamFilters: [{ type: 'mirror', config: { broadcast: true } }] })),
      startInProcess(proxyConfig({ clusters, virtualHosts: virtualHosts('hang'), streamFilters: [{ type: 'mirror', config: { amplification: 4, max_inflight: 2 } }] })),
    ]);
  });
  let hangingOpen = true;
  after(async () => {
    // Copies still held by the hanging upstream would keep the proxies' pools busy on stop.
    if (hangingOpen) await hanging?.close();
    await Promise.all([amplified, broadcast, bounded].map((p) => p?.stop()));
    await Promise.all([main, shadowA, shadowB].map((u) => u?.close()));
  });

  const shadowSeen = (): Array<{ upstream: string; method: string; url: string; headers: Record<string, unknown>; body: string }> => [...shadowA.seen, ...shadowB.seen];
  const reset = (): void => {
    shadowA.seen.length = 0;
    shadowB.seen.length = 0;
  };

  test('amplification: the route mirror copy arrives `amplification` times (method, path, headers, body); the client gets the main answer', async () => {
    reset();
    const before = counters(amplified, 'mirror');
    const res = await h1(amplified.port, '/mirrored?x=1', { method: 'POST', headers: { 'x-test': 'copy-me', 'content-type': 'text/plain' }, body: 'payload-123' });
    assert.equal(res.status, 200);
    const answer = parseSeen(res.body);
    assert.deepEqual([answer.upstream, answer.url, answer.body], ['main', '/mirrored?x=1', 'payload-123']);

    await until(() => shadowSeen().length >= 3 && counters(amplified, 'mirror')['inflight'] === 0, 'three mirror copies answered');
    await sleep(50);
    const copies = shadowSeen();
    assert.equal(copies.length, 3, 'amplification copies, not one more from the proxy itself');
    for (const c of copies) {
      assert.deepEqual([c.method, c.url, c.body], ['POST', '/mirrored?x=1', 'payload-123']);
      assert.equal(c.headers['x-test'], 'copy-me');
      assert.equal(c.headers['content-type'], 'text/plain');
    }
    assert.deepEqual(new Set(copies.map((c) => c.upstream)), new Set(['shadow-a', 'shadow-b']), 'spread by the cluster load balancer');
    assert.deepEqual(moved(amplified, 'mirror', before), { mirrored: 3, failed: 0, dropped: 0, inflight: 0 });
  });

  test('no copies for a route without a mirror policy, or one whose percent is 0', async () => {
    reset();
    const before = counters(amplified, 'mirror');
    assert.equal((await h1(amplified.port, '/plain')).status, 200);
    assert.equal((await h1(amplified.port, '/never')).status, 200);
    await sleep(50);
    assert.equal(shadowSeen().length, 0);
    assert.deepEqual(moved(amplified, 'mirror', before), { mirrored: 0, failed: 0, dropped: 0, inflight: 0 });
  });

  test('the mirror cluster is down: the client answer is unaffected, each copy counts as failed', async () => {
    const before = counters(amplified, 'mirror');
    const seenBefore = main.seen.length;
    const res = await h1(amplified.port, '/to-dead', { method: 'POST', body: 'still-served' });
    assert.equal(res.status, 200);
    assert.deepEqual([parseSeen(res.body).upstream, parseSeen(res.body).body], ['main', 'still-served']);
    assert.equal(main.seen.length, seenBefore + 1);
    await until(() => counters(amplified, 'mirror')['failed']! - (before['failed'] ?? 0) === 3, 'three failed copies');
    assert.deepEqual(moved(amplified, 'mirror', before), { mirrored: 3, failed: 3, dropped: 0, inflight: 0 });
  });

  test('broadcast: one copy to every healthy host of the mirror cluster; the request still goes to its own cluster', async () => {
    reset();
    const before = counters(broadcast, 'mirror');
    const res = await h1(broadcast.port, '/mirrored', { method: 'PUT', body: 'to-all' });
    assert.equal(res.status, 200);
    assert.equal(parseSeen(res.body).upstream, 'main');
    await until(() => shadowSeen().length >= 2 && counters(broadcast, 'mirror')['inflight'] === 0, 'one copy per host');
    await sleep(50);
    assert.deepEqual(shadowSeen().map((c) => [c.upstream, c.method, c.body]).sort(), [
      ['shadow-a', 'PUT', 'to-all'],
      ['shadow-b', 'PUT', 'to-all'],
    ]);
    assert.deepEqual(moved(broadcast, 'mirror', before), { mirrored: 2, failed: 0, dropped: 0, inflight: 0 });
  });

  test('bounded: copies beyond max_inflight unanswered ones are dropped and counted, the client is not held', async () => {
    const started = performance.now();
    const res = await h1(bounded.port, '/mirrored', { method: 'POST', body: 'x' });
    assert.equal(res.status, 200);
    assert.ok(performance.now() - started < 2000, 'the answer did not wait for the hanging copies');
    await until(() => hanging.hanging.size === 2, 'two copies held by the mirror upstream');
    assert.deepEqual(counters(bounded, 'mirror'), { mirrored: 2, failed: 0, dropped: 2, inflight: 2 });
    // A second request while both slots are taken: all its copies are dropped.
    assert.equal((await h1(bounded.port, '/mirrored', { method: 'POST', body: 'y' })).status, 200);
    assert.deepEqual(counters(bounded, 'mirror'), { mirrored: 2, failed: 0, dropped: 6, inflight: 2 });
    // The mirror upstream goes away: the held copies end as failures and free their slots.
    hangingOpen = false;
    await hanging.close();
    await until(() => counters(bounded, 'mirror')['inflight'] === 0, 'held copies ended');
    assert.deepEqual(counters(bounded, 'mirror'), { mirrored: 2, failed: 2, dropped: 6, inflight: 0 });
  });
});

describe('bad configs', () => {
  test('a bad flowControlFilter or mirror config stops the server before it listens, naming the JSON path', async () => {
    const clusters = { backend: [1] };
    await assert.rejects(
      startInProcess(proxyConfig({ clusters, streamFilters: [{ type: 'flowControlFilter', config: { global_switch: true, limit_key_type: 'HEADER' } }] })),
      /servers\[0\]\.listeners\[0\]\.stream_filters\[0\]\.config\.limit_key_type: expected "PATH", "URI" or "ARG"/,
    );
    await assert.rejects(
      startInProcess(proxyConfig({ clusters, streamFilters: [{ type: 'flowControlFilter', config: { rules: [{ resource: '/a', count: 5 }] } }] })),
      /stream_filters\[0\]\.config\.rules\[0\]\.threshold: expected a number >= 0/,
    );
    await assert.rejects(
      startInProcess(proxyConfig({ clusters, streamFilters: [{ type: 'mirror', config: { amplification: 0 } }] })),
      /stream_filters\[0\]\.config\.amplification: expected an integer in 1\.\.1000/,
    );
  });
});

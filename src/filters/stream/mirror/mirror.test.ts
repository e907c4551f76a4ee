import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { HeaderMap } from '../../../api/headers.ts';
import type { RequestHead, StreamFilterChainBuilder, StreamReceiverFilter, StreamReceiverFilterHandler, ReceiverFilterPhase } from '../../../api/stream-filter.ts';
import { parseConfigText } from '../../../config/load.ts';
import { sendMirror } from '../../../proxy/mirror.ts';
import type { ProxyContext } from '../../../proxy/proxy-context.ts';
import type { UpstreamRequestHead, UpstreamResponseHandler } from '../../../upstream/pools/upstream-exchange.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';
import { proxyConfig } from '../../../../test/helpers/l7.ts';
import { parseMirrorConfig } from './mirror-config.ts';
import { mirrorFactory } from './mirror-factory.ts';

const P = 'servers[0].listeners[0].stream_filters[0].config';

describe('parseMirrorConfig', () => {
  test("MOSN's keys and defaults; max_inflight is mosnode's", () => {
    assert.deepEqual(parseMirrorConfig({}, P), { amplification: 1, broadcast: false, maxInflight: 1024 });
    assert.deepEqual(parseMirrorConfig(undefined, P), { amplification: 1, broadcast: false, maxInflight: 1024 });
    assert.deepEqual(parseMirrorConfig({ Amplification: 3, broadcast: false, max_inflight: 10 }, P), { amplification: 3, broadcast: false, maxInflight: 10 });
    assert.deepEqual(parseMirrorConfig({ broadcast: true }, P), { amplification: 1, broadcast: true, maxInflight: 1024 });
  });

  test('warns about unknown keys and an amplification that broadcast makes unused', () => {
    const warnings: string[] = [];
    parseMirrorConfig({ cluster: 'shadow', broadcast: true, amplification: 2 }, P, (m) => warnings.push(m));
    assert.deepEqual(warnings, [`${P}.cluster: unknown mirror key, ignored`, `${P}.amplification: unused with broadcast (one copy per healthy host)`]);
  });

  test('bad values are errors naming the JSON path (MOSN reads them as 1, truncates, or panics)', () => {
    assertFilterConfigError(() => parseMirrorConfig('x', P), P, /an object/);
    assertFilterConfigError(() => parseMirrorConfig({ amplification: 0 }, P), `${P}.amplification`, /1\.\.1000/);
    assertFilterConfigError(() => parseMirrorConfig({ amplification: -2 }, P), `${P}.amplification`);
    assertFilterConfigError(() => parseMirrorConfig({ amplification: 2.5 }, P), `${P}.amplification`);
    assertFilterConfigError(() => parseMirrorConfig({ amplification: '3' }, P), `${P}.amplification`);
    assertFilterConfigError(() => parseMirrorConfig({ amplification: 1001 }, P), `${P}.amplification`);
    assertFilterConfigError(() => parseMirrorConfig({ broadcast: 'yes' }, P), `${P}.broadcast`, /true or false/);
    assertFilterConfigError(() => parseMirrorConfig({ max_inflight: 0 }, P), `${P}.max_inflight`);
  });
});

// ---------------------------------------------------------------------------------------
// The filter against proxy/mirror.ts with pools that record instead of connecting.

interface Sent {
  host: string;
  head: UpstreamRequestHead;
  body: Buffer | string | undefined;
  handler: UpstreamResponseHandler;
  aborted: boolean;
}

function setup(raw: unknown, shadowHosts = ['127.0.0.1:9001', '127.0.0.1:9002', '127.0.0.1:9003']): {
  ctx: TestFilterContext;
  proxy: ProxyContext;
  sent: Sent[];
  receiver(): { filter: StreamReceiverFilter; phase: ReceiverFilterPhase };
} {
  const clusters = parseConfigText(
    JSON.stringify(proxyConfig({ clusters: { backend: [1], shadow: { hosts: shadowHosts.map((address) => ({ address })) } } })),
  ).config.cluster_manager.clusters;
  const ctx = testFilterContext({ type: 'mirror', listenerName: 'l7', clusters });
  const sent: Sent[] = [];
  const proxy = {
    clusters: ctx.clusters,
    logger: pino({ level: 'silent' }),
    defaultTimeoutMs: 60_000,
    pools: {
      pool: (_cluster: unknown, host: { address: string }) => ({
        send(head: UpstreamRequestHead, body: Buffer | undefined, handler: UpstreamResponseHandler) {
          const entry: Sent = { host: host.address, head, body, handler, aborted: false };
          sent.push(entry);
          return { abort: () => void (entry.aborted = true), resume() {} };
        },
        close: async () => {},
      }),
    },
  } as unknown as ProxyContext;
  const parsed = mirrorFactory.parseConfig(raw, ctx);
  return {
    ctx,
    proxy,
    sent,
    receiver() {
      const added: Array<{ filter: StreamReceiverFilter; phase: ReceiverFilterPhase }> = [];
      const chain: StreamFilterChainBuilder = {
        addReceiver: (filter, phase) => void added.push({ filter, phase: phase ?? 'BeforeRoute' }),
        addSender: () => assert.fail('mirror adds no send filter'),
      };
      mirrorFactory.createFilters(parsed, chain);
      assert.equal(added.length, 1);
      return added[0]!;
    },
  };
}

function request(): RequestHead {
  return { method: 'POST', path: '/orders?id=7', authority: 'shop.test', scheme: 'http', headers: new HeaderMap(['x-trace', 't1', 'content-length', '5']) };
}

function handlerFor(req: RequestHead): StreamReceiverFilterHandler {
  return { request: req } as unknown as StreamReceiverFilterHandler;
}

const stats = (ctx: TestFilterContext): Record<string, string> => ctx.metrics.snapshot()['mirror']?.['listener.l7'] ?? {};
const finish = (s: Sent): void => s.handler.onResponseEnd(undefined);

describe('MirrorFilter', () => {
  test('without the filter the proxy sends its one copy; with it, the copy is multiplied by amplification', () => {
    const { proxy, sent, receiver, ctx } = setup({ amplification: 3 });
    sendMirror(proxy, 'shadow', request(), Buffer.from('hello'), 'HTTP/1.1');
    assert.equal(sent.length, 1, 'a request the filter did not see: the proxy default');
    finish(sent[0]!);

    const { filter, phase } = receiver();
    assert.equal(phase, 'AfterRoute');
    const req = request();
    assert.equal(filter.onReceive(handlerFor(req)), 'Continue');
    sendMirror(proxy, 'shadow', req, Buffer.from('hello'), 'HTTP/1.1');
    const copies = sent.slice(1);
    assert.equal(copies.length, 3);
    for (const c of copies) {
      assert.deepEqual({ method: c.head.method, path: c.head.path, authority: c.head.authority }, { method: 'POST', path: '/orders?id=7', authority: 'shop.test' });
      assert.equal(c.head.headers.get('x-trace'), 't1');
      assert.notEqual(c.head.headers, req.headers, 'each copy has headers of its own');
      assert.equal(c.body!.toString(), 'hello');
    }
    assert.notEqual(copies[0]!.head.headers, copies[1]!.head.headers);
    assert.deepEqual(new Set(copies.map((c) => c.host)).size, 3, 'the load balancer spreads the copies (round robin)');
    assert.deepEqual(stats(ctx), { mirrored: '3', failed: '0', dropped: '0', inflight: '3' });

    finish(copies[0]!);
    finish(copies[1]!);
    copies[2]!.handler.onError(new Error('reset'), 'reset');
    assert.deepEqual(stats(ctx), { mirrored: '3', failed: '1', dropped: '0', inflight: '0' });
  });

  test('one shared filter object; a request whose route has no mirror is untouched (the proxy never calls)', () => {
    const { receiver, sent, ctx } = setup({ amplification: 2 });
    assert.equal(receiver().filter, receiver().filter);
    receiver().filter.onReceive(handlerFor(request()));
    assert.equal(sent.length, 0);
    assert.deepEqual(stats(ctx), { mirrored: '0', failed: '0', dropped: '0', inflight: '0' });
  });

  test('broadcast: exactly one copy to each healthy host', () => {
    const { proxy, sent, receiver, ctx } = setup({ broadcast: true });
    const shadow = ctx.clusters.getCluster('shadow')!;
    (shadow.hosts[1] as { healthy: boolean }).healthy = false;
    const req = request();
    receiver().filter.onReceive(handlerFor(req));
    sendMirror(proxy, 'shadow', req, undefined, 'HTTP/1.1');
    assert.deepEqual(sent.map((s) => s.host).sort(), ['127.0.0.1:9001', '127.0.0.1:9003']);
    assert.deepEqual(stats(ctx), { mirrored: '2', failed: '0', dropped: '0', inflight: '2' });
    sent.forEach(finish);
  });

  test('broadcast to a cluster with no healthy host: one drop, nothing sent', () => {
    const { proxy, sent, receiver, ctx } = setup({ broadcast: true }, ['127.0.0.1:9001']);
    (ctx.clusters.getCluster('shadow')!.hosts[0] as { healthy: boolean }).healthy = false;
    const req = request();
    receiver().filter.onReceive(handlerFor(req));
    sendMirror(proxy, 'shadow', req, undefined, 'HTTP/1.1');
    assert.equal(sent.length, 0);
    assert.deepEqual(stats(ctx), { mirrored: '0', failed: '0', dropped: '1', inflight: '0' });
  });

  test('bounded: beyond max_inflight unanswered copies, copies are dropped and counted; room comes back as they end', () => {
    const { proxy, sent, receiver, ctx } = setup({ amplification: 4, max_inflight: 6 });
    const mirror = (): void => {
      const req = request();
      receiver().filter.onReceive(handlerFor(req));
      sendMirror(proxy, 'shadow', req, Buffer.from('hello'), 'HTTP/1.1');
    };
    mirror();
    mirror();
    assert.equal(sent.length, 6);
    assert.deepEqual(stats(ctx), { mirrored: '6', failed: '0', dropped: '2', inflight: '6' });
    sent.slice(0, 3).forEach(finish);
    mirror();
    assert.equal(sent.length, 9);
    assert.deepEqual(stats(ctx), { mirrored: '9', failed: '0', dropped: '3', inflight: '6' });
    sent.slice(3).forEach(finish);
    assert.deepEqual(stats(ctx), { mirrored: '9', failed: '0', dropped: '3', inflight: '0' });
  });

  test('a copy unanswered at the proxy timeout is aborted and counted as failed', async () => {
    const { proxy, sent, receiver, ctx } = setup({ amplification: 2 });
    const quick = { ...proxy, defaultTimeoutMs: 20 } as ProxyContext;
    const req = request();
    receiver().filter.onReceive(handlerFor(req));
    sendMirror(quick, 'shadow', req, undefined, 'HTTP/1.1');
    finish(sent[0]!);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.deepEqual(sent.map((s) => s.aborted), [false, true]);
    assert.deepEqual(stats(ctx), { mirrored: '2', failed: '1', dropped: '0', inflight: '0' });
  });

  test('a copy to a cluster that is gone is dropped, not sent', () => {
    const { proxy, sent, receiver, ctx } = setup({ amplification: 2 });
    const req = request();
    receiver().filter.onReceive(handlerFor(req));
    sendMirror(proxy, 'removed', req, undefined, 'HTTP/1.1');
    assert.equal(sent.length, 0);
    assert.deepEqual(stats(ctx), { mirrored: '0', failed: '0', dropped: '2', inflight: '0' });
  });

  test('per_filter_config is reported and ignored', () => {
    const ctx = testFilterContext({ type: 'mirror', path: 'servers[0].routers[0].virtual_hosts[0].routers[0].per_filter_config.mirror' });
    assert.equal(mirrorFactory.parsePerRouteConfig!({ amplification: 2 }, ctx), undefined);
    assert.match(ctx.warnings[0]!, /per_filter_config\.mirror: mirror has no per-route settings/);
  });
});

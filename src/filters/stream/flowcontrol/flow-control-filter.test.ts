import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { HeaderMap } from '../../../api/headers.ts';
import type { ReceiverFilterPhase, StreamFilterChainBuilder, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { flowControlFactory } from './flow-control-factory.ts';
import { resourceOf } from './flow-control-filter.ts';

interface Reply {
  status: number;
  headers: Record<string, string> | undefined;
  body: string | Buffer | undefined;
}

function fakeHandler(path: string): { handler: StreamReceiverFilterHandler; replies: Reply[] } {
  const replies: Reply[] = [];
  const handler = {
    info: { protocol: 'HTTP/1.1', listenerName: 'l7', downstreamRemoteAddress: '127.0.0.1:5000', downstreamLocalAddress: '127.0.0.1:80', routeName: undefined, clusterName: undefined, upstreamHost: undefined, variables: new Map() },
    logger: pino({ level: 'silent' }),
    request: { method: 'GET', path, authority: 'h', scheme: 'http', headers: new HeaderMap() },
    perRouteConfig: () => undefined,
    sendDirectResponse: (status: number, headers?: Record<string, string>, body?: string | Buffer) => void replies.push({ status, headers, body }),
  };
  return { handler: handler as unknown as StreamReceiverFilterHandler, replies };
}

/** The factory with `raw`; `create()` returns the filters (and phases) it adds for one request. */
function build(raw: unknown): { ctx: TestFilterContext; create(): Array<{ filter: StreamReceiverFilter; phase: ReceiverFilterPhase }> } {
  const ctx = testFilterContext({ type: 'flowControlFilter', listenerName: 'l7' });
  const parsed = flowControlFactory.parseConfig(raw, ctx);
  return {
    ctx,
    create() {
      const added: Array<{ filter: StreamReceiverFilter; phase: ReceiverFilterPhase }> = [];
      const chain: StreamFilterChainBuilder = {
        addReceiver: (filter, phase) => void added.push({ filter, phase: phase ?? 'BeforeRoute' }),
        addSender: () => assert.fail('flowControlFilter adds no send filter'),
      };
      flowControlFactory.createFilters(parsed, chain);
      return added;
    },
  };
}

const stats = (ctx: TestFilterContext): Record<string, string> => ctx.metrics.snapshot()['flowControlFilter']?.['listener.l7'] ?? {};

describe('resourceOf', () => {
  test('PATH is the normalized path without the query, as the router matches it; URI is what was received; ARG is the query', () => {
    assert.equal(resourceOf('PATH', '/api/users?id=1'), '/api/users');
    assert.equal(resourceOf('PATH', '//api/./users'), '/api/users');
    assert.equal(resourceOf('PATH', '/%61pi/users'), '/api/users');
    assert.equal(resourceOf('PATH', '/x/../api/users'), '/api/users');
    assert.equal(resourceOf('URI', '/api/users?id=1'), '/api/users?id=1');
    assert.equal(resourceOf('ARG', '/api/users?id=1&x=2'), 'id=1&x=2');
    assert.equal(resourceOf('ARG', '/api/users'), '');
  });
});

describe('FlowControlFilter', () => {
  test('switched off (MOSN default): no filter is added at all', () => {
    const { create } = build({ rules: [{ resource: '/a', threshold: 0 }] });
    assert.deepEqual(create(), []);
  });

  test('runs AfterRoute; one shared object serves every request when no rule holds requests', () => {
    const { create } = build({ global_switch: true, rules: [{ resource: '/a', threshold: 1 }] });
    const [first] = create();
    const [second] = create();
    assert.equal(first!.phase, 'AfterRoute');
    assert.equal(first!.filter, second!.filter);
  });

  test('over the threshold: action.status and action.body, text/plain; counted as limited; the rest as passed', () => {
    const { create, ctx } = build({ global_switch: true, action: { status: 429, body: 'slow down' }, rules: [{ resource: '/a', threshold: 2 }] });
    const outcomes = ['/a', '/a?x=1', '//a', '/b', '/a'].map((path) => {
      const { handler, replies } = fakeHandler(path);
      return { status: create()[0]!.filter.onReceive(handler), replies };
    });
    assert.deepEqual(outcomes.map((o) => o.status), ['Continue', 'Continue', 'Stop', 'Continue', 'Stop']);
    assert.deepEqual(outcomes[2]!.replies, [{ status: 429, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'slow down' }]);
    assert.deepEqual(outcomes[3]!.replies, []);
    assert.deepEqual(stats(ctx), { passed: '2', limited: '2', delayed: '0' });
  });

  test("the defaults: 429 and its body; an empty body goes without content-type", () => {
    const defaults = build({ global_switch: true, rules: [{ resource: '/a', threshold: 0 }] });
    const one = fakeHandler('/a');
    assert.equal(defaults.create()[0]!.filter.onReceive(one.handler), 'Stop');
    assert.deepEqual(one.replies, [{ status: 429, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'current request is limited' }]);
    const empty = build({ global_switch: true, action: { body: '' }, rules: [{ resource: '/a', threshold: 0 }] });
    const two = fakeHandler('/a');
    empty.create()[0]!.filter.onReceive(two.handler);
    assert.deepEqual(two.replies, [{ status: 429, headers: {}, body: '' }]);
  });

  test('monitor: nothing is answered, every counter moves as if it were', () => {
    const { create, ctx } = build({ global_switch: true, monitor: true, rules: [{ resource: '/a', threshold: 1 }, { resource: '/t', threshold: 10, controlBehavior: 1, maxQueueingTimeMs: 1000 }] });
    for (const path of ['/a', '/a', '/a', '/t', '/t']) {
      const { handler, replies } = fakeHandler(path);
      assert.equal(create()[0]!.filter.onReceive(handler), 'Continue', 'nothing held or limited');
      assert.deepEqual(replies, []);
    }
    assert.deepEqual(stats(ctx), { passed: '3', limited: '2', delayed: '1' });
  });

  test('URI and ARG key types', () => {
    const uri = build({ global_switch: true, limit_key_type: 'URI', rules: [{ resource: '/a?x=1', threshold: 0 }] });
    assert.equal(uri.create()[0]!.filter.onReceive(fakeHandler('/a?x=1').handler), 'Stop');
    assert.equal(uri.create()[0]!.filter.onReceive(fakeHandler('/a?x=2').handler), 'Continue');
    const arg = build({ global_switch: true, limit_key_type: 'ARG', rules: [{ resource: 'x=1', threshold: 0 }] });
    assert.equal(arg.create()[0]!.filter.onReceive(fakeHandler('/anything?x=1').handler), 'Stop');
    assert.equal(arg.create()[0]!.filter.onReceive(fakeHandler('/anything').handler), 'Continue', 'no query, no resource: passes uncounted');
    assert.deepEqual(stats(arg.ctx), { passed: '0', limited: '1', delayed: '0' });
  });

  test('Throttling with a queue: a request is held, then continues; each request gets its own filter; onDestroy clears a held one', async () => {
    const { create, ctx } = build({ global_switch: true, rules: [{ resource: '/t', threshold: 20, controlBehavior: 1, maxQueueingTimeMs: 500 }] });
    const [a] = create();
    const [b] = create();
    assert.notEqual(a!.filter, b!.filter);
    assert.equal(a!.filter.onReceive(fakeHandler('/t').handler), 'Continue');
    const started = performance.now();
    const held = b!.filter.onReceive(fakeHandler('/t').handler);
    assert.ok(held instanceof Promise);
    assert.equal(await held, 'Continue');
    assert.ok(performance.now() - started >= 40, 'held about 50 ms (20 per second)');

    const [c] = create();
    const cancelled = c!.filter.onReceive(fakeHandler('/t').handler);
    assert.ok(cancelled instanceof Promise);
    c!.filter.onDestroy!();
    assert.equal(await cancelled, 'Continue', 'settled at once, no timer left behind');
    assert.deepEqual(stats(ctx), { passed: '3', limited: '0', delayed: '2' });
  });

  test('per_filter_config is reported and ignored (MOSN has none for this filter)', () => {
    const ctx = testFilterContext({ type: 'flowControlFilter', path: 'servers[0].routers[0].virtual_hosts[0].routers[0].per_filter_config.flowControlFilter' });
    assert.equal(flowControlFactory.parsePerRouteConfig!({ rules: [] }, ctx), undefined);
    assert.match(ctx.warnings[0]!, /per_filter_config\.flowControlFilter: flowControlFilter has no per-route settings/);
  });
});

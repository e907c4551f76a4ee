import { test, describe, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { HeaderMap } from '../../../api/headers.ts';
import type { ReceiverFilterPhase, StreamFilterChainBuilder, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { faultFactory } from './fault-factory.ts';
import { FaultFilter, type FaultStats } from './fault-filter.ts';
import { parseFaultRule } from './fault-config.ts';

interface Reply {
  status: number;
}

/** A receive handler with what the fault filter reads, recording direct responses. */
function fakeHandler(o: { cluster?: string; headers?: Record<string, string>; method?: string; perRoute?: unknown } = {}): { handler: StreamReceiverFilterHandler; replies: Reply[] } {
  const replies: Reply[] = [];
  const handler = {
    info: { protocol: 'HTTP/1.1', listenerName: 'l', downstreamRemoteAddress: '127.0.0.1:4000', downstreamLocalAddress: '127.0.0.1:80', routeName: 'r', clusterName: o.cluster ?? 'backend', upstreamHost: undefined, variables: new Map() },
    logger: pino({ level: 'silent' }),
    request: { method: o.method ?? 'GET', path: '/', authority: 'h', scheme: 'http', headers: new HeaderMap(Object.entries(o.headers ?? {}).flat()) },
    perRouteConfig: () => o.perRoute,
    sendDirectResponse: (status: number) => void replies.push({ status }),
  };
  return { handler: handler as unknown as StreamReceiverFilterHandler, replies };
}

/** Parses `raw` with the real factory and returns a new filter per call, plus the context for stats. */
function fromFactory(raw: unknown): { next: () => StreamReceiverFilter; ctx: TestFilterContext; phases: ReceiverFilterPhase[] } {
  const ctx = testFilterContext({ type: 'fault', listenerName: 'l7' });
  const parsed = faultFactory.parseConfig(raw, ctx);
  const phases: ReceiverFilterPhase[] = [];
  const next = (): StreamReceiverFilter => {
    const added: StreamReceiverFilter[] = [];
    const chain: StreamFilterChainBuilder = {
      addReceiver: (f, phase) => void (added.push(f), phases.push(phase ?? 'BeforeRoute')),
      addSender: () => assert.fail('fault adds no send filter'),
    };
    faultFactory.createFilters(parsed, chain);
    assert.equal(added.length, 1);
    return added[0]!;
  };
  return { next, ctx, phases };
}

const stat = (ctx: TestFilterContext, key: string): string | undefined => ctx.metrics.snapshot()['fault']?.['listener.l7']?.[key];

describe('FaultFilter', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('100% abort answers the status, stops, and counts; the filter runs AfterRoute', () => {
    const { next, ctx, phases } = fromFactory({ abort: { percentage: 100, status: 503 } });
    const { handler, replies } = fakeHandler();
    assert.equal(next().onReceive(handler), 'Stop');
    assert.deepEqual(replies, [{ status: 503 }]);
    assert.equal(stat(ctx, 'aborts_injected'), '1');
    assert.equal(stat(ctx, 'delays_injected'), '0');
    assert.deepEqual(phases, ['AfterRoute']);
  });

  test('0% (or nothing configured) continues untouched and allocates no promise', () => {
    for (const raw of [{ abort: { percentage: 0, status: 500 }, delay: { percentage: 0, fixed_delay: '1s' } }, { delay: { percentage: 100, fixed_delay: '0s' } }, {}]) {
      const { next, ctx } = fromFactory(raw);
      const { handler, replies } = fakeHandler();
      assert.equal(next().onReceive(handler), 'Continue');
      assert.deepEqual(replies, []);
      assert.equal(stat(ctx, 'aborts_injected'), '0');
      assert.equal(stat(ctx, 'delays_injected'), '0');
    }
  });

  test('100% delay holds the request on a timer, then continues; the gauge counts it meanwhile', async () => {
    const { next, ctx } = fromFactory({ delay: { percentage: 100, fixed_delay: '200ms' } });
    const { handler, replies } = fakeHandler();
    const filter = next();
    const result = filter.onReceive(handler);
    assert.ok(result instanceof Promise);
    let outcome: string | undefined;
    void result.then((s) => (outcome = s));
    assert.equal(stat(ctx, 'active_faults'), '1');
    assert.equal(stat(ctx, 'delays_injected'), '1');
    mock.timers.tick(199);
    await Promise.resolve();
    assert.equal(outcome, undefined, 'still delayed at 199 ms');
    mock.timers.tick(1);
    assert.equal(await result, 'Continue');
    assert.equal(stat(ctx, 'active_faults'), '0');
    assert.deepEqual(replies, []);
    filter.onDestroy?.();
    assert.equal(stat(ctx, 'delays_cancelled'), '0', 'a finished delay is not cancelled by the end of the request');
  });

  test('delay and abort both apply: the abort comes after the delay', async () => {
    const { next, ctx } = fromFactory({ delay: { percentage: 100, fixed_delay: '50ms' }, abort: { percentage: 100, status: 429 } });
    const { handler, replies } = fakeHandler();
    const result = next().onReceive(handler) as Promise<string>;
    assert.deepEqual(replies, [], 'no abort before the delay ends');
    mock.timers.tick(50);
    assert.equal(await result, 'Stop');
    assert.deepEqual(replies, [{ status: 429 }]);
    assert.deepEqual([stat(ctx, 'delays_injected'), stat(ctx, 'aborts_injected'), stat(ctx, 'active_faults')], ['1', '1', '0']);
  });

  test('the request ending during the delay cancels it: no abort, gauge back to 0, counted as cancelled', async () => {
    const { next, ctx } = fromFactory({ delay: { percentage: 100, fixed_delay: '1s' }, abort: { percentage: 100, status: 500 } });
    const { handler, replies } = fakeHandler();
    const filter = next();
    const result = filter.onReceive(handler) as Promise<string>;
    assert.equal(stat(ctx, 'active_faults'), '1');
    filter.onDestroy?.();
    assert.equal(await result, 'Stop', 'the pending promise settles so the chain runner is not left waiting');
    assert.equal(stat(ctx, 'active_faults'), '0');
    assert.equal(stat(ctx, 'delays_cancelled'), '1');
    mock.timers.tick(2000);
    assert.deepEqual(replies, [], 'the timer never fires');
    filter.onDestroy?.();
    assert.equal(stat(ctx, 'delays_cancelled'), '1', 'onDestroy twice counts once');
  });

  test('percentages are drawn per request: n% of draws in 0..99 (MOSN: rand % 100 < percent)', () => {
    const ctx = testFilterContext({ type: 'fault' });
    const stats: FaultStats = {
      delaysInjected: ctx.stats.counter('delays_injected'),
      abortsInjected: ctx.stats.counter('aborts_injected'),
      delaysCancelled: ctx.stats.counter('delays_cancelled'),
      activeFaults: ctx.stats.gauge('active_faults'),
    };
    const rule = parseFaultRule({ abort: { percentage: 30, status: 503 } }, 'p');
    const outcomes = [0, 0.29, 0.2999, 0.3, 0.5, 0.99].map((draw) => new FaultFilter(rule, stats, () => draw).onReceive(fakeHandler().handler));
    assert.deepEqual(outcomes, ['Stop', 'Stop', 'Stop', 'Continue', 'Continue', 'Continue']);
    let aborted = 0;
    for (let i = 0; i < 2000; i++) if (new FaultFilter(rule, stats).onReceive(fakeHandler().handler) === 'Stop') aborted++;
    assert.ok(aborted > 450 && aborted < 750, `about 30% of 2000 with Math.random, got ${aborted}`);
  });

  test('headers matchers decide whether the fault applies', () => {
    const { next, ctx } = fromFactory({ abort: { percentage: 100, status: 503 }, headers: [{ name: 'x-fault', value: 'abort' }] });
    assert.equal(next().onReceive(fakeHandler({ headers: { 'x-fault': 'abort' } }).handler), 'Stop');
    assert.equal(next().onReceive(fakeHandler({ headers: { 'x-fault': 'other' } }).handler), 'Continue');
    assert.equal(next().onReceive(fakeHandler().handler), 'Continue');
    assert.equal(stat(ctx, 'aborts_injected'), '1');
  });

  test('upstream_cluster limits the fault to requests routed to that cluster', () => {
    const { next } = fromFactory({ abort: { percentage: 100, status: 503 }, upstream_cluster: 'backend' });
    assert.equal(next().onReceive(fakeHandler({ cluster: 'backend' }).handler), 'Stop');
    assert.equal(next().onReceive(fakeHandler({ cluster: 'other' }).handler), 'Continue');
  });

  test("a route's per_filter_config.fault replaces the listener's rule whole", () => {
    const { next } = fromFactory({ abort: { percentage: 100, status: 503 }, headers: [{ name: 'x-fault', value: 'on' }] });
    const ctx = testFilterContext({ path: 'servers[0].routers[0].virtual_hosts[0].routers[0].per_filter_config.fault' });
    const perRoute = faultFactory.parsePerRouteConfig!({ abort: { percentage: 100, status: 418 } }, ctx);
    const { handler, replies } = fakeHandler({ perRoute });
    assert.equal(next().onReceive(handler), 'Stop', 'the route rule has no header matcher');
    assert.deepEqual(replies, [{ status: 418 }]);
    const off = faultFactory.parsePerRouteConfig!({}, ctx);
    assert.equal(next().onReceive(fakeHandler({ perRoute: off, headers: { 'x-fault': 'on' } }).handler), 'Continue', 'an empty route rule turns the fault off');
  });

  test('parsePerRouteConfig reports errors with the per_filter_config path', () => {
    const path = 'servers[0].routers[0].virtual_hosts[0].per_filter_config.fault';
    assert.throws(() => faultFactory.parsePerRouteConfig!({ abort: { percentage: 5 } }, testFilterContext({ path })), (err: Error & { path?: string }) => err.path === `${path}.abort.status`);
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { HeaderMap } from '../../../api/headers.ts';
import type { ReceiverFilterPhase, StreamFilterChainBuilder, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { ipAccessFactory } from './ip-access-factory.ts';

function fakeHandler(remote: string, headers: Record<string, string> = {}): { handler: StreamReceiverFilterHandler; replies: number[] } {
  const replies: number[] = [];
  const handler = {
    info: { protocol: 'HTTP/1.1', listenerName: 'l', downstreamRemoteAddress: remote, downstreamLocalAddress: '127.0.0.1:80', routeName: undefined, clusterName: undefined, upstreamHost: undefined, variables: new Map() },
    logger: pino({ level: 'silent' }),
    request: { method: 'GET', path: '/', authority: 'h', scheme: 'http', headers: new HeaderMap(Object.entries(headers).flat()) },
    perRouteConfig: () => undefined,
    sendDirectResponse: (status: number) => void replies.push(status),
  };
  return { handler: handler as unknown as StreamReceiverFilterHandler, replies };
}

function build(raw: unknown): { filters: StreamReceiverFilter[]; phases: ReceiverFilterPhase[]; ctx: TestFilterContext; run: (remote: string, headers?: Record<string, string>) => number | 'Continue' } {
  const ctx = testFilterContext({ type: 'ip_access', listenerName: 'l7' });
  const parsed = ipAccessFactory.parseConfig(raw, ctx);
  const filters: StreamReceiverFilter[] = [];
  const phases: ReceiverFilterPhase[] = [];
  const chain: StreamFilterChainBuilder = {
    addReceiver: (f, phase) => void (filters.push(f), phases.push(phase ?? 'BeforeRoute')),
    addSender: () => assert.fail('ip_access adds no send filter'),
  };
  const run = (remote: string, headers: Record<string, string> = {}): number | 'Continue' => {
    filters.length = 0;
    ipAccessFactory.createFilters(parsed, chain);
    const { handler, replies } = fakeHandler(remote, headers);
    const status = filters[0]!.onReceive(handler);
    if (status === 'Continue') {
      assert.deepEqual(replies, []);
      return status;
    }
    assert.equal(status, 'Stop');
    assert.equal(replies.length, 1);
    return replies[0]!;
  };
  return { filters, phases, ctx, run };
}

const stat = (ctx: TestFilterContext, key: string): string | undefined => ctx.metrics.snapshot()['ip_access']?.['listener.l7']?.[key];

describe('IpAccessFilter', () => {
  test('an allow list with default deny: listed clients continue, others get 403; counted; runs BeforeRoute', () => {
    const { run, ctx, phases } = build({ default_action: 'deny', ips: [{ action: 'allow', addrs: ['127.0.0.0/8', '::1'] }] });
    assert.equal(run('127.0.0.1:5000'), 'Continue');
    assert.equal(run('[::1]:5000'), 'Continue');
    assert.equal(run('[::ffff:127.0.0.2]:5000'), 'Continue');
    assert.equal(run('10.0.0.1:5000'), 403);
    assert.equal(run('[2001:db8::1]:5000'), 403);
    assert.deepEqual([stat(ctx, 'allowed'), stat(ctx, 'denied')], ['3', '2']);
    assert.deepEqual(new Set(phases), new Set(['BeforeRoute']), 'one receive filter per request, always at BeforeRoute');
  });

  test('a deny list with the default allow', () => {
    const { run } = build({ ips: [{ action: 'deny', addrs: ['10.0.0.0/8', '2001:db8::/32'] }] });
    assert.equal(run('10.20.30.40:1'), 403);
    assert.equal(run('[2001:db8::5]:1'), 403);
    assert.equal(run('11.0.0.1:1'), 'Continue');
  });

  test('the configured header wins over the peer address when present and non-empty', () => {
    const { run } = build({ header: 'X-Real-IP', default_action: 'deny', ips: [{ action: 'allow', addrs: ['203.0.113.0/24'] }] });
    assert.equal(run('127.0.0.1:1', { 'x-real-ip': '203.0.113.7' }), 'Continue');
    assert.equal(run('203.0.113.7:1', { 'x-real-ip': '127.0.0.1' }), 403);
    assert.equal(run('203.0.113.7:1'), 'Continue', 'no header: the peer address');
    assert.equal(run('203.0.113.7:1', { 'x-real-ip': '  ' }), 'Continue', 'an empty header: the peer address');
    assert.equal(run('203.0.113.7:1', { 'x-real-ip': 'not-an-ip' }), 403, 'a garbled header is in no list');
    assert.equal(run('127.0.0.1:1', { 'x-real-ip': '203.0.113.7, 10.0.0.1' }), 'Continue', 'the first entry of a list');
  });

  test('the same stateless filter serves every request', () => {
    const { filters, run } = build({});
    run('1.1.1.1:1');
    const first = filters[0];
    run('1.1.1.1:1');
    assert.equal(filters[0], first);
  });
});

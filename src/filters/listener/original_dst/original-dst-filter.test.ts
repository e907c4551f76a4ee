/**
 * The original_dst listener filter on a real Listener (127.0.0.1 port 0): with the real
 * SO_ORIGINAL_DST lookup on a connection that was not redirected (kept, counted), with a
 * stand-in for the kernel (found: local address and hand-over record set; fallback_to_local;
 * failures counted, warned once, never fatal), and `tproxy` (the local address). Config
 * errors name their JSON path. A NATed connection through a whole server is covered by
 * test/integration/original-dst-nat.test.ts.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { originalDstFactory, parseOriginalDstConfig } from './original-dst-factory.ts';
import { OriginalDstFilter, type OriginalDstConfig, type OriginalDstLookup } from './original-dst-filter.ts';
import { ORIGINAL_DST_STATE_KEY, type OriginalDstRecord } from '../../../network/listener-directory.ts';
import { native } from '../../../core/native.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';
import { ListenerHarness, echo, type TestListener } from '../../../../test/helpers/listener-harness.ts';
import { readBytes } from '../../../../test/helpers/sockets.ts';

const PATH = 'servers[0].listeners[0].listener_filters[0].config';
const harness = new ListenerHarness();
afterEach(() => harness.closeAll());

interface Setup extends TestListener {
  context: TestFilterContext;
  logs: Array<{ level: number; msg: string }>;
  stat(key: string): number;
}

/** A listener running original_dst with `config`; `lookup` stands in for the kernel when given. */
async function setup(config: Record<string, unknown>, lookup?: OriginalDstLookup, address?: string): Promise<Setup> {
  const context = testFilterContext({ path: PATH, type: 'original_dst' });
  const parsed = originalDstFactory.parseConfig(config, context);
  const logs: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _e, done) { logs.push(JSON.parse(String(chunk))); done(); } }));
  const create = lookup === undefined
    ? () => originalDstFactory.create(parsed, { ...context, logger })
    : () => new OriginalDstFilter(parsed.config as OriginalDstConfig, parsed.stats, logger, lookup, parsed.warned);
  const l = await harness.start({ ...(address ? { address } : {}), listenerFilters: () => [create()], install: echo });
  return { ...l, context, logs, stat: (key) => Number(context.metrics.snapshot()['original_dst']?.['listener.test_listener']?.[key] ?? 0) };
}

async function roundTrip(s: Setup): Promise<void> {
  const client = await s.dial();
  client.write('ping');
  assert.equal((await readBytes(client, 4)).toString(), 'ping');
}

describe('redirect (SO_ORIGINAL_DST)', () => {
  test('a connection that was not redirected keeps its addresses and is counted, not closed', { skip: native === undefined && 'native addon unavailable' }, async () => {
    const s = await setup({});
    await roundTrip(s);
    const c = s.connections[0]!;
    if (s.stat('found') === 1) {
      // A host whose conntrack tracks every connection reports the real destination.
      assert.equal(c.localAddress, `127.0.0.1:${s.port}`);
    } else {
      assert.equal(s.stat('not_found'), 1);
      assert.equal(c.localAddress, `127.0.0.1:${s.port}`);
      assert.equal(c.state.has(ORIGINAL_DST_STATE_KEY), false, 'nothing to hand over');
    }
    assert.equal(s.stat('error'), 0);
  });

  test('found: the destination becomes the local address, and the hand-over record is left', async () => {
    const fds: number[] = [];
    const s = await setup({}, (fd) => (fds.push(fd), { address: '10.0.0.5', port: 8080, family: 4 }));
    await roundTrip(s);
    const c = s.connections[0]!;
    assert.ok(Number.isInteger(fds[0]) && fds[0]! > 2, 'the lookup got the accepted socket\'s fd');
    assert.equal(c.localAddress, '10.0.0.5:8080');
    assert.equal(c.remoteAddress.startsWith('127.0.0.1:'), true);
    assert.deepEqual(c.state.get(ORIGINAL_DST_STATE_KEY), { ip: '10.0.0.5', port: 8080, fallbackIp: undefined } satisfies OriginalDstRecord);
    assert.equal(s.stat('found'), 1);
  });

  test('fallback_to_local: the record asks for the loopback listener of the destination\'s family', async () => {
    let next = { address: '10.0.0.5', port: 80, family: 4 as 4 | 6 };
    const s = await setup({ fallback_to_local: true }, () => next);
    await roundTrip(s);
    next = { address: '2001:db8::5', port: 80, family: 6 };
    await roundTrip(s);
    assert.equal((s.connections[0]!.state.get(ORIGINAL_DST_STATE_KEY) as OriginalDstRecord).fallbackIp, '127.0.0.1');
    assert.equal((s.connections[1]!.state.get(ORIGINAL_DST_STATE_KEY) as OriginalDstRecord).fallbackIp, '::1');
    assert.equal(s.connections[1]!.localAddress, '[2001:db8::5]:80');
  });

  test('a failing lookup: counted as error, warned once then logged at debug, the connection goes on', async () => {
    const s = await setup({}, () => {
      throw Object.assign(new Error('getsockopt SO_ORIGINAL_DST: ENOPROTOOPT (Protocol not available)'), { code: 'ENOPROTOOPT' });
    });
    await roundTrip(s);
    await roundTrip(s);
    assert.equal(s.stat('error'), 2);
    assert.equal(s.connections.length, 2);
    const about = s.logs.filter((l) => l.msg.startsWith('original_dst: could not read'));
    assert.deepEqual(about.map((l) => l.level), [40, 20], 'one warning, then debug');
  });
});

describe('tproxy', () => {
  test('the local address is the destination (a TPROXY rule delivers it unchanged)', async () => {
    const s = await setup({ type: 'tproxy' }, () => assert.fail('tproxy never asks conntrack'));
    await roundTrip(s);
    assert.deepEqual(s.connections[0]!.state.get(ORIGINAL_DST_STATE_KEY), { ip: '127.0.0.1', port: s.port, fallbackIp: undefined });
    assert.equal(s.stat('found'), 1);
  });
});

describe('config', () => {
  test('MOSN\'s keys and defaults: type redirect, fallback_to_local false; type read case-insensitively', () => {
    const none = (): void => {};
    assert.deepEqual(parseOriginalDstConfig(undefined, PATH, none), { type: 'redirect', fallbackToLocal: false });
    assert.deepEqual(parseOriginalDstConfig({ type: '' }, PATH, none), { type: 'redirect', fallbackToLocal: false });
    assert.deepEqual(parseOriginalDstConfig({ Type: 'TPROXY', Fallback_To_Local: true }, PATH, none), { type: 'tproxy', fallbackToLocal: true });
  });

  test('bad values name their path; unknown keys are warned', () => {
    assertFilterConfigError(() => parseOriginalDstConfig({ type: 'dnat' }, PATH, () => {}), `${PATH}.type`, /"redirect" or "tproxy", got "dnat"/);
    assertFilterConfigError(() => parseOriginalDstConfig({ type: 1 }, PATH, () => {}), `${PATH}.type`, /a string/);
    assertFilterConfigError(() => parseOriginalDstConfig({ fallback_to_local: 'yes' }, PATH, () => {}), `${PATH}.fallback_to_local`, /true or false/);
    const warnings: string[] = [];
    parseOriginalDstConfig({ mode: 'redirect' }, PATH, (m) => warnings.push(m));
    assert.deepEqual(warnings, [`${PATH}.mode: unknown key, ignored`]);
  });
});

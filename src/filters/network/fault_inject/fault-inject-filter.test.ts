/**
 * The fault_inject network filter on real connections (a Listener on 127.0.0.1 port 0,
 * fault_inject before an echo filter): MOSN's die per read, bytes held for the delay and
 * released in order (also what arrives during it, and a FIN), the next read rolling
 * again, other connections untouched meanwhile, a close during a delay cancelling it, and
 * the stats. Config errors name their JSON path.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { faultInjectFactory, parseFaultInjectConfig } from './fault-inject-factory.ts';
import { FaultInjectFilter } from './fault-inject-filter.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';
import { ListenerHarness, echo, readUntilClose, type TestListener } from '../../../../test/helpers/listener-harness.ts';
import { readBytes, sleep, until } from '../../../../test/helpers/sockets.ts';

const PATH = 'servers[0].listeners[0].filter_chains[0].filters[0].config';
const harness = new ListenerHarness();
afterEach(() => harness.closeAll());

interface Setup extends TestListener {
  context: TestFilterContext;
  stat(key: string): number;
}

async function setup(config: Record<string, unknown>, random?: () => number): Promise<Setup> {
  const context = testFilterContext({ path: PATH, type: 'fault_inject' });
  const parsed = faultInjectFactory.parseConfig(config, context);
  const l = await harness.start({
    install: (connection) => {
      if (random === undefined) faultInjectFactory.createFilters(parsed, connection, connection, context);
      else connection.addReadFilter(new FaultInjectFilter(parsed.config, parsed.stats, random));
      echo(connection);
    },
  });
  return { ...l, context, stat: (key) => Number(context.metrics.snapshot()['fault_inject']?.['listener.test_listener']?.[key] ?? 0) };
}

/** ms from writing `text` to reading it back. */
async function timedEcho(client: Awaited<ReturnType<TestListener['dial']>>, text: string): Promise<number> {
  const started = performance.now();
  client.write(text);
  assert.equal((await readBytes(client, text.length)).toString(), text);
  return performance.now() - started;
}

describe('delays', () => {
  test('delay_percent 100: the first bytes wait delay_duration, bytes sent meanwhile follow in order, the next read is delayed again', async () => {
    const s = await setup({ delay_percent: 100, delay_duration: '150ms' });
    const client = await s.dial();
    const started = performance.now();
    const all = readBytes(client, 6);
    client.write('ab');
    await sleep(40);
    client.write('cd');
    await sleep(10);
    client.write('ef');
    assert.equal((await all).toString(), 'abcdef');
    const first = performance.now() - started;
    assert.ok(first >= 145, `first bytes after ${first} ms`);
    assert.ok(first < 1000, `first bytes after ${first} ms`);
    assert.equal(s.stat('delays_injected'), 1, 'bytes arriving during a delay join it');
    const again = await timedEcho(client, 'gh');
    assert.ok(again >= 145, `the next read after ${again} ms`);
    assert.equal(s.stat('delays_injected'), 2);
    assert.equal(s.stat('active_faults'), 0);
  });

  test('MOSN\'s die: a read is delayed when 1 + floor(100 * random) <= delay_percent', async () => {
    const rolls = [0.499, 0.5];
    const s = await setup({ delay_percent: 50, delay_duration: '100ms' }, () => rolls.shift() ?? 0.99);
    const client = await s.dial();
    assert.ok((await timedEcho(client, 'a')) >= 95, '1 + 49 = 50: delayed');
    assert.ok((await timedEcho(client, 'b')) < 90, '1 + 50 = 51: not delayed');
    assert.equal(s.stat('delays_injected'), 1);
  });

  test('delay_percent 0 (or no duration): never delayed, nothing counted', async () => {
    for (const config of [{ delay_percent: 0, delay_duration: '1s' }, { delay_percent: 100 }]) {
      const s = await setup(config);
      const client = await s.dial();
      assert.ok((await timedEcho(client, 'x')) < 500);
      assert.equal(s.stat('delays_injected'), 0);
    }
  });

  test('a delay holds its own connection only: another one round-trips meanwhile', async () => {
    let delayNext = true;
    const s = await setup({ delay_percent: 50, delay_duration: '300ms' }, () => (delayNext ? ((delayNext = false), 0) : 0.99));
    const slow = await s.dial();
    const slowDone = readBytes(slow, 4);
    slow.write('slow');
    await until(() => s.stat('active_faults') === 1, 'the delay to start');
    const fast = await s.dial();
    assert.ok((await timedEcho(fast, 'fast')) < 150, 'the other connection is not held');
    assert.equal(s.stat('active_faults'), 1, 'still delaying the first one');
    await slowDone;
  });

  test('held bytes are bounded: past maxHeldBytes reading stops until the delay ends, then everything flows intact', async () => {
    const context = testFilterContext({ path: PATH, type: 'fault_inject' });
    const stats = faultInjectFactory.parseConfig({}, context).stats;
    // Only the first read is delayed (with 100% every read after the delay would be too).
    let rolls = 0;
    const l = await harness.start({
      install: (connection) => {
        connection.addReadFilter(new FaultInjectFilter({ delayPercent: 1, delayMs: 300, maxHeldBytes: 1024 }, stats, () => (rolls++ === 0 ? 0 : 0.99)));
        echo(connection);
      },
    });
    const client = await l.dial();
    const payload = randomBytes(4 * 1024 * 1024);
    const echoed = readBytes(client, payload.length);
    client.write(payload);
    await sleep(200);
    const readDuringDelay = l.connections[0]!.bytesRead;
    assert.ok(readDuringDelay < 512 * 1024, `${readDuringDelay} bytes read during the delay`);
    assert.ok((await echoed).equals(payload));
  });

  test('a bare FIN starts no delay (only bytes roll the die)', async () => {
    const s = await setup({ delay_percent: 100, delay_duration: '10s' });
    const client = await s.dial({ allowHalfOpen: true });
    const closed = readUntilClose(client);
    client.end();
    assert.ok((await closed).ms < 1000);
    assert.equal(s.stat('delays_injected'), 0);
  });

  test('a FIN during a delay comes after the held bytes', async () => {
    const s = await setup({ delay_percent: 100, delay_duration: '100ms' });
    const client = await s.dial({ allowHalfOpen: true });
    const closed = readUntilClose(client);
    client.write('x');
    await sleep(20);
    client.end('yz');
    const { data, ms } = await closed;
    assert.equal(data.toString(), 'xyz');
    assert.ok(ms >= 95, `after ${ms} ms`);
  });

  test('a connection reset during a delay cancels it (a FIN is held like the bytes: the peer may still read)', async () => {
    const s = await setup({ delay_percent: 100, delay_duration: '10s' });
    const client = await s.dial();
    client.write('never echoed');
    await until(() => s.stat('active_faults') === 1, 'the delay to start');
    client.resetAndDestroy();
    await until(() => s.stat('delays_cancelled') === 1, 'the cancel');
    assert.equal(s.stat('active_faults'), 0);
    assert.equal(s.connections[0]!.closed, true);
  });
});

describe('config', () => {
  test('MOSN\'s keys (v2.FaultInject), read case-insensitively; Go durations', () => {
    assert.deepEqual(parseFaultInjectConfig({ delay_percent: 100, delay_duration: '15s' }, PATH, () => {}), { delayPercent: 100, delayMs: 15_000, maxHeldBytes: 32_768 });
    assert.deepEqual(parseFaultInjectConfig({ Delay_Percent: 5, DELAY_DURATION: '1m30s' }, PATH, () => {}), { delayPercent: 5, delayMs: 90_000, maxHeldBytes: 32_768 });
    assert.deepEqual(parseFaultInjectConfig(undefined, PATH, () => {}), { delayPercent: 0, delayMs: 0, maxHeldBytes: 32_768 });
  });

  test('bad values name their path; settings that inject nothing, and the stream filter\'s keys, are warned', () => {
    assertFilterConfigError(() => parseFaultInjectConfig({ delay_percent: 101 }, PATH, () => {}), `${PATH}.delay_percent`, /0\.\.100/);
    assertFilterConfigError(() => parseFaultInjectConfig({ delay_percent: 12.5 }, PATH, () => {}), `${PATH}.delay_percent`, /integer/);
    assertFilterConfigError(() => parseFaultInjectConfig({ delay_percent: '50' }, PATH, () => {}), `${PATH}.delay_percent`);
    assertFilterConfigError(() => parseFaultInjectConfig({ delay_duration: 'soon' }, PATH, () => {}), `${PATH}.delay_duration`, /duration/);
    assertFilterConfigError(() => parseFaultInjectConfig({ delay_duration: '-1s' }, PATH, () => {}), `${PATH}.delay_duration`);
    const warnings: string[] = [];
    parseFaultInjectConfig({ delay_percent: 50, fixed_delay: '1s' }, PATH, (m) => warnings.push(m));
    parseFaultInjectConfig({ delay_duration: '1s' }, PATH, (m) => warnings.push(m));
    assert.deepEqual(warnings, [
      `${PATH}.fixed_delay: unknown key, ignored (that is a key of the stream filter "fault"; the network filter "fault_inject" takes delay_percent and delay_duration)`,
      `${PATH}.delay_duration: not set (or 0): no delay is injected although delay_percent is 50`,
      `${PATH}.delay_percent: not set (or 0): the delay_duration is never injected`,
    ]);
  });

  test('on a listener whose chain has the `proxy` filter it is warned about (that filter reads the socket itself)', () => {
    const listener = { config: { per_connection_buffer_limit_bytes: 4096, filter_chains: [{ filters: [{ type: 'fault_inject' }, { type: 'proxy' }] }] } };
    const context = testFilterContext({ path: PATH, type: 'fault_inject', services: new Map([['listener', listener]]) });
    const parsed = faultInjectFactory.parseConfig({ delay_percent: 10, delay_duration: '1s' }, context);
    assert.equal(parsed.config.maxHeldBytes, 4096, 'the listener\'s buffer limit bounds held bytes');
    assert.deepEqual(context.warnings, [`${PATH}: fault_inject delays nothing on a listener with the "proxy" filter (it reads the socket itself); use the stream filter "fault" (delay.fixed_delay, delay.percentage) there`]);
  });
});

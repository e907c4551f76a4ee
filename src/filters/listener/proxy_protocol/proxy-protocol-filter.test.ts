/**
 * The proxy_protocol listener filter on a real Listener (127.0.0.1 port 0) with an echo
 * network filter: the header is dropped and its addresses become the connection's, the
 * bytes after it (same packet or later, binary, look-alikes) arrive untouched; headers
 * that are missing, malformed, oversized, slow (also when trickled) or cut short close the
 * socket before any connection exists; every outcome is counted. Config errors name
 * their JSON path.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { proxyProtocolFactory, parseProxyProtocolConfig } from './proxy-protocol-factory.ts';
import { PROXY_PROTOCOL_STATE_KEY, type ProxyProtocolInfo } from './proxy-protocol-filter.ts';
import { testFilterContext, type TestFilterContext } from '../../../../test/helpers/filter-context.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';
import { ListenerHarness, echo, readUntilClose, type TestListener } from '../../../../test/helpers/listener-harness.ts';
import { v2, ipv4Block, ipv6Block } from '../../../../test/helpers/proxy-protocol.ts';
import { readBytes, sleep, until } from '../../../../test/helpers/sockets.ts';

const PATH = 'servers[0].listeners[0].listener_filters[0].config';
const harness = new ListenerHarness();
afterEach(() => harness.closeAll());

interface Setup extends TestListener {
  context: TestFilterContext;
  stat(key: string): number;
}

async function setup(config: Record<string, unknown> = {}): Promise<Setup> {
  const context = testFilterContext({ path: PATH, type: 'proxy_protocol' });
  const parsed = proxyProtocolFactory.parseConfig(config, context);
  const l = await harness.start({ listenerFilters: () => [proxyProtocolFactory.create(parsed, context)], install: echo });
  return {
    ...l,
    context,
    stat: (key) => Number(context.metrics.snapshot()['proxy_protocol']?.['listener.test_listener']?.[key] ?? 0),
  };
}

describe('accepted headers', () => {
  test('v1 TCP4 and the payload in the same packet: header dropped, payload untouched, addresses from the header', async () => {
    const s = await setup();
    const client = await s.dial();
    // Payload bytes that look like headers must pass as data.
    const payload = Buffer.concat([Buffer.from('PROXY TCP4 6.6.6.6 6.6.6.6 1 1\r\n'), randomBytes(2000), Buffer.from('\r\n\r\n')]);
    client.write(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n'), payload]));
    assert.deepEqual(await readBytes(client, payload.length), payload);
    const c = s.connections[0]!;
    assert.equal(c.remoteAddress, '203.0.113.7:40000');
    assert.equal(c.localAddress, '198.51.100.1:443');
    assert.equal((c.state.get(PROXY_PROTOCOL_STATE_KEY) as ProxyProtocolInfo).version, 1);
    assert.equal(s.stat('v1_found'), 1);
    assert.equal(s.stat('without_address'), 0);
  });

  test('v1 TCP6, then the payload in a later packet', async () => {
    const s = await setup();
    const client = await s.dial();
    client.write('PROXY TCP6 2001:db8::7 2001:db8::1 1234 80\r\n');
    await sleep(20);
    client.write('later');
    assert.equal((await readBytes(client, 5)).toString(), 'later');
    assert.equal(s.connections[0]!.remoteAddress, '[2001:db8::7]:1234');
    assert.equal(s.connections[0]!.localAddress, '[2001:db8::1]:80');
  });

  test('v1 UNKNOWN: accepted, real addresses kept', async () => {
    const s = await setup();
    const client = await s.dial();
    client.write('PROXY UNKNOWN\r\nping');
    assert.equal((await readBytes(client, 4)).toString(), 'ping');
    assert.equal(s.connections[0]!.remoteAddress, `127.0.0.1:${client.localPort}`);
    assert.equal(s.connections[0]!.localAddress, `127.0.0.1:${s.port}`);
    assert.equal(s.stat('v1_found'), 1);
    assert.equal(s.stat('without_address'), 1);
  });

  test('v2 IPv6 with TLVs, trickled in pieces, payload right after: TLVs kept in state, payload untouched', async () => {
    const s = await setup();
    const client = await s.dial();
    const header = v2({
      famProto: 0x21,
      address: ipv6Block('2001:0db8:0000:0000:0000:0000:0000:0007', '2001:0db8:0000:0000:0000:0000:0000:0001', 5555, 8443),
      tlvs: [[0x02, Buffer.from('api.example.com')], [0x05, randomBytes(32)]],
      crc: true,
    });
    const payload = randomBytes(100);
    const all = Buffer.concat([header, payload]);
    for (const [from, to] of [[0, 5], [5, 17], [17, 60], [60, all.length]] as const) {
      client.write(all.subarray(from, to));
      await sleep(5);
    }
    assert.deepEqual(await readBytes(client, payload.length), payload);
    const c = s.connections[0]!;
    assert.equal(c.remoteAddress, '[2001:db8::7]:5555');
    assert.equal(c.localAddress, '[2001:db8::1]:8443');
    const info = c.state.get(PROXY_PROTOCOL_STATE_KEY) as ProxyProtocolInfo;
    assert.deepEqual(info.tlvs.map((t) => t.type), [0x02, 0x05, 0x03]);
    assert.equal(info.tlvs[0]!.value.toString(), 'api.example.com');
    assert.equal(s.stat('v2_found'), 1);
  });

  test('v2 IPv4 and LOCAL: one with addresses, one keeping the real ones', async () => {
    const s = await setup();
    const a = await s.dial();
    a.write(Buffer.concat([v2({ address: ipv4Block('10.1.2.3', '10.9.8.7', 1000, 2000) }), Buffer.from('a')]));
    assert.equal((await readBytes(a, 1)).toString(), 'a');
    const b = await s.dial();
    b.write(Buffer.concat([v2({ command: 0, famProto: 0x00 }), Buffer.from('b')]));
    assert.equal((await readBytes(b, 1)).toString(), 'b');
    assert.equal(s.connections[0]!.remoteAddress, '10.1.2.3:1000');
    assert.equal(s.connections[1]!.remoteAddress, `127.0.0.1:${b.localPort}`);
    assert.equal(s.stat('v2_found'), 2);
    assert.equal(s.stat('without_address'), 1);
  });

  test('a header and a FIN in one go: the payload and the half-close still arrive', async () => {
    const s = await setup();
    const client = await s.dial({ allowHalfOpen: true });
    const closed = readUntilClose(client);
    client.end('PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\nbye');
    assert.equal((await closed).data.toString(), 'bye');
    assert.equal(s.connections[0]!.remoteAddress, '1.1.1.1:1');
  });
});

describe('refused connections: closed before any connection exists, and counted', () => {
  const refused = async (s: Setup, send: (client: Awaited<ReturnType<TestListener['dial']>>) => void | Promise<void>): Promise<{ data: Buffer; ms: number }> => {
    const client = await s.dial();
    const closed = readUntilClose(client);
    await send(client);
    const result = await closed;
    assert.equal(s.connections.length, 0, 'no connection was created');
    return result;
  };

  test('no header at all', async () => {
    const s = await setup();
    const { data } = await refused(s, (c) => void c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(data.length, 0);
    assert.equal(s.stat('error_not_found'), 1);
  });

  test('malformed v1 and v2 headers', async () => {
    const s = await setup();
    await refused(s, (c) => void c.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n'));
    await refused(s, (c) => void c.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nX'));
    await refused(s, (c) => void c.write(v2({ command: 5, address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2) })));
    await refused(s, (c) => void c.write(v2({ address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2), crc: 'bad' })));
    assert.equal(s.stat('error_malformed'), 4);
  });

  test('oversized: a v2 header over max_header_bytes is refused from its first 16 bytes; a v1 line without CRLF in 107 bytes', async () => {
    const s = await setup({ max_header_bytes: 300 });
    const header = v2({ address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs: [[0x04, Buffer.alloc(1000)]] });
    // Only the fixed part is sent: the length alone decides.
    await refused(s, (c) => void c.write(header.subarray(0, 16)));
    await refused(s, (c) => void c.write(`PROXY UNKNOWN ${'x'.repeat(120)}`));
    assert.equal(s.stat('error_too_large'), 2);
  });

  test('slow: a partial header times out after `timeout`, also when trickled a byte at a time', async () => {
    const s = await setup({ timeout: '200ms' });
    const partial = await refused(s, (c) => void c.write('PROXY TCP4 1.2'));
    assert.ok(partial.ms >= 180 && partial.ms < 1500, `closed after ${partial.ms} ms`);
    const trickled = await refused(s, async (c) => {
      const line = 'PROXY TCP4 10.0.0.1 10.0.0.2 1111 2222\r\n';
      for (const ch of line) {
        if (c.destroyed) return;
        c.write(ch);
        await sleep(40);
      }
    });
    assert.ok(trickled.ms >= 180 && trickled.ms < 1500, `closed after ${trickled.ms} ms`);
    const silent = await refused(s, () => {});
    assert.ok(silent.ms >= 180, `closed after ${silent.ms} ms`);
    assert.equal(s.stat('error_timeout'), 3);
  });

  test('cut short: the peer half-closes in the middle of the header', async () => {
    const s = await setup();
    await refused(s, (c) => void c.end('PROXY TCP4 1.2.3.4'));
    await refused(s, (c) => void c.end(v2({ address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2) }).subarray(0, 20)));
    assert.equal(s.stat('error_eof'), 2);
  });
});

describe('allow_requests_without_proxy_protocol', () => {
  test('a connection without a header goes on with its bytes and real addresses; one with a header still uses it', async () => {
    const s = await setup({ allow_requests_without_proxy_protocol: true });
    assert.match(s.context.warnings.join('\n'), /allow_requests_without_proxy_protocol: true accepts connections with and without a header/);
    const plain = await s.dial();
    plain.write('hello');
    assert.equal((await readBytes(plain, 5)).toString(), 'hello');
    const proxied = await s.dial();
    proxied.write('PROXY TCP4 9.9.9.9 8.8.8.8 9 8\r\nhi');
    assert.equal((await readBytes(proxied, 2)).toString(), 'hi');
    assert.equal(s.connections[0]!.remoteAddress, `127.0.0.1:${plain.localPort}`);
    assert.equal(s.connections[1]!.remoteAddress, '9.9.9.9:9');
    assert.equal(s.stat('not_found_allowed'), 1);
    assert.equal(s.stat('v1_found'), 1);
  });

  test('a client that waits for the server to speak first gets its connection after the timeout', async () => {
    const s = await setup({ allow_requests_without_proxy_protocol: true, timeout: '100ms' });
    await s.dial();
    await until(() => s.connections.length === 1, 'the connection after the timeout');
    assert.equal(s.stat('not_found_allowed'), 1);
  });

  test('a malformed header is still refused', async () => {
    const s = await setup({ allow_requests_without_proxy_protocol: true });
    const client = await s.dial();
    const closed = readUntilClose(client);
    client.write('PROXY TCP4 nonsense\r\n');
    await closed;
    assert.equal(s.stat('error_malformed'), 1);
  });
});

describe('config', () => {
  test('defaults, and every key read as MOSN reads keys (case-insensitively)', () => {
    assert.deepEqual(parseProxyProtocolConfig(undefined, PATH, () => {}), { timeoutMs: 5000, maxHeaderBytes: 4096, allowWithoutProxyProtocol: false });
    assert.deepEqual(
      parseProxyProtocolConfig({ Timeout: '1.5s', MAX_HEADER_BYTES: 232, allow_requests_without_proxy_protocol: false }, PATH, () => {}),
      { timeoutMs: 1500, maxHeaderBytes: 232, allowWithoutProxyProtocol: false },
    );
  });

  test('bad values name their path and the shape expected; unknown keys are warned', () => {
    assertFilterConfigError(() => parseProxyProtocolConfig({ timeout: 'soon' }, PATH, () => {}), `${PATH}.timeout`, /duration/);
    assertFilterConfigError(() => parseProxyProtocolConfig({ timeout: '0s' }, PATH, () => {}), `${PATH}.timeout`, /above 0/);
    assertFilterConfigError(() => parseProxyProtocolConfig({ max_header_bytes: 100 }, PATH, () => {}), `${PATH}.max_header_bytes`, /232\.\.65551/);
    assertFilterConfigError(() => parseProxyProtocolConfig({ max_header_bytes: '4KB' }, PATH, () => {}), `${PATH}.max_header_bytes`);
    assertFilterConfigError(() => parseProxyProtocolConfig({ allow_requests_without_proxy_protocol: 'yes' }, PATH, () => {}), `${PATH}.allow_requests_without_proxy_protocol`, /true or false/);
    assertFilterConfigError(() => parseProxyProtocolConfig([], PATH, () => {}), PATH, /an object/);
    const warnings: string[] = [];
    parseProxyProtocolConfig({ timeout: '1s', versions: [1] }, PATH, (m) => warnings.push(m));
    assert.deepEqual(warnings, [`${PATH}.versions: unknown key, ignored`]);
  });
});

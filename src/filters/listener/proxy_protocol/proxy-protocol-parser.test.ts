/**
 * The PROXY protocol parser on bytes alone: v1 TCP4/TCP6/UNKNOWN, v2 IPv4/IPv6/LOCAL/
 * AF_UNSPEC/AF_UNIX with TLVs and CRC32c, every way a header can be malformed or too
 * large, byte-by-byte arrival (each prefix asks for more, never decides early), and random
 * input that must never throw.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseProxyHeader, crc32c, V2_SIGNATURE, type ProxyParseResult, type ProxyHeader } from './proxy-protocol-parser.ts';
import { v2, ipv4Block, ipv6Block } from '../../../../test/helpers/proxy-protocol.ts';

function headerOf(result: ProxyParseResult): ProxyHeader {
  assert.equal(result.kind, 'header', JSON.stringify(result));
  return (result as { header: ProxyHeader }).header;
}

function assertInvalid(result: ProxyParseResult, reason: 'malformed' | 'too_large', message?: RegExp): void {
  assert.equal(result.kind, 'invalid', JSON.stringify(result));
  const r = result as { reason: string; message: string };
  assert.equal(r.reason, reason, r.message);
  if (message) assert.match(r.message, message);
}

/** Feeds `bytes` one more byte at a time: every proper prefix is "incomplete", the whole is what `parse` says. */
function everyPrefixIncomplete(bytes: Buffer, upTo = bytes.length): void {
  for (let n = 0; n < upTo; n++) {
    const r = parseProxyHeader(bytes.subarray(0, n));
    assert.equal(r.kind, 'incomplete', `prefix of ${n} bytes: ${JSON.stringify(r)}`);
    assert.ok((r as { need: number }).need > n, `prefix of ${n} bytes asks for more than it has`);
  }
}

describe('v1', () => {
  test('TCP4: addresses, ports, the exact length; bytes after it are not part of it', () => {
    const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
    const h = headerOf(parseProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n\r\n`)));
    assert.deepEqual(h, {
      version: 1, command: 'PROXY', length: line.length,
      source: { ip: '192.168.0.1', port: 56324 }, destination: { ip: '192.168.0.11', port: 443 }, tlvs: [],
    });
  });

  test('TCP6: addresses in canonical form, IPv4-mapped ones as IPv4', () => {
    const h = headerOf(parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::ffff:10.0.0.1 65535 0\r\n')));
    assert.deepEqual(h.source, { ip: '2001:db8::7', port: 65535 });
    assert.deepEqual(h.destination, { ip: '10.0.0.1', port: 0 });
  });

  test('the longest lines the spec allows are accepted (TCP6: 104 bytes, UNKNOWN: 107)', () => {
    const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const tcp6 = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`;
    assert.equal(tcp6.length, 104);
    assert.equal(headerOf(parseProxyHeader(Buffer.from(tcp6))).length, 104);
    const unknown = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
    assert.equal(unknown.length, 107);
    assert.equal(headerOf(parseProxyHeader(Buffer.from(unknown))).length, 107);
  });

  test('UNKNOWN: no addresses (the real ones stay), the rest of the line ignored', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN anything at all 1 2\r\n']) {
      const h = headerOf(parseProxyHeader(Buffer.from(`${line}data`)));
      assert.deepEqual(h, { version: 1, command: 'LOCAL', length: line.length, source: undefined, destination: undefined, tlvs: [] });
    }
  });

  test('byte by byte: every prefix asks for more, the whole line parses', () => {
    const line = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
    everyPrefixIncomplete(line);
    assert.equal(headerOf(parseProxyHeader(line)).length, line.length);
  });

  test('malformed lines are refused', () => {
    const cases: Array<[string, RegExp]> = [
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /line feed/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /carriage return/],
      ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', /single spaces/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /single spaces/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /single spaces/],
      ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol/],
      ['PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol/],
      ['PROXY \r\n', /unknown protocol/],
      ['PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', /not IPv4/],
      ['PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n', /not IPv4/],
      ['PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /not IPv4/],
      ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /not IPv6/],
      ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /not IPv6/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', /ports/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n', /ports/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', /ports/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n', /ports/],
    ];
    for (const [line, why] of cases) assertInvalid(parseProxyHeader(Buffer.from(line)), 'malformed', why);
  });

  test('no CRLF within 107 bytes is too large, decided as soon as 107 bytes are in', () => {
    const long = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`);
    assert.equal(parseProxyHeader(long.subarray(0, 106)).kind, 'incomplete');
    assertInvalid(parseProxyHeader(long.subarray(0, 107)), 'too_large');
    // A CRLF that would end at byte 108 comes too late.
    assertInvalid(parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`)), 'too_large');
  });
});

describe('v2', () => {
  test('PROXY over TCP/IPv4, TLVs kept in order and skipped, bytes after the header excluded', () => {
    const header = v2({ address: ipv4Block('203.0.113.7', '198.51.100.1', 40000, 443), tlvs: [[0x02, Buffer.from('example.com')], [0x04, Buffer.alloc(0)], [0xe0, Buffer.from([1, 2, 3])]] });
    const h = headerOf(parseProxyHeader(Buffer.concat([header, Buffer.from('payload')])));
    assert.equal(h.version, 2);
    assert.equal(h.command, 'PROXY');
    assert.equal(h.length, header.length);
    assert.deepEqual(h.source, { ip: '203.0.113.7', port: 40000 });
    assert.deepEqual(h.destination, { ip: '198.51.100.1', port: 443 });
    assert.deepEqual(h.tlvs.map((t) => [t.type, t.value.toString('hex')]), [[0x02, Buffer.from('example.com').toString('hex')], [0x04, ''], [0xe0, '010203']]);
  });

  test('PROXY over UDP/IPv6: addresses in canonical form', () => {
    const h = headerOf(parseProxyHeader(v2({ famProto: 0x22, address: ipv6Block('2001:0db8:0000:0000:0000:0000:0000:0007', '0000:0000:0000:0000:0000:ffff:0a00:0001', 1, 2) })));
    assert.deepEqual(h.source, { ip: '2001:db8::7', port: 1 });
    assert.deepEqual(h.destination, { ip: '10.0.0.1', port: 2 });
  });

  test('LOCAL: real addresses kept, the block skipped unread whatever it holds', () => {
    const header = v2({ command: 0, famProto: 0x11, address: Buffer.from('garbage that is not TLVs') });
    assert.deepEqual(headerOf(parseProxyHeader(header)), { version: 2, command: 'LOCAL', length: header.length, source: undefined, destination: undefined, tlvs: [] });
  });

  test('AF_UNSPEC, AF_UNIX and an UNSPEC transport carry no usable address: real ones kept', () => {
    const unspec = headerOf(parseProxyHeader(v2({ famProto: 0x00, address: Buffer.from('ignored') })));
    assert.equal(unspec.source, undefined);
    const unix = headerOf(parseProxyHeader(v2({ famProto: 0x31, address: Buffer.alloc(216, 0x61), tlvs: [[0x02, Buffer.from('h')]] })));
    assert.equal(unix.source, undefined);
    assert.equal(unix.tlvs.length, 1);
    const inetUnspec = headerOf(parseProxyHeader(v2({ famProto: 0x10, address: ipv4Block('1.1.1.1', '2.2.2.2', 1, 2) })));
    assert.equal(inetUnspec.destination, undefined);
  });

  test('a CRC32c TLV is verified: a right one passes, a wrong one is malformed', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the CRC32c check value');
    const address = ipv4Block('1.2.3.4', '5.6.7.8', 1, 2);
    const good = headerOf(parseProxyHeader(v2({ address, crc: true })));
    assert.equal(good.tlvs[0]?.type, 0x03);
    assertInvalid(parseProxyHeader(v2({ address, crc: 'bad' })), 'malformed', /CRC32c/);
    assertInvalid(parseProxyHeader(v2({ address, tlvs: [[0x03, Buffer.alloc(3)]] })), 'malformed', /CRC32c/);
  });

  test('byte by byte: the fixed 16 bytes first, then exactly the announced length', () => {
    const header = v2({ address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs: [[0x05, Buffer.alloc(20, 7)]] });
    everyPrefixIncomplete(header);
    assert.deepEqual(parseProxyHeader(header.subarray(0, 16)), { kind: 'incomplete', need: header.length });
    assert.equal(headerOf(parseProxyHeader(header)).length, header.length);
  });

  test('malformed headers are refused', () => {
    const address = ipv4Block('1.2.3.4', '5.6.7.8', 1, 2);
    assertInvalid(parseProxyHeader(v2({ version: 1, address })), 'malformed', /version 1/);
    assertInvalid(parseProxyHeader(v2({ version: 3, address })), 'malformed', /version 3/);
    assertInvalid(parseProxyHeader(v2({ command: 2, address })), 'malformed', /command/);
    assertInvalid(parseProxyHeader(v2({ famProto: 0x41, address })), 'malformed', /family/);
    assertInvalid(parseProxyHeader(v2({ famProto: 0x13, address })), 'malformed', /transport/);
    assertInvalid(parseProxyHeader(v2({ famProto: 0x11, address: address.subarray(0, 11) })), 'malformed', /fewer than the 12/);
    assertInvalid(parseProxyHeader(v2({ famProto: 0x21, address })), 'malformed', /fewer than the 36/);
    assertInvalid(parseProxyHeader(v2({ address: Buffer.concat([address, Buffer.from([0x02, 0x00])]) })), 'malformed', /truncated TLV/);
    assertInvalid(parseProxyHeader(v2({ address: Buffer.concat([address, Buffer.from([0x02, 0x00, 0x09, 0x61])]) })), 'malformed', /runs past/);
  });

  test('a header longer than the limit is too large, decided from the first 16 bytes', () => {
    const header = v2({ address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs: [[0x04, Buffer.alloc(5000)]] });
    assertInvalid(parseProxyHeader(header.subarray(0, 16), 4096), 'too_large', /exceeds the limit of 4096/);
    assert.equal(headerOf(parseProxyHeader(header, header.length)).length, header.length);
  });
});

describe('not a PROXY header', () => {
  test('decided at the first byte that disagrees with both signatures', () => {
    assert.deepEqual(parseProxyHeader(Buffer.from('G')), { kind: 'not_proxy' });
    assert.deepEqual(parseProxyHeader(Buffer.from('POST / HTTP/1.1\r\n')), { kind: 'not_proxy' });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXYX')), { kind: 'not_proxy' });
    assert.deepEqual(parseProxyHeader(Buffer.from('\r\n\r\nX')), { kind: 'not_proxy' });
    assert.deepEqual(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])), { kind: 'not_proxy' }, 'a TLS ClientHello');
    assert.deepEqual(parseProxyHeader(Buffer.from('PRI * HTTP/2.0')), { kind: 'not_proxy' }, 'the HTTP/2 preface');
  });

  test('nothing yet: ask for one byte', () => {
    assert.deepEqual(parseProxyHeader(Buffer.alloc(0)), { kind: 'incomplete', need: 1 });
  });
});

test('random input never throws, and every verdict is one of the four', () => {
  const prefixes = [Buffer.alloc(0), V2_SIGNATURE, Buffer.concat([V2_SIGNATURE, Buffer.from([0x21])]), Buffer.from('PROXY '), Buffer.from('PROXY TCP4 ')];
  for (let i = 0; i < 5000; i++) {
    const prefix = prefixes[i % prefixes.length]!;
    const bytes = Buffer.concat([prefix, randomBytes(i % 300)]);
    const r = parseProxyHeader(bytes, 1024);
    assert.ok(['incomplete', 'not_proxy', 'invalid', 'header'].includes(r.kind));
    if (r.kind === 'header') assert.ok(r.header.length <= bytes.length);
    if (r.kind === 'incomplete') assert.ok(r.need > bytes.length);
  }
});

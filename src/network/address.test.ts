import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet, PortRanges, formatAddress, normalizeIp, parseAddress } from './address.ts';

describe('parseAddress', () => {
  test('reads "ip:port" as IPv4', () => {
    assert.deepEqual(parseAddress('127.0.0.1:8080'), { kind: 'tcp', host: '127.0.0.1', port: 8080, family: 4 });
    assert.deepEqual(parseAddress('0.0.0.0:0'), { kind: 'tcp', host: '0.0.0.0', port: 0, family: 4 });
    assert.deepEqual(parseAddress('10.1.2.3:65535'), { kind: 'tcp', host: '10.1.2.3', port: 65535, family: 4 });
  });

  test('reads "[v6]:port" as IPv6', () => {
    assert.deepEqual(parseAddress('[::1]:80'), { kind: 'tcp', host: '::1', port: 80, family: 6 });
    assert.deepEqual(parseAddress('[::]:0'), { kind: 'tcp', host: '::', port: 0, family: 6 });
    assert.deepEqual(parseAddress('[2001:db8::7]:443'), { kind: 'tcp', host: '2001:db8::7', port: 443, family: 6 });
  });

  test('an empty host (":port") means every IPv4 address', () => {
    assert.deepEqual(parseAddress(':8080'), { kind: 'tcp', host: '0.0.0.0', port: 8080, family: 4 });
  });

  test('a path starting with "/" is a unix socket whatever the network says', () => {
    assert.deepEqual(parseAddress('/tmp/mosn.sock'), { kind: 'unix', path: '/tmp/mosn.sock' });
    assert.deepEqual(parseAddress('/tmp/mosn.sock', 'tcp'), { kind: 'unix', path: '/tmp/mosn.sock' });
  });

  test('network "unix" takes any non-empty string as the path', () => {
    assert.deepEqual(parseAddress('relative.sock', 'unix'), { kind: 'unix', path: 'relative.sock' });
    assert.equal(parseAddress('', 'unix'), undefined);
  });

  test('"@name" is Linux\'s abstract namespace: a leading NUL byte', () => {
    assert.deepEqual(parseAddress('@mosn'), { kind: 'unix', path: '\0mosn' });
    assert.deepEqual(parseAddress('@mosn', 'unix'), { kind: 'unix', path: '\0mosn' });
  });

  test('rejects an address without a port', () => {
    assert.equal(parseAddress('127.0.0.1'), undefined);
    assert.equal(parseAddress('127.0.0.1:'), undefined);
    assert.equal(parseAddress('[::1]'), undefined);
    assert.equal(parseAddress('[::1]:'), undefined);
    assert.equal(parseAddress('[::1]80'), undefined);
    assert.equal(parseAddress(''), undefined);
  });

  test('rejects a port out of range or not a plain number', () => {
    assert.equal(parseAddress('127.0.0.1:65536'), undefined);
    assert.equal(parseAddress('127.0.0.1:99999'), undefined);
    assert.equal(parseAddress('127.0.0.1:123456'), undefined);
    assert.equal(parseAddress('127.0.0.1:-1'), undefined);
    assert.equal(parseAddress('127.0.0.1:8o'), undefined);
    assert.equal(parseAddress('127.0.0.1: 80'), undefined);
    assert.equal(parseAddress('[::1]:65536'), undefined);
  });

  test('rejects a bare IPv6 address: it needs brackets', () => {
    assert.equal(parseAddress('::1:80'), undefined);
    assert.equal(parseAddress('2001:db8::1:443'), undefined);
    assert.equal(parseAddress('[::1:80'), undefined);
  });

  test('rejects host names: a listener address is an IP literal', () => {
    assert.equal(parseAddress('localhost:80'), undefined);
    assert.equal(parseAddress('example.com:443'), undefined);
    assert.equal(parseAddress('[localhost]:80'), undefined);
    assert.equal(parseAddress('256.1.1.1:80'), undefined);
  });
});

describe('formatAddress', () => {
  test('brackets IPv6 and leaves IPv4 plain', () => {
    assert.equal(formatAddress('127.0.0.1', 80), '127.0.0.1:80');
    assert.equal(formatAddress('::1', 80), '[::1]:80');
  });

  test('no IP (a unix socket peer) formats as the empty string', () => {
    assert.equal(formatAddress(undefined, undefined), '');
    assert.equal(formatAddress('', 0), '');
  });

  test('round-trips through parseAddress', () => {
    for (const address of ['127.0.0.1:1', '[::1]:65535', '[2001:db8::7]:443']) {
      const parsed = parseAddress(address);
      assert.ok(parsed?.kind === 'tcp', address);
      assert.equal(formatAddress(parsed.host, parsed.port), address);
    }
  });
});

describe('normalizeIp', () => {
  test('turns IPv4-mapped IPv6 into plain IPv4 and leaves the rest alone', () => {
    assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('::1'), '::1');
    assert.equal(normalizeIp('::ffff:abcd'), '::ffff:abcd');
    assert.equal(normalizeIp(''), '');
  });
});

describe('CidrSet', () => {
  test('matches IPv4 ranges by prefix', () => {
    const set = new CidrSet([{ address: '10.0.0.0', length: 8 }, { address: '192.168.1.0', length: 24 }]);
    assert.equal(set.size, 2);
    assert.equal(set.contains('10.0.0.1'), true);
    assert.equal(set.contains('10.255.255.255'), true);
    assert.equal(set.contains('11.0.0.0'), false);
    assert.equal(set.contains('192.168.1.77'), true);
    assert.equal(set.contains('192.168.2.1'), false);
  });

  test('/32 matches exactly one address', () => {
    const set = new CidrSet([{ address: '10.1.2.3', length: 32 }]);
    assert.equal(set.contains('10.1.2.3'), true);
    assert.equal(set.contains('10.1.2.4'), false);
    assert.equal(set.contains('10.1.2.2'), false);
  });

  test('/0 matches every IPv4 address', () => {
    const set = new CidrSet([{ address: '0.0.0.0', length: 0 }]);
    for (const ip of ['0.0.0.0', '1.2.3.4', '255.255.255.255', '127.0.0.1']) assert.equal(set.contains(ip), true, ip);
  });

  test('host bits in the range address are ignored', () => {
    const set = new CidrSet([{ address: '10.1.2.3', length: 8 }]);
    assert.equal(set.contains('10.200.0.1'), true);
    assert.equal(set.contains('11.1.2.3'), false);
  });

  test('matches IPv6 ranges, /128 and ::/0', () => {
    const set = new CidrSet([{ address: '2001:db8::', length: 32 }, { address: 'fe80::1', length: 128 }]);
    assert.equal(set.contains('2001:db8::1'), true);
    assert.equal(set.contains('2001:db8:ffff::1'), true);
    assert.equal(set.contains('2001:db9::1'), false);
    assert.equal(set.contains('fe80::1'), true);
    assert.equal(set.contains('fe80::2'), false);
    const all = new CidrSet([{ address: '::', length: 0 }]);
    assert.equal(all.contains('::1'), true);
    assert.equal(all.contains('2001:db8::1'), true);
  });

  test('an IPv4 range does not match IPv6 addresses, and the other way round', () => {
    assert.equal(new CidrSet([{ address: '0.0.0.0', length: 0 }]).contains('::1'), false);
    assert.equal(new CidrSet([{ address: '2001:db8::', length: 32 }]).contains('32.1.13.184'), false);
  });

  test('an IPv4-mapped IPv6 peer ("::ffff:127.0.0.1") matches the IPv4 range', () => {
    const set = new CidrSet([{ address: '127.0.0.0', length: 8 }]);
    assert.equal(set.contains('::ffff:127.0.0.1'), true);
    assert.equal(set.contains('::ffff:128.0.0.1'), false);
  });

  test('an empty set matches nothing; a non-IP never matches', () => {
    const empty = new CidrSet([]);
    assert.equal(empty.size, 0);
    assert.equal(empty.contains('127.0.0.1'), false);
    assert.equal(empty.contains('::1'), false);
    assert.equal(new CidrSet([{ address: '0.0.0.0', length: 0 }]).contains('localhost'), false);
    assert.equal(new CidrSet([{ address: '0.0.0.0', length: 0 }]).contains(''), false);
  });

  test('throws on a prefix length out of range for the family', () => {
    const bad: Array<[string, number]> = [
      ['10.0.0.0', 33],
      ['10.0.0.0', -1],
      ['10.0.0.0', 8.5],
      ['10.0.0.0', Number.NaN],
      ['::', 129],
      ['::', -1],
    ];
    for (const [address, length] of bad) {
      assert.throws(() => new CidrSet([{ address, length }]), /out of range/, `${address}/${length}`);
    }
    // 33..128 are fine for IPv6.
    assert.equal(new CidrSet([{ address: '::', length: 64 }]).size, 1);
  });

  test('throws on an address that is not an IP', () => {
    assert.throws(() => new CidrSet([{ address: 'example.com', length: 8 }]), /"example.com" is not an IP address/);
    assert.throws(() => new CidrSet([{ address: '10.0.0.0/8', length: 8 }]), /not an IP address/);
  });
});

describe('PortRanges', () => {
  test('single ports, lists and inclusive ranges', () => {
    const ranges = new PortRanges('80, 443,8000-9000');
    assert.equal(ranges.size, 3);
    for (const port of [80, 443, 8000, 8500, 9000]) assert.equal(ranges.contains(port), true, String(port));
    for (const port of [0, 79, 81, 442, 7999, 9001, 65535]) assert.equal(ranges.contains(port), false, String(port));
  });

  test('a one-port range and the full range', () => {
    assert.equal(new PortRanges('22-22').contains(22), true);
    assert.equal(new PortRanges('22-22').contains(23), false);
    const all = new PortRanges('0-65535');
    assert.equal(all.contains(0), true);
    assert.equal(all.contains(65535), true);
  });

  test('an empty spec (or only separators) holds nothing', () => {
    for (const spec of ['', ' ', ',', ' , ,']) {
      const ranges = new PortRanges(spec);
      assert.equal(ranges.size, 0, JSON.stringify(spec));
      assert.equal(ranges.contains(80), false);
    }
  });

  test('throws on bad parts, naming the part', () => {
    assert.throws(() => new PortRanges('80,http'), /"http" is not a port or port range/);
    assert.throws(() => new PortRanges('80-'), /"80-" is not a port or port range/);
    assert.throws(() => new PortRanges('-80'), /is not a port or port range/);
    assert.throws(() => new PortRanges('1-2-3'), /is not a port or port range/);
    assert.throws(() => new PortRanges('123456'), /is not a port or port range/);
    assert.throws(() => new PortRanges('65536'), /"65536" is not a valid port range/);
    assert.throws(() => new PortRanges('9000-8000'), /"9000-8000" is not a valid port range/);
    assert.throws(() => new PortRanges('1-70000'), /not a valid port range/);
  });
});

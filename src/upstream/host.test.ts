import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isMosnError } from '../core/errors.ts';
import type { HostConfig } from '../config/types.ts';
import { Host, currentHealthEpoch, parseHostAddress } from './host.ts';

function hostConfig(overrides: Partial<HostConfig> = {}): HostConfig {
  return { address: '127.0.0.1:8080', hostname: undefined, weight: 1, metadata: {}, ...overrides };
}

describe('parseHostAddress', () => {
  test('parses IPv4, bracketed IPv6 and host names', () => {
    assert.deepEqual(parseHostAddress('127.0.0.1:8080'), { ip: '127.0.0.1', port: 8080, family: 4 });
    assert.deepEqual(parseHostAddress('[::1]:80'), { ip: '::1', port: 80, family: 6 });
    assert.deepEqual(parseHostAddress('[fe80::1:2]:65535'), { ip: 'fe80::1:2', port: 65535, family: 6 });
    assert.deepEqual(parseHostAddress('backend.local:9000'), { ip: 'backend.local', port: 9000, family: 0 });
  });

  test('returns a reason for what is not "ip:port"', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:', ':80', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:8o', '::1:80',
      '[::1]80', '[::1', '[127.0.0.1]:80', 'bad host:80', '127.0.0.1:+80']) {
      assert.equal(typeof parseHostAddress(bad), 'string', bad);
    }
  });
});

describe('Host', () => {
  test('keeps its config and the parsed address', () => {
    const host = new Host(hostConfig({ address: '[::1]:9000', hostname: 'h', weight: 7, metadata: { zone: 'a' } }));
    assert.equal(host.address, '[::1]:9000');
    assert.equal(host.ip, '::1');
    assert.equal(host.port, 9000);
    assert.equal(host.family, 6);
    assert.equal(host.hostname, 'h');
    assert.equal(host.weight, 7);
    assert.deepEqual(host.metadata, { zone: 'a' });
    assert.equal(host.healthy, true);
  });

  test('rejects a bad address or weight, naming the path', () => {
    assert.throws(
      () => new Host(hostConfig({ address: 'nope' }), 'clusters[0].hosts[1]'),
      (err) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith('clusters[0].hosts[1].address: '),
    );
    for (const weight of [0, 129, 1.5, Number.NaN]) {
      assert.throws(
        () => new Host(hostConfig({ weight }), 'h'),
        (err) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith('h.weight: '),
      );
    }
  });

  test('counts requests and connections, never below zero', () => {
    const host = new Host(hostConfig());
    host.onRequestStart();
    host.onRequestStart();
    host.onConnectionOpen();
    assert.equal(host.activeRequests, 2);
    assert.equal(host.activeConnections, 1);
    host.onRequestEnd();
    host.onRequestEnd();
    host.onRequestEnd();
    host.onConnectionClose();
    host.onConnectionClose();
    assert.equal(host.activeRequests, 0);
    assert.equal(host.activeConnections, 0);
  });

  test('a health flip moves the health epoch; setting the same value does not', () => {
    const host = new Host(hostConfig());
    const before = currentHealthEpoch();
    host.healthy = true;
    assert.equal(currentHealthEpoch(), before);
    host.healthy = false;
    assert.equal(host.healthy, false);
    assert.notEqual(currentHealthEpoch(), before);
  });

  test('matchesConfig compares address, hostname, weight and metadata', () => {
    const host = new Host(hostConfig({ metadata: { a: 1 } }));
    assert.equal(host.matchesConfig(hostConfig({ metadata: { a: 1 } })), true);
    assert.equal(host.matchesConfig(hostConfig({ metadata: { a: 2 } })), false);
    assert.equal(host.matchesConfig(hostConfig({ weight: 2, metadata: { a: 1 } })), false);
    assert.equal(host.matchesConfig(hostConfig({ address: '127.0.0.1:8081', metadata: { a: 1 } })), false);
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseTcpProxyConfig, selectCluster } from './tcp-proxy-config.ts';
import type { TcpProxyConfig } from './tcp-proxy-config.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';

const PATH = 'servers[0].listeners[0].filter_chains[0].filters[0].config';
const CLUSTERS = new Set(['c1', 'c2', 'c3']);
const exists = (name: string): boolean => CLUSTERS.has(name);

function parse(raw: unknown): TcpProxyConfig {
  return parseTcpProxyConfig(raw, PATH, exists);
}

const assertRejected = (raw: unknown, where: string, detail?: RegExp): void => assertFilterConfigError(() => parse(raw), where, detail);

const remote = (ip: string, port = 40000): { ip: string; port: number } => ({ ip, port });
const local = (ip: string, port = 2046): { ip: string; port: number } => ({ ip, port });

describe('parseTcpProxyConfig', () => {
  test('a cluster alone, with the defaults', () => {
    const c = parse({ cluster: 'c1' });
    assert.equal(c.cluster, 'c1');
    assert.deepEqual(c.routes, []);
    assert.equal(c.idleTimeoutMs, undefined);
    assert.equal(c.maxConnectAttempts, 1);
  });

  test('keys match case-insensitively, as Go encoding/json does', () => {
    const c = parse({ Cluster: 'c2', IDLE_TIMEOUT: '2s', Max_Connect_Attempts: 3 });
    assert.equal(c.cluster, 'c2');
    assert.equal(c.idleTimeoutMs, 2000);
    assert.equal(c.maxConnectAttempts, 3);
  });

  test('routes with CIDRs and port ranges', () => {
    const c = parse({
      routes: [
        {
          cluster: 'c1',
          source_addrs: [{ address: '10.0.0.0', length: 8 }, { address: '192.168.1.7' }],
          destination_addrs: [{ address: '127.0.0.1', length: 32 }],
          source_port: '1000-2000,3000',
          destination_port: '2046',
        },
        { Cluster: 'c2', Source_Addrs: [{ Address: '::1', Length: 128 }] },
      ],
    });
    assert.equal(c.cluster, undefined);
    assert.equal(c.routes.length, 2);
    const [r0, r1] = c.routes;
    assert.ok(r0 && r1);
    assert.equal(r0.cluster, 'c1');
    assert.equal(r0.sourceAddrs.size, 2);
    assert.equal(r0.sourceAddrs.contains('10.255.1.2'), true);
    assert.equal(r0.sourceAddrs.contains('11.0.0.1'), false);
    // No length means a single host (/32).
    assert.equal(r0.sourceAddrs.contains('192.168.1.7'), true);
    assert.equal(r0.sourceAddrs.contains('192.168.1.8'), false);
    assert.equal(r0.destinationAddrs.contains('127.0.0.1'), true);
    assert.equal(r0.sourcePorts.size, 2);
    assert.equal(r0.sourcePorts.contains(1000), true);
    assert.equal(r0.sourcePorts.contains(2000), true);
    assert.equal(r0.sourcePorts.contains(2001), false);
    assert.equal(r0.sourcePorts.contains(3000), true);
    assert.equal(r0.destinationPorts.contains(2046), true);
    assert.equal(r0.destinationPorts.contains(2047), false);
    assert.equal(r1.cluster, 'c2');
    assert.equal(r1.sourceAddrs.contains('::1'), true);
    assert.equal(r1.destinationAddrs.size, 0);
    assert.equal(r1.sourcePorts.size, 0);
    assert.equal(r1.destinationPorts.size, 0);
  });

  test('an IPv6 address with no length is a single host (/128)', () => {
    const [r] = parse({ routes: [{ cluster: 'c1', source_addrs: [{ address: '2001:db8::1' }] }] }).routes;
    assert.ok(r);
    assert.equal(r.sourceAddrs.contains('2001:db8::1'), true);
    assert.equal(r.sourceAddrs.contains('2001:db8::2'), false);
  });

  test('idle_timeout is a Go duration or nanoseconds, in ms; "0s" means none', () => {
    assert.equal(parse({ cluster: 'c1', idle_timeout: '1m30s' }).idleTimeoutMs, 90_000);
    assert.equal(parse({ cluster: 'c1', idle_timeout: '500ms' }).idleTimeoutMs, 500);
    assert.equal(parse({ cluster: 'c1', idle_timeout: 2_000_000_000 }).idleTimeoutMs, 2000);
    assert.equal(parse({ cluster: 'c1', idle_timeout: '0s' }).idleTimeoutMs, undefined);
    assert.equal(parse({ cluster: 'c1', idle_timeout: '' }).idleTimeoutMs, undefined);
  });

  test('max_connect_attempts accepts 1..100', () => {
    assert.equal(parse({ cluster: 'c1', max_connect_attempts: 1 }).maxConnectAttempts, 1);
    assert.equal(parse({ cluster: 'c1', max_connect_attempts: 100 }).maxConnectAttempts, 100);
  });

  test('"cluster": "" counts as no cluster', () => {
    assertRejected({ cluster: '' }, PATH, /"cluster" or at least one entry in "routes"/);
    assert.equal(parse({ cluster: '', routes: [{ cluster: 'c3' }] }).cluster, undefined);
  });

  test('unknown keys are reported to warn with their JSON path, then ignored', () => {
    const warnings: string[] = [];
    const c = parseTcpProxyConfig(
      { cluster: 'c1', stat_prefix: 'x', colour: 'red', routes: [{ cluster: 'c2', weight: 3 }] },
      PATH,
      exists,
      (m) => warnings.push(m),
    );
    assert.equal(c.cluster, 'c1');
    assert.deepEqual(warnings, [`${PATH}.colour: unknown key, ignored`, `${PATH}.routes[0].weight: unknown key, ignored`]);
  });
});

describe('parseTcpProxyConfig errors name the JSON path', () => {
  test('no cluster and no routes', () => {
    assertRejected({}, PATH, /"cluster" or at least one entry in "routes"/);
    assertRejected(undefined, PATH);
    assertRejected({ routes: [] }, PATH);
  });

  test('the config is not an object', () => {
    assertRejected('c1', PATH, /an object/);
    assertRejected([{ cluster: 'c1' }], PATH, /an object/);
  });

  test('an unknown cluster', () => {
    assertRejected({ cluster: 'nope' }, `${PATH}.cluster`, /got "nope"/);
    assertRejected({ routes: [{ cluster: 'c1' }, { cluster: 'gone' }] }, `${PATH}.routes[1].cluster`, /got "gone"/);
  });

  test('a route without a cluster', () => {
    assertRejected({ routes: [{ source_port: '80' }] }, `${PATH}.routes[0].cluster`);
  });

  test('wrong value types', () => {
    assertRejected({ cluster: 7 }, `${PATH}.cluster`, /a string/);
    assertRejected({ routes: { cluster: 'c1' } }, `${PATH}.routes`, /an array/);
    assertRejected({ routes: ['c1'] }, `${PATH}.routes[0]`, /an object/);
    assertRejected({ routes: [{ cluster: 'c1', source_port: 80 }] }, `${PATH}.routes[0].source_port`, /a string/);
  });

  test('a bad CIDR', () => {
    assertRejected({ routes: [{ cluster: 'c1', source_addrs: [{ address: 'not-an-ip', length: 8 }] }] }, `${PATH}.routes[0].source_addrs`);
    assertRejected({ routes: [{ cluster: 'c1', destination_addrs: [{ address: '10.0.0.0', length: 33 }] }] }, `${PATH}.routes[0].destination_addrs`);
    assertRejected({ routes: [{ cluster: 'c1', source_addrs: [{ address: '10.0.0.0', length: 129 }] }] }, `${PATH}.routes[0].source_addrs[0].length`);
    assertRejected({ routes: [{ cluster: 'c1', source_addrs: [{ address: '10.0.0.0', length: -1 }] }] }, `${PATH}.routes[0].source_addrs[0].length`);
    assertRejected({ routes: [{ cluster: 'c1', source_addrs: [{ length: 8 }] }] }, `${PATH}.routes[0].source_addrs[0].address`);
    assertRejected({ routes: [{ cluster: 'c1', source_addrs: ['10.0.0.0/8'] }] }, `${PATH}.routes[0].source_addrs[0]`);
  });

  test('a bad port range', () => {
    assertRejected({ routes: [{ cluster: 'c1', source_port: '2000-1000' }] }, `${PATH}.routes[0].source_port`);
    assertRejected({ routes: [{ cluster: 'c1', destination_port: '70000' }] }, `${PATH}.routes[0].destination_port`);
    assertRejected({ routes: [{ cluster: 'c1', destination_port: 'http' }] }, `${PATH}.routes[0].destination_port`);
    assertRejected({ routes: [{ cluster: 'c1', destination_port: '80-' }] }, `${PATH}.routes[0].destination_port`);
  });

  test('a bad idle_timeout', () => {
    assertRejected({ cluster: 'c1', idle_timeout: '30' }, `${PATH}.idle_timeout`);
    assertRejected({ cluster: 'c1', idle_timeout: 'soon' }, `${PATH}.idle_timeout`);
    assertRejected({ cluster: 'c1', idle_timeout: true }, `${PATH}.idle_timeout`);
  });

  test('a negative idle_timeout is rejected (socket.setTimeout would throw on every connection)', () => {
    assertRejected({ cluster: 'c1', idle_timeout: '-1s' }, `${PATH}.idle_timeout`);
  });

  test('max_connect_attempts out of 1..100 or not an integer', () => {
    assertRejected({ cluster: 'c1', max_connect_attempts: 0 }, `${PATH}.max_connect_attempts`, /1\.\.100/);
    assertRejected({ cluster: 'c1', max_connect_attempts: 101 }, `${PATH}.max_connect_attempts`);
    assertRejected({ cluster: 'c1', max_connect_attempts: 1.5 }, `${PATH}.max_connect_attempts`);
    assertRejected({ cluster: 'c1', max_connect_attempts: '3' }, `${PATH}.max_connect_attempts`);
  });

  test('the JSON path uses the canonical key even when the config spells it otherwise', () => {
    assertRejected({ Cluster: 'nope' }, `${PATH}.cluster`);
    assertRejected({ cluster: 'c1', Max_Connect_Attempts: 0 }, `${PATH}.max_connect_attempts`);
  });
});

describe('selectCluster', () => {
  test('a configured cluster wins over routes', () => {
    const c = parse({ cluster: 'c1', routes: [{ cluster: 'c2' }] });
    assert.equal(selectCluster(c, remote('10.0.0.1'), local('127.0.0.1')), 'c1');
  });

  test('the first matching route wins', () => {
    const c = parse({
      routes: [
        { cluster: 'c1', source_addrs: [{ address: '10.0.0.0', length: 8 }] },
        { cluster: 'c2', source_addrs: [{ address: '10.1.0.0', length: 16 }] },
        { cluster: 'c3' },
      ],
    });
    assert.equal(selectCluster(c, remote('10.1.2.3'), local('127.0.0.1')), 'c1');
    assert.equal(selectCluster(c, remote('172.16.0.1'), local('127.0.0.1')), 'c3');
  });

  test('a route with every matcher empty matches any connection', () => {
    const c = parse({ routes: [{ cluster: 'c2', source_addrs: [], destination_addrs: [], source_port: '', destination_port: '' }] });
    assert.equal(selectCluster(c, remote('203.0.113.9', 1), local('::1', 65535)), 'c2');
  });

  test('every non-empty matcher must hold', () => {
    const c = parse({
      routes: [
        {
          cluster: 'c1',
          source_addrs: [{ address: '10.0.0.0', length: 8 }],
          source_port: '40000-40010',
          destination_addrs: [{ address: '127.0.0.1', length: 32 }],
          destination_port: '2046',
        },
      ],
    });
    assert.equal(selectCluster(c, remote('10.0.0.1', 40005), local('127.0.0.1', 2046)), 'c1');
    assert.equal(selectCluster(c, remote('11.0.0.1', 40005), local('127.0.0.1', 2046)), undefined);
    assert.equal(selectCluster(c, remote('10.0.0.1', 40011), local('127.0.0.1', 2046)), undefined);
    assert.equal(selectCluster(c, remote('10.0.0.1', 40005), local('127.0.0.2', 2046)), undefined);
    assert.equal(selectCluster(c, remote('10.0.0.1', 40005), local('127.0.0.1', 2047)), undefined);
  });

  test('an IPv4-mapped IPv6 address matches an IPv4 CIDR', () => {
    const c = parse({ routes: [{ cluster: 'c1', source_addrs: [{ address: '127.0.0.0', length: 8 }], destination_addrs: [{ address: '127.0.0.1', length: 32 }] }] });
    assert.equal(selectCluster(c, remote('::ffff:127.0.0.1'), local('::ffff:127.0.0.1')), 'c1');
    assert.equal(selectCluster(c, remote('::ffff:10.0.0.1'), local('::ffff:127.0.0.1')), undefined);
  });

  test('no matching route gives undefined', () => {
    const c = parse({ routes: [{ cluster: 'c1', destination_port: '9000-9100' }] });
    assert.equal(selectCluster(c, remote('127.0.0.1'), local('127.0.0.1', 8999)), undefined);
    assert.equal(selectCluster(c, remote('127.0.0.1'), local('127.0.0.1', 9100)), 'c1');
  });
});

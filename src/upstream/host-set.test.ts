import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from './host.ts';
import { HostSet } from './host-set.ts';

function makeHosts(count: number): Host[] {
  return Array.from({ length: count }, (_, i) => new Host({ address: `127.0.0.${i + 1}:80`, hostname: undefined, weight: 1, metadata: {} }));
}

describe('HostSet', () => {
  test('candidates are the healthy hosts; the version moves when they change', () => {
    const hosts = makeHosts(3);
    const [a, b, c] = hosts as [Host, Host, Host];
    const hostSet = new HostSet(hosts);
    const v0 = hostSet.version;
    assert.deepEqual(hostSet.candidates, hosts);
    assert.equal(hostSet.version, v0, 'reading does not move it');
    b.healthy = false;
    assert.deepEqual(hostSet.candidates, [a, c]);
    assert.deepEqual(hostSet.healthyHosts, [a, c]);
    assert.notEqual(hostSet.version, v0);
    assert.equal(hostSet.panic, false);
  });

  test('a health flip of a host outside the set does not move the version', () => {
    const hostSet = new HostSet(makeHosts(2));
    const [stranger] = makeHosts(1) as [Host];
    const v0 = hostSet.version;
    stranger.healthy = false;
    assert.equal(hostSet.version, v0);
  });

  test('panic mode: no healthy host makes every host a candidate', () => {
    const hosts = makeHosts(2);
    const hostSet = new HostSet(hosts);
    for (const host of hosts) host.healthy = false;
    assert.equal(hostSet.panic, true);
    assert.deepEqual(hostSet.candidates, hosts);
    assert.deepEqual(hostSet.healthyHosts, []);
  });

  test('an empty set is not in panic and has no candidates', () => {
    const hostSet = new HostSet();
    assert.equal(hostSet.panic, false);
    assert.deepEqual(hostSet.candidates, []);
  });

  test('setHosts replaces the list, moves the version, and copies the array', () => {
    const hosts = makeHosts(3);
    const hostSet = new HostSet(hosts.slice(0, 1));
    const v0 = hostSet.version;
    const next = hosts.slice(1);
    hostSet.setHosts(next);
    next.push(hosts[0] as Host);
    assert.deepEqual(hostSet.hosts, hosts.slice(1));
    assert.notEqual(hostSet.version, v0);
    assert.ok(Object.isFrozen(hostSet.hosts));
  });
});

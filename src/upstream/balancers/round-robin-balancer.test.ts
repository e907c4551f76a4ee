import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../host.ts';
import { HostSet } from '../host-set.ts';
import { RoundRobinBalancer } from './round-robin-balancer.ts';
import { seededRandom } from './seeded-random.ts';

function makeHosts(count: number): Host[] {
  return Array.from({ length: count }, (_, i) => new Host({ address: `127.0.0.${i + 1}:80`, hostname: undefined, weight: 1 + i, metadata: {} }));
}

function picks(balancer: RoundRobinBalancer, count: number): Host[] {
  return Array.from({ length: count }, () => balancer.chooseHost() as Host);
}

describe('RoundRobinBalancer', () => {
  test('cycles in config order from the random start, ignoring weights', () => {
    const hosts = makeHosts(3);
    const [a, b, c] = hosts as [Host, Host, Host];
    assert.deepEqual(picks(new RoundRobinBalancer(new HostSet(hosts), { random: () => 0 }), 7), [a, b, c, a, b, c, a]);
    assert.deepEqual(picks(new RoundRobinBalancer(new HostSet(hosts), { random: () => 0.5 }), 4), [b, c, a, b]);
  });

  test('every window of n picks holds each host exactly once, whatever the start', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const hosts = makeHosts(5);
      const sequence = picks(new RoundRobinBalancer(new HostSet(hosts), { random: seededRandom(seed) }), 50);
      for (let start = 0; start + 5 <= sequence.length; start++) {
        assert.equal(new Set(sequence.slice(start, start + 5)).size, 5);
      }
    }
  });

  test('an unhealthy host drops out of the cycle without restarting it', () => {
    const hosts = makeHosts(4);
    const [a, b, c, d] = hosts as [Host, Host, Host, Host];
    const balancer = new RoundRobinBalancer(new HostSet(hosts), { random: () => 0 });
    assert.deepEqual(picks(balancer, 2), [a, b]);
    c.healthy = false;
    assert.deepEqual(picks(balancer, 6), [d, a, b, d, a, b]);
  });

  test('an excluded host is skipped and the cycle goes on after the chosen one', () => {
    const hosts = makeHosts(3);
    const [a, b, c] = hosts as [Host, Host, Host];
    const balancer = new RoundRobinBalancer(new HostSet(hosts), { random: () => 0 });
    assert.equal(balancer.chooseHost({ excludeHosts: new Set([a]) }), b);
    assert.deepEqual(picks(balancer, 3), [c, a, b]);
    // All excluded: the host whose turn it was, and the cycle still moves on.
    assert.equal(balancer.chooseHost({ excludeHosts: new Set(hosts) }), c);
    assert.equal(balancer.chooseHost(), a);
  });
});

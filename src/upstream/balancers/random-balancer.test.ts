import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../host.ts';
import { HostSet } from '../host-set.ts';
import { RandomBalancer } from './random-balancer.ts';
import { seededRandom } from './seeded-random.ts';

function makeHosts(weights: readonly number[]): Host[] {
  return weights.map((weight, i) => new Host({ address: `127.0.0.${i + 1}:80`, hostname: undefined, weight, metadata: {} }));
}

function shares(balancer: RandomBalancer, hosts: readonly Host[], picks: number, excludeHosts?: Set<Host>): number[] {
  const counts = new Map<Host, number>();
  for (let i = 0; i < picks; i++) {
    const host = balancer.chooseHost(excludeHosts === undefined ? undefined : { excludeHosts }) as Host;
    counts.set(host, (counts.get(host) ?? 0) + 1);
  }
  return hosts.map((host) => (counts.get(host) ?? 0) / picks);
}

describe('RandomBalancer', () => {
  test('draws uniformly, ignoring weights (as MOSN)', () => {
    const hosts = makeHosts([1, 10, 100]);
    const observed = shares(new RandomBalancer(new HostSet(hosts), { random: seededRandom(42) }), hosts, 60_000);
    for (const share of observed) assert.ok(Math.abs(share - 1 / 3) < 0.01, `share ${share} is not about 1/3`);
  });

  test('stays uniform over the others when one host is excluded', () => {
    const hosts = makeHosts([1, 1, 1, 1]);
    const observed = shares(new RandomBalancer(new HostSet(hosts), { random: seededRandom(7) }), hosts, 60_000, new Set([hosts[1] as Host]));
    assert.equal(observed[1], 0);
    for (const share of [observed[0], observed[2], observed[3]]) {
      assert.ok(Math.abs((share as number) - 1 / 3) < 0.01, `share ${share} is not about 1/3`);
    }
  });

  test('the same seed gives the same picks', () => {
    const hosts = makeHosts([1, 1, 1, 1, 1]);
    const run = (): Host[] => {
      const balancer = new RandomBalancer(new HostSet(hosts), { random: seededRandom(99) });
      return Array.from({ length: 50 }, () => balancer.chooseHost() as Host);
    };
    assert.deepEqual(run(), run());
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../host.ts';
import { HostSet } from '../host-set.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin-balancer.ts';
import { seededRandom } from './seeded-random.ts';

function makeHosts(weights: readonly number[]): Host[] {
  return weights.map((weight, i) => new Host({ address: `127.0.0.${i + 1}:80`, hostname: undefined, weight, metadata: {} }));
}

function picks(balancer: WeightedRoundRobinBalancer, count: number): Host[] {
  return Array.from({ length: count }, () => balancer.chooseHost() as Host);
}

function names(hosts: readonly Host[], sequence: readonly Host[]): string {
  return sequence.map((host) => 'ABCDEFGHIJ'[hosts.indexOf(host)]).join('');
}

/** Asserts that every window of sum(weights) consecutive picks holds exactly `weight` picks of each host. */
function assertExactWindows(hosts: readonly Host[], sequence: readonly Host[]): void {
  const cycle = hosts.reduce((sum, host) => sum + host.weight, 0);
  const counts = new Map<Host, number>();
  for (let i = 0; i < sequence.length; i++) {
    const entering = sequence[i] as Host;
    counts.set(entering, (counts.get(entering) ?? 0) + 1);
    if (i >= cycle) {
      const leaving = sequence[i - cycle] as Host;
      counts.set(leaving, (counts.get(leaving) ?? 0) - 1);
    }
    if (i >= cycle - 1) {
      for (const host of hosts) assert.equal(counts.get(host) ?? 0, host.weight, `window ending at pick ${i}`);
    }
  }
}

function longestRun(sequence: readonly Host[], host: Host): number {
  let longest = 0;
  let current = 0;
  for (const picked of sequence) {
    current = picked === host ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

describe('WeightedRoundRobinBalancer', () => {
  test('weights 5,1,1: exact 5:1:1 in every window of 7, and the heavy host never runs more than 3', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const hosts = makeHosts([5, 1, 1]);
      const sequence = picks(new WeightedRoundRobinBalancer(new HostSet(hosts), { random: seededRandom(seed) }), 700);
      assertExactWindows(hosts, sequence);
      // 5 picks among 2 others in a cycle cannot do better than runs of ceil(5 / 2) = 3.
      assert.equal(longestRun(sequence, hosts[0] as Host), 3);
    }
  });

  test('the schedule is interleaved, not grouped', () => {
    const hosts = makeHosts([5, 1, 1]);
    const balancer = new WeightedRoundRobinBalancer(new HostSet(hosts), { random: () => 0 });
    assert.equal(names(hosts, picks(balancer, 14)), 'AAABAACAAABAAC');
    const heavyLast = makeHosts([1, 1, 5]);
    assert.equal(names(heavyLast, picks(new WeightedRoundRobinBalancer(new HostSet(heavyLast), { random: () => 0 }), 14)), 'ACCBCCCACCBCCC');
  });

  test('equal weights give plain round robin', () => {
    const hosts = makeHosts([3, 3, 3]);
    const balancer = new WeightedRoundRobinBalancer(new HostSet(hosts), { random: () => 0 });
    assert.equal(names(hosts, picks(balancer, 9)), 'ABCABCABC');
  });

  test('random weight sets stay exact over every window, and runs stay within 1.5x the ideal + 2', () => {
    const random = seededRandom(2024);
    for (let round = 0; round < 40; round++) {
      const count = 2 + Math.floor(random() * 9);
      const weights = Array.from({ length: count }, () => 1 + Math.floor(random() * 128));
      const hosts = makeHosts(weights);
      const cycle = weights.reduce((sum, weight) => sum + weight, 0);
      const sequence = picks(new WeightedRoundRobinBalancer(new HostSet(hosts), { random: seededRandom(round) }), 3 * cycle);
      assertExactWindows(hosts, sequence);
      for (const host of hosts) {
        const others = cycle - host.weight;
        const ideal = Math.ceil(host.weight / Math.max(1, others));
        // Perfect spacing is not promised (it is a hard problem); a naive EDF start runs up to the whole weight.
        const longest = longestRun(sequence, host);
        assert.ok(longest <= 1.5 * ideal + 2, `weights ${weights.join(',')}: run of ${longest} for weight ${host.weight}`);
      }
    }
  });

  test('an excluded host keeps its turn for the next pick', () => {
    const hosts = makeHosts([1, 1, 1]);
    const [a, b, c] = hosts as [Host, Host, Host];
    const balancer = new WeightedRoundRobinBalancer(new HostSet(hosts), { random: () => 0 });
    assert.equal(balancer.chooseHost({ excludeHosts: new Set([a]) }), b);
    assert.deepEqual(picks(balancer, 5), [a, c, a, b, c]);
  });

  test('stays exact across the internal counter rebase (more than 2^20 picks of one host)', () => {
    const hosts = makeHosts([2, 1]);
    const balancer = new WeightedRoundRobinBalancer(new HostSet(hosts), { random: () => 0 });
    const total = 3 * (2 ** 20 / 2 + 10);
    let heavy = 0;
    for (let i = 0; i < total; i++) if (balancer.chooseHost() === hosts[0]) heavy++;
    assert.equal(heavy, (total / 3) * 2);
    assertExactWindows(hosts, picks(balancer, 30));
  });

  test('rebuilds over the healthy hosts, exact among them', () => {
    const hosts = makeHosts([4, 2, 1]);
    const balancer = new WeightedRoundRobinBalancer(new HostSet(hosts), { random: seededRandom(3) });
    picks(balancer, 5);
    (hosts[1] as Host).healthy = false;
    const survivors = [hosts[0] as Host, hosts[2] as Host];
    assertExactWindows(survivors, picks(balancer, 50));
  });
});

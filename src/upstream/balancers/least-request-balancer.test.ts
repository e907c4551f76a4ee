import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isMosnError } from '../../core/errors.ts';
import { Host } from '../host.ts';
import { HostSet } from '../host-set.ts';
import { LeastRequestBalancer } from './least-request-balancer.ts';
import { seededRandom } from './seeded-random.ts';

function makeHosts(weights: readonly number[]): Host[] {
  return weights.map((weight, i) => new Host({ address: `127.0.0.${i + 1}:80`, hostname: undefined, weight, metadata: {} }));
}

/** A random source that replays the given values, then repeats the last one. */
function replay(...values: number[]): () => number {
  let next = 0;
  return () => values[Math.min(next++, values.length - 1)] as number;
}

function startRequests(host: Host, count: number): void {
  for (let i = 0; i < count; i++) host.onRequestStart();
}

function countPicks(balancer: LeastRequestBalancer, hosts: readonly Host[], picks: number): number[] {
  const counts = hosts.map(() => 0);
  for (let i = 0; i < picks; i++) {
    const index = hosts.indexOf(balancer.chooseHost() as Host);
    counts[index] = (counts[index] as number) + 1;
  }
  return counts;
}

describe('LeastRequestBalancer', () => {
  test('of the two drawn hosts, takes the one with fewer requests in flight', () => {
    const hosts = makeHosts([1, 1, 1]);
    const [a, b, c] = hosts as [Host, Host, Host];
    startRequests(a, 5);
    startRequests(b, 1);
    // Draws a (index 0) then b (index 1): b is less loaded.
    assert.equal(new LeastRequestBalancer(new HostSet(hosts), { random: replay(0.1, 0.4) }).chooseHost(), b);
    // Draws b then c: c is idle.
    assert.equal(new LeastRequestBalancer(new HostSet(hosts), { random: replay(0.4, 0.9) }).chooseHost(), c);
    // A tie goes to the first drawn.
    startRequests(c, 1);
    assert.equal(new LeastRequestBalancer(new HostSet(hosts), { random: replay(0.9, 0.4) }).chooseHost(), c);
  });

  test('with more choices, the least loaded of all drawn wins', () => {
    const hosts = makeHosts([1, 1, 1, 1]);
    hosts.forEach((host, i) => startRequests(host, 10 - i));
    const balancer = new LeastRequestBalancer(new HostSet(hosts), { choiceCount: 4, random: replay(0, 0.3, 0.8, 0.6) });
    assert.equal(balancer.chooseHost(), hosts[3]);
  });

  test('a loaded host gets only the picks where it is drawn every time', () => {
    const hosts = makeHosts([1, 1, 1]);
    startRequests(hosts[0] as Host, 10);
    const counts = countPicks(new LeastRequestBalancer(new HostSet(hosts), { random: seededRandom(5) }), hosts, 90_000);
    // Chosen only when both draws hit it: 1/9 of the picks.
    assert.ok(Math.abs((counts[0] as number) / 90_000 - 1 / 9) < 0.01, `loaded host share ${counts[0]}`);
  });

  test('unequal weights: idle hosts are drawn in proportion to weight', () => {
    const hosts = makeHosts([3, 1]);
    // With one choice the draw decides alone: 3:1.
    const counts = countPicks(new LeastRequestBalancer(new HostSet(hosts), { choiceCount: 1, random: seededRandom(6) }), hosts, 40_000);
    assert.ok(Math.abs((counts[0] as number) / 40_000 - 0.75) < 0.01, `heavy host share ${counts[0]}`);
  });

  test('unequal weights: draws follow the weights exactly in expectation (alias table)', () => {
    const weights = [5, 1, 3, 2, 128, 7];
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    const hosts = makeHosts(weights);
    const picks = 200_000;
    const counts = countPicks(new LeastRequestBalancer(new HostSet(hosts), { choiceCount: 1, random: seededRandom(11) }), hosts, picks);
    weights.forEach((weight, i) => {
      const share = (counts[i] as number) / picks;
      assert.ok(Math.abs(share - weight / total) < 0.005, `weight ${weight}: share ${share}, expected ${weight / total}`);
    });
  });

  test('unequal weights: load is compared per unit of weight', () => {
    const hosts = makeHosts([4, 1]);
    const [heavy, light] = hosts as [Host, Host];
    // Alias table for 4,1: slot 1 keeps the light host with probability 0.4, so 0.6 draws
    // the light host and 0.1 the heavy one.
    startRequests(heavy, 6); // (6 + 1) / 4 = 1.75 per weight
    startRequests(light, 1); // (1 + 1) / 1 = 2 per weight
    assert.equal(new LeastRequestBalancer(new HostSet(hosts), { random: replay(0.6, 0.1) }).chooseHost(), heavy);
    startRequests(heavy, 2); // (8 + 1) / 4 = 2.25
    assert.equal(new LeastRequestBalancer(new HostSet(hosts), { random: replay(0.6, 0.1) }).chooseHost(), light);
  });

  test('choice_count: 0 means the default (Go zero value), bad values are rejected', () => {
    const hostSet = new HostSet(makeHosts([1, 1]));
    assert.ok(new LeastRequestBalancer(hostSet, { choiceCount: 0 }).chooseHost());
    for (const choiceCount of [-1, 1.5, Number.NaN]) {
      assert.throws(
        () => new LeastRequestBalancer(hostSet, { choiceCount }),
        (err) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith('lbconfig.choice_count:'),
      );
    }
  });
});

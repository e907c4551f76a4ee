/**
 * The contract every load balancer keeps, run against each built-in lb type. A new
 * balancer gets these tests by being added to SUPPORTED_LB_TYPES.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from '../host.ts';
import { HostSet } from '../host-set.ts';
import { createLoadBalancer, SUPPORTED_LB_TYPES } from './balancer-factory.ts';
import type { LoadBalancer } from './load-balancer.ts';
import { seededRandom } from './seeded-random.ts';

function makeHosts(weights: readonly number[]): Host[] {
  return weights.map(
    (weight, i) => new Host({ address: `127.0.0.${i + 1}:80`, hostname: undefined, weight, metadata: {} }),
  );
}

function pickMany(balancer: LoadBalancer, picks: number, context?: Parameters<LoadBalancer['chooseHost']>[0]): Host[] {
  const chosen: Host[] = [];
  for (let i = 0; i < picks; i++) {
    const host = balancer.chooseHost(context);
    assert.ok(host !== undefined, 'a non-empty host set always yields a host');
    chosen.push(host);
  }
  return chosen;
}

const PICKS = 600;
/** Equal and unequal weights: every rule must hold for both. */
const WEIGHT_SETS = [[1, 1, 1, 1], [5, 1, 3, 2]] as const;

for (const type of SUPPORTED_LB_TYPES) {
  describe(`load balancer contract: ${type}`, () => {
    test('returns undefined for an empty host set, with or without a context', () => {
      const balancer = createLoadBalancer(type, [], { random: seededRandom(1) });
      assert.equal(balancer.chooseHost(), undefined);
      assert.equal(balancer.chooseHost({ excludeHosts: new Set() }), undefined);
    });

    test('a single host is always chosen', () => {
      const [only] = makeHosts([3]);
      const balancer = createLoadBalancer(type, [only as Host], { random: seededRandom(2) });
      for (const host of pickMany(balancer, 20)) assert.equal(host, only);
    });

    for (const weights of WEIGHT_SETS) {
      test(`weights ${weights.join(',')}: returns only hosts of the set, and every host eventually`, () => {
        const hosts = makeHosts(weights);
        const balancer = createLoadBalancer(type, hosts, { random: seededRandom(3) });
        const seen = new Set(pickMany(balancer, PICKS));
        assert.deepEqual([...seen].sort((a, b) => a.address.localeCompare(b.address)), hosts);
      });

      test(`weights ${weights.join(',')}: skips unhealthy hosts, and takes them back when healthy`, () => {
        const hosts = makeHosts(weights);
        const balancer = createLoadBalancer(type, hosts, { random: seededRandom(4) });
        pickMany(balancer, 10);
        const [down, other] = hosts as [Host, Host];
        down.healthy = false;
        other.healthy = false;
        const seen = new Set(pickMany(balancer, PICKS));
        assert.equal(seen.has(down), false);
        assert.equal(seen.has(other), false);
        assert.equal(seen.size, hosts.length - 2);
        down.healthy = true;
        assert.ok(pickMany(balancer, PICKS).includes(down));
      });

      test(`weights ${weights.join(',')}: panic mode chooses among all hosts when none is healthy`, () => {
        const hosts = makeHosts(weights);
        const balancer = createLoadBalancer(type, hosts, { random: seededRandom(5) });
        for (const host of hosts) host.healthy = false;
        assert.equal(new Set(pickMany(balancer, PICKS)).size, hosts.length);
      });

      test(`weights ${weights.join(',')}: avoids excluded hosts while another candidate exists`, () => {
        const hosts = makeHosts(weights);
        const balancer = createLoadBalancer(type, hosts, { random: seededRandom(6) });
        const [a, b, c, d] = hosts as [Host, Host, Host, Host];
        const oneExcluded = new Set(pickMany(balancer, PICKS, { excludeHosts: new Set([a]) }));
        assert.equal(oneExcluded.has(a), false);
        assert.equal(oneExcluded.size, hosts.length - 1);
        const allButOne = pickMany(balancer, 50, { excludeHosts: new Set([a, b, c]) });
        assert.ok(allButOne.every((host) => host === d));
      });

      test(`weights ${weights.join(',')}: falls back to an excluded host when all are excluded`, () => {
        const hosts = makeHosts(weights);
        const balancer = createLoadBalancer(type, hosts, { random: seededRandom(7) });
        for (const host of pickMany(balancer, 50, { excludeHosts: new Set(hosts) })) assert.ok(hosts.includes(host));
      });

      test(`weights ${weights.join(',')}: exclusion applies among healthy hosts only`, () => {
        const hosts = makeHosts(weights);
        const balancer = createLoadBalancer(type, hosts, { random: seededRandom(8) });
        const [a, b, c, d] = hosts as [Host, Host, Host, Host];
        c.healthy = false;
        d.healthy = false;
        assert.ok(pickMany(balancer, 100, { excludeHosts: new Set([a]) }).every((host) => host === b));
        // Everything healthy excluded: a healthy (excluded) host beats an unhealthy one.
        const fallback = pickMany(balancer, 100, { excludeHosts: new Set([a, b]) });
        assert.ok(fallback.every((host) => host === a || host === b));
      });
    }

    test('follows HostSet.setHosts on the next pick', () => {
      const [a, b, c, d] = makeHosts([1, 2, 1, 1]) as [Host, Host, Host, Host];
      const hostSet = new HostSet([a, b]);
      const balancer = createLoadBalancer(type, hostSet, { random: seededRandom(9) });
      pickMany(balancer, 10);
      hostSet.setHosts([c, d]);
      const seen = new Set(pickMany(balancer, 200));
      assert.deepEqual(seen, new Set([c, d]));
      hostSet.setHosts([]);
      assert.equal(balancer.chooseHost(), undefined);
      hostSet.setHosts([a]);
      assert.equal(balancer.chooseHost(), a);
    });

    test('works with a random source at the edges of [0, 1)', () => {
      for (const value of [0, 0.999999999, 1]) {
        const hosts = makeHosts([2, 1, 1]);
        const balancer = createLoadBalancer(type, hosts, { random: () => value });
        for (const host of pickMany(balancer, 20)) assert.ok(hosts.includes(host));
        for (const host of pickMany(balancer, 20, { excludeHosts: new Set([hosts[0] as Host]) })) {
          assert.notEqual(host, hosts[0]);
        }
      }
    });

    test('balancers over one host set are independent', () => {
      const hosts = makeHosts([1, 1, 1]);
      const hostSet = new HostSet(hosts);
      const first = createLoadBalancer(type, hostSet, { random: seededRandom(10) });
      const second = createLoadBalancer(type, hostSet, { random: seededRandom(10) });
      assert.deepEqual(pickMany(first, 30), pickMany(second, 30));
    });
  });
}

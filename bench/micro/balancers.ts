/**
 * Micro-benchmark cases: one `chooseHost()` per request for each built-in load balancer
 * (upstream/balancers/), over 3 hosts as in a small cluster. The fuller matrix (100 hosts,
 * a retry's excluded host) is bench/lb-pick.ts. Run through bench/micro/run.ts.
 */
import { Host } from '../../src/upstream/host.ts';
import { HostSet } from '../../src/upstream/host-set.ts';
import { createLoadBalancer, SUPPORTED_LB_TYPES } from '../../src/upstream/balancers/balancer-factory.ts';
import type { MicroCase } from '../lib/micro.ts';

const HOSTS = 3;

function hosts(weighted: boolean): Host[] {
  return Array.from({ length: HOSTS }, (_, i) => {
    const host = new Host({ address: `127.0.0.${i + 1}:8080`, hostname: undefined, weight: weighted ? 1 + ((i * 37) % 128) : 1, metadata: {} });
    // Unequal load, so least-request has something to compare.
    for (let r = 0; r < i; r++) host.onRequestStart();
    return host;
  });
}

export const cases: MicroCase[] = SUPPORTED_LB_TYPES.map((type) => ({
  group: 'LB pick',
  name: `${type}, ${HOSTS} hosts`,
  source: 'upstream/balancers/* chooseHost',
  setup: () => {
    const balancer = createLoadBalancer(type, new HostSet(hosts(type === 'LB_WEIGHTED_ROUNDROBIN' || type === 'LB_LEAST_REQUEST')));
    return () => balancer.chooseHost(undefined)?.port;
  },
}));

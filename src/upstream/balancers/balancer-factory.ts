/**
 * @module upstream/balancers/balancer-factory
 * The one visible list of built-in load balancers, keyed by MOSN's `lb_type` names.
 * Depends only on the balancers, the host set, core errors and config types.
 */
import { MosnError } from '../../core/errors.ts';
import type { LbType } from '../../config/types.ts';
import type { Host } from '../host.ts';
import { HostSet } from '../host-set.ts';
import type { LoadBalancer, LoadBalancerOptions } from './load-balancer.ts';
import { RoundRobinBalancer } from './round-robin-balancer.ts';
import { RandomBalancer } from './random-balancer.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin-balancer.ts';
import { LeastRequestBalancer } from './least-request-balancer.ts';

type BalancerClass = new (hostSet: HostSet, options?: LoadBalancerOptions) => LoadBalancer;

const BALANCERS: Partial<Record<LbType, BalancerClass>> = {
  LB_ROUNDROBIN: RoundRobinBalancer,
  LB_RANDOM: RandomBalancer,
  LB_WEIGHTED_ROUNDROBIN: WeightedRoundRobinBalancer,
  LB_LEAST_REQUEST: LeastRequestBalancer,
};

/** The lb types mosnode implements today. */
export const SUPPORTED_LB_TYPES: readonly LbType[] = Object.freeze(Object.keys(BALANCERS) as LbType[]);

export function isSupportedLbType(type: string): type is LbType {
  return Object.hasOwn(BALANCERS, type);
}

/**
 * Builds the balancer for `type` over `hosts`. Pass the cluster's HostSet so the balancer
 * follows later host and health changes; an array is wrapped in a HostSet of its own
 * (health flips are still seen; list changes are not).
 * Throws MosnError MOSN_ERR_CONFIG_UNSUPPORTED for an lb type not built yet, and
 * MOSN_ERR_CONFIG_INVALID for bad options (the message then starts with the MOSN field,
 * e.g. "lbconfig.choice_count: ...", so a cluster can prefix its own path).
 */
export function createLoadBalancer(
  type: LbType,
  hosts: HostSet | readonly Host[],
  options: LoadBalancerOptions = {},
): LoadBalancer {
  const Balancer = isSupportedLbType(type) ? BALANCERS[type] : undefined;
  if (Balancer === undefined) {
    throw new MosnError(
      'MOSN_ERR_CONFIG_UNSUPPORTED',
      `lb_type "${String(type)}" is not supported yet; supported: ${SUPPORTED_LB_TYPES.join(', ')}`,
    );
  }
  return new Balancer(hosts instanceof HostSet ? hosts : new HostSet(hosts), options);
}

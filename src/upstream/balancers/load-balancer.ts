/**
 * @module upstream/balancers/load-balancer
 * The one interface every load balancer implements, and the small helpers they share.
 *
 * Rules every balancer keeps (checked by load-balancer.contract.test.ts):
 *  - it chooses only from its HostSet's `candidates`: the healthy hosts, or every host in
 *    panic mode (no host healthy);
 *  - it returns undefined only when the host set is empty;
 *  - it avoids `context.excludeHosts` (hosts a retry already tried) when another candidate
 *    exists, and falls back to an excluded candidate rather than return nothing, because a
 *    retry against the same host beats no retry;
 *  - a pick allocates nothing and costs O(1) (O(log n) for the weighted one); host-set
 *    changes are noticed through `HostSet.version` and paid for once, on the next pick.
 * Depends only on ../host.ts, ../host-set.ts and the api types.
 */
import type { LoadBalancerContext } from '../../api/upstream.ts';
import type { Host } from '../host.ts';

export interface LoadBalancer {
  /**
   * Called for each request (and again for each retry). Returns the chosen host, or
   * undefined when the cluster has no host at all.
   */
  chooseHost(context?: LoadBalancerContext): Host | undefined;
}

export interface LoadBalancerOptions {
  /** LB_LEAST_REQUEST: hosts drawn per pick; default 2 (MOSN's `lbconfig.choice_count`). */
  choiceCount?: number;
  /** A source of numbers in [0, 1); default Math.random. Tests inject a seeded one. */
  random?: () => number;
}

/** A uniform index in [0, count), robust to a `random` that returns exactly 1. */
export function randomIndex(random: () => number, count: number): number {
  const index = Math.floor(random() * count);
  return index < count ? index : count - 1;
}

/** True when the context asks to avoid this host. */
export function isExcluded(host: Host, context: LoadBalancerContext | undefined): boolean {
  const excluded = context?.excludeHosts;
  return excluded !== undefined && excluded.size > 0 && excluded.has(host);
}

/** True when the context excludes something, so the balancer must look at each pick. */
export function hasExclusions(context: LoadBalancerContext | undefined): boolean {
  const excluded = context?.excludeHosts;
  return excluded !== undefined && excluded.size > 0;
}

/**
 * The first candidate from a random start that is not excluded, or undefined when all
 * are. O(n): only for the rare case where random draws kept hitting excluded hosts.
 */
export function scanForIncluded(
  candidates: readonly Host[],
  context: LoadBalancerContext | undefined,
  random: () => number,
): Host | undefined {
  const count = candidates.length;
  const start = randomIndex(random, count);
  for (let step = 0; step < count; step++) {
    let index = start + step;
    if (index >= count) index -= count;
    const host = candidates[index] as Host;
    if (!isExcluded(host, context)) return host;
  }
  return undefined;
}

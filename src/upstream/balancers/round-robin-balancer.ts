/**
 * @module upstream/balancers/round-robin-balancer
 * LB_ROUNDROBIN: cycles over the candidates in config order, starting at a random offset
 * (as MOSN does) so that many proxies started together do not all hit the first host
 * first. Weights are ignored, as in MOSN; use LB_WEIGHTED_ROUNDROBIN for weights.
 * Depends only on the balancer helpers, the host set and the api types.
 */
import type { LoadBalancerContext } from '../../api/upstream.ts';
import type { Host } from '../host.ts';
import type { HostSet } from '../host-set.ts';
import { isExcluded, hasExclusions, randomIndex, type LoadBalancer, type LoadBalancerOptions } from './load-balancer.ts';

export class RoundRobinBalancer implements LoadBalancer {
  readonly #hostSet: HostSet;
  readonly #random: () => number;
  #builtVersion = -1;
  #candidates: readonly Host[] = [];
  #next = 0;
  #started = false;

  constructor(hostSet: HostSet, options: LoadBalancerOptions = {}) {
    this.#hostSet = hostSet;
    this.#random = options.random ?? Math.random;
  }

  chooseHost(context?: LoadBalancerContext): Host | undefined {
    if (this.#builtVersion !== this.#hostSet.version) this.#rebuild();
    const candidates = this.#candidates;
    const count = candidates.length;
    if (count === 0) return undefined;
    const first = this.#next;
    let index = first;
    if (hasExclusions(context)) {
      // Bounded by one lap; a full lap means everything is excluded: take the first anyway.
      for (let step = 0; step < count && isExcluded(candidates[index] as Host, context); step++) {
        index = index + 1 === count ? 0 : index + 1;
      }
      if (isExcluded(candidates[index] as Host, context)) index = first;
    }
    this.#next = index + 1 === count ? 0 : index + 1;
    return candidates[index];
  }

  #rebuild(): void {
    this.#builtVersion = this.#hostSet.version;
    this.#candidates = this.#hostSet.candidates;
    const count = this.#candidates.length;
    if (!this.#started && count > 0) {
      this.#started = true;
      this.#next = randomIndex(this.#random, count);
    } else {
      // Keep the position: a health flip should not restart the cycle at a random host.
      this.#next = count === 0 ? 0 : this.#next % count;
    }
  }
}

/**
 * @module upstream/balancers/random-balancer
 * LB_RANDOM: a uniform draw among the candidates. Weights are ignored, as in MOSN.
 * Depends only on the balancer helpers, the host set and the api types.
 */
import type { LoadBalancerContext } from '../../api/upstream.ts';
import type { Host } from '../host.ts';
import type { HostSet } from '../host-set.ts';
import {
  isExcluded,
  randomIndex,
  scanForIncluded,
  type LoadBalancer,
  type LoadBalancerOptions,
} from './load-balancer.ts';

/** Redraws before falling back to a scan; excluded sets are small (one per retry). */
const DRAWS_PER_PICK = 3;

export class RandomBalancer implements LoadBalancer {
  readonly #hostSet: HostSet;
  readonly #random: () => number;
  #builtVersion = -1;
  #candidates: readonly Host[] = [];

  constructor(hostSet: HostSet, options: LoadBalancerOptions = {}) {
    this.#hostSet = hostSet;
    this.#random = options.random ?? Math.random;
  }

  chooseHost(context?: LoadBalancerContext): Host | undefined {
    if (this.#builtVersion !== this.#hostSet.version) {
      this.#builtVersion = this.#hostSet.version;
      this.#candidates = this.#hostSet.candidates;
    }
    const candidates = this.#candidates;
    const count = candidates.length;
    if (count === 0) return undefined;
    const first = candidates[randomIndex(this.#random, count)] as Host;
    if (!isExcluded(first, context)) return first;
    for (let draw = 1; draw < DRAWS_PER_PICK; draw++) {
      const host = candidates[randomIndex(this.#random, count)] as Host;
      if (!isExcluded(host, context)) return host;
    }
    return scanForIncluded(candidates, context, this.#random) ?? first;
  }
}

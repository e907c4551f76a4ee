/**
 * @module upstream/balancers/least-request-balancer
 * LB_LEAST_REQUEST: "power of d choices". Draw `choiceCount` candidates (default 2, with
 * replacement) and take the one with the fewest requests in flight; ties go to the first
 * drawn, so they are broken at random. Two draws already avoid the herd a global minimum
 * causes (every proxy piling onto the same idle host) at O(1) cost.
 *
 * Weights. With equal weights (the usual case) this is exactly the above. When weights
 * differ, draws are weighted (a binary search over cumulative weights, O(log n)) and hosts
 * are compared by (activeRequests + 1) / weight, so an idle cluster still splits by weight
 * and a loaded one keeps in-flight requests proportional to weight. (Envoy and MOSN switch
 * to a weighted EDF scheduler in that case; this keeps one code path and no per-pick
 * scheduler updates.)
 * Depends only on the balancer helpers, the host set, core errors and the api types.
 */
import { MosnError } from '../../core/errors.ts';
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

export const DEFAULT_CHOICE_COUNT = 2;

export class LeastRequestBalancer implements LoadBalancer {
  readonly #hostSet: HostSet;
  readonly #random: () => number;
  readonly #choiceCount: number;
  #builtVersion = -1;
  #candidates: readonly Host[] = [];
  #equalWeights = true;
  /** cumulativeWeights[i] = sum of the weights of candidates 0..i; only when weights differ. */
  #cumulativeWeights = new Float64Array(0);
  #totalWeight = 0;

  /** Throws MosnError MOSN_ERR_CONFIG_INVALID when choiceCount is not a positive integer. */
  constructor(hostSet: HostSet, options: LoadBalancerOptions = {}) {
    // 0 is Go's zero value: MOSN reads an explicit `choice_count: 0` as "use the default".
    const choiceCount = options.choiceCount === undefined || options.choiceCount === 0
      ? DEFAULT_CHOICE_COUNT
      : options.choiceCount;
    if (!Number.isInteger(choiceCount) || choiceCount < 1) {
      throw new MosnError(
        'MOSN_ERR_CONFIG_INVALID',
        `lbconfig.choice_count: expected a positive integer, got ${String(options.choiceCount)}`,
      );
    }
    this.#hostSet = hostSet;
    this.#random = options.random ?? Math.random;
    this.#choiceCount = choiceCount;
  }

  chooseHost(context?: LoadBalancerContext): Host | undefined {
    if (this.#builtVersion !== this.#hostSet.version) this.#rebuild();
    const candidates = this.#candidates;
    if (candidates.length === 0) return undefined;
    let best: Host | undefined;
    let firstDrawn: Host | undefined;
    for (let draw = 0; draw < this.#choiceCount; draw++) {
      const host = this.#draw();
      firstDrawn ??= host;
      if (isExcluded(host, context)) continue;
      if (best === undefined || (host.activeRequests + 1) * best.weight < (best.activeRequests + 1) * host.weight) {
        best = host;
      }
    }
    return best ?? scanForIncluded(candidates, context, this.#random) ?? firstDrawn;
  }

  #draw(): Host {
    const candidates = this.#candidates;
    if (this.#equalWeights) return candidates[randomIndex(this.#random, candidates.length)] as Host;
    const target = this.#random() * this.#totalWeight;
    const cumulative = this.#cumulativeWeights;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cumulative[middle] as number) > target) high = middle;
      else low = middle + 1;
    }
    return candidates[low] as Host;
  }

  #rebuild(): void {
    this.#builtVersion = this.#hostSet.version;
    const candidates = this.#hostSet.candidates;
    this.#candidates = candidates;
    const firstWeight = candidates[0]?.weight;
    this.#equalWeights = candidates.every((host) => host.weight === firstWeight);
    if (this.#equalWeights) {
      this.#cumulativeWeights = new Float64Array(0);
      this.#totalWeight = 0;
      return;
    }
    const cumulative = new Float64Array(candidates.length);
    let total = 0;
    for (let i = 0; i < candidates.length; i++) {
      total += (candidates[i] as Host).weight;
      cumulative[i] = total;
    }
    this.#cumulativeWeights = cumulative;
    this.#totalWeight = total;
  }
}

/**
 * @module upstream/balancers/least-request-balancer
 * LB_LEAST_REQUEST: "power of d choices". Draw `choiceCount` candidates (default 2, with
 * replacement) and take the one with the fewest requests in flight; ties go to the first
 * drawn, so they are broken at random. Two draws already avoid the herd a global minimum
 * causes (every proxy piling onto the same idle host) at O(1) cost.
 *
 * Weights. With equal weights (the usual case) this is exactly the above. When weights
 * differ, draws are weighted (Vose's alias table: still O(1) per draw) and hosts are
 * compared by (activeRequests + 1) / weight, so an idle cluster still splits by weight and
 * a loaded one keeps in-flight requests proportional to weight. (Envoy and MOSN switch to
 * a weighted EDF scheduler in that case; this keeps one code path and no per-pick
 * scheduler updates.)
 * Depends only on the balancer helpers, the host set, core errors and the api types.
 */
import { MosnError } from '../../core/errors.ts';
import type { LoadBalancerContext } from '../../api/upstream.ts';
import type { Host } from '../host.ts';
import type { HostSet } from '../host-set.ts';
import { isExcluded, scanForIncluded, type LoadBalancer, type LoadBalancerOptions } from './load-balancer.ts';

export const DEFAULT_CHOICE_COUNT = 2;

export class LeastRequestBalancer implements LoadBalancer {
  readonly #hostSet: HostSet;
  readonly #random: () => number;
  readonly #choiceCount: number;
  #builtVersion = -1;
  #candidates: readonly Host[] = [];
  /**
   * Alias table: a draw takes slot i uniformly, then keeps i with probability keep[i] or
   * takes alias[i]. All keep[i] are 1 when weights are equal.
   */
  #keep = new Float64Array(0);
  #alias = new Int32Array(0);

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
    const count = candidates.length;
    if (count === 0) return undefined;
    const random = this.#random;
    const keep = this.#keep;
    const alias = this.#alias;
    let best: Host | undefined;
    let firstDrawn: Host | undefined;
    for (let draw = 0; draw < this.#choiceCount; draw++) {
      const scaled = random() * count;
      let slot = Math.floor(scaled);
      if (slot >= count) slot = count - 1;
      const host = candidates[scaled - slot < (keep[slot] as number) ? slot : (alias[slot] as number)] as Host;
      firstDrawn ??= host;
      if (isExcluded(host, context)) continue;
      if (best === undefined || (host.activeRequests + 1) * best.weight < (best.activeRequests + 1) * host.weight) {
        best = host;
      }
    }
    return best ?? scanForIncluded(candidates, context, random) ?? firstDrawn;
  }

  #rebuild(): void {
    this.#builtVersion = this.#hostSet.version;
    const candidates = this.#hostSet.candidates;
    const count = candidates.length;
    this.#candidates = candidates;
    this.#keep = new Float64Array(count).fill(1);
    this.#alias = new Int32Array(count);
    for (let i = 0; i < count; i++) this.#alias[i] = i;
    const totalWeight = candidates.reduce((sum, host) => sum + host.weight, 0);
    if (candidates.every((host) => host.weight === candidates[0]?.weight)) return;
    // Vose: scale weights to mean 1, then pair each slot under 1 with one over 1.
    const scaled = candidates.map((host) => (host.weight * count) / totalWeight);
    const under: number[] = [];
    const over: number[] = [];
    scaled.forEach((value, i) => (value < 1 ? under : over).push(i));
    for (;;) {
      const small = under.pop();
      const large = over.pop();
      if (small === undefined || large === undefined) break;
      this.#keep[small] = scaled[small] as number;
      this.#alias[small] = large;
      const rest = (scaled[large] as number) + (scaled[small] as number) - 1;
      scaled[large] = rest;
      (rest < 1 ? under : over).push(large);
    }
    // Whatever is left is 1 up to rounding: keep[i] = 1 already.
  }
}

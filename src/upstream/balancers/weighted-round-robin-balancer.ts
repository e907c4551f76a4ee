/**
 * @module upstream/balancers/weighted-round-robin-balancer
 * LB_WEIGHTED_ROUNDROBIN: earliest-deadline-first scheduling, as in MOSN and Envoy. Host i
 * of weight w is due at times (k + phase_i) / w for k = 0, 1, 2, ...; each pick takes the
 * host due first (a binary min-heap, O(log n)) and moves it to its next due time.
 *
 * Why it is exact: over any unit of time each host is due exactly w times, so any run of
 * W = sum(weights) consecutive picks holds exactly w picks of each host (a pick that skips
 * an excluded host takes the next host's turn early, and the schedule then evens out, as
 * the skipped host keeps its due time). Due times are
 * compared as integer cross-products, never as floats, so the proportions do not drift
 * over billions of picks (the counters are rebased long before products lose precision).
 *
 * Why it interleaves: the phases are spread evenly over the unit, phase_i = (2i + 1) / 2n,
 * so light hosts land between the heavy host's picks instead of all after them
 * (weights 5,1,1 give A A A B A A C, never A A A A A B C). With equal weights the order is
 * plain round robin.
 *
 * The schedule starts at a random point of its cycle so proxies started together do not
 * all begin with the same host. Depends only on the balancer helpers, the host set and
 * the api types.
 */
import type { LoadBalancerContext } from '../../api/upstream.ts';
import type { Host } from '../host.ts';
import type { HostSet } from '../host-set.ts';
import { hasExclusions, isExcluded, type LoadBalancer, type LoadBalancerOptions } from './load-balancer.ts';

/**
 * Rebase once a host has had this many turns since the last rebase: numerators stay below
 * 2n * 2^20, so cross-products (times a weight <= 128) stay below 2^53 for n < 2^25 hosts,
 * and the O(n) rebase is paid once per million turns.
 */
const TURNS_BEFORE_REBASE = 2 ** 20;

/**
 * True when entry a is due before entry b. Due time of i = numerators[i] / (weights[i] * 2n),
 * compared as cross-products (the common 2n cancels); equal times go to the lower index.
 */
function dueBefore(numerators: Float64Array, weights: Int32Array, a: number, b: number): boolean {
  const left = (numerators[a] as number) * (weights[b] as number);
  const right = (numerators[b] as number) * (weights[a] as number);
  return left < right || (left === right && a < b);
}

export class WeightedRoundRobinBalancer implements LoadBalancer {
  readonly #hostSet: HostSet;
  readonly #random: () => number;
  #builtVersion = -1;
  #candidates: readonly Host[] = [];
  /** Weight of candidate i. */
  #weights = new Int32Array(0);
  /**
   * Numerator of candidate i's next due time: k*2n + 2i + 1 after k turns (since the last
   * rebase), so its due time is that / (w*2n). A turn adds 2n.
   */
  #numerators = new Float64Array(0);
  /** Min-heap of candidate indices, ordered by due time, then by index. */
  #heap = new Int32Array(0);
  #heapSize = 0;
  /** A numerator above this triggers a rebase: 2n * TURNS_BEFORE_REBASE. */
  #rebaseAbove = 0;
  /** Indices set aside while skipping excluded hosts; preallocated so a pick never allocates. */
  #skipped = new Int32Array(0);

  constructor(hostSet: HostSet, options: LoadBalancerOptions = {}) {
    this.#hostSet = hostSet;
    this.#random = options.random ?? Math.random;
  }

  chooseHost(context?: LoadBalancerContext): Host | undefined {
    if (this.#builtVersion !== this.#hostSet.version) this.#rebuild();
    if (this.#heapSize === 0) return undefined;
    if (!hasExclusions(context)) return this.#takeFirstDue();

    let skippedCount = 0;
    while (this.#heapSize > 0 && isExcluded(this.#candidates[this.#heap[0] as number] as Host, context)) {
      this.#skipped[skippedCount++] = this.#popFirstDue();
    }
    // Skipped hosts go back with their due times untouched: they lose nothing by being excluded.
    // When everything was excluded, they go back first and the first due is taken anyway.
    if (this.#heapSize === 0) {
      for (let i = 0; i < skippedCount; i++) this.#push(this.#skipped[i] as number);
      return this.#takeFirstDue();
    }
    const chosen = this.#takeFirstDue();
    for (let i = 0; i < skippedCount; i++) this.#push(this.#skipped[i] as number);
    return chosen;
  }

  /** Picks the host due first and schedules its next turn. */
  #takeFirstDue(): Host {
    const index = this.#heap[0] as number;
    const numerator = (this.#numerators[index] as number) + 2 * this.#candidates.length;
    this.#numerators[index] = numerator;
    this.#siftDown(0);
    if (numerator > this.#rebaseAbove) this.#rebase();
    return this.#candidates[index] as Host;
  }

  #siftDown(position: number): void {
    const heap = this.#heap;
    const numerators = this.#numerators;
    const weights = this.#weights;
    const size = this.#heapSize;
    const item = heap[position] as number;
    for (;;) {
      let child = 2 * position + 1;
      if (child >= size) break;
      if (child + 1 < size && dueBefore(numerators, weights, heap[child + 1] as number, heap[child] as number)) child++;
      const childItem = heap[child] as number;
      if (!dueBefore(numerators, weights, childItem, item)) break;
      heap[position] = childItem;
      position = child;
    }
    heap[position] = item;
  }

  #siftUp(position: number): void {
    const heap = this.#heap;
    const numerators = this.#numerators;
    const weights = this.#weights;
    const item = heap[position] as number;
    while (position > 0) {
      const parent = (position - 1) >>> 1;
      const parentItem = heap[parent] as number;
      if (!dueBefore(numerators, weights, item, parentItem)) break;
      heap[position] = parentItem;
      position = parent;
    }
    heap[position] = item;
  }

  #popFirstDue(): number {
    const heap = this.#heap;
    const first = heap[0] as number;
    this.#heapSize--;
    if (this.#heapSize > 0) {
      heap[0] = heap[this.#heapSize] as number;
      this.#siftDown(0);
    }
    return first;
  }

  #push(index: number): void {
    this.#heap[this.#heapSize] = index;
    this.#siftUp(this.#heapSize++);
  }

  /**
   * Moves every due time back by the same whole number of cycles: the heap order (ties
   * included) is unchanged, and the numerators stay small.
   */
  #rebase(): void {
    const weights = this.#weights;
    const numerators = this.#numerators;
    const doubledCount = 2 * numerators.length;
    let cycles = Infinity;
    for (let i = 0; i < numerators.length; i++) {
      const turns = Math.floor((numerators[i] as number) / doubledCount);
      cycles = Math.min(cycles, Math.floor(turns / (weights[i] as number)));
    }
    for (let i = 0; i < numerators.length; i++) {
      numerators[i] = (numerators[i] as number) - cycles * (weights[i] as number) * doubledCount;
    }
  }

  #rebuild(): void {
    this.#builtVersion = this.#hostSet.version;
    const candidates = this.#hostSet.candidates;
    const count = candidates.length;
    this.#candidates = candidates;
    this.#weights = new Int32Array(count);
    this.#numerators = new Float64Array(count);
    this.#heap = new Int32Array(count);
    this.#skipped = new Int32Array(count);
    this.#heapSize = count;
    this.#rebaseAbove = 2 * count * TURNS_BEFORE_REBASE;
    // Start at time t in [0, 1): each host has already had the turns due by then,
    // the k with (k + phase) / w <= t.
    const start = this.#random();
    for (let i = 0; i < count; i++) {
      const weight = (candidates[i] as Host).weight;
      const phase = (2 * i + 1) / (2 * count);
      const turnsTaken = Math.max(0, Math.floor(start * weight + 1 - phase));
      this.#weights[i] = weight;
      this.#numerators[i] = turnsTaken * 2 * count + 2 * i + 1;
      this.#heap[i] = i;
    }
    for (let position = (count >>> 1) - 1; position >= 0; position--) this.#siftDown(position);
  }
}

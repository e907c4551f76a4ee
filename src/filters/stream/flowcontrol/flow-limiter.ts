/**
 * @module filters/stream/flowcontrol/flow-limiter
 * The counting behind `flowControlFilter`: sentinel-golang's "Direct" flow rules, without
 * sentinel. For each resource (a request's PATH, URI or ARG) the rules naming it decide
 * whether one more request may pass:
 *
 * - Reject (controlBehavior 0): a sliding window, as sentinel counts. The requests let
 *   through in the last `statIntervalInMs` are counted in buckets aligned to the clock;
 *   one more passes while that count + 1 <= threshold, otherwise it is limited (and, as in
 *   sentinel, not counted). Buckets are sentinel's: 500 ms when the interval is a multiple
 *   of 500 ms up to 10 s (the default 1 s window is two of them), else one bucket of the
 *   whole interval (a fixed window). So `threshold: 5` lets exactly 5 of a burst through,
 *   and the window is free again one interval after the burst.
 * - Throttling (controlBehavior 1): requests are paced `statIntervalInMs / threshold` ms
 *   apart; one that would have to wait longer than `maxQueueingTimeMs` is limited, else it
 *   is held that long (0: nothing is held, too-early requests are limited).
 *
 * State lives in this object: one limiter per filter entry, per process (see the filter's
 * module comment). Allocation-free per request. Depends on nothing.
 */
import type { FlowRule } from './flow-control-config.ts';

/** One rule's state. `check` changes nothing; `commit` records a request let through. */
interface RuleGate {
  /** ms the request must wait before it passes (0: now), or -1: over the limit. */
  check(now: number): number;
  commit(now: number): void;
}

/** sentinel's global statistic bucket (10 s in 20 buckets). */
const BUCKET_MS = 500;
const MAX_SHARED_INTERVAL_MS = 10_000;

class SlidingWindowGate implements RuleGate {
  readonly #threshold: number;
  readonly #intervalMs: number;
  readonly #bucketMs: number;
  readonly #counts: Float64Array;
  readonly #starts: Float64Array;

  constructor(threshold: number, intervalMs: number) {
    this.#threshold = threshold;
    this.#intervalMs = intervalMs;
    const shared = intervalMs % BUCKET_MS === 0 && intervalMs <= MAX_SHARED_INTERVAL_MS;
    this.#bucketMs = shared ? BUCKET_MS : intervalMs;
    const n = intervalMs / this.#bucketMs;
    this.#counts = new Float64Array(n);
    this.#starts = new Float64Array(n).fill(-Infinity);
  }

  /** Requests let through in the window that ends at `now`. */
  passed(now: number): number {
    let sum = 0;
    for (let i = 0; i < this.#starts.length; i++) {
      const age = now - this.#starts[i]!;
      if (age >= 0 && age < this.#intervalMs) sum += this.#counts[i]!;
    }
    return sum;
  }

  check(now: number): number {
    return this.passed(now) + 1 > this.#threshold ? -1 : 0;
  }

  commit(now: number): void {
    const slot = Math.floor(now / this.#bucketMs);
    const i = slot % this.#counts.length;
    const start = slot * this.#bucketMs;
    if (this.#starts[i] !== start) {
      this.#starts[i] = start;
      this.#counts[i] = 0;
    }
    this.#counts[i]!++;
  }
}

class ThrottlingGate implements RuleGate {
  /** ms between two requests; Infinity when the threshold is 0 (nothing passes). */
  readonly #costMs: number;
  readonly #maxQueueingMs: number;
  /** When the last request let through was (or will be) sent on. */
  #lastPassedAt = -Infinity;

  constructor(threshold: number, intervalMs: number, maxQueueingMs: number) {
    this.#costMs = threshold > 0 ? intervalMs / threshold : Infinity;
    this.#maxQueueingMs = maxQueueingMs;
  }

  check(now: number): number {
    if (this.#costMs === Infinity) return -1;
    const wait = this.#lastPassedAt + this.#costMs - now;
    if (wait <= 0) return 0;
    return wait > this.#maxQueueingMs ? -1 : wait;
  }

  commit(now: number): void {
    this.#lastPassedAt = Math.max(now, this.#lastPassedAt + this.#costMs);
  }
}

/**
 * `enter` results: a resource no rule names, or a request over a limit. Otherwise `enter`
 * returns the ms to hold the request (0: none).
 */
export const UNMATCHED = -2;
export const LIMITED = -1;

export class FlowLimiter {
  readonly #gates = new Map<string, RuleGate[]>();
  readonly #now: () => number;

  /** `now` is a monotonic clock in ms (tests pass a fake one). */
  constructor(rules: readonly FlowRule[], now: () => number = () => performance.now()) {
    this.#now = now;
    for (const rule of rules) {
      const gate =
        rule.behavior === 'Throttling'
          ? new ThrottlingGate(rule.threshold, rule.intervalMs, rule.maxQueueingTimeMs)
          : new SlidingWindowGate(rule.threshold, rule.intervalMs);
      const list = this.#gates.get(rule.resource);
      if (list === undefined) this.#gates.set(rule.resource, [gate]);
      else list.push(gate);
    }
  }

  /**
   * One request for `resource`: UNMATCHED (no rule; nothing recorded), LIMITED (over some
   * rule; nothing recorded), or the ms to hold it (0: pass now), recorded as let through
   * by every rule of the resource. Every rule must agree for a request to pass.
   */
  enter(resource: string): number {
    const gates = this.#gates.get(resource);
    if (gates === undefined) return UNMATCHED;
    const now = this.#now();
    let wait = 0;
    for (const gate of gates) {
      const w = gate.check(now);
      if (w < 0) return LIMITED;
      if (w > wait) wait = w;
    }
    for (const gate of gates) gate.commit(now);
    return wait;
  }
}

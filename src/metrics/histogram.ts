/**
 * @module metrics/histogram
 * A histogram made of plain counters: one per fixed bucket, one for the count, one for
 * the sum (in microseconds, so it stays an integer). Because every part is an ordinary
 * counter cell, the same histogram lives in this process or in the shared-memory zone,
 * and histograms of several processes merge by construction (MOSN keeps none in shm).
 * Observing is a bucket search over a short array and three adds; nothing is allocated.
 */
import type { Counter } from './metrics-registry.ts';

/** Upper bounds in milliseconds, Prometheus-style; +Inf is implied after the last. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

export interface HistogramSnapshot {
  /** Upper bounds (ms) of the finite buckets. */
  bounds: readonly number[];
  /** Observations per bucket, not cumulative; one more entry than bounds (the +Inf bucket). */
  buckets: number[];
  count: number;
  sumMs: number;
}

export class Histogram {
  readonly bounds: readonly number[];
  readonly #buckets: readonly Counter[];
  readonly #count: Counter;
  readonly #sumMicros: Counter;

  /** `counter(suffix)` makes the cell for one part: "bucket_0".., "count", "sum_us". */
  constructor(bounds: readonly number[], counter: (suffix: string) => Counter) {
    this.bounds = bounds;
    this.#buckets = [...bounds, Infinity].map((_, i) => counter(`bucket_${i}`));
    this.#count = counter('count');
    this.#sumMicros = counter('sum_us');
  }

  /** Records one value in milliseconds (a negative or NaN value counts as 0). */
  observe(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.#buckets[i]!.inc();
    this.#count.inc();
    this.#sumMicros.inc(Math.round(v * 1000));
  }

  snapshot(): HistogramSnapshot {
    return {
      bounds: this.bounds,
      buckets: this.#buckets.map((c) => c.value),
      count: this.#count.value,
      sumMs: this.#sumMicros.value / 1000,
    };
  }
}

/**
 * Estimates the p-th percentile (0..100) from a snapshot by linear interpolation inside the
 * bucket that holds it; NaN without observations. Values in the +Inf bucket report the
 * last finite bound (the estimate cannot go beyond what the buckets know).
 */
export function estimatePercentile(snapshot: HistogramSnapshot, p: number): number {
  if (snapshot.count === 0) return NaN;
  const rank = (p / 100) * snapshot.count;
  let seen = 0;
  for (let i = 0; i < snapshot.buckets.length; i++) {
    const inBucket = snapshot.buckets[i]!;
    if (inBucket > 0 && seen + inBucket >= rank) {
      const lower = i === 0 ? 0 : snapshot.bounds[i - 1]!;
      const upper = snapshot.bounds[i];
      if (upper === undefined) return lower;
      return lower + ((upper - lower) * (rank - seen)) / inBucket;
    }
    seen += inBucket;
  }
  return snapshot.bounds.at(-1) ?? NaN;
}

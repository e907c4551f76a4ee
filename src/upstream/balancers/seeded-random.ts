/**
 * @module upstream/balancers/seeded-random
 * A small seeded pseudo-random source (mulberry32) with Math.random's contract, for the
 * `random` option of the balancers: tests and benchmarks get the same draws on every
 * run. Not for anything security-related. Depends on nothing.
 */

/** Returns a function yielding numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

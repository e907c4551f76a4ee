import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRule } from './flow-control-config.ts';
import { FlowLimiter, LIMITED, UNMATCHED } from './flow-limiter.ts';

/** A limiter on a clock the test moves. */
function limiter(rules: FlowRule[], start = 10_000): { limiter: FlowLimiter; clock: { now: number } } {
  const clock = { now: start };
  return { limiter: new FlowLimiter(rules, () => clock.now), clock };
}

const reject = (resource: string, threshold: number, intervalMs = 1000): FlowRule => ({ resource, threshold, intervalMs, behavior: 'Reject', maxQueueingTimeMs: 0 });
const throttle = (resource: string, threshold: number, maxQueueingTimeMs: number, intervalMs = 1000): FlowRule => ({
  resource,
  threshold,
  intervalMs,
  behavior: 'Throttling',
  maxQueueingTimeMs,
});

/** Outcomes of `n` requests at the current time. */
function burst(l: FlowLimiter, resource: string, n: number): number[] {
  return Array.from({ length: n }, () => l.enter(resource));
}

describe('FlowLimiter: Reject (sliding window)', () => {
  test('a burst gets exactly `threshold` through; the rest are limited and not counted', () => {
    const { limiter: l } = limiter([reject('/a', 3)]);
    assert.deepEqual(burst(l, '/a', 6), [0, 0, 0, LIMITED, LIMITED, LIMITED]);
  });

  test('a resource no rule names is unmatched and never counted', () => {
    const { limiter: l } = limiter([reject('/a', 1)]);
    assert.deepEqual(burst(l, '/b', 3), [UNMATCHED, UNMATCHED, UNMATCHED]);
    assert.equal(l.enter('/a'), 0);
  });

  test('resources are counted apart', () => {
    const { limiter: l } = limiter([reject('/a', 1), reject('/b', 2)]);
    assert.deepEqual(burst(l, '/a', 2), [0, LIMITED]);
    assert.deepEqual(burst(l, '/b', 3), [0, 0, LIMITED]);
  });

  test('the default one-second window is two 500 ms buckets: passes age out of it bucket by bucket', () => {
    const { limiter: l, clock } = limiter([reject('/a', 2)], 10_000);
    assert.equal(l.enter('/a'), 0); // bucket [10000, 10500)
    clock.now = 10_600;
    assert.equal(l.enter('/a'), 0); // bucket [10500, 11000)
    assert.equal(l.enter('/a'), LIMITED);
    clock.now = 10_999;
    assert.equal(l.enter('/a'), LIMITED, 'both buckets are still inside the last second');
    clock.now = 11_000;
    assert.equal(l.enter('/a'), 0, 'the first bucket left the window: one pass is free again');
    assert.equal(l.enter('/a'), LIMITED);
    clock.now = 12_000;
    assert.deepEqual(burst(l, '/a', 3), [0, 0, LIMITED], 'one interval after the last pass, the whole threshold is free');
  });

  test('a burst shorter than one bucket is counted exactly wherever it falls on the clock', () => {
    for (const start of [10_000, 10_250, 10_499.5, 10_999]) {
      const { limiter: l, clock } = limiter([reject('/a', 4)], start);
      const outcomes: number[] = [];
      for (let i = 0; i < 8; i++) {
        outcomes.push(l.enter('/a'));
        clock.now += 0.9;
      }
      assert.deepEqual(outcomes.filter((o) => o === LIMITED).length, 4, `burst at ${start}`);
    }
  });

  test('an interval that is not a multiple of 500 ms is one fixed window aligned to the clock (sentinel)', () => {
    const { limiter: l, clock } = limiter([reject('/a', 2, 200)], 10_150);
    assert.deepEqual(burst(l, '/a', 3), [0, 0, LIMITED]);
    clock.now = 10_199;
    assert.equal(l.enter('/a'), LIMITED);
    clock.now = 10_200;
    assert.deepEqual(burst(l, '/a', 3), [0, 0, LIMITED], 'a new window at 10200');
  });

  test('longer intervals: 2 s in four buckets; 30 s in one', () => {
    const two = limiter([reject('/a', 1, 2000)], 10_000);
    assert.equal(two.limiter.enter('/a'), 0);
    two.clock.now = 11_999;
    assert.equal(two.limiter.enter('/a'), LIMITED);
    two.clock.now = 12_000;
    assert.equal(two.limiter.enter('/a'), 0);
    const thirty = limiter([reject('/a', 1, 30_000)], 30_000);
    assert.equal(thirty.limiter.enter('/a'), 0);
    thirty.clock.now = 59_999;
    assert.equal(thirty.limiter.enter('/a'), LIMITED);
    thirty.clock.now = 60_000;
    assert.equal(thirty.limiter.enter('/a'), 0);
  });

  test('a fractional threshold lets through what fits under it; 0 lets nothing through', () => {
    assert.deepEqual(burst(limiter([reject('/a', 2.5)]).limiter, '/a', 4), [0, 0, LIMITED, LIMITED]);
    assert.deepEqual(burst(limiter([reject('/a', 0)]).limiter, '/a', 2), [LIMITED, LIMITED]);
  });

  test('several rules on one resource: all must agree; a request limited by one is counted by none', () => {
    const { limiter: l, clock } = limiter([reject('/a', 3), reject('/a', 5, 10_000)], 10_000);
    assert.deepEqual(burst(l, '/a', 4), [0, 0, 0, LIMITED]);
    clock.now = 11_000;
    assert.deepEqual(burst(l, '/a', 3), [0, 0, LIMITED], 'the 10 s rule has 3 of 5 used');
    clock.now = 12_000;
    assert.equal(l.enter('/a'), LIMITED, 'the 10 s rule is full even though the 1 s one is free');
    clock.now = 20_000;
    assert.equal(l.enter('/a'), 0, 'the first burst left the 10 s window');
  });
});

describe('FlowLimiter: Throttling (pacing)', () => {
  test('requests are spaced interval/threshold apart; a wait within maxQueueingTimeMs is returned', () => {
    const { limiter: l, clock } = limiter([throttle('/a', 10, 250)]);
    assert.deepEqual(burst(l, '/a', 4), [0, 100, 200, LIMITED], 'the 4th would wait 300 ms > 250');
    clock.now += 150;
    assert.equal(l.enter('/a'), 150, 'slots at +0, +100, +200 are taken: the next is +300, 150 ms from now');
    clock.now += 1000;
    assert.equal(l.enter('/a'), 0, 'a quiet spell does not bank a burst');
    assert.equal(l.enter('/a'), 100);
  });

  test('maxQueueingTimeMs 0: nothing is held; requests closer than the pace are limited', () => {
    const { limiter: l, clock } = limiter([throttle('/a', 5, 0)]);
    assert.deepEqual(burst(l, '/a', 2), [0, LIMITED]);
    clock.now += 199;
    assert.equal(l.enter('/a'), LIMITED);
    clock.now += 1;
    assert.equal(l.enter('/a'), 0);
  });

  test('threshold 0 limits everything', () => {
    assert.deepEqual(burst(limiter([throttle('/a', 0, 1000)]).limiter, '/a', 2), [LIMITED, LIMITED]);
  });

  test('with a Reject rule on the same resource: the longest wait wins, a limit by either limits', () => {
    const { limiter: l } = limiter([throttle('/a', 10, 1000), reject('/a', 2)]);
    assert.deepEqual(burst(l, '/a', 3), [0, 100, LIMITED]);
  });
});

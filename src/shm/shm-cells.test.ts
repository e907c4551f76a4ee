import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detachFromZone, localCounter, localGauge, ShmCounter, ShmGauge, toInt64 } from './shm-cells.ts';

test('toInt64 truncates fractions, ignores non-finite values, never throws', () => {
  assert.equal(toInt64(0), 0n);
  assert.equal(toInt64(1023), 1023n);
  assert.equal(toInt64(1024), 1024n);
  assert.equal(toInt64(-5), -5n);
  assert.equal(toInt64(2.9), 2n);
  assert.equal(toInt64(-2.9), -2n);
  assert.equal(toInt64(Number.NaN), 0n);
  assert.equal(toInt64(Infinity), 0n);
  assert.equal(toInt64(2 ** 60), 2n ** 60n);
});

test('process-local cells count like the registry\'s', () => {
  const counter = localCounter();
  counter.inc();
  counter.inc(41);
  counter.inc(0.5);
  assert.equal(counter.value, 42);
  assert.equal(counter.inZone, false);
  const gauge = localGauge();
  gauge.inc(5);
  gauge.dec();
  gauge.dec(2);
  assert.equal(gauge.value, 2);
  gauge.update(-7);
  assert.equal(gauge.value, -7);
  assert.equal(gauge.inZone, false);
});

test('a gauge sums through its source; detaching keeps the counter total and the gauge share', () => {
  const cells = new BigInt64Array(8);
  const counter = new ShmCounter(cells, 1, true);
  counter.inc(10);
  const gauge = new ShmGauge(cells, 3, 0, { sum: () => 99 });
  gauge.update(4);
  assert.equal(gauge.value, 99);
  assert.equal(gauge.share, 4);
  detachFromZone(counter);
  detachFromZone(gauge);
  counter.inc();
  gauge.inc();
  assert.equal(counter.value, 11);
  assert.equal(gauge.value, 5);
  assert.equal(cells[1], 10n, 'the old cell is no longer written');
  assert.equal(cells[3], 4n);
  assert.equal(counter.inZone, false);
  assert.equal(gauge.inZone, false);
});

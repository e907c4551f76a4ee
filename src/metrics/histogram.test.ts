import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, LATENCY_BOUNDS_MS, estimatePercentile } from './histogram.ts';
import { MetricsRegistry, processLocalStorage, type Counter } from './metrics-registry.ts';
import { renderPrometheusText } from './prometheus-text.ts';
import { assertValidExposition } from './prometheus-grammar.ts';

function histogramOver(cells: Map<string, Counter>, bounds = LATENCY_BOUNDS_MS): Histogram {
  return new Histogram(bounds, (suffix) => {
    let cell = cells.get(suffix);
    if (cell === undefined) cells.set(suffix, (cell = processLocalStorage.counter(suffix)));
    return cell;
  });
}

test('observations land in the first bucket whose bound is not below them; count and sum follow', () => {
  const h = histogramOver(new Map(), [1, 10, 100]);
  for (const v of [0.2, 1, 1.5, 10, 99, 5000, -3]) h.observe(v);
  const snap = h.snapshot();
  assert.deepEqual(snap.buckets, [3, 2, 1, 1]); // <=1: 0.2, 1, -3(as 0); <=10: 1.5, 10; <=100: 99; +Inf: 5000
  assert.equal(snap.count, 7);
  assert.equal(snap.sumMs, 0.2 + 1 + 1.5 + 10 + 99 + 5000);
});

test('two histograms over the same cells merge, as two processes over one zone do', () => {
  const cells = new Map<string, Counter>();
  const a = histogramOver(cells, [10]);
  const b = histogramOver(cells, [10]);
  a.observe(5);
  b.observe(50);
  assert.deepEqual(a.snapshot().buckets, [1, 1]);
  assert.equal(b.snapshot().count, 2);
});

test('percentiles are interpolated inside the bucket that holds them', () => {
  const h = histogramOver(new Map(), [10, 20]);
  for (let i = 0; i < 10; i++) h.observe(15);
  const snap = h.snapshot();
  assert.equal(estimatePercentile(snap, 50), 15);
  assert.equal(estimatePercentile(snap, 100), 20);
  assert.ok(Number.isNaN(estimatePercentile(histogramOver(new Map()).snapshot(), 50)));
});

test('histograms show in /api/v1/stats and as valid Prometheus histograms', () => {
  const registry = new MetricsRegistry();
  registry.group('downstream', { listener: 'a' }).histogram('request_time').observe(3);
  registry.group('downstream', { listener: 'b' }).histogram('request_time').observe(700);
  const values = registry.snapshot()['downstream']?.['listener.a'];
  assert.equal(values?.['request_time_count'], '1');
  assert.equal(values?.['request_time_sum_ms'], '3');
  const text = renderPrometheusText(registry);
  assertValidExposition(text);
  assert.match(text, /^# TYPE downstream_request_time histogram$/m);
  assert.match(text, /^downstream_request_time_bucket\{listener="a",le="5"\} 1$/m);
  assert.match(text, /^downstream_request_time_bucket\{listener="b",le="500"\} 0$/m);
  assert.match(text, /^downstream_request_time_bucket\{listener="b",le="\+Inf"\} 1$/m);
  assert.match(text, /^downstream_request_time_count\{listener="b"\} 1$/m);
});

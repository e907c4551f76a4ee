import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from './metrics-registry.ts';
import { flattenMetricName, renderPrometheusText } from './prometheus-text.ts';
import { assertValidExposition } from './prometheus-grammar.ts';

test('families are grouped under one TYPE line, with MOSN names and the group labels', () => {
  const registry = new MetricsRegistry();
  registry.group('downstream', { listener: 'a' }).counter('request_total').inc(3);
  registry.group('downstream', { proxy: 'global' }).counter('request_total').inc(5);
  registry.group('downstream', { listener: 'a' }).gauge('connection_active').update(2);
  registry.group('upstream', { cluster: 'c1', host: '10.0.0.1:80' }).counter('request_total').inc();
  const text = renderPrometheusText(registry);
  assertValidExposition(text);
  assert.equal(
    text,
    [
      '# TYPE downstream_request_total counter',
      'downstream_request_total{listener="a"} 3',
      'downstream_request_total{proxy="global"} 5',
      '# TYPE downstream_connection_active gauge',
      'downstream_connection_active{listener="a"} 2',
      '# TYPE upstream_request_total counter',
      'upstream_request_total{cluster="c1",host="10.0.0.1:80"} 1',
      '',
    ].join('\n'),
  );
});

test('label values are escaped and names flattened to the allowed characters', () => {
  const registry = new MetricsRegistry();
  registry.group('downstream', { listener: 'a "quoted" \\ back\nslash' }).counter('bytes.read-total').inc(1);
  const text = renderPrometheusText(registry);
  assertValidExposition(text);
  assert.match(text, /^downstream_bytes_read_total\{listener="a \\"quoted\\" \\\\ back\\nslash"\} 1$/m);
  assert.equal(flattenMetricName('9lives.x'), '_9lives_x');
});

test('the grammar check rejects what Prometheus would reject', () => {
  assert.throws(() => assertValidExposition('bad-name 1\n'), /line 1/);
  assert.throws(() => assertValidExposition('# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na 2\n'), /not together/);
  assert.throws(() => assertValidExposition('a{x="unterminated} 1\n'), /line 1/);
  assert.throws(() => assertValidExposition('a 1'), /newline/);
});

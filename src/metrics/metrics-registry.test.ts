import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MetricsRegistry,
  metricGroupName,
  metricNamespace,
  processLocalStorage,
  type Counter,
  type Gauge,
  type MetricStorage,
} from './metrics-registry.ts';

describe('metric group names (MOSN keying)', () => {
  it('joins sorted label.value pairs after the type', () => {
    assert.equal(metricGroupName('downstream', { listener: 'x' }), 'downstream.listener.x');
    assert.equal(metricGroupName('upstream', { host: '10.0.0.1:80', cluster: 'c1' }), 'upstream.cluster.c1.host.10.0.0.1:80');
    assert.equal(metricNamespace({ host: 'h', cluster: 'c' }), 'cluster.c.host.h');
  });

  it('keeps the trailing dot of a group without labels, as MOSN does', () => {
    assert.equal(metricGroupName('meta'), 'meta.');
  });
});

describe('MetricsRegistry', () => {
  it('returns the same group and the same metric objects for the same names', () => {
    const registry = new MetricsRegistry();
    const a = registry.group('upstream', { cluster: 'c', host: 'h' });
    const b = registry.group('upstream', { host: 'h', cluster: 'c' });
    assert.equal(a, b);
    assert.equal(a.name, 'upstream.cluster.c.host.h');
    assert.equal(a.namespace, 'cluster.c.host.h');
    assert.equal(a.counter('request_total'), b.counter('request_total'));
    assert.equal(a.gauge('request_active'), b.gauge('request_active'));
  });

  it('counts with inc and moves gauges with inc, dec and update', () => {
    const group = new MetricsRegistry().group('downstream', { listener: 'l' });
    const counter = group.counter('request_total');
    counter.inc();
    counter.inc(4);
    assert.equal(counter.value, 5);
    const gauge = group.gauge('request_active');
    gauge.inc();
    gauge.inc(2);
    gauge.dec();
    assert.equal(gauge.value, 2);
    gauge.update(7);
    assert.equal(gauge.value, 7);
    gauge.dec(7);
    assert.equal(gauge.value, 0);
  });

  it('refuses to reuse a counter key as a gauge', () => {
    const group = new MetricsRegistry().group('downstream', { listener: 'l' });
    group.counter('x');
    assert.throws(() => group.gauge('x'), /downstream\.listener\.l\.x is a counter, not a gauge/);
  });

  it('renders MOSN /api/v1/stats shape with string values and sorted keys', () => {
    const registry = new MetricsRegistry();
    const upstream = registry.group('upstream', { cluster: 'c1' });
    upstream.counter('request_total').inc(3);
    const listener = registry.group('downstream', { listener: 'zeta' });
    listener.gauge('connection_active').update(2);
    listener.counter('bytes_read_total').inc(100);
    registry.group('downstream', { listener: 'alpha' }).counter('request_total');

    const snapshot = registry.snapshot();
    assert.deepEqual(snapshot, {
      downstream: {
        'listener.alpha': { request_total: '0' },
        'listener.zeta': { bytes_read_total: '100', connection_active: '2' },
      },
      upstream: { 'cluster.c1': { request_total: '3' } },
    });
    assert.deepEqual(Object.keys(snapshot), ['downstream', 'upstream']);
    assert.deepEqual(Object.keys(snapshot['downstream']!), ['listener.alpha', 'listener.zeta']);
    assert.deepEqual(Object.keys(snapshot['downstream']!['listener.zeta']!), ['bytes_read_total', 'connection_active']);
  });

  it('finds and snapshots one group by its MOSN name', () => {
    const registry = new MetricsRegistry();
    registry.group('downstream', { listener: 'a' }).counter('request_total').inc();
    registry.group('downstream', { listener: 'b' }).counter('request_total').inc(2);
    assert.equal(registry.find('downstream.listener.b')?.namespace, 'listener.b');
    assert.deepEqual(registry.snapshotGroup('downstream.listener.b'), { downstream: { 'listener.b': { request_total: '2' } } });
    assert.equal(registry.snapshotGroup('downstream.listener.nope'), undefined);
    assert.equal(registry.find('listener.b'), undefined);
  });

  it('lists groups and their metrics in creation order', () => {
    const registry = new MetricsRegistry();
    const group = registry.group('upstream', { cluster: 'c' });
    group.counter('b').inc();
    group.gauge('a').update(-1);
    assert.deepEqual([...registry.groups()].map((g) => g.name), ['upstream.cluster.c']);
    assert.deepEqual([...group.metrics()], [['b', 'counter', 1], ['a', 'gauge', -1]]);
  });

  it('asks the storage for each cell once, by its full MOSN name', () => {
    const asked: string[] = [];
    const storage: MetricStorage = {
      counter(cellName): Counter {
        asked.push(`counter ${cellName}`);
        return processLocalStorage.counter(cellName);
      },
      gauge(cellName): Gauge {
        asked.push(`gauge ${cellName}`);
        return processLocalStorage.gauge(cellName);
      },
    };
    const group = new MetricsRegistry({ storage }).group('upstream', { cluster: 'c', host: '1.2.3.4:80' });
    group.counter('request_total').inc();
    group.counter('request_total').inc();
    group.gauge('request_active').inc();
    assert.deepEqual(asked, [
      'counter upstream.cluster.c.host.1.2.3.4:80.request_total',
      'gauge upstream.cluster.c.host.1.2.3.4:80.request_active',
    ]);
  });

  describe('stats matcher', () => {
    it('exclusion_keys: the metric still counts but is not exported', () => {
      const registry = new MetricsRegistry({ statsMatcher: { exclusion_keys: ['request_reset'] } });
      const group = registry.group('downstream', { listener: 'l' });
      const excluded = group.counter('request_reset');
      excluded.inc(2);
      assert.equal(excluded.value, 2);
      assert.equal(group.counter('request_reset'), excluded);
      group.counter('request_total').inc();
      assert.deepEqual(registry.snapshot(), { downstream: { 'listener.l': { request_total: '1' } } });
    });

    it('exclusion_labels: groups with that label are not exported', () => {
      const registry = new MetricsRegistry({ statsMatcher: { exclusion_labels: ['host'] } });
      registry.group('upstream', { cluster: 'c', host: 'h' }).counter('request_total').inc();
      registry.group('upstream', { cluster: 'c' }).counter('request_total').inc();
      assert.deepEqual(registry.snapshot(), { upstream: { 'cluster.c': { request_total: '1' } } });
      assert.equal(registry.find('upstream.cluster.c.host.h'), undefined);
    });

    it('reject_all: nothing is exported', () => {
      const registry = new MetricsRegistry({ statsMatcher: { reject_all: true } });
      const counter = registry.group('downstream', { listener: 'l' }).counter('request_total');
      counter.inc();
      assert.equal(counter.value, 1);
      assert.deepEqual(registry.snapshot(), {});
    });
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from './metrics-registry.ts';
import {
  countResponseStatus,
  downstreamListenerMetrics,
  downstreamProxyMetrics,
  upstreamClusterMetrics,
  upstreamHostMetrics,
} from './metric-bundles.ts';
import { DownstreamKeys, UpstreamKeys } from './names.ts';

describe('metric bundles', () => {
  it('downstreamListenerMetrics registers every downstream key under downstream.listener.<name>', () => {
    const registry = new MetricsRegistry();
    const metrics = downstreamListenerMetrics(registry, 'http_in');
    metrics.connectionTotal.inc();
    metrics.connectionActive.inc();
    metrics.bytesReadTotal.inc(512);
    const values = registry.snapshot()['downstream']?.['listener.http_in'];
    assert.ok(values);
    assert.equal(values['connection_total'], '1');
    assert.equal(values['connection_active'], '1');
    assert.equal(values['bytes_read_total'], '512');
    assert.equal(values['request_other_code'], '0');
    // Every exported key is one of MOSN's downstream keys, or derived from a histogram's.
    const known = new Set<string>(Object.values(DownstreamKeys));
    for (const key of Object.keys(values)) {
      const histogramKey = /^(.*)_(count|sum_ms|P\d+_ms)$/.exec(key)?.[1];
      assert.ok(known.has(key) || (histogramKey !== undefined && known.has(histogramKey)), key);
    }
    assert.equal(values['request_time_count'], '0');
  });

  it('the same listener name gives counters over the same cells', () => {
    const registry = new MetricsRegistry();
    downstreamListenerMetrics(registry, 'l').requestTotal.inc();
    downstreamListenerMetrics(registry, 'l').requestTotal.inc();
    assert.equal(downstreamListenerMetrics(registry, 'l').requestTotal.value, 2);
  });

  it('downstreamProxyMetrics defaults to the global proxy group that stats_glob shows', () => {
    const registry = new MetricsRegistry();
    downstreamProxyMetrics(registry).requestTotal.inc();
    assert.equal(registry.find('downstream.proxy.global')?.counter('request_total').value, 1);
  });

  it('upstream cluster and host bundles use MOSN group names and keys', () => {
    const registry = new MetricsRegistry();
    const cluster = upstreamClusterMetrics(registry, 'serverCluster');
    const host = upstreamHostMetrics(registry, 'serverCluster', '127.0.0.1:8080');
    cluster.requestRetry.inc();
    cluster.bytesWriteTotal.inc(10);
    host.requestTotal.inc();
    host.requestActive.inc();
    const upstream = registry.snapshot()['upstream'];
    assert.ok(upstream);
    assert.equal(upstream['cluster.serverCluster']?.['request_retry'], '1');
    assert.equal(upstream['cluster.serverCluster']?.['connection_bytes_write'], '10');
    assert.equal(upstream['cluster.serverCluster.host.127.0.0.1:8080']?.['request_total'], '1');
    assert.equal(upstream['cluster.serverCluster.host.127.0.0.1:8080']?.['request_active'], '1');
    // Cluster-only keys stay off the host group.
    assert.equal(upstream['cluster.serverCluster.host.127.0.0.1:8080']?.['request_retry'], undefined);
    const known = new Set<string>(Object.values(UpstreamKeys));
    for (const values of Object.values(upstream)) for (const key of Object.keys(values)) assert.ok(known.has(key), key);
  });

  it('countResponseStatus picks the status counter or request_other_code', () => {
    const metrics = downstreamListenerMetrics(new MetricsRegistry(), 'l');
    for (const status of [200, 200, 404, 503, 201, 418]) countResponseStatus(metrics, status);
    assert.equal(metrics.request200Total.value, 2);
    assert.equal(metrics.request404Total.value, 1);
    assert.equal(metrics.request503Total.value, 1);
    assert.equal(metrics.requestOtherCode.value, 2);
  });
});

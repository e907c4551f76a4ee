/**
 * Micro-benchmark cases: metric updates on the request path, process-local
 * (metrics/metrics-registry) and in the shared-memory zone (shm/, Atomics on the mmap'd
 * file; needs the native addon, else the case reports why it could not run). The fuller
 * set (prom-client, contention from 4 processes, uncached deltas) is bench/shm-counter.ts.
 * Run through bench/micro/run.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry } from '../../src/metrics/metrics-registry.ts';
import { shmStorage } from '../../src/metrics/shm-storage.ts';
import { downstreamListenerMetrics, downstreamProxyMetrics } from '../../src/metrics/metric-bundles.ts';
import { requestMetricUpdates } from '../lib/request-metrics.ts';
import { ShmZone } from '../../src/shm/shm-zone.ts';
import type { MicroCase } from '../lib/micro.ts';

const ZONE_BYTES = 1 << 20;

/** A registry over a fresh shm zone in a temp folder, removed when this process exits. */
function shmRegistry(): MetricsRegistry {
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-micro-shm-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const zone = ShmZone.open(join(dir, 'mosn_shm_micro'), ZONE_BYTES, { mode: 'fresh' });
  process.once('exit', () => zone.close());
  return new MetricsRegistry({ storage: shmStorage(zone) });
}

/** One request's downstream metric updates (bench/lib/request-metrics.ts) on `registry`. */
function requestUpdates(registry: MetricsRegistry): () => void {
  return requestMetricUpdates([downstreamListenerMetrics(registry, 'micro'), downstreamProxyMetrics(registry, 'micro')]);
}

export const cases: MicroCase[] = [
  {
    group: 'counters',
    name: 'counter inc(), process-local',
    source: 'metrics/metrics-registry.ts counter',
    setup: () => {
      const c = new MetricsRegistry().group('downstream', { listener: 'x' }).counter('request_total');
      return () => c.inc();
    },
  },
  {
    group: 'counters',
    name: 'counter inc(), shm',
    source: 'shm/shm-cells.ts ShmCounter (Atomics.add)',
    setup: () => {
      const c = shmRegistry().group('downstream', { listener: 'x' }).counter('request_total');
      return () => c.inc();
    },
  },
  {
    group: 'counters',
    name: 'histogram observe(), shm',
    source: 'metrics/histogram.ts over shm cells',
    setup: () => {
      const h = shmRegistry().group('downstream', { listener: 'x' }).histogram('request_time');
      return () => h.observe(0.8);
    },
  },
  {
    group: 'counters',
    name: "a request's downstream metric updates, process-local",
    source: 'proxy/proxy-stream.ts + metrics/metric-bundles.ts',
    setup: () => requestUpdates(new MetricsRegistry()),
  },
  {
    group: 'counters',
    name: "a request's downstream metric updates, shm",
    source: 'proxy/proxy-stream.ts + metrics/metric-bundles.ts',
    setup: () => requestUpdates(shmRegistry()),
  },
];

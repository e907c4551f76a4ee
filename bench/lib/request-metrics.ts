/**
 * The downstream metric updates of one proxied request, as proxy-stream.ts makes them on
 * the listener and proxy bundles (and the connection's byte counts): what the counter
 * benchmarks (bench/shm-counter.ts, bench/micro/counters.ts) time per request.
 */
import { countResponseStatus, type DownstreamMetrics } from '../../src/metrics/metric-bundles.ts';

export function requestMetricUpdates(bundles: DownstreamMetrics[]): () => void {
  return () => {
    for (const m of bundles) {
      m.requestTotal.inc();
      m.requestActive.inc();
    }
    for (const m of bundles) {
      m.requestActive.dec();
      m.requestTime.observe(0.8);
      countResponseStatus(m, 200);
    }
    bundles[0]!.bytesReadTotal.inc(80);
    bundles[0]!.bytesWriteTotal.inc(120);
  };
}

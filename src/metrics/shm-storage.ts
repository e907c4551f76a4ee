/**
 * @module metrics/shm-storage
 * A MetricStorage over a shared-memory zone (shm/): every counter and gauge the registry
 * creates is a named cell of the zone, so the processes of one instance (workers, and a
 * hot-upgrade successor) share counters, and gauges sum over the live processes. The
 * cell name is the registry's full MOSN name (`downstream.listener.x.request_total`).
 * The zone's cell objects already have the Counter and Gauge shape, so they are handed
 * out as they are: no wrapper on the hot path. A full zone yields process-local cells
 * (the zone warns once), so metrics never fail.
 * Depends only on shm/ and metrics/.
 */
import type { ShmZone } from '../shm/shm-zone.ts';
import type { Counter, Gauge, MetricStorage } from './metrics-registry.ts';

/** Stores the registry's values in `zone`. The zone must stay open as long as the registry is used (after close() the cells keep working process-locally). */
export function shmStorage(zone: ShmZone): MetricStorage {
  return {
    counter: (cellName: string): Counter => zone.counter(cellName),
    gauge: (cellName: string): Gauge => zone.gauge(cellName),
  };
}

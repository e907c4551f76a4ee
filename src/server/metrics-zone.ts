/**
 * @module server/metrics-zone
 * Opens the shared-memory metrics zone `mosn_shm_<shm_zone>` in uds_dir (by default the
 * config file's folder): `fresh` for a plain start (cleared; refused while another live
 * instance holds it), `attach` for a hot-upgrade successor or a worker process (counters
 * continue, the processes share them).
 */
import { join } from 'node:path';
import type { LoadedConfig } from '../config/types.ts';
import type { Logger } from '../core/logger.ts';
import { native, nativeLoadError } from '../core/native.ts';
import { ShmZone } from '../shm/shm-zone.ts';

/**
 * The zone, or undefined (metrics stay in this process, with a log line) when there is no
 * config folder or no native addon. Throws when another live instance holds the zone.
 */
export function openMetricsZone(loaded: LoadedConfig, mode: 'fresh' | 'attach', logger: Logger): ShmZone | undefined {
  const dir = loaded.config.uds_dir;
  if (dir === undefined) {
    logger.info('shared-memory metrics are off: no config folder (start with -c FILE, or set uds_dir)');
    return undefined;
  }
  if (native === undefined) {
    logger.warn({ reason: nativeLoadError }, 'shared-memory metrics are off: the native addon did not load');
    return undefined;
  }
  const path = join(dir, `mosn_shm_${loaded.config.metrics.shm_zone}`);
  const zone = ShmZone.open(path, loaded.config.metrics.shm_size, { mode, logger: { warn: (message: string) => logger.warn(message) } });
  logger.info({ path, outcome: zone.outcome, reason: zone.recreateReason, slot: zone.slot }, 'shared-memory metrics zone open');
  return zone;
}

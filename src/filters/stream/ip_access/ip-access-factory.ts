/**
 * @module filters/stream/ip_access/ip-access-factory
 * The `ip_access` stream filter factory (MOSN's name and config, see ip-access-config.ts):
 * parses the lists once, creates the `allowed` / `denied` counters once, and adds the same
 * stateless IpAccessFilter to every request, at BeforeRoute.
 */
import { defineStreamFilter } from '../../../api/stream-filter.ts';
import { parseIpAccessConfig } from './ip-access-config.ts';
import { IpAccessFilter } from './ip-access-filter.ts';

export const ipAccessFactory = defineStreamFilter<IpAccessFilter>({
  type: 'ip_access',
  parseConfig(raw, context) {
    const config = parseIpAccessConfig(raw, context.path, (m) => context.warn(m));
    return new IpAccessFilter(config, { allowed: context.stats.counter('allowed'), denied: context.stats.counter('denied') });
  },
  createFilters(filter, chain) {
    chain.addReceiver(filter, 'BeforeRoute');
  },
});

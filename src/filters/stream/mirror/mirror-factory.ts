/**
 * @module filters/stream/mirror/mirror-factory
 * The `mirror` stream filter factory (MOSN's name and config, see mirror-config.ts):
 * parses the config and creates the filter's metrics once at load time, and adds the one
 * shared MirrorFilter to every request at AfterRoute, as MOSN does. The mirror target comes
 * from the matched route's `request_mirror_policies`, as in MOSN; MOSN has no per-route
 * settings for this filter, so a route's `per_filter_config.mirror` is reported and ignored.
 */
import { defineStreamFilter } from '../../../api/stream-filter.ts';
import { parseMirrorConfig } from './mirror-config.ts';
import { MirrorFilter } from './mirror-filter.ts';

export const mirrorFactory = defineStreamFilter<MirrorFilter>({
  type: 'mirror',
  parseConfig(raw, context) {
    const config = parseMirrorConfig(raw, context.path, (m) => context.warn(m));
    return new MirrorFilter(config, context.clusters, {
      mirrored: context.stats.counter('mirrored'),
      failed: context.stats.counter('failed'),
      dropped: context.stats.counter('dropped'),
      inflight: context.stats.gauge('inflight'),
    });
  },
  parsePerRouteConfig(_raw, context) {
    context.warn(`${context.path}: mirror has no per-route settings (MOSN reads none; the route's request_mirror_policies choose the cluster); ignored`);
    return undefined;
  },
  createFilters(filter, chain) {
    chain.addReceiver(filter, 'AfterRoute');
  },
});

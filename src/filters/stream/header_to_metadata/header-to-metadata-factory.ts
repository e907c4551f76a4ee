/**
 * @module filters/stream/header_to_metadata/header-to-metadata-factory
 * The `header_to_metadata` stream filter factory (MOSN's name and config, see
 * header-to-metadata-config.ts): parses the rules once and adds the same stateless filter
 * to every request, at AfterRoute. The metadata key is exported as VAR_ROUTER_META.
 */
import { defineStreamFilter } from '../../../api/stream-filter.ts';
import { parseHeaderToMetadataRules } from './header-to-metadata-config.ts';
import { HeaderToMetadataFilter } from './header-to-metadata-filter.ts';

export { VAR_ROUTER_META, routerMetaOf, type RouterMeta } from './router-meta.ts';

export const headerToMetadataFactory = defineStreamFilter<HeaderToMetadataFilter>({
  type: 'header_to_metadata',
  parseConfig(raw, context) {
    return new HeaderToMetadataFilter(parseHeaderToMetadataRules(raw, context.path, (m) => context.warn(m)));
  },
  createFilters(filter, chain) {
    chain.addReceiver(filter, 'AfterRoute');
  },
});

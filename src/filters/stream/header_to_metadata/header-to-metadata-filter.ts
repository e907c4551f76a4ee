/**
 * @module filters/stream/header_to_metadata/header-to-metadata-filter
 * The `header_to_metadata` filter: runs AfterRoute (as MOSN) and turns request headers into
 * router metadata (`info.variables` under VAR_ROUTER_META), for the load balancer's subset
 * selection or any later filter. Metadata another filter set already is kept and added to;
 * a rule's key overwrites the same key. Stateless: one instance serves every request.
 * Depends on api/ only.
 */
import type { StreamFilterStatus, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import type { HeaderToMetadataRule } from './header-to-metadata-config.ts';
import { VAR_ROUTER_META, routerMetaOf, type RouterMeta } from './router-meta.ts';

export class HeaderToMetadataFilter implements StreamReceiverFilter {
  readonly #rules: readonly HeaderToMetadataRule[];

  constructor(rules: readonly HeaderToMetadataRule[]) {
    this.#rules = rules;
  }

  onReceive(handler: StreamReceiverFilterHandler): StreamFilterStatus {
    const variables = handler.info.variables;
    const headers = handler.request.headers;
    let meta: RouterMeta | undefined;
    for (const rule of this.#rules) {
      const value = headers.get(rule.header);
      let key: string | undefined;
      let metaValue = '';
      if (value !== undefined && rule.onPresent !== undefined) {
        key = rule.onPresent.key;
        metaValue = rule.onPresent.value !== '' ? rule.onPresent.value : value;
      } else if (value === undefined && rule.onMissing !== undefined) {
        key = rule.onMissing.key;
        metaValue = rule.onMissing.value;
      }
      if (key !== undefined) {
        // Created on the first value only: a request no rule applies to allocates nothing.
        meta ??= routerMetaOf(variables) ?? new Map();
        meta.set(key, metaValue);
      }
      if (rule.remove && value !== undefined) headers.delete(rule.header);
    }
    if (meta !== undefined) variables.set(VAR_ROUTER_META, meta);
    return 'Continue';
  }
}

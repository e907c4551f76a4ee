/**
 * @module filters
 * THE one visible list of mosnode's built-in filters. Each lives in its own folder under
 * filters/<kind>/<name>/; adding a built-in means adding a line here, nothing else.
 */
import type { FilterRegistry } from '../api/registry.ts';
import { tcpProxyFactory } from './network/tcp_proxy/tcp-proxy-factory.ts';
import { proxyFactory } from './network/proxy/proxy-factory.ts';
import { faultInjectFactory } from './network/fault_inject/fault-inject-factory.ts';
import { originalDstFactory } from './listener/original_dst/original-dst-factory.ts';
import { proxyProtocolFactory } from './listener/proxy_protocol/proxy-protocol-factory.ts';
import { faultFactory } from './stream/fault/fault-factory.ts';
import { ipAccessFactory } from './stream/ip_access/ip-access-factory.ts';
import { headerToMetadataFactory } from './stream/header_to_metadata/header-to-metadata-factory.ts';
import { payloadLimitFactory } from './stream/payload_limit/payload-limit.ts';
import { gzipFactory } from './stream/gzip/gzip.ts';
import { flowControlFactory } from './stream/flowcontrol/flow-control-factory.ts';
import { mirrorFactory } from './stream/mirror/mirror-factory.ts';

/** Registers every built-in filter on `registry`. */
export function registerBuiltinFilters(registry: FilterRegistry): void {
  registry.registerNetworkFilter(tcpProxyFactory);
  registry.registerNetworkFilter(proxyFactory);
  registry.registerNetworkFilter(faultInjectFactory);
  registry.registerListenerFilter(originalDstFactory);
  registry.registerListenerFilter(proxyProtocolFactory);
  registry.registerStreamFilter(faultFactory);
  registry.registerStreamFilter(ipAccessFactory);
  registry.registerStreamFilter(headerToMetadataFactory);
  registry.registerStreamFilter(payloadLimitFactory);
  registry.registerStreamFilter(gzipFactory);
  registry.registerStreamFilter(flowControlFactory);
  registry.registerStreamFilter(mirrorFactory);
}

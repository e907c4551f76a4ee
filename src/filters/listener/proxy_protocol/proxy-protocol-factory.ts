/**
 * @module filters/listener/proxy_protocol/proxy-protocol-factory
 * The `proxy_protocol` listener filter factory. MOSN has no such built-in; the name and the
 * one Envoy key it shares follow Envoy's filter, the limits are ours:
 *
 *   { "timeout": "5s",              // header complete within this of the accept (default 5s)
 *     "max_header_bytes": 4096,     // longest v2 header, TLVs included (232..65551; default 4096)
 *     "allow_requests_without_proxy_protocol": false }  // Envoy's key: let header-less connections through
 *
 * The spec forbids guessing whether a header is present (a client could spoof its address
 * on a port that accepts both), so `allow_requests_without_proxy_protocol` is for
 * migrations behind trusted networks only; the factory warns when it is on.
 * Stats (group `proxy_protocol`, label `listener`): see ProxyProtocolStats.
 */
import { FilterConfigError, defineListenerFilter } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalDurationMs, optionalInteger, unknownKeys } from '../../../api/config-helpers.ts';
import { ProxyProtocolFilter, type ProxyProtocolConfig, type ProxyProtocolStats } from './proxy-protocol-filter.ts';
import { V2_FIXED_BYTES, V2_MAX_BYTES } from './proxy-protocol-parser.ts';

const CONFIG_KEYS = ['timeout', 'max_header_bytes', 'allow_requests_without_proxy_protocol'] as const;

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_HEADER_BYTES = 4096;
/** Room for the largest address block (AF_UNIX, 216 bytes) after the fixed 16. */
const MIN_MAX_HEADER_BYTES = V2_FIXED_BYTES + 216;

interface ParsedProxyProtocol {
  readonly config: ProxyProtocolConfig;
  readonly stats: ProxyProtocolStats;
}

export function parseProxyProtocolConfig(raw: unknown, path: string, warn: (message: string) => void): ProxyProtocolConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) warn(`${path}.${key}: unknown key, ignored`);
  const timeoutMs = optionalDurationMs(obj, 'timeout', path) ?? DEFAULT_TIMEOUT_MS;
  if (timeoutMs <= 0) throw new FilterConfigError(`${path}.timeout`, 'a duration above 0, like "5s" (the spec suggests at least 3s)');
  const maxHeaderBytes = optionalInteger(obj, 'max_header_bytes', path, { min: MIN_MAX_HEADER_BYTES, max: V2_MAX_BYTES }) ?? DEFAULT_MAX_HEADER_BYTES;
  const allow = configValue(obj, 'allow_requests_without_proxy_protocol');
  if (allow !== undefined && allow !== null && typeof allow !== 'boolean') {
    throw new FilterConfigError(`${path}.allow_requests_without_proxy_protocol`, 'true or false');
  }
  const allowWithoutProxyProtocol = allow === true;
  if (allowWithoutProxyProtocol) {
    warn(`${path}.allow_requests_without_proxy_protocol: true accepts connections with and without a header on one port, so a client that reaches it directly can claim any address with a header of its own; use it only while migrating, where only trusted proxies can connect`);
  }
  return { timeoutMs, maxHeaderBytes, allowWithoutProxyProtocol };
}

export const proxyProtocolFactory = defineListenerFilter<ParsedProxyProtocol>({
  type: 'proxy_protocol',
  parseConfig(raw, context) {
    const config = parseProxyProtocolConfig(raw, context.path, (m) => context.warn(m));
    const s = context.stats;
    const stats: ProxyProtocolStats = {
      v1Found: s.counter('v1_found'),
      v2Found: s.counter('v2_found'),
      withoutAddress: s.counter('without_address'),
      notFoundAllowed: s.counter('not_found_allowed'),
      errorNotFound: s.counter('error_not_found'),
      errorMalformed: s.counter('error_malformed'),
      errorTooLarge: s.counter('error_too_large'),
      errorTimeout: s.counter('error_timeout'),
      errorEof: s.counter('error_eof'),
    };
    return { config, stats };
  },
  create({ config, stats }, context) {
    return new ProxyProtocolFilter(config, stats, context.logger);
  },
});

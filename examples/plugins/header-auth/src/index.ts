/**
 * mosnode-plugin-header-auth: a stream filter, `header_auth`, that lets a request through
 * only when it carries a known bearer token, and tells the upstream who it was.
 *
 *   "plugins": ["mosnode-plugin-header-auth"],
 *   "stream_filters": [{ "type": "header_auth", "config": {
 *     "tokens": [{ "subject": "ci", "sha256": "<hex sha256 of the token>" }],
 *     "realm": "internal" } }]
 *
 * The config holds SHA-256 digests, never the tokens themselves, so a leaked config file
 * leaks no credential. A route opts out with `"per_filter_config": {"header_auth": {"disabled": true}}`.
 * Stats: `header_auth.listener.<name>.allowed` / `.denied`.
 */
import { createHash } from 'node:crypto';
import {
  definePlugin,
  defineStreamFilter,
  configObject,
  optionalArray,
  optionalString,
  configValue,
  FilterConfigError,
  type StatsCounter,
  type StreamReceiverFilter,
  type StreamReceiverFilterHandler,
  type StreamFilterStatus,
} from 'mosnode';

export interface HeaderAuthConfig {
  /** Request header carrying the credential, lower-case. */
  readonly header: string;
  readonly realm: string;
  /** Hex SHA-256 of an accepted token -> the subject it stands for. */
  readonly subjects: ReadonlyMap<string, string>;
  /** Removes the credential before the request goes upstream. */
  readonly strip: boolean;
}

interface PerRoute {
  readonly disabled: boolean;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function parseHeaderAuthConfig(raw: unknown, path: string): HeaderAuthConfig {
  const obj = configObject(raw, path);
  const subjects = new Map<string, string>();
  optionalArray(obj, 'tokens', path).forEach((entry, i) => {
    const at = `${path}.tokens[${i}]`;
    const token = configObject(entry, at);
    const subject = optionalString(token, 'subject', at);
    const digest = optionalString(token, 'sha256', at)?.toLowerCase();
    if (subject === undefined || subject === '') throw new FilterConfigError(`${at}.subject`, 'a non-empty string naming who holds the token');
    if (digest === undefined || !SHA256_HEX.test(digest)) throw new FilterConfigError(`${at}.sha256`, 'the hex SHA-256 of the token (64 hex digits)');
    subjects.set(digest, subject);
  });
  if (subjects.size === 0) throw new FilterConfigError(`${path}.tokens`, 'at least one {subject, sha256} entry');
  const strip = configValue(obj, 'strip');
  if (strip !== undefined && typeof strip !== 'boolean') throw new FilterConfigError(`${path}.strip`, 'true or false');
  return {
    header: (optionalString(obj, 'header', path) ?? 'authorization').toLowerCase(),
    realm: optionalString(obj, 'realm', path) ?? 'mosnode',
    subjects,
    strip: strip !== false,
  };
}

class HeaderAuthFilter implements StreamReceiverFilter {
  readonly #config: HeaderAuthConfig;
  readonly #allowed: StatsCounter;
  readonly #denied: StatsCounter;

  constructor(config: HeaderAuthConfig, allowed: StatsCounter, denied: StatsCounter) {
    this.#config = config;
    this.#allowed = allowed;
    this.#denied = denied;
  }

  onReceive(handler: StreamReceiverFilterHandler): StreamFilterStatus {
    const headers = handler.request.headers;
    // Only this filter may say who the caller is: a client's own claim never goes through.
    headers.delete('x-auth-subject');
    if ((handler.perRouteConfig() as PerRoute | undefined)?.disabled === true) return 'Continue';
    const { header, realm, subjects, strip } = this.#config;
    const value = headers.get(header);
    const token = value?.startsWith('Bearer ') === true ? value.slice(7).trim() : undefined;
    // Looking up the digest, not the token, keeps the comparison from leaking the token by timing.
    const subject = token === undefined || token === '' ? undefined : subjects.get(createHash('sha256').update(token).digest('hex'));
    if (subject === undefined) {
      this.#denied.inc();
      const challenge = token === undefined ? `Bearer realm="${realm}"` : `Bearer realm="${realm}", error="invalid_token"`;
      handler.sendDirectResponse(401, { 'www-authenticate': challenge, 'content-type': 'text/plain' }, 'unauthorized\n');
      return 'Stop';
    }
    this.#allowed.inc();
    if (strip) headers.delete(header);
    headers.set('x-auth-subject', subject);
    return 'Continue';
  }
}

export const headerAuthFilter = defineStreamFilter<HeaderAuthFilter>({
  type: 'header_auth',
  parseConfig(raw, context) {
    return new HeaderAuthFilter(parseHeaderAuthConfig(raw, context.path), context.stats.counter('allowed'), context.stats.counter('denied'));
  },
  parsePerRouteConfig(raw, context): PerRoute {
    const disabled = configValue(configObject(raw, context.path), 'disabled');
    if (disabled !== undefined && typeof disabled !== 'boolean') throw new FilterConfigError(`${context.path}.disabled`, 'true or false');
    return { disabled: disabled === true };
  },
  createFilters(filter, chain) {
    // Stateless: one filter object serves every request of the listener.
    chain.addReceiver(filter, 'AfterRoute');
  },
});

export default definePlugin({ name: 'header-auth', streamFilters: [headerAuthFilter] });

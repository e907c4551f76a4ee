/**
 * @module filters/listener/proxy_protocol/proxy-protocol-filter
 * The `proxy_protocol` listener filter: reads the PROXY protocol header (v1 or v2) a load
 * balancer puts before the client's bytes, drops exactly the header, and makes the
 * addresses in it the connection's remote address (the client) and local address (where
 * the client connected), so routing, access logs and every later layer see the client.
 * Bytes after the header, even in the same packet, pass through untouched.
 *
 * The header must be complete within `timeoutMs` of the accept (one deadline for the whole
 * header, so a peer trickling one byte at a time cannot hold the socket), at most
 * `maxHeaderBytes` long; anything malformed, oversized, late, cut short, or missing (unless
 * `allowWithoutProxyProtocol`) closes the socket and counts. Depends on api/ only.
 */
import type { ListenerFilter, ListenerFilterCallbacks, ListenerFilterStatus } from '../../../api/listener-filter.ts';
import type { StatsCounter } from '../../../api/filter-factory.ts';
import type { Logger } from '../../../core/logger.ts';
import { parseProxyHeader, type ProxyHeader } from './proxy-protocol-parser.ts';

/** State key under which later filters find what the header said (a ProxyProtocolInfo). */
export const PROXY_PROTOCOL_STATE_KEY = 'mosn.proxy_protocol';

/** What the header said, for later filters (`connection.state.get(PROXY_PROTOCOL_STATE_KEY)`). */
export type ProxyProtocolInfo = ProxyHeader;

export interface ProxyProtocolConfig {
  /** ms from the accept to a complete header. */
  readonly timeoutMs: number;
  /** Longest v2 header accepted (v1 lines are at most 107 bytes by the spec). */
  readonly maxHeaderBytes: number;
  /** A connection without a header goes on with its real addresses instead of being closed. */
  readonly allowWithoutProxyProtocol: boolean;
}

export interface ProxyProtocolStats {
  /** Headers accepted, by version. */
  readonly v1Found: StatsCounter;
  readonly v2Found: StatsCounter;
  /** Of those, headers without a client address (v1 UNKNOWN, v2 LOCAL/AF_UNSPEC/AF_UNIX): real addresses kept. */
  readonly withoutAddress: StatsCounter;
  /** Connections without a header let through (allow_requests_without_proxy_protocol). */
  readonly notFoundAllowed: StatsCounter;
  /** Connections closed: no header, a malformed one, one over the limit, too slow, or cut short. */
  readonly errorNotFound: StatsCounter;
  readonly errorMalformed: StatsCounter;
  readonly errorTooLarge: StatsCounter;
  readonly errorTimeout: StatsCounter;
  readonly errorEof: StatsCounter;
}

type Failure = 'not_found' | 'malformed' | 'too_large' | 'timeout' | 'eof';

export class ProxyProtocolFilter implements ListenerFilter {
  readonly #config: ProxyProtocolConfig;
  readonly #stats: ProxyProtocolStats;
  readonly #logger: Logger;
  readonly #failures: Readonly<Record<Failure, StatsCounter>>;

  constructor(config: ProxyProtocolConfig, stats: ProxyProtocolStats, logger: Logger) {
    this.#config = config;
    this.#stats = stats;
    this.#logger = logger;
    this.#failures = {
      not_found: stats.errorNotFound,
      malformed: stats.errorMalformed,
      too_large: stats.errorTooLarge,
      timeout: stats.errorTimeout,
      eof: stats.errorEof,
    };
  }

  async onAccept(cb: ListenerFilterCallbacks): Promise<ListenerFilterStatus> {
    const deadline = performance.now() + this.#config.timeoutMs;
    let need = 1;
    for (;;) {
      const left = Math.ceil(deadline - performance.now());
      let bytes: Buffer;
      try {
        if (left <= 0) throw new Error('deadline passed');
        bytes = await cb.peek(need, left);
      } catch {
        // peek rejects only when its time is up.
        return this.#failOrPass(cb, 'timeout', `no complete PROXY protocol header within ${this.#config.timeoutMs} ms`);
      }
      const parsed = parseProxyHeader(bytes, this.#config.maxHeaderBytes);
      switch (parsed.kind) {
        case 'header':
          return this.#accept(cb, parsed.header);
        case 'not_proxy':
          return this.#failOrPass(cb, 'not_found', 'the connection does not start with a PROXY protocol header');
        case 'invalid':
          return this.#fail(cb, parsed.reason, parsed.message);
        case 'incomplete':
          // Fewer bytes than asked: the peer half-closed before finishing the header.
          if (bytes.length < need) return this.#failOrPass(cb, 'eof', `the peer closed after ${bytes.length} bytes of a PROXY protocol header`);
          need = parsed.need;
      }
    }
  }

  #accept(cb: ListenerFilterCallbacks, header: ProxyHeader): ListenerFilterStatus {
    (header.version === 1 ? this.#stats.v1Found : this.#stats.v2Found).inc();
    cb.consume(header.length);
    if (header.source !== undefined && header.destination !== undefined) {
      cb.setRemoteAddress(header.source.ip, header.source.port);
      cb.setOriginalDestination(header.destination.ip, header.destination.port);
    } else {
      this.#stats.withoutAddress.inc();
    }
    cb.state.set(PROXY_PROTOCOL_STATE_KEY, header);
    return 'Continue';
  }

  /**
   * Without a header (none, or none complete), a listener that allows it lets the bytes
   * through as they came; otherwise the connection is closed.
   */
  #failOrPass(cb: ListenerFilterCallbacks, failure: Failure, message: string): ListenerFilterStatus {
    if (this.#config.allowWithoutProxyProtocol) {
      this.#stats.notFoundAllowed.inc();
      return 'Continue';
    }
    return this.#fail(cb, failure, message);
  }

  #fail(cb: ListenerFilterCallbacks, failure: Failure, message: string): ListenerFilterStatus {
    this.#failures[failure].inc();
    // A misbehaving or misconfigured peer: the counters show it; one line per connection would flood.
    this.#logger.debug({ remote: cb.remoteAddress, reason: failure }, `proxy_protocol: ${message}; connection closed`);
    cb.close();
    return 'Stop';
  }
}

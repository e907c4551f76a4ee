/**
 * @module api/listener-filter
 * Listener filters run on a freshly accepted socket before any network filter: they may
 * peek at the first bytes (protocol sniffing, PROXY protocol, TLS inspection) or look up
 * the original destination. Public API: imports nothing from mosnode's internals.
 */
import type { ConnectionAddresses } from './network-filter.ts';

/**
 * - `Continue`: run the next listener filter, then create the connection.
 * - `Stop`: the filter has closed or taken the socket; nothing further happens.
 */
export type ListenerFilterStatus = 'Continue' | 'Stop';

export interface ListenerFilterCallbacks extends ConnectionAddresses {
  /**
   * Resolves with at least `minBytes` of the first bytes the peer sent (fewer if the peer
   * half-closes first), without consuming them: later filters and the codec see them
   * again. Rejects after `timeoutMs` (default 3000).
   */
  peek(minBytes: number, timeoutMs?: number): Promise<Buffer>;
  /** Drops `n` of the peeked bytes for good (for example a PROXY protocol header). */
  consume(n: number): void;
  /** Overrides the addresses later layers see (PROXY protocol, original_dst). */
  setRemoteAddress(ip: string, port: number): void;
  setOriginalDestination(ip: string, port: number): void;
  /** Closes the socket; return `Stop` after calling it. */
  close(): void;
  /** Shared with the connection's network filters as `connection.state`. */
  readonly state: Map<string, unknown>;
}

export interface ListenerFilter {
  /** Called once per accepted socket. May return a promise (for example after `peek`). */
  onAccept(callbacks: ListenerFilterCallbacks): ListenerFilterStatus | Promise<ListenerFilterStatus>;
}

/**
 * @module filters/listener/original_dst/original-dst-filter
 * The `original_dst` listener filter: finds where a connection was going before it was
 * redirected to this listener, makes that the connection's local address (tcp_proxy
 * `destination_addrs` routes, access logs and ORIGINAL_DST clusters see it), and leaves an
 * OriginalDstRecord in the state so that a `use_original_dst` listener hands the connection
 * to the listener of that address (network/listener-directory.ts).
 *
 * - `redirect`: SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST from conntrack (iptables/nftables
 *   REDIRECT or DNAT), through the native addon.
 * - `tproxy`: the local address itself (a TPROXY rule delivers the packet unchanged to a
 *   transparent socket), as the filters before this one left it.
 *
 * A connection whose destination cannot be found (it was not redirected: conntrack has no
 * entry) keeps its addresses and stays on this listener, as in MOSN; it is counted, never
 * closed. Depends on api/, core/native and the network layer's fd and state-key helpers.
 */
import type { ListenerFilter, ListenerFilterCallbacks, ListenerFilterStatus } from '../../../api/listener-filter.ts';
import type { StatsCounter } from '../../../api/filter-factory.ts';
import type { Logger } from '../../../core/logger.ts';
import { describeError } from '../../../core/errors.ts';
import type { OriginalDestination } from '../../../core/native.ts';
import { acceptedSocketFd } from '../../../network/listener-filter-runner.ts';
import { ORIGINAL_DST_STATE_KEY, type OriginalDstRecord } from '../../../network/listener-directory.ts';

export type OriginalDstType = 'redirect' | 'tproxy';

export interface OriginalDstConfig {
  readonly type: OriginalDstType;
  /**
   * MOSN's `fallback_to_local`: when no listener stands for the exact destination, prefer
   * the one on its port bound to the loopback address (127.0.0.1 or ::1) over 0.0.0.0.
   */
  readonly fallbackToLocal: boolean;
}

export interface OriginalDstStats {
  /** Destinations found (and set). */
  readonly found: StatsCounter;
  /** Connections that were not redirected (no conntrack entry): kept as they are. */
  readonly notFound: StatsCounter;
  /** Lookups that failed otherwise (no addon, no conntrack in the kernel, no fd...). */
  readonly error: StatsCounter;
}

/** Reads the pre-NAT destination of a connected socket (core/native's getOriginalDst). */
export type OriginalDstLookup = (fd: number) => OriginalDestination;

export class OriginalDstFilter implements ListenerFilter {
  readonly #config: OriginalDstConfig;
  readonly #stats: OriginalDstStats;
  readonly #logger: Logger;
  readonly #lookup: OriginalDstLookup;
  /** The first unexpected failure is a warning; the rest are counted and logged at debug. */
  readonly #warned: { done: boolean };

  constructor(config: OriginalDstConfig, stats: OriginalDstStats, logger: Logger, lookup: OriginalDstLookup, warned: { done: boolean }) {
    this.#config = config;
    this.#stats = stats;
    this.#logger = logger;
    this.#lookup = lookup;
    this.#warned = warned;
  }

  onAccept(cb: ListenerFilterCallbacks): ListenerFilterStatus {
    const destination = this.#config.type === 'tproxy' ? { ip: cb.localIp, port: cb.localPort } : this.#redirected(cb);
    if (destination === undefined) return 'Continue';
    this.#stats.found.inc();
    cb.setOriginalDestination(destination.ip, destination.port);
    const record: OriginalDstRecord = {
      ip: destination.ip,
      port: destination.port,
      fallbackIp: this.#config.fallbackToLocal ? (destination.ip.includes(':') ? '::1' : '127.0.0.1') : undefined,
    };
    cb.state.set(ORIGINAL_DST_STATE_KEY, record);
    return 'Continue';
  }

  #redirected(cb: ListenerFilterCallbacks): { ip: string; port: number } | undefined {
    const fd = acceptedSocketFd(cb);
    if (fd === undefined) {
      this.#stats.error.inc();
      this.#report(new Error('the accepted socket has no fd'), cb);
      return undefined;
    }
    try {
      const { address, port } = this.#lookup(fd);
      return { ip: address, port };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Not NATed: a client that connected to this listener's own address.
        this.#stats.notFound.inc();
        this.#logger.debug({ remote: cb.remoteAddress }, 'original_dst: the connection was not redirected; kept on this listener');
      } else {
        this.#stats.error.inc();
        this.#report(err, cb);
      }
      return undefined;
    }
  }

  #report(err: unknown, cb: ListenerFilterCallbacks): void {
    const fields = { remote: cb.remoteAddress, err: describeError(err) };
    const message = 'original_dst: could not read the original destination; the connection stays on this listener';
    if (this.#warned.done) {
      this.#logger.debug(fields, message);
    } else {
      this.#warned.done = true;
      this.#logger.warn(fields, `${message} (later failures are counted in original_dst.error and logged at debug)`);
    }
  }
}

/**
 * @module network/listener-directory
 * Every listener of a server, bound or virtual (`bind_port: false`), findable by the
 * address it stands for, so that a connection accepted on a `use_original_dst` listener
 * can be handed to the listener of its original destination, as MOSN does: the listener
 * with exactly that IP and port, else one on the same port bound to the fallback IP
 * (0.0.0.0, or 127.0.0.1 with the original_dst filter's `fallback_to_local`), else none
 * (the accepting listener keeps it).
 *
 * The original_dst listener filter asks for the hand-over by leaving an OriginalDstRecord
 * in the connection state under ORIGINAL_DST_STATE_KEY; another filter that only rewrites
 * the local address (PROXY protocol) does not move the connection.
 * Depends on network/address only.
 */
import { isIP, SocketAddress } from 'node:net';
import { normalizeIp, parseAddress } from './address.ts';

/** State key of the record the original_dst listener filter leaves for the listener. */
export const ORIGINAL_DST_STATE_KEY = 'mosn.original_dst';

/** Where a connection was going before it was redirected to us. */
export interface OriginalDstRecord {
  readonly ip: string;
  readonly port: number;
  /**
   * The IP of the listener that takes the connection when none matches its destination
   * exactly; undefined = the "any" address of its family (MOSN: 0.0.0.0).
   */
  readonly fallbackIp: string | undefined;
}

/** What the directory needs to know of a listener. */
export interface DirectoryMember {
  /** "ip:port" the listener stands for: the bound address, or the configured one of a virtual listener. */
  readonly boundAddress: string;
  readonly config: { readonly network: string };
}

export class ListenerDirectory<L extends DirectoryMember> {
  readonly #members: L[] = [];

  add(listener: L): void {
    this.#members.push(listener);
  }

  get size(): number {
    return this.#members.length;
  }

  /**
   * The listener for a connection to `ip:port`: an exact match first, then one on the same
   * port bound to `fallbackIp` (default: 0.0.0.0, and for IPv4 also a dual-stack ::; for
   * IPv6 ::). Undefined when none stands for that address.
   */
  find(ip: string, port: number, fallbackIp?: string): L | undefined {
    const wanted = canonicalIp(ip);
    const fallbacks = fallbackIp !== undefined
      ? [canonicalIp(fallbackIp)]
      : isIP(wanted) === 6 ? ['::'] : ['0.0.0.0', '::'];
    let best: L | undefined;
    let bestRank = fallbacks.length;
    for (const member of this.#members) {
      if (member.config.network !== 'tcp') continue;
      const address = parseAddress(member.boundAddress);
      if (address?.kind !== 'tcp' || address.port !== port) continue;
      const host = canonicalIp(address.host);
      if (host === wanted) return member;
      const rank = fallbacks.indexOf(host);
      if (rank >= 0 && rank < bestRank) {
        best = member;
        bestRank = rank;
      }
    }
    return best;
  }
}

/** One spelling per address: IPv4-mapped IPv6 as IPv4, IPv6 as inet_ntop writes it. */
function canonicalIp(ip: string): string {
  const plain = normalizeIp(ip);
  if (isIP(plain) !== 6) return plain;
  return normalizeIp(new SocketAddress({ address: plain, family: 'ipv6' }).address);
}

/**
 * @module server/upgrade/listener-identity
 * Which inherited listening socket serves which configured listener, by MOSN's rules:
 * TCP by the same port and an address that is the same, or unspecified on both sides, or
 * loopback on both sides; unix sockets by path; the admin and metrics servers by port.
 */

export type ListenerKind = 'listener' | 'admin' | 'metrics';

/** How a listening socket is described when it is handed over. */
export interface ListenerIdentity {
  kind: ListenerKind;
  /** The listener's name (for logs only: matching is by address). */
  name: string;
  /** "ip:port" / "[v6]:port" as bound, or a unix path. */
  address: string;
}

interface TcpAddress {
  ip: string;
  port: number;
}

function splitTcp(address: string): TcpAddress | undefined {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (m === null || address.startsWith('/') || address.startsWith('@')) return undefined;
  return { ip: m[1]!, port: Number(m[2]) };
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip === 'localhost' || ip.startsWith('::ffff:127.');
}

/** True when the inherited socket `inherited` can serve the configured `wanted`. */
export function sameListener(wanted: ListenerIdentity, inherited: ListenerIdentity): boolean {
  if (wanted.kind !== inherited.kind) return false;
  const a = splitTcp(wanted.address);
  const b = splitTcp(inherited.address);
  if (a === undefined || b === undefined) {
    // unix sockets: by path ("@name" abstract names too)
    return a === undefined && b === undefined && wanted.address === inherited.address;
  }
  if (a.port !== b.port) return false;
  if (wanted.kind !== 'listener') return true; // admin and metrics: by port
  if (a.ip === b.ip) return true;
  if (UNSPECIFIED.has(a.ip) && UNSPECIFIED.has(b.ip)) return true;
  return isLoopback(a.ip) && isLoopback(b.ip);
}

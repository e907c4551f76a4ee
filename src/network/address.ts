/**
 * @module network/address
 * Parsing and formatting of listener and host addresses: "ip:port", "[v6]:port", unix
 * socket paths ("/path" or "@abstract"), and CIDR matching for address-based routing.
 * Depends on nothing but node:net.
 */
import { isIP, BlockList } from 'node:net';

export type ParsedAddress =
  | { kind: 'tcp'; host: string; port: number; family: 4 | 6 }
  | { kind: 'unix'; path: string };

/**
 * Parses a listener address. `network` "unix", or an address starting with "/" or "@",
 * means a unix socket ("@name" is Linux's abstract namespace). Returns undefined when the
 * address has no valid shape.
 */
export function parseAddress(address: string, network: string = 'tcp'): ParsedAddress | undefined {
  if (network === 'unix' || address.startsWith('/') || address.startsWith('@')) {
    if (address === '') return undefined;
    return { kind: 'unix', path: address.startsWith('@') ? `\0${address.slice(1)}` : address };
  }
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0 || address[end + 1] !== ':') return undefined;
    host = address.slice(1, end);
    portText = address.slice(end + 2);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = address.slice(0, colon);
    portText = address.slice(colon + 1);
    if (host.includes(':')) return undefined; // a bare IPv6 address needs brackets
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  if (host === '') host = '0.0.0.0';
  const family = isIP(host);
  if (family === 0) return undefined;
  return { kind: 'tcp', host, port, family: family as 4 | 6 };
}

/** "ip:port", with brackets for IPv6; a unix path as is. */
export function formatAddress(ip: string | undefined, port: number | undefined): string {
  if (ip === undefined || ip === '') return '';
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** IPv4-mapped IPv6 addresses ("::ffff:1.2.3.4") as plain IPv4, as routes expect. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** A set of CIDR ranges; an empty set matches nothing (callers decide what empty means). */
export class CidrSet {
  readonly #list = new BlockList();
  readonly size: number;

  /** `ranges` as `{address, length}` (MOSN's CidrRange). Throws on a bad address/length. */
  constructor(ranges: ReadonlyArray<{ address: string; length: number }>) {
    for (const { address, length } of ranges) {
      const family = isIP(address);
      if (family === 0) throw new Error(`"${address}" is not an IP address`);
      const max = family === 4 ? 32 : 128;
      if (!Number.isInteger(length) || length < 0 || length > max) {
        throw new Error(`prefix length ${length} is out of range 0..${max}`);
      }
      this.#list.addSubnet(address, length, family === 4 ? 'ipv4' : 'ipv6');
    }
    this.size = ranges.length;
  }

  contains(ip: string): boolean {
    const plain = normalizeIp(ip);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.#list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** MOSN's port range list: "80", "80,443", "8000-9000"; empty = none. */
export class PortRanges {
  readonly #ranges: Array<[number, number]> = [];

  constructor(spec: string) {
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
      if (!m) throw new Error(`"${part}" is not a port or port range`);
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : Number(m[2]);
      if (min > 65535 || max > 65535 || min > max) throw new Error(`"${part}" is not a valid port range`);
      this.#ranges.push([min, max]);
    }
  }

  get size(): number {
    return this.#ranges.length;
  }

  contains(port: number): boolean {
    for (const [min, max] of this.#ranges) if (port >= min && port <= max) return true;
    return false;
  }
}

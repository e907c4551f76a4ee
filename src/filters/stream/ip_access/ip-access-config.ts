/**
 * @module filters/stream/ip_access/ip-access-config
 * Parses the `ip_access` stream filter config in MOSN's shape and decides a client address:
 *
 *   { "default_action": "deny",
 *     "header": "x-forwarded-for",
 *     "ips": [ { "action": "allow", "addrs": ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"] },
 *              { "action": "deny",  "addrs": ["192.168.0.0/16"] } ] }
 *
 * The lists are tried in order and the first one that contains the address decides (an
 * "allow" list lets it through, a "deny" list refuses it); an address no list contains
 * gets `default_action` ("allow" when absent, as in MOSN). An address that is not an IP
 * (a garbled header) is in no list. IPv4 and IPv6 addresses and CIDRs both work;
 * IPv4-mapped IPv6 ("::ffff:10.1.2.3") is the IPv4 address, as Go's net.IP treats it.
 *
 * Where mosnode departs from MOSN, on purpose:
 *   - `action` and `default_action` must be "allow" or "deny" (MOSN treats any other word,
 *     "Deny" or "block" included, as allow: a typo would open the door);
 *   - a plain IP matches any spelling of the same address ("::1" = "0:0:0:0:0:0:0:1";
 *     MOSN compares plain IPs as strings);
 *   - a header value listing several addresses ("client, proxy1, proxy2", as
 *     x-forwarded-for does) is decided on its first address, the original client (MOSN
 *     fails to parse it and falls to the default action). A port ("1.2.3.4:5",
 *     "[::1]:5") is dropped, as MOSN does. Only trust such a header when a proxy in front
 *     of mosnode sets it: a client can send any value.
 * Depends on api/ and the pure CIDR set of network/address.
 */
import { isIP } from 'node:net';
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalArray, optionalString, unknownKeys } from '../../../api/config-helpers.ts';
import { CidrSet } from '../../../network/address.ts';

export type IpAccessAction = 'allow' | 'deny';

export interface IpAccessList {
  readonly action: IpAccessAction;
  readonly addrs: CidrSet;
}

export interface IpAccessConfig {
  readonly defaultAction: IpAccessAction;
  /** Lower-case request header that carries the client address; undefined = the connection's peer. */
  readonly header: string | undefined;
  readonly lists: readonly IpAccessList[];
}

const CONFIG_KEYS = ['default_action', 'header', 'ips'] as const;
const LIST_KEYS = ['action', 'addrs'] as const;

function parseAction(obj: Record<string, unknown>, key: string, path: string, fallback: IpAccessAction | undefined): IpAccessAction {
  const v = optionalString(obj, key, path);
  if ((v === undefined || v === '') && fallback !== undefined) return fallback;
  if (v === 'allow' || v === 'deny') return v;
  throw new FilterConfigError(`${path}.${key}`, `"allow" or "deny", got ${JSON.stringify(v ?? null)}`);
}

/**
 * One `addrs` entry as a CIDR range: "10.0.0.0/8", "2001:db8::/32", or a plain IP (one host:
 * /32 or /128). IPv4-mapped IPv6 is stored as IPv4 so it matches the addresses clients have.
 * Undefined when the entry is neither.
 */
export function parseCidr(text: string): { address: string; length: number } | undefined {
  const slash = text.indexOf('/');
  let address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return undefined;
  let length = family === 4 ? 32 : 128;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > length) return undefined;
    length = Number(lengthText);
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null && length >= 96) {
    address = mapped[1]!;
    length -= 96;
  }
  return { address, length };
}

export function parseIpAccessConfig(raw: unknown, path: string, warn: (message: string) => void = () => {}): IpAccessConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) warn(`${path}.${key}: unknown key, ignored`);
  const defaultAction = parseAction(obj, 'default_action', path, 'allow');
  const header = optionalString(obj, 'header', path)?.trim().toLowerCase() || undefined;
  const lists = optionalArray(obj, 'ips', path).map((item, i): IpAccessList => {
    const p = `${path}.ips[${i}]`;
    const entry = configObject(item, p);
    for (const key of unknownKeys(entry, LIST_KEYS)) warn(`${p}.${key}: unknown key, ignored`);
    const action = parseAction(entry, 'action', p, undefined);
    const addrsRaw = configValue(entry, 'addrs');
    if (!Array.isArray(addrsRaw) || addrsRaw.length === 0) {
      throw new FilterConfigError(`${p}.addrs`, 'a non-empty array of IP addresses or CIDRs ("10.0.0.0/8", "::1")');
    }
    const ranges = addrsRaw.map((a, j) => {
      const range = typeof a === 'string' ? parseCidr(a.trim()) : undefined;
      if (range === undefined) {
        throw new FilterConfigError(`${p}.addrs[${j}]`, `an IP address or CIDR ("10.0.0.0/8", "2001:db8::/32"), got ${JSON.stringify(a)}`);
      }
      return range;
    });
    return { action, addrs: new CidrSet(ranges) };
  });
  if (lists.length === 0 && defaultAction === 'allow') warn(`${path}.ips: empty and default_action is "allow": every request is allowed`);
  return { defaultAction, header, lists };
}

/**
 * The IP in an address as it arrives: "ip:port", "[v6]:port", a bare IPv4 or IPv6, or (from
 * a header) a comma-separated list whose first entry is taken. Not validated: an address
 * that is not an IP is simply in no list.
 */
export function clientIp(address: string): string {
  const comma = address.indexOf(',');
  let a = (comma < 0 ? address : address.slice(0, comma)).trim();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end < 0 ? a : a.slice(1, end);
  }
  const colon = a.indexOf(':');
  // One colon is "ipv4:port"; more is a bare IPv6 address.
  if (colon >= 0 && a.indexOf(':', colon + 1) < 0) a = a.slice(0, colon);
  return a;
}

/** "allow" or "deny" for `ip`: the first list that contains it decides, else the default. */
export function decide(config: IpAccessConfig, ip: string): IpAccessAction {
  for (const list of config.lists) if (list.addrs.contains(ip)) return list.action;
  return config.defaultAction;
}

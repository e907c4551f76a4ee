/**
 * @module filters/listener/proxy_protocol/proxy-protocol-parser
 * A parser for the PROXY protocol header (HAProxy's doc/proxy-protocol.txt), versions 1
 * (text) and 2 (binary), over the bytes seen so far: it says "need more bytes", "this is
 * not a PROXY header", "invalid" (and why), or gives the header and its length. Pure: no
 * I/O, no timers, so it is tested byte by byte and fuzzed without sockets.
 *
 * Strict where the spec says "must": one space between v1 fields, CRLF only, no leading
 * zeros, at most 107 bytes for a v1 line, version 2 and commands LOCAL/PROXY only, known
 * families and transports only, TLVs that fit exactly, a CRC32c TLV that matches. Lenient
 * where it allows: v1 UNKNOWN ignores the rest of its line; v2 LOCAL skips its block unread;
 * AF_UNSPEC, AF_UNIX and UNSPEC transports keep the connection's real addresses.
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';

/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** "PROXY " : a v1 header starts with it. */
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line the spec allows, CRLF included. */
export const V1_MAX_BYTES = 107;
/** The fixed part of a v2 header (signature, version/command, family/transport, length). */
export const V2_FIXED_BYTES = 16;
/** The longest v2 header there can be. */
export const V2_MAX_BYTES = V2_FIXED_BYTES + 0xffff;

/** TLV types the spec registers (others are kept as they are). */
export const PP2_TYPE_CRC32C = 0x03;

export interface ProxyAddress {
  readonly ip: string;
  readonly port: number;
}

export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** v1 TCP4/TCP6 and v2 PROXY are "PROXY"; v1 UNKNOWN and v2 LOCAL are "LOCAL". */
  readonly command: 'PROXY' | 'LOCAL';
  /** Bytes the header takes: drop exactly these, the rest is the peer's data. */
  readonly length: number;
  /**
   * The client's and the destination's addresses; undefined when the header carries none
   * the connection can take (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX, UNSPEC transport).
   */
  readonly source: ProxyAddress | undefined;
  readonly destination: ProxyAddress | undefined;
  /** v2 TLVs in order (none for v1 and LOCAL). */
  readonly tlvs: readonly ProxyTlv[];
}

export type ProxyParseResult =
  /** Give it at least `need` bytes (in total). */
  | { readonly kind: 'incomplete'; readonly need: number }
  /** The bytes start like neither version. */
  | { readonly kind: 'not_proxy' }
  /** A PROXY header that breaks the spec (`malformed`) or a limit (`too_large`). */
  | { readonly kind: 'invalid'; readonly reason: 'malformed' | 'too_large'; readonly message: string }
  | { readonly kind: 'header'; readonly header: ProxyHeader };

const malformed = (message: string): ProxyParseResult => ({ kind: 'invalid', reason: 'malformed', message });
const NOT_PROXY: ProxyParseResult = { kind: 'not_proxy' };

/**
 * Parses the header at the start of `bytes`. `maxHeaderBytes` bounds a v2 header (a v1
 * line is bounded by the spec's 107 bytes).
 */
export function parseProxyHeader(bytes: Buffer, maxHeaderBytes: number = V2_MAX_BYTES): ProxyParseResult {
  if (bytes.length === 0) return { kind: 'incomplete', need: 1 };
  if (!startsLike(bytes, V2_SIGNATURE)) return startsLike(bytes, V1_PREFIX) ? parseV1(bytes) : NOT_PROXY;
  return parseV2(bytes, maxHeaderBytes);
}

/** True when the bytes so far agree with `prefix` (all of it, or as far as they go). */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.compare(prefix, 0, n, 0, n) === 0;
}

// --- version 1 --------------------------------------------------------------------------

function parseV1(bytes: Buffer): ProxyParseResult {
  if (bytes.length < V1_PREFIX.length) return { kind: 'incomplete', need: V1_PREFIX.length };
  const limit = Math.min(bytes.length, V1_MAX_BYTES);
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) return malformed('v1: a line feed without a carriage return');
    if (b === 0x0d) {
      cr = i;
      break;
    }
  }
  if (cr < 0) {
    if (bytes.length >= V1_MAX_BYTES) return { kind: 'invalid', reason: 'too_large', message: `v1: no CRLF in the first ${V1_MAX_BYTES} bytes` };
    return { kind: 'incomplete', need: bytes.length + 1 };
  }
  if (cr + 1 >= V1_MAX_BYTES) return { kind: 'invalid', reason: 'too_large', message: `v1: no CRLF in the first ${V1_MAX_BYTES} bytes` };
  if (cr + 1 >= bytes.length) return { kind: 'incomplete', need: cr + 2 };
  if (bytes[cr + 1] !== 0x0a) return malformed('v1: a carriage return without a line feed');
  const length = cr + 2;
  const fields = bytes.toString('latin1', V1_PREFIX.length, cr).split(' ');
  const protocol = fields[0];
  // UNKNOWN: the sender speaks the protocol but has no addresses; the rest of the line is ignored.
  if (protocol === 'UNKNOWN') return header(1, 'LOCAL', length, undefined, undefined, []);
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return malformed(`v1: unknown protocol ${JSON.stringify(protocol ?? '')}`);
  if (fields.length !== 5 || fields.some((f) => f === '')) {
    return malformed('v1: expected "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>" with single spaces');
  }
  const [, srcIp, dstIp, srcPort, dstPort] = fields as [string, string, string, string, string];
  const valid = protocol === 'TCP4' ? isIPv4 : isV1Ipv6;
  if (!valid(srcIp) || !valid(dstIp)) return malformed(`v1: addresses are not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const sport = parsePort(srcPort);
  const dport = parsePort(dstPort);
  if (sport === undefined || dport === undefined) return malformed('v1: ports must be decimal 0..65535 without leading zeros');
  return header(1, 'PROXY', length, { ip: canonicalIp(srcIp), port: sport }, { ip: canonicalIp(dstIp), port: dport }, []);
}

/** IPv6 text as inet_pton takes it, without a zone ("%eth0"), which has no meaning here. */
function isV1Ipv6(text: string): boolean {
  return isIPv6(text) && !text.includes('%');
}

function parsePort(text: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

// --- version 2 --------------------------------------------------------------------------

const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const TRANSPORT_STREAM = 0x1;
const TRANSPORT_DGRAM = 0x2;
/** Address block sizes by family. */
const ADDRESS_BYTES: Record<number, number> = { [AF_UNSPEC]: 0, [AF_INET]: 12, [AF_INET6]: 36, [AF_UNIX]: 216 };

function parseV2(bytes: Buffer, maxHeaderBytes: number): ProxyParseResult {
  if (bytes.length < V2_FIXED_BYTES) return { kind: 'incomplete', need: V2_FIXED_BYTES };
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  if (version !== 2) return malformed(`v2: version ${version} (only 2 is defined)`);
  if (command > 1) return malformed(`v2: command 0x${command.toString(16)} (only LOCAL 0x0 and PROXY 0x1 are defined)`);
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  if (family > AF_UNIX) return malformed(`v2: address family 0x${family.toString(16)}`);
  if (transport > TRANSPORT_DGRAM) return malformed(`v2: transport protocol 0x${transport.toString(16)}`);
  const length = V2_FIXED_BYTES + bytes.readUInt16BE(14);
  if (length > maxHeaderBytes) {
    return { kind: 'invalid', reason: 'too_large', message: `v2: a ${length}-byte header exceeds the limit of ${maxHeaderBytes} bytes` };
  }
  if (bytes.length < length) return { kind: 'incomplete', need: length };
  // LOCAL (health checks from the proxy itself): the block is skipped unread, family included.
  if (command === 0) return header(2, 'LOCAL', length, undefined, undefined, []);
  // AF_UNSPEC: "the receiver should ignore address information"; whatever follows is not ours to parse.
  if (family === AF_UNSPEC) return header(2, 'PROXY', length, undefined, undefined, []);

  const addressBytes = ADDRESS_BYTES[family]!;
  if (length - V2_FIXED_BYTES < addressBytes) {
    return malformed(`v2: ${length - V2_FIXED_BYTES} address bytes are fewer than the ${addressBytes} of the family`);
  }
  const tlvs = parseTlvs(bytes, V2_FIXED_BYTES + addressBytes, length);
  if (typeof tlvs === 'string') return malformed(`v2: ${tlvs}`);

  let source: ProxyAddress | undefined;
  let destination: ProxyAddress | undefined;
  const usable = transport === TRANSPORT_STREAM || transport === TRANSPORT_DGRAM;
  if (usable && family === AF_INET) {
    const at = V2_FIXED_BYTES;
    source = { ip: ipv4(bytes, at), port: bytes.readUInt16BE(at + 8) };
    destination = { ip: ipv4(bytes, at + 4), port: bytes.readUInt16BE(at + 10) };
  } else if (usable && family === AF_INET6) {
    const at = V2_FIXED_BYTES;
    source = { ip: ipv6(bytes, at), port: bytes.readUInt16BE(at + 32) };
    destination = { ip: ipv6(bytes, at + 16), port: bytes.readUInt16BE(at + 34) };
  }
  return header(2, 'PROXY', length, source, destination, tlvs);
}

/** TLVs between `from` and `to`, each fitting exactly; a CRC32c TLV is verified. Or why not. */
function parseTlvs(bytes: Buffer, from: number, to: number): ProxyTlv[] | string {
  const tlvs: ProxyTlv[] = [];
  let at = from;
  while (at < to) {
    if (to - at < 3) return `a truncated TLV at byte ${at}`;
    const type = bytes[at]!;
    const size = bytes.readUInt16BE(at + 1);
    if (at + 3 + size > to) return `TLV 0x${type.toString(16)} at byte ${at} runs past the header (${size} bytes)`;
    const value = bytes.subarray(at + 3, at + 3 + size);
    if (type === PP2_TYPE_CRC32C) {
      if (size !== 4) return `the CRC32c TLV has ${size} bytes instead of 4`;
      // The checksum covers the whole header with its own 4 bytes zeroed.
      const copy = Buffer.from(bytes.subarray(0, to));
      copy.fill(0, at + 3, at + 7);
      if (crc32c(copy) !== value.readUInt32BE(0)) return 'the CRC32c checksum does not match';
    }
    tlvs.push({ type, value: Buffer.from(value) });
    at += 3 + size;
  }
  return tlvs;
}

function ipv4(bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

function ipv6(bytes: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(at + i).toString(16));
  return canonicalIp(groups.join(':'));
}

/** IPv6 as inet_ntop writes it; IPv4-mapped IPv6 as plain IPv4 (how every layer compares addresses). */
function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const text = new SocketAddress({ address: ip, family: 'ipv6' }).address;
  return text.startsWith('::ffff:') && isIPv4(text.slice(7)) ? text.slice(7) : text;
}

function header(
  version: 1 | 2,
  command: 'PROXY' | 'LOCAL',
  length: number,
  source: ProxyAddress | undefined,
  destination: ProxyAddress | undefined,
  tlvs: readonly ProxyTlv[],
): ProxyParseResult {
  return { kind: 'header', header: { version, command, length, source, destination, tlvs } };
}

// --- CRC32c (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960 appendix B ------

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC32c of `bytes` (for the PP2_TYPE_CRC32C TLV). */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

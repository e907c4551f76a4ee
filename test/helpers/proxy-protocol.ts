/**
 * Builders of PROXY protocol v2 headers for tests (v1 headers are plain text).
 */
import { V2_SIGNATURE, crc32c } from '../../src/filters/listener/proxy_protocol/proxy-protocol-parser.ts';

/** A v2 header: command 0 LOCAL / 1 PROXY, family/transport byte, address block, TLVs. */
export function v2(options: { command?: number; famProto?: number; address?: Buffer; tlvs?: Array<[number, Buffer]>; version?: number; crc?: boolean | 'bad' } = {}): Buffer {
  const tlvParts = (options.tlvs ?? []).map(([type, value]) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 0xff]), value]));
  if (options.crc) tlvParts.push(Buffer.from([0x03, 0, 4, 0, 0, 0, 0]));
  const body = Buffer.concat([options.address ?? Buffer.alloc(0), ...tlvParts]);
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = ((options.version ?? 2) << 4) | (options.command ?? 1);
  head[13] = options.famProto ?? 0x11;
  head.writeUInt16BE(body.length, 14);
  const whole = Buffer.concat([head, body]);
  if (options.crc) {
    const sum = crc32c(whole);
    whole.writeUInt32BE(options.crc === 'bad' ? (sum ^ 1) >>> 0 : sum, whole.length - 4);
  }
  return whole;
}

export function ipv4Block(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (b[i] = Number(o)));
  dst.split('.').forEach((o, i) => (b[4 + i] = Number(o)));
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

/** 16 bytes of an IPv6 address written with all 8 groups. */
function ipv6Bytes(full: string): Buffer {
  const b = Buffer.alloc(16);
  full.split(':').forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export function ipv6Block(src: string, dst: string, sport: number, dport: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return Buffer.concat([ipv6Bytes(src), ipv6Bytes(dst), ports]);
}

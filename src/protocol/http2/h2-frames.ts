/**
 * @module protocol/http2/h2-frames
 * HTTP/2 framing facts (RFC 9113 §4, §6, §7): frame types, flags, error codes, settings
 * identifiers and limits, and the 9-byte frame header. Plain numbers rather than enums,
 * so the connection's hot path compares small integers.
 */

export const FRAME_HEADER_LENGTH = 9;

// Frame types (§6).
export const FRAME_DATA = 0x0;
export const FRAME_HEADERS = 0x1;
export const FRAME_PRIORITY = 0x2;
export const FRAME_RST_STREAM = 0x3;
export const FRAME_SETTINGS = 0x4;
export const FRAME_PUSH_PROMISE = 0x5;
export const FRAME_PING = 0x6;
export const FRAME_GOAWAY = 0x7;
export const FRAME_WINDOW_UPDATE = 0x8;
export const FRAME_CONTINUATION = 0x9;

// Flags.
export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

// Error codes (§7).
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const STREAM_CLOSED = 0x5;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;
export const ENHANCE_YOUR_CALM = 0xb;

// Settings (§6.5.2).
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** Initial flow-control window of a connection and of each stream (§6.9.2). */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 0x7fff_ffff;
/** SETTINGS_MAX_FRAME_SIZE bounds (§6.5.2); we never raise ours above the default. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 0xff_ffff;

/** Writes a frame header at buf[at..at+9). */
export function writeFrameHeader(buf: Uint8Array, at: number, length: number, type: number, flags: number, streamId: number): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf[at + 5] = (streamId >>> 24) & 0x7f;
  buf[at + 6] = (streamId >>> 16) & 0xff;
  buf[at + 7] = (streamId >>> 8) & 0xff;
  buf[at + 8] = streamId & 0xff;
}

/** A 31-bit big-endian value (stream ids, window increments), the reserved bit dropped. */
export function readUint31(buf: Uint8Array, at: number): number {
  return ((buf[at]! & 0x7f) * 0x100_0000) + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

export function readUint32(buf: Uint8Array, at: number): number {
  return buf[at]! * 0x100_0000 + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

export function writeUint32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

/** A connection error: the connection ends with GOAWAY carrying `code`. */
export class Http2ConnectionError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'Http2ConnectionError';
    this.code = code;
  }
}

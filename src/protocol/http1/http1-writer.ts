/**
 * @module protocol/http1/http1-writer
 * Serialises HTTP/1.1 heads and frames bodies, for the server codec and the upstream
 * client. A head is one latin1 string; a small head and body go out as one buffer so a
 * typical message costs one write. Names and values are checked here because filters and
 * config can set them: a CR or LF would otherwise split the message (response splitting).
 */
import { STATUS_CODES } from 'node:http';
import type { HeaderMap } from '../../api/headers.ts';

/** A header name or value the writer refuses (node:http's codes, so logs read the same). */
export class InvalidHeaderError extends Error {
  readonly code: 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR';

  constructor(code: 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR', message: string) {
    super(message);
    this.name = 'InvalidHeaderError';
    this.code = code;
  }
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A character no field value may hold: controls other than HTAB, and DEL. */
export const INVALID_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * "name: value\r\n" for each header of a flat array; throws InvalidHeaderError. The first
 * `validated` entries are known valid (HeaderMap.validated: they came from the parser,
 * which checks the same rules) and are not checked again.
 */
export function serializeHeaderLines(flat: readonly string[], validated = 0): string {
  let out = '';
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    if (i >= validated) {
      if (!TOKEN_RE.test(name)) throw new InvalidHeaderError('ERR_INVALID_HTTP_TOKEN', `invalid header name: ${JSON.stringify(name)}`);
      if (INVALID_VALUE_RE.test(value)) throw new InvalidHeaderError('ERR_INVALID_CHAR', `invalid character in the value of header ${name}`);
    }
    out += `${name}: ${value}\r\n`;
  }
  return out;
}

/** The header lines of `headers`, checking only what its parser did not (see serializeHeaderLines). */
export function serializeHeaders(headers: HeaderMap): string {
  return serializeHeaderLines(headers.flatView(), headers.validated);
}

const STATUS_LINES: string[] = [];
/** "HTTP/1.1 200 OK\r\n", cached per status. */
export function statusLine(status: number): string {
  return (STATUS_LINES[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`);
}

let dateValue = '';
let dateSecond = -1;
/** The current IMF-fixdate, recomputed at most once a second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/**
 * Largest body chunk copied next to its head or chunk framing to save a write. Above it
 * the copy and its garbage cost more than the second write (16 KiB bodies: 56.6 us/req
 * proxied at 16 KiB, 37.5 at 4 KiB, bench/l7-proxy.sh).
 */
export const COALESCE_LIMIT = 4 * 1024;

/** One buffer holding `text` (latin1) then `body`, then `suffix` (latin1). */
export function joinHeadAndBody(text: string, body: Buffer, suffix = ''): Buffer {
  const out = Buffer.allocUnsafe(text.length + body.length + suffix.length);
  const at = out.latin1Write(text, 0);
  body.copy(out, at);
  if (suffix !== '') out.latin1Write(suffix, at + body.length);
  return out;
}

declare module 'node:buffer' {
  interface Buffer {
    /** Node's fast path behind write(string, offset, 'latin1'). */
    latin1Write(text: string, offset: number): number;
  }
}

/** The framing line in front of one chunk of a chunked body. */
export function chunkHeader(length: number): string {
  return `${length.toString(16)}\r\n`;
}

/** The last chunk of a chunked body, with trailers when given. */
export function lastChunk(trailers: readonly string[] | undefined): string {
  return trailers === undefined || trailers.length === 0 ? '0\r\n\r\n' : `0\r\n${serializeHeaderLines(trailers)}\r\n`;
}

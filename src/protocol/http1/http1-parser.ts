/**
 * @module protocol/http1/http1-parser
 * mosnode's own HTTP/1.1 message parser (RFC 9112), shared by the server codec and the
 * upstream client. Heads are parsed whole, once their blank line has arrived, straight
 * from the socket's bytes into a flat header array with lower-case names; the framing
 * headers (Content-Length, Transfer-Encoding, Connection, Upgrade, Expect) are read on
 * the same pass. Bodies are framed by BodyDecoder (length, chunked with trailers, or
 * until the connection closes).
 *
 * It is strict where leniency lets two parsers disagree about where a message ends
 * (request smuggling): lines end in CRLF only, no obs-fold, no whitespace before a colon,
 * header names are tokens and values carry no control characters, Content-Length is
 * digits only and appears once, and a request with both Content-Length and
 * Transfer-Encoding, or a transfer coding other than `chunked`, is refused.
 */

/** A message the parser refuses; `status` is what a server answers (400, 431, 501, 505). */
export class Http1ParseError extends Error {
  /** llhttp-style code, for logs: HPE_INVALID_HEADER_TOKEN, HPE_HEADER_OVERFLOW, ... */
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = 'Http1ParseError';
    this.code = code;
    this.status = status;
  }
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** tchar (RFC 9110 §5.6.2): what header names and methods are made of. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = 2; // upper case: the name needs lower-casing
for (let c = 97; c <= 122; c++) TOKEN[c] = 1;

/** field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5): what a header value may hold. */
const VALUE = new Uint8Array(256);
VALUE[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;

/** What a request-target may hold: visible ASCII (origin-form, absolute-form, authority, *). */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Longer than any method we could forward (RFC 9112 §3: 501). */
const MAX_METHOD_LENGTH = 64;

/** Bytes as a latin1 string (HTTP field bytes map 1:1, as node:http does). */
function latin1(buf: Buffer, start: number, end: number): string {
  return buf.latin1Slice(start, end);
}

declare module 'node:buffer' {
  interface Buffer {
    /** Node's undocumented but stable fast path behind toString('latin1', start, end). */
    latin1Slice(start: number, end: number): string;
  }
}

/**
 * Index just past the blank line that ends the head starting at `start`, or -1 when it
 * has not all arrived. `from` is where to resume searching (bytes before it were searched).
 * Throws 431 when the head is longer than `maxHeadBytes`.
 */
export function findHeadEnd(buf: Buffer, start: number, from: number, maxHeadBytes: number): number {
  const at = buf.indexOf(HEAD_END, Math.max(start, from - 3));
  const end = at === -1 ? -1 : at + 4;
  if ((end === -1 ? buf.length : end) - start > maxHeadBytes) {
    throw new Http1ParseError('HPE_HEADER_OVERFLOW', `message head over ${maxHeadBytes} bytes`, 431);
  }
  return end;
}

/** Skips empty lines before a request line (RFC 9112 §2.2). Returns the first other index. */
export function skipLeadingEmptyLines(buf: Buffer, start: number): number {
  while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
  return start;
}

/** The framing a head declares, filled in while its header lines are parsed. */
export interface Framing {
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  /** The Transfer-Encoding values joined, or undefined when absent. */
  transferEncoding: string | undefined;
  /** Connection: close was sent. */
  close: boolean;
  /** Connection: keep-alive was sent (matters for HTTP/1.0). */
  keepAlive: boolean;
  /** Connection: upgrade was sent. */
  connectionUpgrade: boolean;
  /** An Upgrade header was sent. */
  upgrade: boolean;
  /** Expect: 100-continue was sent. */
  expectContinue: boolean;
  /** A Host header was seen (requests only). */
  hostSeen: boolean;
}

export interface RequestHeadFields extends Framing {
  method: string;
  /** The request-target as sent. */
  target: string;
  /** HTTP/1.0 (else 1.1). */
  http10: boolean;
  /** [name, value, ...], lower-case names, values without surrounding whitespace. */
  headers: string[];
  /** The body is chunked (else `contentLength` bytes; none when -1 or 0). */
  chunked: boolean;
}

export interface ResponseHeadFields extends Framing {
  status: number;
  http10: boolean;
  headers: string[];
}

/** A placeholder until a head's header lines are parsed (never filled). */
const NO_HEADERS: string[] = [];

function newFraming(): Framing {
  return {
    contentLength: -1,
    transferEncoding: undefined,
    close: false,
    keepAlive: false,
    connectionUpgrade: false,
    upgrade: false,
    expectContinue: false,
    hostSeen: false,
  };
}

/**
 * Parses a request head in buf[start, headEnd) (headEnd from findHeadEnd). Throws
 * Http1ParseError for anything malformed or ambiguous.
 */
export function parseRequestHead(buf: Buffer, start: number, headEnd: number): RequestHeadFields {
  // The whole head as one string, once: bytes are tested on the buffer, and the pieces
  // sliced from the string (a Buffer-to-string call per piece costs more).
  const text = latin1(buf, start, headEnd);
  let pos = start;
  // method SP (a byte past the end reads as undefined: not in any table)
  while (TOKEN[buf[pos]!]! > 0) pos++;
  if (pos === start || buf[pos] !== SP) throw new Http1ParseError('HPE_INVALID_METHOD', 'invalid request method');
  if (pos - start > MAX_METHOD_LENGTH) throw new Http1ParseError('HPE_INVALID_METHOD', 'request method too long', 501);
  const method = text.slice(0, pos - start);
  const targetStart = ++pos;
  while (TARGET[buf[pos]!] === 1) pos++;
  if (pos === targetStart || buf[pos] !== SP) throw new Http1ParseError('HPE_INVALID_URL', 'invalid request target');
  const target = text.slice(targetStart - start, pos - start);
  pos -= start;
  pos++;
  const http10 = parseVersion(text, pos);
  pos += 8;
  if (text.charCodeAt(pos) !== CR || text.charCodeAt(pos + 1) !== LF) throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid request line end');
  pos += 2;
  // Every field in one literal: one object shape, no field added afterwards.
  const head: RequestHeadFields = {
    contentLength: -1,
    transferEncoding: undefined,
    close: false,
    keepAlive: false,
    connectionUpgrade: false,
    upgrade: false,
    expectContinue: false,
    hostSeen: false,
    method,
    target,
    http10,
    headers: NO_HEADERS,
    chunked: false,
  };
  head.headers = parseHeaderLines(buf, start, text, pos, head, true);
  if (head.transferEncoding !== undefined) {
    if (head.contentLength !== -1) {
      throw new Http1ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Content-Length and Transfer-Encoding');
    }
    if (http10) throw new Http1ParseError('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 request');
    // Only `chunked` alone is understood; anything else cannot be framed. 400 like llhttp
    // (RFC 9112 §6.1 suggests 501): an obfuscated coding is a smuggling attempt, not a feature.
    if (head.transferEncoding.toLowerCase() !== 'chunked') {
      throw new Http1ParseError('HPE_INVALID_TRANSFER_ENCODING', `unsupported transfer coding: ${head.transferEncoding.slice(0, 40)}`);
    }
    head.chunked = true;
  }
  return head;
}

/**
 * Parses a response head in buf[start, headEnd). Transfer-Encoding overrides
 * Content-Length (RFC 9112 §6.3); the caller frames the body with `responseBodyKind`.
 */
export function parseResponseHead(buf: Buffer, start: number, headEnd: number): ResponseHeadFields {
  let pos = start;
  const http10 = parseVersionBytes(buf, pos);
  pos += 8;
  if (buf[pos] !== SP) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid status line');
  pos++;
  const d0 = buf[pos]! - 48;
  const d1 = buf[pos + 1]! - 48;
  const d2 = buf[pos + 2]! - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid status code');
  pos += 3;
  // The reason phrase is not kept (nothing uses it); it may be absent, with or without its SP.
  if (buf[pos] === SP) {
    pos++;
    while (VALUE[buf[pos]!] === 1) pos++;
  }
  if (buf[pos] !== CR || buf[pos + 1] !== LF) throw new Http1ParseError('HPE_INVALID_STATUS', 'invalid status line');
  pos += 2;
  const head: ResponseHeadFields = {
    contentLength: -1,
    transferEncoding: undefined,
    close: false,
    keepAlive: false,
    connectionUpgrade: false,
    upgrade: false,
    expectContinue: false,
    hostSeen: false,
    status: d0 * 100 + d1 * 10 + d2,
    http10,
    headers: NO_HEADERS,
  };
  // Only the header lines become a string: the status line needs none.
  head.headers = parseHeaderLines(buf, pos, latin1(buf, pos, headEnd), 0, head, false);
  return head;
}

/** parseVersion over bytes (a response's status line is read from the buffer). */
function parseVersionBytes(buf: Buffer, pos: number): boolean {
  if (buf[pos] !== 72 || buf[pos + 1] !== 84 || buf[pos + 2] !== 84 || buf[pos + 3] !== 80 || buf[pos + 4] !== 47 || buf[pos + 6] !== 46) {
    throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid HTTP version');
  }
  return versionIs10(buf[pos + 5]! - 48, buf[pos + 7]! - 48);
}

/** "HTTP/1.1" or "HTTP/1.0" at pos; returns true for 1.0. Other versions: 505, garbage: 400. */
function parseVersion(text: string, pos: number): boolean {
  if (
    text.charCodeAt(pos) !== 72 ||
    text.charCodeAt(pos + 1) !== 84 ||
    text.charCodeAt(pos + 2) !== 84 ||
    text.charCodeAt(pos + 3) !== 80 ||
    text.charCodeAt(pos + 4) !== 47 ||
    text.charCodeAt(pos + 6) !== 46
  ) {
    throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid HTTP version');
  }
  return versionIs10(text.charCodeAt(pos + 5) - 48, text.charCodeAt(pos + 7) - 48);
}

/** The version's digits: true for 1.0, false for 1.1; other versions: 505, garbage: 400. */
function versionIs10(major: number, minor: number): boolean {
  if (!(major >= 0 && major <= 9 && minor >= 0 && minor <= 9)) throw new Http1ParseError('HPE_INVALID_VERSION', 'invalid HTTP version');
  if (major !== 1 || minor > 1) throw new Http1ParseError('HPE_INVALID_VERSION', `HTTP/${major}.${minor} not supported`, 505);
  return minor === 0;
}

/**
 * Parses the header lines of `text` from `start` up to the blank line that ends it into a
 * flat array, noting the framing headers in `framing`. `request` = stricter
 * Content-Length rules. (One string for the whole head, then charCodeAt and slice: a
 * Buffer-to-string call per name and value costs more than the scan itself.)
 */
function parseHeaderLines(buf: Uint8Array, base: number, text: string, start: number, framing: Framing, request: boolean): string[] {
  const headers: string[] = [];
  const last = text.length - 2; // the blank line's CR
  let pos = start;
  // Characters are tested on the bytes (buf[base + i] is text[i]), strings sliced from text.
  while (pos < last) {
    const nameStart = pos;
    let upper = 0;
    let t: number;
    while ((t = TOKEN[buf[base + pos]!]!) !== 0 && t !== undefined) {
      upper |= t;
      pos++;
    }
    if (buf[base + pos] !== COLON || pos === nameStart) {
      const c = buf[base + pos];
      throw new Http1ParseError(
        'HPE_INVALID_HEADER_TOKEN',
        pos === nameStart && (c === SP || c === HTAB) ? 'obsolete line folding' : 'invalid header name',
      );
    }
    let name = text.slice(nameStart, pos);
    if (upper & 2) name = name.toLowerCase();
    pos++;
    let c = buf[base + pos];
    while (c === SP || c === HTAB) c = buf[base + ++pos];
    const valueStart = pos;
    while (VALUE[buf[base + pos]!] === 1) pos++;
    if (buf[base + pos] !== CR || buf[base + pos + 1] !== LF) {
      throw new Http1ParseError('HPE_INVALID_HEADER_TOKEN', 'invalid character in a header value');
    }
    let valueEnd = pos;
    while (valueEnd > valueStart && ((c = buf[base + valueEnd - 1]) === SP || c === HTAB)) valueEnd--;
    const value = text.slice(valueStart, valueEnd);
    pos += 2;
    headers.push(name, value);
    // The framing headers, recognised by length first so most names cost one comparison.
    switch (name.length) {
      case 14:
        if (name === 'content-length') noteContentLength(framing, value, request);
        break;
      case 17:
        if (name === 'transfer-encoding') {
          framing.transferEncoding = framing.transferEncoding === undefined ? value : `${framing.transferEncoding}, ${value}`;
        }
        break;
      case 10:
        if (name === 'connection') noteConnection(framing, value);
        break;
      case 7:
        if (name === 'upgrade') framing.upgrade = true;
        break;
      case 4:
        // Two Host lines: which one routes is ambiguous (RFC 9112 §3.2: 400).
        if (request && name === 'host') {
          if (framing.hostSeen) throw new Http1ParseError('HPE_DUPLICATE_HOST', 'more than one Host header');
          framing.hostSeen = true;
        }
        break;
      case 6:
        if (name === 'expect' && value.toLowerCase() === '100-continue') framing.expectContinue = true;
        break;
    }
  }
  return headers;
}

function noteContentLength(framing: Framing, value: string, request: boolean): void {
  const n = decimal(value);
  if (n === -1) throw new Http1ParseError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length: ${value.slice(0, 40)}`);
  // A repeated Content-Length is refused in requests; a response may repeat the same value.
  if (framing.contentLength !== -1 && (request || framing.contentLength !== n)) {
    throw new Http1ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'duplicate Content-Length');
  }
  framing.contentLength = n;
}

/** 1 to 15 ASCII digits as a number, else -1 (Content-Length's syntax, bounded). */
export function decimal(value: string): number {
  const length = value.length;
  if (length === 0 || length > 15) return -1;
  let n = 0;
  for (let i = 0; i < length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}

function noteConnection(framing: Framing, value: string): void {
  // The usual values as sent, without a lower-cased copy.
  const v = value === 'keep-alive' || value === 'close' ? value : value.toLowerCase();
  if (v === 'keep-alive') framing.keepAlive = true;
  else if (v === 'close') framing.close = true;
  else {
    for (const token of v.split(',')) {
      const t = token.trim();
      if (t === 'close') framing.close = true;
      else if (t === 'keep-alive') framing.keepAlive = true;
      else if (t === 'upgrade') framing.connectionUpgrade = true;
    }
  }
}

/** How a response body is delimited (RFC 9112 §6.3), given the request method. */
export function responseBodyKind(head: ResponseHeadFields, requestMethod: string): 'none' | 'length' | 'chunked' | 'close' {
  const status = head.status;
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || status < 200) return 'none';
  const te = head.transferEncoding;
  if (te !== undefined) {
    const lastComma = te.lastIndexOf(',');
    return te.slice(lastComma + 1).trim().toLowerCase() === 'chunked' ? 'chunked' : 'close';
  }
  if (head.contentLength >= 0) return head.contentLength === 0 ? 'none' : 'length';
  return 'close';
}

/** Receives decoded body bytes. */
export interface BodySink {
  onBody(chunk: Buffer): void;
}

// BodyDecoder states.
const LENGTH = 0;
const CHUNK_SIZE = 1;
const CHUNK_EXT = 2;
const CHUNK_SIZE_LF = 3;
const CHUNK_DATA = 4;
const CHUNK_DATA_CR = 5;
const CHUNK_DATA_LF = 6;
const TRAILER = 7;
const UNTIL_CLOSE = 8;
const DONE = 9;
const CHUNK_SIZE_WS = 10;

/** Longest chunk size line (size + extensions) accepted. */
const MAX_CHUNK_LINE = 4096;

/**
 * Frames a message body: `length(n)`, `chunked(maxTrailerBytes)` or `untilClose()`.
 * push() hands body bytes (sub-views of the input, never copies) to the sink and
 * returns how many input bytes it used; the rest belongs to the next message.
 */
export class BodyDecoder {
  #state: number;
  /** LENGTH/CHUNK_DATA: bytes still to come; CHUNK_SIZE: the size read so far. */
  #remaining: number;
  #lineBytes = 0;
  #sawSizeDigit = false;
  readonly #maxTrailerBytes: number;
  #trailerText = '';
  /** Trailer fields, flat with lower-case names, once a chunked body has ended. */
  trailers: string[] | undefined;

  private constructor(state: number, remaining: number, maxTrailerBytes: number) {
    this.#state = state;
    this.#remaining = remaining;
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  static length(n: number): BodyDecoder {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid body length: ${n}`);
    return new BodyDecoder(n === 0 ? DONE : LENGTH, n, 0);
  }

  static chunked(maxTrailerBytes: number): BodyDecoder {
    return new BodyDecoder(CHUNK_SIZE, 0, maxTrailerBytes);
  }

  static untilClose(): BodyDecoder {
    return new BodyDecoder(UNTIL_CLOSE, 0, 0);
  }

  get done(): boolean {
    return this.#state === DONE;
  }

  /** Delimited by the connection's end: the end of input completes it. */
  get endsWithClose(): boolean {
    return this.#state === UNTIL_CLOSE;
  }

  /** Feeds buf[start, end); returns the index after the last byte used. Throws Http1ParseError. */
  push(buf: Buffer, start: number, end: number, sink: BodySink): number {
    let pos = start;
    while (pos < end) {
      switch (this.#state) {
        case LENGTH:
        case CHUNK_DATA: {
          const n = Math.min(this.#remaining, end - pos);
          sink.onBody(pos === 0 && n === buf.length ? buf : buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = this.#state === LENGTH ? DONE : CHUNK_DATA_CR;
          break;
        }
        case UNTIL_CLOSE:
          sink.onBody(pos === 0 && end === buf.length ? buf : buf.subarray(pos, end));
          return end;
        case CHUNK_SIZE: {
          const c = buf[pos]!;
          const digit = HEX[c]!;
          if (digit >= 0) {
            this.#remaining = this.#remaining * 16 + digit;
            if (this.#remaining > Number.MAX_SAFE_INTEGER / 16) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
            this.#sawSizeDigit = true;
          } else if (!this.#sawSizeDigit) {
            throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
          } else if (c === CR) {
            this.#state = CHUNK_SIZE_LF;
          } else if (c === 59 /* ; */) {
            this.#state = CHUNK_EXT;
          } else if (c === SP || c === HTAB) {
            this.#state = CHUNK_SIZE_WS;
          } else {
            throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
          }
          pos++;
          this.#countLine();
          break;
        }
        case CHUNK_SIZE_WS: {
          // Whitespace after the size is allowed only before an extension (BWS ";").
          const c = buf[pos]!;
          if (c === 59) this.#state = CHUNK_EXT;
          else if (c !== SP && c !== HTAB) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
          pos++;
          this.#countLine();
          break;
        }
        case CHUNK_EXT: {
          // Extensions are skipped, not validated: bodies are re-framed, never passed on raw.
          const c = buf[pos]!;
          if (c === CR) this.#state = CHUNK_SIZE_LF;
          else if (VALUE[c] !== 1) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk extension');
          pos++;
          this.#countLine();
          break;
        }
        case CHUNK_SIZE_LF:
          if (buf[pos] !== LF) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size line must end in CRLF');
          pos++;
          this.#lineBytes = 0;
          this.#sawSizeDigit = false;
          if (this.#remaining === 0) this.#state = TRAILER;
          else this.#state = CHUNK_DATA;
          break;
        case CHUNK_DATA_CR:
          if (buf[pos] !== CR) throw new Http1ParseError('HPE_STRICT', 'chunk data must end in CRLF');
          pos++;
          this.#state = CHUNK_DATA_LF;
          break;
        case CHUNK_DATA_LF:
          if (buf[pos] !== LF) throw new Http1ParseError('HPE_STRICT', 'chunk data must end in CRLF');
          pos++;
          this.#state = CHUNK_SIZE;
          break;
        case TRAILER:
          pos = this.#pushTrailer(buf, pos, end);
          break;
        default:
          return pos;
      }
    }
    return pos;
  }

  #countLine(): void {
    if (++this.#lineBytes > MAX_CHUNK_LINE) throw new Http1ParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size line too long');
  }

  /** The trailer section, which ends with an empty line; usually only that empty line. */
  #pushTrailer(buf: Buffer, pos: number, end: number): number {
    const text = this.#trailerText;
    // Fast path: no trailers at all.
    if (text === '' && end - pos >= 2 && buf[pos] === CR && buf[pos + 1] === LF) {
      this.#state = DONE;
      return pos + 2;
    }
    // Trailer text so far plus this input: the section ends at its first empty line.
    let all = text + latin1(buf, pos, end);
    let endAt: number;
    if (all.startsWith('\r\n')) endAt = 2;
    else {
      const i = all.indexOf('\r\n\r\n');
      endAt = i === -1 ? -1 : i + 4;
    }
    // Incomplete: up to 3 bytes of the closing CRLF CRLF may be in hand, on top of the limit.
    if (endAt === -1 ? all.length > this.#maxTrailerBytes + 3 : endAt - 2 > this.#maxTrailerBytes) {
      throw new Http1ParseError('HPE_HEADER_OVERFLOW', 'trailers too large', 431);
    }
    if (endAt === -1) {
      this.#trailerText = all;
      return end;
    }
    all = all.slice(0, endAt);
    const used = endAt - text.length;
    this.#trailerText = '';
    this.#state = DONE;
    if (all.length > 2) this.trailers = parseHeaderLines(Buffer.from(all, 'latin1'), 0, all, 0, newFraming(), false);
    return pos + used;
  }
}

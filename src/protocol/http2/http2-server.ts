/**
 * @module protocol/http2/http2-server
 * mosnode's own HTTP/2 server codec (h2c prior knowledge, RFC 9113) on the raw sockets
 * the `proxy` network filter detached; each stream becomes a ServerStream. It replaces
 * node:http2 on the hot path (node-http2-server.ts stays as the MOSNODE_HTTP2_CODEC=node
 * fallback): node:http2 builds a Duplex, a headers object and a C++ stream per request,
 * which cost about as much as the rest of the proxy together.
 *
 * - Frames are parsed from the socket's 'data' chunks; header blocks are decoded by our
 *   HPACK (hpack/) and checked as RFC 9113 §8 asks (malformed requests are reset).
 * - Output is batched: frames of every stream of a connection go into one buffer that is
 *   written once per event-loop turn (setImmediate), so ten responses cost one write.
 *   END_STREAM is set on a stream's last frame still in that buffer instead of sending an
 *   empty DATA frame.
 * - Flow control both ways: response DATA waits for the peer's windows (a stream's
 *   write() returns false while it waits, or while the socket is full); request bodies
 *   get window back only as the proxy reads them, so a slow upstream holds at most two
 *   stream windows per stream (one buffered, one in flight) and CONNECTION_WINDOW per connection.
 * - Limits: SETTINGS_MAX_CONCURRENT_STREAMS (more is REFUSED_STREAM),
 *   SETTINGS_MAX_HEADER_LIST_SIZE (431), header blocks over twice that end the
 *   connection, and floods of resets, refused streams, pings or settings end it with
 *   ENHANCE_YOUR_CALM (the rapid-reset attack).
 * - A drain sends GOAWAY with the last stream id, lets open streams finish, then closes;
 *   a connection without streams for idleTimeoutMs is closed the same way.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { HeaderMap } from '../../api/headers.ts';
import type { ConnectionAddresses } from '../../api/network-filter.ts';
import type { RequestHead } from '../../api/stream-filter.ts';
import { describeError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { formatAddress } from '../../network/address.ts';
import { connectionAddressesOf } from '../../network/connection.ts';
import { HOP_BY_HOP_HEADERS, HTTP2_PREFACE } from '../http-semantics.ts';
import { decimal } from '../http1/http1-parser.ts';
// The HTTP/1 codec's value rule, so values pass the same rules whichever side they came from.
import { INVALID_VALUE_RE, InvalidHeaderError } from '../http1/http1-writer.ts';
import type { ServerStream } from '../server-stream.ts';
import {
  CANCEL,
  COMPRESSION_ERROR,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ENHANCE_YOUR_CALM,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FLOW_CONTROL_ERROR,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_HEADER_LENGTH,
  FRAME_PING,
  FRAME_PRIORITY,
  FRAME_PUSH_PROMISE,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_SIZE_ERROR,
  FRAME_WINDOW_UPDATE,
  Http2ConnectionError,
  INTERNAL_ERROR,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  NO_ERROR,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  STREAM_CLOSED,
  readUint31,
  readUint32,
  writeFrameHeader,
  writeUint32,
} from './h2-frames.ts';
import { HpackDecoder, HpackError } from './hpack/hpack-decoder.ts';
import { HpackEncoder } from './hpack/hpack-encoder.ts';

export interface Http2ServerLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients. */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, bytes. */
  maxHeaderListSize: number;
  /** A session with no open stream is closed after this long, ms. */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP2_LIMITS: Http2ServerLimits = { maxConcurrentStreams: 1000, maxHeaderListSize: 64 * 1024, idleTimeoutMs: 300_000 };

/** The connection-level receive window we open at the start (the default 64 KiB would throttle uploads). */
const CONNECTION_WINDOW = 1024 * 1024;
/** Frames are gathered here between writes; grown for a larger batch, dropped when the connection idles. */
const OUTPUT_SLAB_BYTES = 16 * 1024;
/** A DATA payload up to this size is copied beside its frame header; a larger one is written by reference. */
const COPY_PAYLOAD_LIMIT = 2048;
/** Gathered output over this is written at once rather than at the end of the event-loop turn. */
const EARLY_WRITE_BYTES = 256 * 1024;
/** Abuse guards: more of these within FLOOD_WINDOW_MS end the connection with ENHANCE_YOUR_CALM. */
const FLOOD_WINDOW_MS = 1_000;
const MAX_RESETS_PER_WINDOW = 500;
const MAX_CONTROL_FRAMES_PER_WINDOW = 1_000;
/** How often idle connections are looked for: one timer per server, not one per connection. */
const IDLE_SWEEP_MS = 1_000;
/** After a GOAWAY for an error, the socket is destroyed if the peer has not closed by then. */
const CLOSE_GRACE_MS = 2_000;
/** Frames a header block may take; nghttp2 allows 8 CONTINUATIONs (CVE-2024-27316 and kin). */
const MAX_HEADER_BLOCK_FRAMES = 64;

/** A field name HTTP/2 allows: a token in lower case (RFC 9113 §8.2.1). */
const FIELD_NAME_RE = /^[!#$%&'*+\-.^_`|0-9a-z~]+$/;
/** Connection-specific fields make an HTTP/2 request malformed (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** A request the codec resets with RST_STREAM(PROTOCOL_ERROR) (RFC 9113 §8.1.1). */
class MalformedRequest extends Error {}

export class Http2Server {
  readonly onRequest: (stream: ServerStream) => void;
  readonly logger: Logger;
  readonly limits: Http2ServerLimits;
  readonly #connections = new Map<Socket, H2Connection>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(onRequest: (stream: ServerStream) => void, logger: Logger, limits: Http2ServerLimits = DEFAULT_HTTP2_LIMITS) {
    this.onRequest = onRequest;
    this.logger = logger;
    this.limits = limits;
  }

  /** Takes over a downstream socket (paused, positioned at the client preface). */
  accept(socket: Socket): void {
    const connection = new H2Connection(this, socket, connectionAddressesOf(socket));
    this.#connections.set(socket, connection);
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), Math.min(IDLE_SWEEP_MS, this.limits.idleTimeoutMs));
      this.#sweeper.unref();
    }
    connection.start();
  }

  /** GOAWAY now; the connection closes when its open streams finish. */
  drain(socket: Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined) socket.end();
    else connection.drain();
  }

  forget(socket: Socket): void {
    this.#connections.delete(socket);
  }

  #sweep(): void {
    const now = Date.now();
    for (const connection of this.#connections.values()) connection.checkIdle(now);
    if (this.#connections.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

type OwnedSocket = Socket & { [CONNECTION]?: H2Connection };
const CONNECTION = Symbol('mosnode.http2.connection');

// Socket listeners shared by every connection (no closure per connection): `this` is the socket.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION]?.onData(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[CONNECTION]?.onPeerEnd();
}
function onSocketClose(this: OwnedSocket): void {
  this[CONNECTION]?.onClose();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  this[CONNECTION]?.onError(err);
}
function onSocketDrain(this: OwnedSocket): void {
  this[CONNECTION]?.onSocketDrain();
}

/** A header block split over HEADERS and CONTINUATION frames, gathered until END_HEADERS. */
interface PendingHeaderBlock {
  streamId: number;
  endStream: boolean;
  parts: Buffer[];
  bytes: number;
  /** HEADERS and CONTINUATION frames so far: tiny or empty ones cost a Buffer each. */
  frames: number;
}

/** One downstream HTTP/2 connection. */
class H2Connection {
  readonly server: Http2Server;
  readonly socket: OwnedSocket;
  readonly addresses: ConnectionAddresses | undefined;
  readonly #decoder = new HpackDecoder();
  readonly #encoder = new HpackEncoder();
  readonly streams = new Map<number, H2Stream>();
  /** Unparsed bytes (a frame not yet whole). */
  #pending: Buffer | undefined;
  #prefaceSeen = false;
  #settingsSeen = false;
  #headerBlock: PendingHeaderBlock | undefined;
  /** Highest stream id the client opened (what a GOAWAY reports). */
  #lastStreamId = 0;

  // Peer settings that shape what we send.
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** How much DATA the peer lets us send on the connection. */
  #sendWindow = DEFAULT_WINDOW;
  /** How much DATA the peer may still send before our next WINDOW_UPDATE, and what was read since. */
  #recvWindow = CONNECTION_WINDOW;
  #recvCredit = 0;
  /** Streams with DATA waiting for window, in the order they started waiting. */
  readonly #blocked = new Set<H2Stream>();

  // Output batching.
  #slab: Buffer | undefined;
  #used = 0;
  #sealed = 0;
  #chunks: Buffer[] = [];
  /** Bumped at each flush and new slab: a frame position recorded in an older generation is gone. */
  generation = 0;
  /** Bytes gathered since the last write. */
  #batchBytes = 0;
  #flushScheduled = false;
  /** Streams whose END_STREAM is in the batch being gathered. */
  #ending: H2Stream[] = [];
  /** The socket's buffer is full: streams report backpressure until 'drain'. */
  socketBlocked = false;
  /** Streams waiting for the socket to drain. */
  readonly #drainWaiters = new Set<H2Stream>();

  #goingAway = false;
  #peerGoingAway = false;
  #closed = false;
  #lastActiveAt = Date.now();
  #floodWindowStart = 0;
  #resets = 0;
  #controlFrames = 0;
  /** Reused to gather response fields without hop-by-hop ones. */
  readonly #fields: string[] = [];

  constructor(server: Http2Server, socket: Socket, addresses: ConnectionAddresses | undefined) {
    this.server = server;
    this.socket = socket as OwnedSocket;
    this.addresses = addresses;
  }

  start(): void {
    const socket = this.socket;
    socket[CONNECTION] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
    const limits = this.server.limits;
    // Our SETTINGS (the server preface), then the connection window opened wide.
    const at = this.#frame(12, FRAME_SETTINGS, 0, 0);
    const slab = this.#slab!;
    slab.writeUInt16BE(SETTINGS_MAX_CONCURRENT_STREAMS, at);
    writeUint32(slab, at + 2, limits.maxConcurrentStreams);
    slab.writeUInt16BE(SETTINGS_MAX_HEADER_LIST_SIZE, at + 6);
    writeUint32(slab, at + 8, limits.maxHeaderListSize);
    this.#windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW);
    this.#scheduleFlush();
    socket.resume();
  }

  // ------------------------------------------------------------ reading
  onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#lastActiveAt = Date.now();
    let buf = chunk;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    let pos = 0;
    try {
      if (!this.#prefaceSeen) {
        const n = Math.min(buf.length, HTTP2_PREFACE.length);
        if (buf.compare(HTTP2_PREFACE, 0, n, 0, n) !== 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'the connection did not start with the HTTP/2 client preface');
        if (n < HTTP2_PREFACE.length) {
          this.#pending = buf;
          return;
        }
        this.#prefaceSeen = true;
        pos = HTTP2_PREFACE.length;
      }
      const end = buf.length;
      while (end - pos >= FRAME_HEADER_LENGTH && !this.#closed) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        // We never raise SETTINGS_MAX_FRAME_SIZE, so the default is the limit (§4.2).
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new Http2ConnectionError(FRAME_SIZE_ERROR, `a frame of ${length} bytes is over the maximum frame size`);
        if (end - pos < FRAME_HEADER_LENGTH + length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const streamId = readUint31(buf, pos + 5);
        const start = pos + FRAME_HEADER_LENGTH;
        pos = start + length;
        this.#onFrame(type, flags, streamId, buf, start, pos);
      }
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (pos < buf.length && !this.#closed) this.#pending = pos === 0 ? buf : buf.subarray(pos);
  }

  #onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (this.#headerBlock !== undefined && type !== FRAME_CONTINUATION) {
      throw new Http2ConnectionError(PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    }
    if (!this.#settingsSeen && type !== FRAME_SETTINGS) throw new Http2ConnectionError(PROTOCOL_ERROR, 'the client preface did not begin with SETTINGS');
    switch (type) {
      case FRAME_DATA:
        return this.#onDataFrame(flags, streamId, buf, start, end);
      case FRAME_HEADERS:
        return this.#onHeadersFrame(flags, streamId, buf, start, end);
      case FRAME_CONTINUATION:
        return this.#onContinuation(flags, streamId, buf, start, end);
      case FRAME_PRIORITY:
        if (streamId === 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (end - start !== 5) this.resetStream(streamId, FRAME_SIZE_ERROR);
        return; // Deprecated by RFC 9113: ignored.
      case FRAME_RST_STREAM:
        return this.#onRstStream(streamId, buf, start, end);
      case FRAME_SETTINGS:
        return this.#onSettings(flags, streamId, buf, start, end);
      case FRAME_PUSH_PROMISE:
        throw new Http2ConnectionError(PROTOCOL_ERROR, 'a client sent PUSH_PROMISE');
      case FRAME_PING:
        return this.#onPing(flags, streamId, buf, start, end);
      case FRAME_GOAWAY:
        return this.#onGoAway(streamId, buf, start, end);
      case FRAME_WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, buf, start, end);
      default:
        return; // Unknown frame types are ignored (§5.5).
    }
  }

  #onSettings(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId !== 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & FLAG_ACK) !== 0) {
      if (end !== start) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a SETTINGS ACK with a payload');
      return;
    }
    if ((end - start) % 6 !== 0) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a SETTINGS payload not a multiple of 6 bytes');
    this.#settingsSeen = true;
    this.#countFlood('control');
    for (let at = start; at < end; at += 6) {
      const id = buf.readUInt16BE(at);
      const value = readUint32(buf, at + 2);
      switch (id) {
        case SETTINGS_HEADER_TABLE_SIZE:
          this.#encoder.setPeerMaxTableSize(value);
          break;
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) throw new Http2ConnectionError(PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new Http2ConnectionError(FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW) throw new Http2ConnectionError(FLOW_CONTROL_ERROR, 'a stream window over 2^31-1');
          }
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) throw new Http2ConnectionError(PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrameSize = value;
          break;
        default:
          break; // MAX_CONCURRENT_STREAMS limits pushes, which we never send; unknown ids are ignored.
      }
    }
    this.#frame(0, FRAME_SETTINGS, FLAG_ACK, 0);
    this.#scheduleFlush();
    if (this.#blocked.size > 0) this.#resumeBlocked();
  }

  #onPing(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId !== 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'PING on a stream');
    if (end - start !== 8) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a PING payload is 8 bytes');
    if ((flags & FLAG_ACK) !== 0) return;
    this.#countFlood('control');
    const at = this.#frame(8, FRAME_PING, FLAG_ACK, 0);
    buf.copy(this.#slab!, at, start, end);
    this.#scheduleFlush();
  }

  #onGoAway(streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId !== 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (end - start < 8) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a GOAWAY payload is at least 8 bytes');
    this.#peerGoingAway = true;
    const code = readUint32(buf, start + 4);
    if (code !== NO_ERROR) this.server.logger.debug({ code, remote: this.remoteAddress }, 'http2: the client sent GOAWAY with an error');
    this.#closeIfDone();
  }

  #onWindowUpdate(streamId: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a WINDOW_UPDATE payload is 4 bytes');
    const increment = readUint31(buf, start);
    if (streamId === 0) {
      if (increment === 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0');
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) throw new Http2ConnectionError(FLOW_CONTROL_ERROR, 'the connection window over 2^31-1');
    } else {
      const stream = this.streams.get(streamId);
      if (increment === 0) {
        if (stream !== undefined) this.#countFlood('resets');
        this.resetStream(streamId, PROTOCOL_ERROR);
        stream?.closeNow(false);
        return;
      }
      if (stream === undefined) return; // A closed stream: window updates may still be in flight.
      stream.sendWindow += increment;
      if (stream.sendWindow > MAX_WINDOW) {
        this.streamError(streamId, FLOW_CONTROL_ERROR);
        stream.closeNow(false);
        return;
      }
    }
    if (this.#blocked.size > 0) this.#resumeBlocked();
  }

  #onRstStream(streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId === 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (end - start !== 4) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a RST_STREAM payload is 4 bytes');
    if (streamId > this.#lastStreamId) throw new Http2ConnectionError(PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    this.#countFlood('resets');
    stream.onPeerReset(readUint32(buf, start));
  }

  #onDataFrame(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId === 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'DATA on stream 0');
    const length = end - start;
    let from = start;
    let to = end;
    if ((flags & FLAG_PADDED) !== 0) {
      if (length < 1) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a PADDED DATA frame without its pad length');
      const pad = buf[start]!;
      from = start + 1;
      to = end - pad;
      if (to < from) throw new Http2ConnectionError(PROTOCOL_ERROR, 'DATA padding longer than the frame');
    }
    // The whole frame counts against the windows (§6.9.1).
    this.#recvWindow -= length;
    if (this.#recvWindow < 0) throw new Http2ConnectionError(FLOW_CONTROL_ERROR, 'the client sent more than the connection window');
    const stream = this.streams.get(streamId);
    if (stream === undefined || stream.remoteEnded) {
      if (streamId > this.#lastStreamId) throw new Http2ConnectionError(PROTOCOL_ERROR, 'DATA on an idle stream');
      // A stream we closed or reset: its bytes may still be in flight. Count them as read.
      this.credit(length);
      if (stream !== undefined) {
        this.streamError(streamId, STREAM_CLOSED);
        stream.closeNow(false);
      }
      return;
    }
    // Padding and the pad length byte are read as soon as they arrive.
    const overhead = length - (to - from);
    if (overhead > 0) this.credit(overhead);
    stream.onData(buf.subarray(from, to), length - overhead, (flags & FLAG_END_STREAM) !== 0);
  }

  #onHeadersFrame(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId === 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'HEADERS on stream 0');
    let from = start;
    let to = end;
    if ((flags & FLAG_PADDED) !== 0) {
      if (end - start < 1) throw new Http2ConnectionError(FRAME_SIZE_ERROR, 'a PADDED HEADERS frame without its pad length');
      to = end - buf[start]!;
      from++;
    }
    if ((flags & FLAG_PRIORITY) !== 0) from += 5;
    if (to < from) throw new Http2ConnectionError(PROTOCOL_ERROR, 'HEADERS padding or priority longer than the frame');
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if ((flags & FLAG_END_HEADERS) !== 0) return this.#onHeaderBlock(streamId, endStream, buf, from, to);
    // CONTINUATION follows; the fragment is copied since `buf` may be a reused read buffer.
    this.#headerBlock = { streamId, endStream, parts: [Buffer.from(buf.subarray(from, to))], bytes: to - from, frames: 1 };
    this.#checkHeaderBlockSize(to - from);
  }

  #onContinuation(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    const block = this.#headerBlock;
    if (block === undefined || block.streamId !== streamId) throw new Http2ConnectionError(PROTOCOL_ERROR, 'CONTINUATION without the HEADERS it continues');
    block.bytes += end - start;
    this.#checkHeaderBlockSize(block.bytes);
    if (++block.frames > MAX_HEADER_BLOCK_FRAMES) throw new Http2ConnectionError(ENHANCE_YOUR_CALM, `a header block in over ${MAX_HEADER_BLOCK_FRAMES} frames`);
    block.parts.push(Buffer.from(buf.subarray(start, end)));
    if ((flags & FLAG_END_HEADERS) === 0) return;
    this.#headerBlock = undefined;
    const whole = Buffer.concat(block.parts, block.bytes);
    this.#onHeaderBlock(streamId, block.endStream, whole, 0, whole.length);
  }

  #checkHeaderBlockSize(bytes: number): void {
    // A compressed block this large cannot decode to a list the limit allows: stop reading
    // it rather than hold it (the CONTINUATION flood).
    if (bytes > 2 * this.server.limits.maxHeaderListSize + 1024) {
      throw new Http2ConnectionError(ENHANCE_YOUR_CALM, `a header block of over ${bytes} bytes`);
    }
  }

  #onHeaderBlock(streamId: number, endStream: boolean, block: Buffer, from: number, to: number): void {
    const fields: string[] = [];
    let listSize: number;
    try {
      // Always decoded, even for a stream that will be refused: the HPACK table must stay in step.
      listSize = this.#decoder.decode(block, from, to, fields);
    } catch (err) {
      if (err instanceof HpackError) throw new Http2ConnectionError(COMPRESSION_ERROR, `a header block could not be decoded: ${err.message}`);
      throw err;
    }
    const existing = this.streams.get(streamId);
    if (existing !== undefined) return existing.onTrailers(fields, endStream);
    if ((streamId & 1) === 0) throw new Http2ConnectionError(PROTOCOL_ERROR, 'a client opened an even-numbered stream');
    if (streamId <= this.#lastStreamId) return; // Trailers of a stream we already closed, in flight.
    this.#lastStreamId = streamId;
    if (this.#goingAway || this.#closed) return this.resetStream(streamId, REFUSED_STREAM);
    const limits = this.server.limits;
    if (this.streams.size >= limits.maxConcurrentStreams) {
      this.#countFlood('resets');
      return this.resetStream(streamId, REFUSED_STREAM);
    }
    let head: RequestHead;
    let contentLength: number;
    try {
      head = requestHead(fields);
      contentLength = declaredLength(head.headers);
      if (endStream && contentLength > 0) throw new MalformedRequest('content-length on a request without a body');
    } catch (err) {
      if (!(err instanceof MalformedRequest)) throw err;
      this.server.logger.debug({ remote: this.remoteAddress, reason: err.message }, 'http2: malformed request reset');
      this.#countFlood('resets');
      return this.resetStream(streamId, PROTOCOL_ERROR);
    }
    if (listSize > limits.maxHeaderListSize) return this.#refuseTooLarge(streamId, endStream);
    const stream = new H2Stream(this, streamId, head, contentLength, endStream);
    this.streams.set(streamId, stream);
    this.server.onRequest(stream);
  }

  /** 431 for a header list over SETTINGS_MAX_HEADER_LIST_SIZE, without involving the proxy. */
  #refuseTooLarge(streamId: number, endStream: boolean): void {
    this.headersFrames(streamId, this.#encoder.encode(431, ['content-length', '0']), true);
    // The client may still be sending a body: stop it (RFC 9113 §8.1).
    if (!endStream) this.resetStream(streamId, NO_ERROR);
    this.#scheduleFlush();
  }

  // ------------------------------------------------------------ flow control
  /** `n` request bytes were read (or dropped): the connection window may open again. */
  credit(n: number): void {
    this.#recvCredit += n;
    if (this.#recvWindow < CONNECTION_WINDOW / 2 && !this.#closed) {
      this.#windowUpdate(0, this.#recvCredit);
      this.#recvWindow += this.#recvCredit;
      this.#recvCredit = 0;
      this.#scheduleFlush();
    }
  }

  /** DATA for `stream`, as much as the windows allow now; the rest waits in the stream's queue. */
  sendData(stream: H2Stream, chunk: Buffer, from: number): number {
    let at = from;
    const n = chunk.length;
    while (at < n) {
      let allowed = Math.min(stream.sendWindow, this.#sendWindow, this.peerMaxFrameSize);
      if (allowed <= 0) break;
      if (allowed > n - at) allowed = n - at;
      this.#dataFrame(stream, chunk, at, allowed, 0);
      stream.sendWindow -= allowed;
      this.#sendWindow -= allowed;
      at += allowed;
    }
    if (at < n) this.#blocked.add(stream);
    this.#scheduleFlush();
    return at;
  }

  #resumeBlocked(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) break;
      // flushQueue() takes the stream off #blocked when its queue empties; its drain
      // callback may have blocked it again meanwhile, so it is not deleted here.
      stream.flushQueue();
    }
  }

  unblock(stream: H2Stream): void {
    this.#blocked.delete(stream);
  }

  // ------------------------------------------------------------ writing
  /** Reserves a frame in the batch; returns where its payload starts in #slab. */
  #frame(length: number, type: number, flags: number, streamId: number): number {
    const size = FRAME_HEADER_LENGTH + length;
    let slab = this.#slab;
    if (slab === undefined || slab.length - this.#used < size) {
      this.#seal();
      slab = this.#slab = Buffer.allocUnsafeSlow(Math.max(OUTPUT_SLAB_BYTES, size));
      this.#used = this.#sealed = 0;
      this.generation++; // frame positions recorded in the old slab no longer apply
    }
    this.#batchBytes += size;
    const at = this.#used;
    writeFrameHeader(slab, at, length, type, flags, streamId);
    this.#used = at + size;
    return at + FRAME_HEADER_LENGTH;
  }

  #seal(): void {
    if (this.#used > this.#sealed) {
      this.#chunks.push(this.#slab!.subarray(this.#sealed, this.#used));
      this.#sealed = this.#used;
    }
  }

  #dataFrame(stream: H2Stream, chunk: Buffer, from: number, length: number, flags: number): void {
    if (length <= COPY_PAYLOAD_LIMIT) {
      const at = this.#frame(length, FRAME_DATA, flags, stream.id);
      chunk.copy(this.#slab!, at, from, from + length);
      stream.markLastFrame(at - FRAME_HEADER_LENGTH, this.generation);
    } else {
      const at = this.#frame(0, FRAME_DATA, flags, stream.id);
      // The header was written for an empty payload: fix its length, then send the payload by reference.
      const slab = this.#slab!;
      const header = at - FRAME_HEADER_LENGTH;
      slab[header] = length >>> 16;
      slab[header + 1] = (length >>> 8) & 0xff;
      slab[header + 2] = length & 0xff;
      stream.markLastFrame(header, this.generation);
      this.#seal();
      this.#chunks.push(from === 0 && length === chunk.length ? chunk : chunk.subarray(from, from + length));
      this.#batchBytes += length;
    }
    // A fast upstream and a client with large windows could otherwise gather megabytes
    // before the turn's write: write now, so the socket's backpressure reaches the streams.
    if (this.#batchBytes > EARLY_WRITE_BYTES) this.#writeOut();
  }

  /** An empty DATA frame with END_STREAM. */
  endFrame(stream: H2Stream): void {
    this.#frame(0, FRAME_DATA, FLAG_END_STREAM, stream.id);
  }

  /** Sets END_STREAM on the stream's last frame if it is still in the batch; false if it went out. */
  setEndStreamFlag(frameAt: number, generation: number): boolean {
    const slab = this.#slab;
    if (generation !== this.generation || slab === undefined || frameAt < 0) return false;
    slab[frameAt + 4] = slab[frameAt + 4]! | FLAG_END_STREAM;
    return true;
  }

  /** A header block as HEADERS and, when over the peer's frame size, CONTINUATION frames. Returns the HEADERS frame's position. */
  headersFrames(streamId: number, block: Uint8Array, endStream: boolean): number {
    const max = this.peerMaxFrameSize;
    const single = block.length <= max;
    let length = single ? block.length : max;
    let flags = endStream ? FLAG_END_STREAM : 0;
    if (single) flags |= FLAG_END_HEADERS;
    let at = this.#frame(length, FRAME_HEADERS, flags, streamId);
    const first = at - FRAME_HEADER_LENGTH;
    this.#slab!.set(block.subarray(0, length), at);
    for (let sent = length; sent < block.length; sent += length) {
      length = Math.min(max, block.length - sent);
      at = this.#frame(length, FRAME_CONTINUATION, sent + length === block.length ? FLAG_END_HEADERS : 0, streamId);
      this.#slab!.set(block.subarray(sent, sent + length), at);
    }
    this.#scheduleFlush();
    // With CONTINUATION frames after it, a later END_STREAM goes in its own DATA frame.
    return single ? first : -1;
  }

  encodeHeaders(status: number, headers: HeaderMap): Uint8Array {
    const fields = this.#fields;
    fields.length = 0;
    const flat = headers.flatView();
    const validated = headers.validated;
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      if (HOP_BY_HOP_HEADERS.has(name)) continue;
      if (i >= validated) {
        if (!FIELD_NAME_RE.test(name)) throw new InvalidHeaderError('ERR_INVALID_HTTP_TOKEN', `invalid header name: ${JSON.stringify(name)}`);
        if (INVALID_VALUE_RE.test(value)) throw new InvalidHeaderError('ERR_INVALID_CHAR', `invalid character in the value of header ${name}`);
      }
      fields.push(name, value);
    }
    return this.#encoder.encode(status, fields);
  }

  #windowUpdate(streamId: number, increment: number): void {
    const at = this.#frame(4, FRAME_WINDOW_UPDATE, 0, streamId);
    writeUint32(this.#slab!, at, increment);
  }

  streamWindowUpdate(streamId: number, increment: number): void {
    this.#windowUpdate(streamId, increment);
    this.#scheduleFlush();
  }

  resetStream(streamId: number, code: number): void {
    const at = this.#frame(4, FRAME_RST_STREAM, 0, streamId);
    writeUint32(this.#slab!, at, code);
    this.#scheduleFlush();
  }

  /** A stream the peer's misbehaviour makes us reset: counted like its own resets (the "MadeYouReset" attack). */
  streamError(streamId: number, code: number): void {
    this.#countFlood('resets');
    this.resetStream(streamId, code);
  }

  /** END_STREAM for `stream` is in the batch: it completes when the batch is written. */
  ending(stream: H2Stream): void {
    this.#ending.push(stream);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(flushConnection, this);
  }

  flush(): void {
    this.#flushScheduled = false;
    this.#writeOut();
    const ending = this.#ending;
    if (ending.length > 0) {
      this.#ending = [];
      for (const stream of ending) stream.onEndWritten();
    }
    if (this.#goingAway || this.#peerGoingAway) this.#closeIfDone();
  }

  /** Writes what was gathered: one write, or one writev for several pieces. */
  #writeOut(): void {
    this.#seal();
    const chunks = this.#chunks;
    const socket = this.socket;
    this.generation++;
    this.#batchBytes = 0;
    if (chunks.length > 0 && !socket.destroyed && socket.writable) {
      this.#chunks = [];
      let ok = true;
      if (chunks.length === 1) ok = socket.write(chunks[0]!);
      else {
        socket.cork();
        for (const chunk of chunks) ok = socket.write(chunk);
        socket.uncork();
      }
      if (!ok) this.socketBlocked = true;
      // Written at once (the usual case): the slab is free again. Otherwise the socket still
      // holds views of it, and the next frames go to a new one.
      if (socket.writableLength === 0 && this.streams.size > 0) this.#used = this.#sealed = 0;
      else this.#slab = undefined;
    } else {
      this.#chunks.length = 0;
      this.#slab = undefined;
    }
  }

  onSocketDrain(): void {
    this.socketBlocked = false;
    if (this.#drainWaiters.size === 0) return;
    for (const stream of this.#drainWaiters) {
      if (this.socketBlocked) break;
      if (stream.queuedBytes === 0) {
        this.#drainWaiters.delete(stream);
        stream.fireDrain();
      }
    }
  }

  waitDrain(stream: H2Stream): void {
    this.#drainWaiters.add(stream);
  }

  // ------------------------------------------------------------ lifecycle
  get remoteAddress(): string {
    const socket = this.socket;
    return this.addresses?.remoteAddress ?? formatAddress(socket.remoteAddress, socket.remotePort);
  }

  get localAddress(): string {
    const socket = this.socket;
    return this.addresses?.localAddress ?? formatAddress(socket.localAddress, socket.localPort);
  }

  streamClosed(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.#blocked.delete(stream);
    this.#drainWaiters.delete(stream);
    this.#lastActiveAt = Date.now();
    // An idle connection keeps no output buffer (10,000 idle clients would hold 160 MB).
    if (this.streams.size === 0 && !this.#flushScheduled) this.#slab = undefined;
    if (this.#goingAway || this.#peerGoingAway) this.#closeIfDone();
  }

  drain(): void {
    if (this.#goingAway || this.#closed) return;
    this.#goAway(NO_ERROR, '');
    this.#closeIfDone();
  }

  checkIdle(now: number): void {
    if (this.#closed || this.streams.size > 0) return;
    if (now - this.#lastActiveAt >= this.server.limits.idleTimeoutMs) {
      this.server.logger.debug({ remote: this.remoteAddress }, 'http2: idle connection closed');
      this.drain();
    }
  }

  #goAway(code: number, debug: string): void {
    this.#goingAway = true;
    const debugBytes = Buffer.byteLength(debug, 'latin1');
    const at = this.#frame(8 + debugBytes, FRAME_GOAWAY, 0, 0);
    const slab = this.#slab!;
    writeUint32(slab, at, this.#lastStreamId);
    writeUint32(slab, at + 4, code);
    if (debugBytes > 0) slab.write(debug, at + 8, 'latin1');
    this.#scheduleFlush();
  }

  /** After a GOAWAY either way: close once no stream is left and the batch went out. */
  #closeIfDone(): void {
    if (this.#closed || this.streams.size > 0) return;
    if (this.#flushScheduled) return; // flush() calls back here
    this.#closed = true;
    this.socket.end();
    this.#destroyLater();
  }

  #destroyLater(): void {
    const socket = this.socket;
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  #countFlood(kind: 'resets' | 'control'): void {
    const now = Date.now();
    if (now - this.#floodWindowStart > FLOOD_WINDOW_MS) {
      this.#floodWindowStart = now;
      this.#resets = 0;
      this.#controlFrames = 0;
    }
    if (kind === 'resets' ? ++this.#resets > MAX_RESETS_PER_WINDOW : ++this.#controlFrames > MAX_CONTROL_FRAMES_PER_WINDOW) {
      throw new Http2ConnectionError(ENHANCE_YOUR_CALM, `too many ${kind === 'resets' ? 'reset or refused streams' : 'SETTINGS or PING frames'}`);
    }
  }


  /** Ends the connection for an error: GOAWAY with its code, every stream aborted. */
  #fail(err: unknown): void {
    if (this.#closed) return;
    const protocolError = err instanceof Http2ConnectionError;
    const code = protocolError ? err.code : INTERNAL_ERROR;
    if (protocolError) this.server.logger.debug({ remote: this.remoteAddress, code, reason: err.message }, 'http2: connection error; GOAWAY sent');
    else this.server.logger.error({ remote: this.remoteAddress, err: describeError(err) }, 'http2: unexpected failure; connection closed');
    this.#headerBlock = undefined;
    this.#pending = undefined;
    this.#goAway(code, protocolError ? err.message : '');
    this.#abortStreams();
    this.flush(); // with no stream left, this ends the socket (#closeIfDone)
  }

  #abortStreams(): void {
    for (const stream of [...this.streams.values()]) stream.closeNow(false);
  }

  onPeerEnd(): void {
    // The client will send nothing more, not even window updates: what is open cannot finish.
    this.#abortStreams();
    if (!this.#closed) {
      this.#closed = true;
      this.flush();
      this.socket.end();
    }
  }

  onClose(): void {
    this.#closed = true;
    this.#abortStreams();
    const socket = this.socket;
    socket.off('data', onSocketData);
    socket.off('end', onSocketEnd);
    socket.off('drain', onSocketDrain);
    this.server.forget(socket);
  }

  onError(err: Error): void {
    this.server.logger.debug({ err: describeError(err), remote: this.remoteAddress }, 'http2: socket error');
  }
}

function flushConnection(connection: H2Connection): void {
  connection.flush();
}

/** The request body of one stream; window goes back to the client as the proxy reads. */
class H2RequestBody extends Readable {
  readonly #stream: H2Stream;

  constructor(stream: H2Stream) {
    super({ highWaterMark: DEFAULT_WINDOW });
    this.#stream = stream;
  }

  override _read(): void {
    this.#stream.onBodyRead();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#stream.onBodyDestroyed();
    callback(err);
  }
}

class H2Stream implements ServerStream {
  readonly protocol = 'HTTP/2' as const;
  readonly id: number;
  readonly head: RequestHead;
  readonly body: H2RequestBody | undefined;
  readonly contentLength: number;
  readonly #conn: H2Connection;

  // Receiving.
  remoteEnded: boolean;
  /** What the client may still send before our next WINDOW_UPDATE, and what was read since. */
  #recvWindow = DEFAULT_WINDOW;
  #recvCredit = 0;
  /** Bytes pushed into a full body: credited when the reader asks for more. */
  #heldCredit = 0;
  #bodyBytes = 0;
  #trailers: HeaderMap | undefined;

  // Sending.
  sendWindow: number;
  #headersSent = false;
  /** END_STREAM is queued or sent. */
  #localEnded = false;
  #queue: Buffer[] | undefined;
  queuedBytes = 0;
  /** Where the queue's first chunk resumes. */
  #queueOffset = 0;
  /** end() came while DATA still waited for window. */
  #endPending: { trailers: HeaderMap | undefined } | undefined;
  #lastFrameAt = -1;
  #lastFrameGeneration = -1;
  #bytesSent = 0;
  #closed = false;
  #completed = false;
  #onClose: ((completed: boolean) => void) | undefined;
  #onDrain: (() => void)[] | undefined;

  constructor(conn: H2Connection, id: number, head: RequestHead, contentLength: number, endStream: boolean) {
    this.#conn = conn;
    this.id = id;
    this.head = head;
    this.contentLength = contentLength;
    this.remoteEnded = endStream;
    this.sendWindow = conn.peerInitialWindow;
    this.body = endStream ? undefined : new H2RequestBody(this);
  }

  get remoteAddress(): string {
    return this.#conn.remoteAddress;
  }

  get localAddress(): string {
    return this.#conn.localAddress;
  }

  get headersSent(): boolean {
    return this.#headersSent || this.#closed;
  }

  get bytesSent(): number {
    return this.#bytesSent;
  }

  requestTrailers(): HeaderMap | undefined {
    return this.#trailers;
  }

  // ------------------------------------------------------------ request side
  onData(payload: Buffer, flowBytes: number, endStream: boolean): void {
    this.#recvWindow -= flowBytes;
    if (this.#recvWindow < 0) {
      this.#conn.credit(flowBytes); // dropped: the connection window must not shrink for good
      this.#conn.streamError(this.id, FLOW_CONTROL_ERROR);
      this.closeNow(false);
      return;
    }
    this.#bodyBytes += payload.length;
    if (this.contentLength >= 0 && (this.#bodyBytes > this.contentLength || (endStream && this.#bodyBytes !== this.contentLength))) {
      this.#conn.credit(flowBytes);
      this.#conn.streamError(this.id, PROTOCOL_ERROR);
      this.closeNow(false);
      return;
    }
    const body = this.body;
    if (body === undefined || body.destroyed) {
      this.#conn.credit(flowBytes); // Nobody reads it any more: dropped, counted as read.
    } else if (payload.length > 0) {
      // Copied: `payload` is a view of the connection's read chunk, which would stay pinned.
      if (body.push(Buffer.from(payload))) this.#consumed(flowBytes);
      else this.#heldCredit += flowBytes;
    } else if (flowBytes > 0) {
      this.#consumed(flowBytes);
    }
    if (endStream) this.#remoteEnd();
  }

  onTrailers(fields: string[], endStream: boolean): void {
    if (this.remoteEnded || !endStream) {
      this.#conn.streamError(this.id, this.remoteEnded ? STREAM_CLOSED : PROTOCOL_ERROR);
      this.closeNow(false);
      return;
    }
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      if (!FIELD_NAME_RE.test(name) || INVALID_VALUE_RE.test(fields[i + 1]!)) {
        this.#conn.streamError(this.id, PROTOCOL_ERROR);
        this.closeNow(false);
        return;
      }
    }
    if (this.contentLength >= 0 && this.#bodyBytes !== this.contentLength) {
      this.#conn.streamError(this.id, PROTOCOL_ERROR);
      this.closeNow(false);
      return;
    }
    this.#trailers = new HeaderMap(fields, fields.length);
    this.#remoteEnd();
  }

  #remoteEnd(): void {
    this.remoteEnded = true;
    this.body?.push(null);
    if (this.#localEnded && this.#completed) this.closeNow(true);
  }

  #consumed(n: number): void {
    this.#conn.credit(n);
    this.#recvCredit += n;
    if (this.#recvWindow < DEFAULT_WINDOW / 2 && !this.remoteEnded) {
      this.#conn.streamWindowUpdate(this.id, this.#recvCredit);
      this.#recvWindow += this.#recvCredit;
      this.#recvCredit = 0;
    }
  }

  onBodyRead(): void {
    const held = this.#heldCredit;
    if (held > 0 && !this.#closed) {
      this.#heldCredit = 0;
      this.#consumed(held);
    }
  }

  onBodyDestroyed(): void {
    // The reader gave up on the body: what it held is dropped, and counted as read.
    if (this.#heldCredit > 0) {
      this.#conn.credit(this.#heldCredit);
      this.#heldCredit = 0;
    }
  }

  onPeerReset(code: number): void {
    if (code !== NO_ERROR && code !== CANCEL) this.#conn.server.logger.debug({ stream: this.id, code }, 'http2: the client reset a stream');
    // A reset after the whole response went out (NO_ERROR) still completed the exchange.
    this.closeNow(this.#completed);
  }

  // ------------------------------------------------------------ response side
  sendHeaders(status: number, headers: HeaderMap, endStream: boolean, _trailersFollow: boolean): void {
    if (this.#closed || this.#headersSent) return;
    const conn = this.#conn;
    const block = conn.encodeHeaders(status, headers);
    this.#headersSent = true;
    const at = conn.headersFrames(this.id, block, endStream);
    this.#lastFrameAt = at;
    this.#lastFrameGeneration = conn.generation;
    if (endStream) {
      this.#localEnded = true;
      conn.ending(this);
    }
  }

  write(chunk: Buffer): boolean {
    if (this.#closed || this.#localEnded) return true;
    const n = chunk.length;
    if (n === 0) return this.queuedBytes === 0 && !this.#conn.socketBlocked;
    this.#bytesSent += n;
    if (this.#queue !== undefined) {
      this.#queue.push(chunk);
      this.queuedBytes += n;
      return false;
    }
    const sent = this.#conn.sendData(this, chunk, 0);
    if (sent < n) {
      this.#queue = [chunk];
      this.#queueOffset = sent;
      this.queuedBytes = n - sent;
      return false;
    }
    return !this.#conn.socketBlocked;
  }

  /** Sends queued DATA as the windows allow; true when the queue is empty. */
  flushQueue(): boolean {
    const queue = this.#queue;
    if (queue === undefined) return true;
    while (queue.length > 0) {
      const chunk = queue[0]!;
      const sent = this.#conn.sendData(this, chunk, this.#queueOffset);
      this.queuedBytes -= sent - this.#queueOffset;
      if (sent < chunk.length) {
        this.#queueOffset = sent;
        return false;
      }
      queue.shift();
      this.#queueOffset = 0;
    }
    this.#queue = undefined;
    this.#conn.unblock(this);
    const pending = this.#endPending;
    if (pending !== undefined) {
      this.#endPending = undefined;
      this.#finish(pending.trailers);
    }
    if (this.#onDrain !== undefined) {
      if (this.#conn.socketBlocked) this.#conn.waitDrain(this);
      else this.fireDrain();
    }
    return true;
  }

  markLastFrame(frameAt: number, generation: number): void {
    this.#lastFrameAt = frameAt;
    this.#lastFrameGeneration = generation;
  }

  onceDrain(fn: () => void): void {
    (this.#onDrain ??= []).push(fn);
    if (this.queuedBytes === 0) this.#conn.waitDrain(this);
  }

  fireDrain(): void {
    const waiters = this.#onDrain;
    if (waiters === undefined) return;
    this.#onDrain = undefined;
    for (const fn of waiters) fn();
  }

  end(trailers?: HeaderMap): void {
    if (this.#closed || this.#localEnded) return;
    if (this.#queue !== undefined) {
      this.#endPending = { trailers };
      return;
    }
    this.#finish(trailers);
  }

  #finish(trailers: HeaderMap | undefined): void {
    const conn = this.#conn;
    this.#localEnded = true;
    if (trailers !== undefined && trailers.size > 0) {
      conn.headersFrames(this.id, conn.encodeHeaders(-1, trailers), true);
    } else if (!conn.setEndStreamFlag(this.#lastFrameAt, this.#lastFrameGeneration)) {
      conn.endFrame(this);
    }
    conn.ending(this);
  }

  /** The batch holding our END_STREAM was written: the response is complete. */
  onEndWritten(): void {
    if (this.#closed) return;
    this.#completed = true;
    if (this.remoteEnded) return this.closeNow(true);
    // The response is whole but the client is still sending: ask it to stop (RFC 9113 §8.1).
    this.#conn.resetStream(this.id, NO_ERROR);
    this.closeNow(true);
  }

  reset(): void {
    if (this.#closed) return;
    this.#conn.resetStream(this.id, INTERNAL_ERROR);
    this.closeNow(false);
  }

  onClose(fn: (completed: boolean) => void): void {
    if (this.#closed) {
      const completed = this.#completed;
      queueMicrotask(() => fn(completed));
      return;
    }
    this.#onClose = fn;
  }

  /** The stream is over: the connection forgets it, the body reader and the proxy are told. */
  closeNow(completed: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#completed = completed;
    this.#queue = undefined;
    this.queuedBytes = 0;
    this.#endPending = undefined;
    this.#conn.streamClosed(this);
    const body = this.body;
    if (body !== undefined && !body.readableEnded && !body.destroyed) {
      body.destroy(new Error(completed ? 'the response ended before the request body' : 'the HTTP/2 stream was reset before the request body ended'));
    }
    const fn = this.#onClose;
    this.#onClose = undefined;
    fn?.(completed);
    // Whoever waited for drain must not wait forever.
    this.fireDrain();
  }
}

/** The request head of a decoded header block, checked as RFC 9113 §8.3.1 asks. */
function requestHead(fields: string[]): RequestHead {
  let method = '';
  let path = '';
  let scheme = '';
  let authority = '';
  let host = '';
  let regular = false;
  let cookies = 0;
  const flat: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (regular) throw new MalformedRequest('a pseudo-header after a regular field');
      switch (name) {
        case ':method':
          if (method !== '') throw new MalformedRequest('a repeated :method');
          method = value;
          break;
        case ':path':
          if (path !== '') throw new MalformedRequest('a repeated :path');
          path = value;
          break;
        case ':scheme':
          if (scheme !== '') throw new MalformedRequest('a repeated :scheme');
          scheme = value;
          break;
        case ':authority':
          if (authority !== '') throw new MalformedRequest('a repeated :authority');
          authority = value;
          break;
        default:
          throw new MalformedRequest(`an unknown pseudo-header ${name}`);
      }
      continue;
    }
    regular = true;
    if (!FIELD_NAME_RE.test(name)) throw new MalformedRequest(`an invalid field name ${JSON.stringify(name)}`);
    if (INVALID_VALUE_RE.test(value)) throw new MalformedRequest(`an invalid character in the value of ${name}`);
    if (value.length > 0 && (isBlank(value.charCodeAt(0)) || isBlank(value.charCodeAt(value.length - 1)))) {
      throw new MalformedRequest(`whitespace around the value of ${name}`);
    }
    if (CONNECTION_SPECIFIC.has(name)) throw new MalformedRequest(`the connection-specific field ${name}`);
    if (name === 'te') {
      if (value !== 'trailers') throw new MalformedRequest('te other than "trailers"');
    } else if (name === 'host') {
      host = value;
      continue;
    } else if (name === 'cookie') {
      cookies++;
    }
    flat.push(name, value);
  }
  if (method === '') throw new MalformedRequest('no :method');
  if (method === 'CONNECT') {
    if (authority === '' || path !== '' || scheme !== '') throw new MalformedRequest('CONNECT needs :authority and no :path or :scheme');
  } else if (path === '' || scheme === '') {
    throw new MalformedRequest('no :path or :scheme');
  }
  // HTTP/2 may split a cookie into crumbs; HTTP/1 wants one line (RFC 9113 §8.2.3).
  if (cookies > 1) joinCookies(flat);
  return { method, path, authority: authority !== '' ? authority : host, scheme: scheme !== '' ? scheme : 'http', headers: new HeaderMap(flat, flat.length) };
}

/** SP or HTAB, which may not start or end a field value (RFC 9113 §8.2.1). */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function joinCookies(flat: string[]): void {
  let first = -1;
  for (let i = 0; i < flat.length; ) {
    if (flat[i] !== 'cookie') {
      i += 2;
    } else if (first === -1) {
      first = i;
      i += 2;
    } else {
      flat[first + 1] += '; ' + flat[i + 1]!;
      flat.splice(i, 2);
    }
  }
}

/** content-length as a number, -1 when absent; malformed when not one decimal value. */
function declaredLength(headers: HeaderMap): number {
  const values = headers.getAll('content-length');
  if (values.length === 0) return -1;
  const first = values[0]!;
  const n = decimal(first);
  if (n === -1 || values.some((v) => v !== first)) throw new MalformedRequest('an invalid content-length');
  return n;
}

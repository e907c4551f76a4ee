/**
 * @module protocol/http2/node-http2-server
 * The node:http2 HTTP/2 server codec, kept as the MOSNODE_HTTP2_CODEC=node fallback of
 * mosnode's own (http2-server.ts): node:http2 sessions (h2c prior knowledge) on sockets
 * the `proxy` network filter detached; each stream becomes a ServerStream. Flow control is
 * node's (per stream and per session windows); trailers pass both ways. A drain sends
 * GOAWAY with the last stream id, lets open streams finish, then closes.
 */
import http2, { type Http2Session, type ServerHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { HeaderMap } from '../../api/headers.ts';
import type { RequestHead } from '../../api/stream-filter.ts';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { HOP_BY_HOP_HEADERS } from '../http-semantics.ts';
import type { ServerStream } from '../server-stream.ts';
import { formatAddress } from '../../network/address.ts';
import type { ConnectionAddresses } from '../../api/network-filter.ts';
import { connectionAddressesOf } from '../../network/connection.ts';
import { DEFAULT_HTTP2_LIMITS, type Http2ServerLimits } from './http2-server.ts';

const { NGHTTP2_NO_ERROR } = http2.constants;

export class NodeHttp2Server {
  readonly #server: http2.Http2Server;
  readonly #sessions = new WeakMap<Socket, Http2Session>();
  readonly #logger: Logger;
  /** The connection addresses (PROXY protocol, original_dst) of each session's socket. */
  readonly #sessionAddresses = new WeakMap<Http2Session, ConnectionAddresses>();
  /** Set while accept() feeds a socket to node:http2, which creates its session synchronously. */
  #accepting: ConnectionAddresses | undefined;
  #acceptingSocket: Socket | undefined;

  constructor(onRequest: (stream: ServerStream) => void, logger: Logger, limits: Http2ServerLimits = DEFAULT_HTTP2_LIMITS) {
    this.#logger = logger;
    this.#server = http2.createServer({
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize },
      maxSessionMemory: 64,
      // A client that opens streams it never finishes cannot pile up without bound.
      maxSessionInvalidFrames: 100,
    });
    this.#server.on('session', (session: Http2Session) => {
      session.on('error', (err) => logger.debug({ err: describeError(err) }, 'http2: session error'));
      session.setTimeout(limits.idleTimeoutMs, () => {
        // Only an idle session times out: node resets the timer on every frame.
        session.close();
      });
      // Keyed by the socket we were given: session.socket is a proxy object, not that socket.
      if (this.#acceptingSocket !== undefined) this.#sessions.set(this.#acceptingSocket, session);
      if (this.#accepting !== undefined) this.#sessionAddresses.set(session, this.#accepting);
    });
    this.#server.on('sessionError', (err) => logger.debug({ err: describeError(err) }, 'http2: session error'));
    this.#server.on('stream', (stream: ServerHttp2Stream, _headers: unknown, _flags: number, rawHeaders: string[]) => {
      stream.on('error', (err) => logger.debug({ err: describeError(err) }, 'http2: stream error'));
      let head: RequestHead;
      try {
        head = requestHead(rawHeaders);
      } catch {
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      onRequest(new Http2ServerStream(stream, head, stream.session && this.#sessionAddresses.get(stream.session)));
    });
  }

  /** Takes over a downstream socket (already positioned at the client preface). */
  accept(socket: Socket): void {
    this.#accepting = connectionAddressesOf(socket);
    this.#acceptingSocket = socket;
    try {
      this.#server.emit('connection', socket);
    } finally {
      this.#accepting = undefined;
      this.#acceptingSocket = undefined;
    }
    // After node:http2 fed itself the bytes already buffered (a sniffed preface), which it
    // does on the next tick: resuming sooner would emit them to nobody.
    process.nextTick(() => socket.resume());
  }

  /** GOAWAY now; the session closes when its open streams finish. */
  drain(socket: Socket): void {
    const session = this.#sessions.get(socket);
    if (session === undefined) {
      socket.end();
      return;
    }
    if (!session.closed && !session.destroyed) session.close();
  }
}

function requestHead(raw: readonly string[]): RequestHead {
  let method = '';
  let path = '';
  let authority: string | undefined;
  let scheme = 'http';
  const flat: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name === ':scheme') scheme = value;
    } else if (name === 'host') {
      authority ??= value;
    } else {
      flat.push(name, value);
    }
  }
  if (method === '') throw new Error('no :method');
  // CONNECT has no :path; everything else must have one (RFC 9113 §8.3.1).
  if (path === '' && method !== 'CONNECT') throw new Error('no :path');
  return { method, path, authority: authority ?? '', scheme, headers: new HeaderMap(flat) };
}


/** Response headers as node:http2 wants them, without HTTP/1-only (connection-specific) ones. */
export function http2HeaderObject(headers: HeaderMap, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  headers.forEach((name, value) => {
    if (HOP_BY_HOP_HEADERS.has(name)) return;
    const old = into[name];
    if (old === undefined) into[name] = value;
    else if (Array.isArray(old)) old.push(value);
    else into[name] = [String(old), value];
  });
  return into;
}

/**
 * The request half of a stream as its own Readable. Consumers of a body (undici) destroy
 * it when done; destroying the Http2Stream itself would also kill the response half.
 */
function requestSide(stream: ServerHttp2Stream): Readable {
  const body = new Readable({
    read() {
      stream.resume();
    },
    destroy(err, callback) {
      // Stop reading the request, never the response.
      stream.pause();
      callback(err);
    },
  });
  stream.on('data', (chunk: Buffer) => {
    if (!body.push(chunk)) stream.pause();
  });
  stream.once('end', () => body.push(null));
  stream.once('aborted', () => body.destroy(new Error('the client reset the stream')));
  stream.pause();
  return body;
}

class Http2ServerStream implements ServerStream {
  readonly protocol = 'HTTP/2' as const;
  readonly head: RequestHead;
  readonly body: Readable | undefined;
  readonly contentLength: number;
  readonly #stream: ServerHttp2Stream;
  #trailers: HeaderMap | undefined;
  #bytesSent = 0;
  #ended = false;
  #wantsTrailers = false;
  #remote: string | undefined;
  #local: string | undefined;

  /** `addresses`: the connection's, when listener filters may have overridden the socket's. */
  constructor(stream: ServerHttp2Stream, head: RequestHead, addresses?: ConnectionAddresses) {
    this.#stream = stream;
    this.#remote = addresses?.remoteAddress;
    this.#local = addresses?.localAddress;
    this.head = head;
    const cl = head.headers.get('content-length');
    this.contentLength = cl === undefined ? -1 : Number(cl);
    this.body = stream.endAfterHeaders ? undefined : requestSide(stream);
    if (this.body !== undefined) {
      stream.once('trailers', (_h: unknown, _f: unknown, raw: string[]) => {
        this.#trailers = HeaderMap.fromRaw(raw);
      });
    }
  }

  get remoteAddress(): string {
    if (this.#remote === undefined) {
      const s = this.#stream.session?.socket;
      this.#remote = formatAddress(s?.remoteAddress, s?.remotePort);
    }
    return this.#remote;
  }

  get localAddress(): string {
    if (this.#local === undefined) {
      const s = this.#stream.session?.socket;
      this.#local = formatAddress(s?.localAddress, s?.localPort);
    }
    return this.#local;
  }

  get headersSent(): boolean {
    return this.#stream.headersSent || this.#stream.destroyed;
  }

  get bytesSent(): number {
    return this.#bytesSent;
  }

  requestTrailers(): HeaderMap | undefined {
    return this.#trailers;
  }

  sendHeaders(status: number, headers: HeaderMap, endStream: boolean, trailersFollow: boolean): void {
    if (this.#stream.destroyed) return;
    this.#wantsTrailers = trailersFollow && !endStream;
    this.#stream.respond(http2HeaderObject(headers, { ':status': status }), { endStream, waitForTrailers: this.#wantsTrailers });
    if (endStream) this.#ended = true;
  }

  write(chunk: Buffer): boolean {
    this.#bytesSent += chunk.length;
    return this.#stream.write(chunk);
  }

  onceDrain(fn: () => void): void {
    this.#stream.once('drain', fn);
  }

  end(trailers?: HeaderMap): void {
    if (this.#stream.destroyed) return;
    this.#ended = true;
    if (this.#wantsTrailers) {
      this.#stream.once('wantTrailers', () => {
        this.#stream.sendTrailers(trailers === undefined ? {} : http2HeaderObject(trailers, {}));
      });
    }
    this.#stream.end();
  }

  reset(): void {
    // destroy(), not close(code): close() ends the writable side first, so a started
    // response went out with END_STREAM before the RST_STREAM and a client reading a
    // body without content-length took the truncated body for a whole one. destroy()
    // with an error sends RST_STREAM (INTERNAL_ERROR) alone.
    if (!this.#stream.destroyed) this.#stream.destroy(new Error('stream reset by the proxy'));
  }

  onClose(fn: (completed: boolean) => void): void {
    this.#stream.once('close', () => fn(this.#ended && this.#stream.rstCode === NGHTTP2_NO_ERROR));
  }
}

/**
 * @module protocol/http1/http1-server
 * The HTTP/1.1 server codec on raw sockets: mosnode's own parser (http1-parser.ts) reads
 * requests straight from the socket the `proxy` network filter detached, and responses
 * are written as one latin1 head plus body, usually in a single write. Each request
 * becomes a ServerStream. It replaces node:http on the hot path (node-http1-server.ts is
 * kept as the MOSNODE_HTTP1_CODEC=node fallback): no IncomingMessage or ServerResponse
 * per request, no per-connection closures, and no parser state while a connection idles.
 *
 * Requests on a connection are served one at a time: bytes of a pipelined next request
 * are held, and reading pauses, until the response in flight has gone out. This module
 * also owns the connection's life around requests: the header-read deadline (which is
 * also the keep-alive timeout), Expect: 100-continue, protocol upgrades, drain on
 * shutdown, and readiness for migration.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { HeaderMap } from '../../api/headers.ts';
import type { RequestHead } from '../../api/stream-filter.ts';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import type { ServerStream } from '../server-stream.ts';
import { formatAddress } from '../../network/address.ts';
import { connectionAddressesOf } from '../../network/connection.ts';
import { TurnWriter, type FlushListener } from '../../network/turn-writes.ts';
import { readAsStream, readInto } from '../../network/socket-reads.ts';
import { readScratch } from '../../buffer/read-buffer.ts';
import {
  BodyDecoder,
  Http1ParseError,
  decimal,
  findHeadEnd,
  parseRequestHead,
  skipLeadingEmptyLines,
  type BodySink,
  type RequestHeadFields,
} from './http1-parser.ts';
import { COALESCE_LIMIT, InvalidHeaderError, chunkHeader, httpDate, joinHeadAndBody, lastChunk, serializeHeaders, statusLine } from './http1-writer.ts';

/** Idle keep-alive connections are closed at random moments within this window of a drain. */
const IDLE_CLOSE_SPREAD_MS = 2_000;

/**
 * During a drain, a connection is closed by timer only after this long without a request:
 * a busy client gets `Connection: close` on its next response instead, which never races
 * with a request already on the wire.
 */
const DRAIN_IDLE_MS = 1_000;

/** How often deadlines are checked: one timer per server instead of one per connection. */
const DEADLINE_SWEEP_MS = 1_000;

export interface Http1ServerLimits {
  /**
   * A request's headers must arrive within this long of the connection opening or the
   * previous response ending (so it is also the keep-alive timeout).
   */
  headersTimeoutMs: number;
  /** Largest request head (request line + headers), bytes; over it: 431. Also bounds trailers. */
  maxHeaderBytes: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1ServerLimits = { headersTimeoutMs: 60_000, maxHeaderBytes: 64 * 1024 };

export interface Http1ServerHandlers {
  onRequest(stream: ServerStream): void;
  /** A request asking for a protocol switch (WebSocket): the socket now belongs to the handler. */
  onUpgrade(head: RequestHead, socket: Socket, firstBytes: Buffer): void;
}

export interface SocketMigration {
  commit(): void;
  abort(): void;
}

/** What the proxy filter controls on one HTTP/1 connection (both codecs provide it). */
export interface Http1ConnectionControl {
  /** True when no request is in flight. */
  isIdle(): boolean;
  /** Readies an idle connection for migration (reading already stopped), or undefined when busy. */
  prepareMigration(): SocketMigration | undefined;
  /** Close now if idle, else after the response in flight (Connection: close). */
  drain(): void;
}

const CONNECTION = Symbol('mosnode.http1.connection');
type OwnedSocket = Socket & { [CONNECTION]?: Http1Connection };

/**
 * Where connections read (see network/socket-reads.ts): the process's shared read
 * buffer, since a read is handled whole before the next one lands. What outlives the
 * read (a partial head, a held pipelined request, body bytes) is copied out of it.
 */
const SCRATCH = readScratch();

// Socket listeners shared by every connection (no closure per connection): `this` is the socket.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION]?.onData(chunk, false);
}
/** The `onread` callback (net calls it as a method of the socket). */
function onSocketRead(this: OwnedSocket, nread: number): boolean {
  this[CONNECTION]?.onData(SCRATCH.subarray(0, nread), true);
  return true;
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

export class Http1Server {
  readonly handlers: Http1ServerHandlers;
  readonly logger: Logger;
  readonly limits: Http1ServerLimits;
  /**
   * Open connections, for the deadline sweep. A connection stays here from accept() until
   * a sweep finds it closed: arming and disarming a deadline per request is then a field
   * write, not a Set insert and delete.
   */
  readonly #connections = new Set<Http1Connection>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(handlers: Http1ServerHandlers, logger: Logger, limits: Http1ServerLimits = DEFAULT_HTTP1_LIMITS) {
    this.handlers = handlers;
    this.logger = logger;
    this.limits = limits;
  }

  /** Takes over a downstream socket (paused, as detachSocket() leaves it). */
  accept(socket: Socket): Http1ConnectionControl {
    const connection = new Http1Connection(this, socket);
    const owned = socket as OwnedSocket;
    owned[CONNECTION] = connection;
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    connection.awaitRequest();
    const buffered = readInto(socket, SCRATCH, onSocketRead);
    if (buffered === undefined) socket.on('data', onSocketData);
    socket.resume();
    // Bytes a listener filter read first (reads land only from the event loop, so after these).
    if (buffered !== undefined) for (let i = 0; i < buffered.length && !connection.gone; i++) connection.onData(buffered[i]!, false);
    return connection;
  }

  armDeadline(connection: Http1Connection, now = Date.now()): void {
    connection.deadline = now + this.limits.headersTimeoutMs;
    if (!connection.tracked) {
      connection.tracked = true;
      this.#connections.add(connection);
    }
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), Math.min(DEADLINE_SWEEP_MS, this.limits.headersTimeoutMs));
      this.#sweeper.unref();
    }
  }

  disarmDeadline(connection: Http1Connection): void {
    connection.deadline = 0;
  }

  #sweep(): void {
    const now = Date.now();
    for (const connection of this.#connections) {
      if (connection.gone) {
        connection.tracked = false;
        this.#connections.delete(connection);
      } else if (connection.deadline !== 0 && connection.deadline <= now) {
        connection.deadline = 0;
        connection.onDeadline();
      }
    }
    if (this.#connections.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

/** Stops a socket being ours: our listeners off, our mark gone. */
function release(socket: OwnedSocket): void {
  // Reads went to onSocketRead: the next owner gets them as a stream.
  readAsStream(socket);
  socket.off('data', onSocketData);
  socket.off('end', onSocketEnd);
  socket.off('close', onSocketClose);
  socket.off('error', onSocketError);
  delete socket[CONNECTION];
}

/** One downstream HTTP/1 connection. */
class Http1Connection implements Http1ConnectionControl, BodySink {
  readonly #server: Http1Server;
  readonly #socket: OwnedSocket;
  /**
   * Responses go out at the end of the event loop's turn (see network/turn-writes.ts).
   * Made on a connection's first write and dropped when it goes idle: an idle
   * connection holds none (10,000 of them would hold 0.8 MB).
   */
  #out: TurnWriter | undefined;
  /** The exchange whose response is not finished yet. */
  #stream: Http1ServerStream | undefined;
  /** The exchange whose whole response is written, waiting for the turn's flush. */
  #answered: Http1ServerStream | undefined;
  /** Frames the request body being read; undefined between requests. */
  #body: BodyDecoder | undefined;
  /** Unparsed bytes: a head not yet whole, or a next request held while a response is in flight. */
  #pending: Buffer | undefined;
  /** Where the blank-line search resumes in #pending. */
  #scanFrom = 0;
  /** Reading paused because the request body's reader is full. */
  #bodyFull = false;
  /** Reading paused because a next request waits behind the response in flight. */
  #holding = false;
  #draining = false;
  #peerEnded = false;
  #closed = false;
  /** The bytes being parsed are in SCRATCH (see onData). */
  #shared = false;
  #lastActiveAt = Date.now();
  /** The header-read deadline (ms since the epoch); 0 = none armed. */
  deadline = 0;
  /** In the server's set of connections (see Http1Server.#connections). */
  tracked = false;
  #remote: string | undefined;
  #local: string | undefined;

  constructor(server: Http1Server, socket: Socket) {
    this.#server = server;
    this.#socket = socket;
  }

  #writer(): TurnWriter {
    return (this.#out ??= new TurnWriter(this.#socket));
  }

  get socket(): Socket {
    return this.#socket;
  }

  // The connection's addresses (so a PROXY protocol header or original_dst is honoured),
  // worked out once per connection rather than per request.
  get remoteAddress(): string {
    const socket = this.#socket;
    return (this.#remote ??= connectionAddressesOf(socket)?.remoteAddress ?? formatAddress(socket.remoteAddress, socket.remotePort));
  }

  get localAddress(): string {
    const socket = this.#socket;
    return (this.#local ??= connectionAddressesOf(socket)?.localAddress ?? formatAddress(socket.localAddress, socket.localPort));
  }

  /** Closed or handed over: nothing more to time out. */
  get gone(): boolean {
    return this.#closed;
  }

  // ------------------------------------------------------------ control
  isIdle(): boolean {
    return !this.#draining && this.#stream === undefined && this.#body === undefined && !this.#closed;
  }

  prepareMigration(): SocketMigration | undefined {
    // Exact, unlike node:http: with no request in flight and no byte held here, the
    // kernel socket carries the whole state.
    if (!this.isIdle() || this.#pending !== undefined || this.#peerEnded || this.#socket.readableLength > 0) return undefined;
    return {
      commit: () => {
        this.#closed = true;
        this.#server.disarmDeadline(this);
        release(this.#socket);
      },
      abort: () => {},
    };
  }

  drain(): void {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    // Busy: the response says Connection: close (or, made already, see #afterExchange).
    if (this.#stream !== undefined || this.#body !== undefined) return;
    // Idle: close at a random moment within the spread, so thousands of clients do not
    // all reconnect at once.
    this.#closeWhenIdle(Math.random() * IDLE_CLOSE_SPREAD_MS);
  }

  /**
   * Draining: closes the connection after `delay`, once it has been idle DRAIN_IDLE_MS; a
   * request that comes first is answered with Connection: close instead.
   */
  #closeWhenIdle(delay: number): void {
    const closeIfIdle = (): void => {
      if (this.#closed || this.#stream !== undefined) return; // the response will close it
      const idleFor = Date.now() - this.#lastActiveAt;
      if (idleFor >= DRAIN_IDLE_MS && this.#pending === undefined) this.#closeIdle();
      else setTimeout(closeIfIdle, Math.max(10, DRAIN_IDLE_MS - idleFor)).unref();
    };
    setTimeout(closeIfIdle, delay).unref();
  }

  // ------------------------------------------------------------ reading
  /** Between requests: the next head must arrive before the deadline. */
  awaitRequest(now = Date.now()): void {
    this.#server.armDeadline(this, now);
  }

  onDeadline(): void {
    if (this.#closed || this.#stream !== undefined) return;
    this.#server.logger.debug({ remote: this.#socket.remoteAddress }, 'http1: request headers timed out; connection closed');
    this.#socket.destroy();
  }

  /** Bytes read; `shared`: they are in SCRATCH, valid only until this call returns. */
  onData(chunk: Buffer, shared: boolean): void {
    if (this.#closed) return;
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      chunk = Buffer.concat([pending, chunk]);
      shared = false;
    }
    this.#shared = shared;
    try {
      this.#process(chunk, 0);
    } finally {
      this.#shared = false;
    }
  }

  /** `bytes` to keep past the read: a copy when they are in SCRATCH. */
  #keep(bytes: Buffer): Buffer {
    return this.#shared ? Buffer.from(bytes) : bytes;
  }

  /** Parses what `buf` holds from `pos`: body bytes, then heads, until a response must come first. */
  #process(buf: Buffer, pos: number): void {
    const end = buf.length;
    try {
      while (true) {
        const body = this.#body;
        if (body !== undefined) {
          pos = body.push(buf, pos, end, this);
          if (!body.done) return;
          this.#endBody(body);
          if (this.#closed) return;
        }
        if (pos >= end) {
          this.#scanFrom = 0;
          return;
        }
        if (this.#stream !== undefined) {
          // A pipelined request: held until the response in flight is out.
          this.#hold(buf.subarray(pos));
          return;
        }
        pos = skipLeadingEmptyLines(buf, pos);
        if (pos >= end) return;
        const headEnd = findHeadEnd(buf, pos, this.#scanFrom, this.#server.limits.maxHeaderBytes);
        if (headEnd === -1) {
          this.#pending = this.#keep(pos === 0 ? buf : buf.subarray(pos));
          this.#scanFrom = end - pos;
          return;
        }
        this.#scanFrom = 0;
        const head = parseRequestHead(buf, pos, headEnd);
        pos = headEnd;
        const stream = this.#startRequest(head, buf, pos);
        if (stream === undefined) return;
        // Body bytes that came with the head go to the reader first, so a handler that
        // answers at once knows the request is whole (and keeps the connection).
        const newBody = this.#body;
        if (newBody !== undefined) {
          pos = newBody.push(buf, pos, end, this);
          if (newBody.done) this.#endBody(newBody);
        }
        this.#server.handlers.onRequest(stream);
        if (this.#closed) return;
      }
    } catch (err) {
      this.#refuse(err);
    }
  }

  #hold(rest: Buffer): void {
    this.#pending = this.#keep(rest);
    this.#scanFrom = 0;
    if (!this.#holding) {
      this.#holding = true;
      this.#socket.pause();
    }
  }

  /** Starts one request (the handler is called by the caller); undefined when the socket was handed over. */
  #startRequest(head: RequestHeadFields, buf: Buffer, pos: number): Http1ServerStream | undefined {
    const server = this.#server;
    server.disarmDeadline(this);
    if (head.method === 'CONNECT') {
      throw new Http1ParseError('HPE_CONNECT', 'CONNECT is not supported', 501);
    }
    if (head.connectionUpgrade && head.upgrade) {
      this.#handOver(head, this.#keep(buf.subarray(pos)));
      return undefined;
    }
    const hasBody = head.chunked || head.contentLength > 0;
    const stream = new Http1ServerStream(this, head, hasBody ? new RequestBody(this) : undefined);
    this.#stream = stream;
    if (hasBody) {
      this.#body = head.chunked ? BodyDecoder.chunked(server.limits.maxHeaderBytes) : BodyDecoder.length(head.contentLength);
      // node:http's behaviour: the client may send the body at once.
      if (head.expectContinue && !head.http10) this.#writer().write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    return stream;
  }

  #handOver(head: RequestHeadFields, firstBytes: Buffer): void {
    this.#closed = true;
    this.#server.disarmDeadline(this);
    const socket = this.#socket;
    socket.pause();
    this.#out?.flush();
    release(socket);
    this.#server.handlers.onUpgrade(requestHead(head), socket, firstBytes);
  }

  /** BodySink: a piece of the request body. */
  onBody(chunk: Buffer): void {
    const reader = this.#stream?.body as RequestBody | undefined;
    if (reader === undefined || reader.destroyed) return;
    if (!reader.push(this.#keep(chunk)) && !this.#bodyFull) {
      this.#bodyFull = true;
      this.#socket.pause();
    }
  }

  /** The body's reader wants more. */
  readBody(): void {
    if (!this.#bodyFull) return;
    this.#bodyFull = false;
    if (!this.#holding && !this.#closed) this.#socket.resume();
  }

  #endBody(body: BodyDecoder): void {
    this.#body = undefined;
    const stream = this.#stream;
    if (stream === undefined) return;
    stream.trailers = body.trailers;
    const reader = stream.body as RequestBody | undefined;
    if (reader !== undefined && !reader.destroyed) reader.push(null);
    // The response went out before the body had all come: now the connection may go on.
    if (stream.responseDone) this.#afterExchange(stream);
  }

  /** A malformed request: 400/431/501/505 when nothing was answered yet, else a reset. */
  #refuse(err: unknown): void {
    const socket = this.#socket;
    if (!(err instanceof Http1ParseError)) {
      this.#server.logger.error({ err: describeError(err) }, 'http1: request handling failed');
      this.destroy();
      return;
    }
    this.#server.logger.debug({ err: describeError(err), code: err.code }, 'http1: malformed request');
    const stream = this.#stream;
    if (stream !== undefined) {
      // Mid-body: the request cannot complete; its reader errors and the exchange resets.
      (stream.body as RequestBody | undefined)?.destroy(err);
      if (stream.headersSent) {
        this.destroy();
        return;
      }
    }
    this.#closed = true;
    this.#server.disarmDeadline(this);
    this.#body = undefined;
    this.#pending = undefined;
    // Reading goes on, ignored (#closed), so the client's FIN is seen and the socket closes.
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    this.#out?.flush();
    const status = `${err.status} ${err.status === 431 ? 'Request Header Fields Too Large' : err.status === 501 ? 'Not Implemented' : err.status === 505 ? 'HTTP Version Not Supported' : 'Bad Request'}`;
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, 'latin1');
    stream?.closed(false);
  }

  onPeerEnd(): void {
    this.#peerEnded = true;
    if (this.#closed) return;
    const stream = this.#stream;
    // An idle connection just closes.
    if (stream === undefined) this.#closeIdle();
    // A FIN with a request in flight is a client that left (nginx's and node:http's rule
    // too): the exchange ends unanswered. But an answer already made whole (a direct
    // response, say) only waits for the turn's writes: it goes out, and so do answers to
    // requests pipelined before the FIN; then the connection closes (#afterExchange).
    else if (this.#answered !== stream) this.destroy();
  }

  /** Sends our FIN on an idle connection; a request that crosses it is not served (its answer could not arrive). */
  #closeIdle(): void {
    this.#closed = true;
    this.#server.disarmDeadline(this);
    this.#pending = undefined;
    this.#out?.flush();
    this.#socket.end();
  }

  onError(err: Error): void {
    this.#server.logger.debug({ err: describeError(err) }, 'http1: connection error');
    // 'close' follows.
  }

  onClose(): void {
    if (this.#closed && this.#stream === undefined) return;
    this.#closed = true;
    this.#server.disarmDeadline(this);
    this.#pending = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream === undefined) return;
    const reader = stream.body as RequestBody | undefined;
    if (this.#body !== undefined && reader !== undefined && !reader.destroyed) {
      reader.destroy(Object.assign(new Error('client connection closed mid-request'), { code: 'ECONNRESET' }));
    }
    this.#body = undefined;
    stream.closed(false);
  }

  // ------------------------------------------------------------ writing
  /** Whether the connection stays open after the response to `head`. */
  keepAlive(head: RequestHeadFields): boolean {
    if (this.#draining || head.close) return false;
    if (head.http10 && !head.keepAlive) return false;
    // Answering before the request body has arrived: the rest may never be read, and a
    // next request would be stuck behind it, so the connection closes (RFC 9112 §9.6).
    return this.#body === undefined;
  }

  /**
   * Writes `data` (held to the end of the turn). With `final` (the stream whose response
   * it ends), final.flushed() follows once the bytes are in the kernel: at the
   * turn's flush, so never inside the proxy's own callbacks; or by the write's callback
   * when the socket could not take them at once.
   */
  write(data: Buffer | string, final: Http1ServerStream | undefined): boolean {
    if (this.#closed || this.#socket.destroyed) return true;
    const out = this.#writer();
    const ok = out.write(data);
    if (final !== undefined) {
      this.#answered = final;
      out.whenFlushed(final);
    }
    return ok;
  }

  onceDrain(fn: () => void): void {
    this.#socket.once('drain', fn);
  }

  /** Closes at once; bytes already written still go first (a reset response keeps what it sent). */
  destroy(): void {
    this.#out?.flush();
    this.#socket.destroy();
  }

  /** The response of `stream` went out whole. */
  responseFinished(stream: Http1ServerStream, keepAlive: boolean): void {
    if (this.#stream !== stream) return;
    this.#answered = undefined;
    stream.closed(true);
    if (!keepAlive) {
      this.#closed = true;
      this.#server.disarmDeadline(this);
      this.#stream = undefined;
      if (this.#body !== undefined) {
        // Answered before its body came whole: the rest is never read, so its reader ends
        // here (with an error only when someone listens for one: no uncaught exception).
        this.#body = undefined;
        abandonBody(stream.body as RequestBody | undefined);
      }
      // Close after the writes; reading goes on so the client's last bytes do not cause a reset.
      this.#socket.end();
      this.#socket.resume();
      return;
    }
    if (this.#body === undefined) this.#afterExchange(stream);
  }

  /** The exchange is over both ways: on to the next request. */
  #afterExchange(stream: Http1ServerStream): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    if (this.#out?.empty === true) this.#out = undefined;
    const now = Date.now();
    this.#lastActiveAt = now;
    if (this.#peerEnded && !this.#holding) {
      this.#closed = true;
      this.#socket.end();
      return;
    }
    // A drain that began after the response was made (it promised keep-alive, so the
    // client may be sending the next request already): closed as an idle connection is.
    if (this.#draining) this.#closeWhenIdle(DRAIN_IDLE_MS);
    this.awaitRequest(now);
    if (!this.#holding) return;
    // A pipelined request waits: parsed on the next tick, out of the finished exchange's stack.
    this.#holding = false;
    const pending = this.#pending;
    this.#pending = undefined;
    process.nextTick(() => this.#resumeAfterHold(pending));
  }

  #resumeAfterHold(pending: Buffer | undefined): void {
    if (this.#closed) return;
    if (pending !== undefined) this.#process(pending, 0);
    if (this.#closed) return;
    // After the client's FIN: what was held is answered; the rest can never be a whole request.
    if (this.#peerEnded) {
      if (this.#body !== undefined) this.destroy(); // a body that can no longer come whole
      else if (this.#stream === undefined) this.#closeIdle();
      return;
    }
    if (!this.#holding && !this.#bodyFull) this.#socket.resume();
  }
}

function ignoreError(): void {}

/** How many lines of `name` (lower-case) `headers` has. */
function countOf(headers: HeaderMap, name: string): number {
  const flat = headers.flatView();
  let n = 0;
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) n++;
  return n;
}

function abandonBody(reader: RequestBody | undefined): void {
  if (reader === undefined || reader.destroyed || reader.readableEnded) return;
  reader.destroy(Object.assign(new Error('the request body was not read: the response came first'), { code: 'ECONNRESET' }));
}

/** The request body as a stream; pulling more resumes the socket. */
class RequestBody extends Readable {
  readonly #connection: Http1Connection;

  constructor(connection: Http1Connection) {
    super();
    this.#connection = connection;
    // The codec may fail a body nobody reads yet (a bad chunk, a client gone): never an
    // uncaught exception. Readers that listen still get the error.
    this.on('error', ignoreError);
  }

  override _read(): void {
    this.#connection.readBody();
  }
}

function requestHead(head: RequestHeadFields): RequestHead {
  // Checked by the parser: the writers need not check these lines again.
  const headers = new HeaderMap(head.headers, head.headers.length);
  const authority = headers.get('host') ?? '';
  if (authority !== '') headers.delete('host');
  return { method: head.method, path: head.target, authority, scheme: 'http', headers };
}

// Response body framings.
const NO_BODY = 0;
const LENGTH = 1;
const CHUNKED = 2;
const UNTIL_CLOSE = 3;

class Http1ServerStream implements ServerStream, FlushListener {
  readonly protocol = 'HTTP/1.1' as const;
  readonly head: RequestHead;
  readonly body: Readable | undefined;
  readonly contentLength: number;
  /** Request trailers, once a chunked body has ended. */
  trailers: string[] | undefined;
  readonly #connection: Http1Connection;
  readonly #request: RequestHeadFields;
  #headersSent = false;
  #framing = NO_BODY;
  /** The declared response length (LENGTH framing). */
  #length = 0;
  #keepAlive = true;
  /** The head, held to go out with the first body bytes. */
  #heldHead: string | undefined;
  #bytesSent = 0;
  #ended = false;
  #endCalled = false;
  /** The response has gone out whole (or the exchange ended otherwise). */
  responseDone = false;
  #onClose: ((completed: boolean) => void) | undefined;
  #closeNotified = false;

  constructor(connection: Http1Connection, request: RequestHeadFields, body: RequestBody | undefined) {
    this.#connection = connection;
    this.#request = request;
    this.head = requestHead(request);
    this.body = body;
    this.contentLength = request.chunked ? -1 : request.contentLength;
    // `expect: 100-continue` was answered here already; the upstream must not wait for a second one.
    if (request.expectContinue) this.head.headers.delete('expect');
  }

  get remoteAddress(): string {
    return this.#connection.remoteAddress;
  }

  get localAddress(): string {
    return this.#connection.localAddress;
  }

  get headersSent(): boolean {
    return this.#headersSent;
  }

  get bytesSent(): number {
    return this.#bytesSent;
  }

  requestTrailers(): HeaderMap | undefined {
    return this.trailers === undefined || this.trailers.length === 0 ? undefined : new HeaderMap(this.trailers);
  }

  sendHeaders(status: number, headers: HeaderMap, endStream: boolean, trailersFollow: boolean): void {
    if (this.#headersSent) throw new Error('response headers already sent');
    const request = this.#request;
    const connection = this.#connection;
    let keepAlive = connection.keepAlive(request);
    let extra = '';
    if (request.method === 'HEAD' || status === 204 || status === 304 || status < 200) {
      this.#framing = NO_BODY;
      if (status === 204 || status < 200) headers.delete('content-length');
    } else if (trailersFollow && !endStream) {
      // Trailers need chunked framing (an HTTP/1.0 client gets the body without them).
      headers.delete('content-length');
      if (request.http10) this.#framing = UNTIL_CLOSE;
      else {
        this.#framing = CHUNKED;
        extra = 'transfer-encoding: chunked\r\n';
      }
    } else {
      const declared = headers.get('content-length');
      if (declared !== undefined) {
        // Only what a client can read: digits, once (a filter may have set anything).
        const length = decimal(declared);
        if (length === -1 || countOf(headers, 'content-length') > 1) {
          throw new InvalidHeaderError('ERR_INVALID_CHAR', `invalid content-length in the response: ${JSON.stringify(declared)}`);
        }
        this.#framing = LENGTH;
        this.#length = length;
        // A declared body that will never come: the client would read the next response as it.
        if (endStream && this.#length > 0) keepAlive = false;
      } else if (endStream) {
        this.#framing = LENGTH;
        this.#length = 0;
        extra = 'content-length: 0\r\n';
      } else if (request.http10) {
        this.#framing = UNTIL_CLOSE;
      } else {
        this.#framing = CHUNKED;
        extra = 'transfer-encoding: chunked\r\n';
      }
    }
    if (this.#framing === UNTIL_CLOSE) keepAlive = false;
    if (!keepAlive) extra += 'connection: close\r\n';
    else if (request.http10) extra += 'connection: keep-alive\r\n';
    if (!headers.has('date')) extra += `date: ${httpDate()}\r\n`;
    const text = `${statusLine(status)}${serializeHeaders(headers)}${extra}\r\n`;
    this.#headersSent = true;
    this.#keepAlive = keepAlive;
    if (endStream || (this.#framing === LENGTH && this.#length === 0) || this.#framing === NO_BODY) {
      if (endStream) {
        this.#ended = true;
        connection.write(text, this);
      } else {
        // No body can follow, but end() has not been called: hold the head until it is.
        this.#heldHead = text;
      }
      return;
    }
    this.#heldHead = text;
  }

  write(chunk: Buffer): boolean {
    if (this.#ended || this.responseDone || chunk.length === 0) return true;
    const framing = this.#framing;
    if (framing === NO_BODY) return true;
    let head = this.#heldHead ?? '';
    this.#heldHead = undefined;
    if (framing === LENGTH) {
      const room = this.#length - this.#bytesSent;
      if (chunk.length > room) {
        // More than the declared length would corrupt the next response: the exchange breaks.
        this.reset();
        return true;
      }
      this.#bytesSent += chunk.length;
      // The last bytes: the exchange completes at end() (see Http1Connection.write).
      if (chunk.length === room) this.#ended = true;
      if (head === '') return this.#connection.write(chunk, undefined);
      if (chunk.length <= COALESCE_LIMIT) return this.#connection.write(joinHeadAndBody(head, chunk), undefined);
      this.#connection.write(head, undefined);
      return this.#connection.write(chunk, undefined);
    }
    this.#bytesSent += chunk.length;
    if (framing === CHUNKED) {
      head += chunkHeader(chunk.length);
      if (chunk.length <= COALESCE_LIMIT) return this.#connection.write(joinHeadAndBody(head, chunk, '\r\n'), undefined);
      this.#connection.write(head, undefined);
      this.#connection.write(chunk, undefined);
      return this.#connection.write('\r\n', undefined);
    }
    // UNTIL_CLOSE
    if (head !== '') this.#connection.write(head, undefined);
    return this.#connection.write(chunk, undefined);
  }

  onceDrain(fn: () => void): void {
    this.#connection.onceDrain(fn);
  }

  end(trailers?: HeaderMap): void {
    if (this.responseDone || this.#endCalled) return;
    if (!this.#headersSent) throw new Error('response ended before its headers');
    const framing = this.#framing;
    // Serialised first: invalid trailers throw before anything is marked ended.
    const tail = framing === CHUNKED ? lastChunk(trailers?.toFlat()) : '';
    this.#endCalled = true;
    const head = this.#heldHead;
    this.#heldHead = undefined;
    if (framing === CHUNKED) {
      this.#ended = true;
      this.#connection.write(`${head ?? ''}${tail}`, this);
      return;
    }
    if (this.#ended) {
      // LENGTH: the last body bytes went out already; the response is complete once they are out.
      this.#connection.write(head ?? '', this);
      return;
    }
    this.#ended = true;
    if (framing === LENGTH && this.#bytesSent < this.#length) {
      // Fewer bytes than declared: the client would wait for the rest forever.
      this.reset();
      return;
    }
    if (framing === UNTIL_CLOSE) this.#keepAlive = false;
    this.#connection.write(head ?? '', this);
  }

  /** FlushListener: the response's last bytes are in the kernel (or their write failed). */
  flushed(err?: Error | null): void {
    if (this.responseDone) return;
    if (err) return; // 'close' follows and ends the exchange as not completed
    this.responseDone = true;
    this.#connection.responseFinished(this, this.#keepAlive);
  }

  reset(): void {
    // A finished exchange no longer owns the connection (it may serve the next request).
    if (this.#closeNotified) return;
    // Closing the connection is HTTP/1's only way to abort a response.
    this.#ended = true;
    this.#connection.destroy();
  }

  onClose(fn: (completed: boolean) => void): void {
    this.#onClose = fn;
  }

  /** The exchange is over: `completed` = the whole response was handed to the kernel. */
  closed(completed: boolean): void {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    this.responseDone = true;
    this.#onClose?.(completed);
  }
}

/**
 * @module upstream/pools/http1-pool
 * HTTP/1.1 keep-alive connections to one upstream host, on raw sockets with mosnode's own
 * parser and writer (protocol/http1): the proxy's hot path, so a request costs an
 * exchange object, its head string and its response HeaderMap, and normally one write;
 * responses are read through net's `onread` (ConnectionReads), not 'data' events.
 * One request at a time per connection (no pipelining: a slow response would hold up the
 * ones behind it). Connections are opened by the cluster (connect timeout, circuit
 * breaker, connection metrics), reused most-recent-first so the rest go idle and close,
 * closed after less idle time than typical upstream keep-alive, and recycled after
 * `max_request_per_conn` requests. Requests beyond `maxConnections` wait in a FIFO queue.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { HeaderMap } from '../../api/headers.ts';
import type { UpstreamCluster, UpstreamHost } from '../../api/upstream.ts';
import { MosnError } from '../../core/errors.ts';
import { readScratch } from '../../buffer/read-buffer.ts';
import { TurnWriter } from '../../network/turn-writes.ts';
import {
  BodyDecoder,
  Http1ParseError,
  findHeadEnd,
  parseResponseHead,
  responseBodyKind,
  type BodySink,
} from '../../protocol/http1/http1-parser.ts';
import {
  COALESCE_LIMIT,
  InvalidHeaderError,
  chunkHeader,
  joinHeadAndBody,
  lastChunk,
  serializeHeaderLines,
} from '../../protocol/http1/http1-writer.ts';
import type {
  HttpConnectionPool,
  UpstreamBody,
  UpstreamExchange,
  UpstreamFailure,
  UpstreamRequestHead,
  UpstreamResponseHandler,
} from './upstream-exchange.ts';

/**
 * Idle keep-alive connections close after this long when the cluster sets no
 * `idle_timeout`: below node's 5 s and nginx's 75 s, so we, not the upstream, close an
 * idle connection, and a request rarely lands on a socket the upstream just closed.
 */
export const DEFAULT_KEEP_ALIVE_MS = 4_000;

/** Longest response head (status line and headers) accepted. */
const MAX_HEAD_BYTES = 64 * 1024;

/** Longest trailer section of a chunked response accepted. */
const MAX_TRAILER_BYTES = 64 * 1024;

export interface Http1PoolOptions {
  /** ms; undefined = DEFAULT_KEEP_ALIVE_MS. */
  idleTimeoutMs: number | undefined;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  /** Infinity = unlimited. */
  maxConnections: number;
}

/** The upstream connection broke before the response ended. */
function resetError(message: string): MosnError {
  return new MosnError('MOSN_ERR_UPSTREAM_RESET', message);
}

function classify(err: Error & { code?: string }): UpstreamFailure {
  const code = err.code;
  switch (code) {
    case 'MOSN_ERR_UPSTREAM_CONNECT':
    case 'MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT':
    case 'ECONNREFUSED':
      return 'connect';
    case 'MOSN_ERR_UPSTREAM_OVERFLOW':
      return 'overflow';
    default:
      return code !== undefined && code.startsWith('HPE_') ? 'protocol' : 'reset';
  }
}

// ---------------------------------------------------------------- request heads

/**
 * Headers the pool writes itself: `host` from the authority, framing from the body, and
 * the connection's own hop-by-hop headers (the proxy strips them; a filter might not).
 */
function isOwnHeader(name: string): boolean {
  switch (name.length) {
    case 4:
      return name === 'host';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 14:
      return name === 'content-length';
    case 17:
      return name === 'transfer-encoding';
    default:
      return false;
  }
}

/** The kept headers of a head that carries some of the pool's own: refilled per request (synchronously), never reallocated. */
const KEPT: string[] = [];

const METHOD_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Controls and spaces would split the request line or the host header (request smuggling). */
const REQUEST_LINE_BAD_RE = /[\x00-\x20\x7f]/;
const CONTENT_LENGTH_RE = /^[0-9]{1,15}$/;

/** The usual methods, known to be tokens without a regex. */
function isCommonMethod(method: string): boolean {
  return method === 'GET' || method === 'POST' || method === 'HEAD' || method === 'PUT' || method === 'DELETE';
}

/** Methods whose bodiless request still says `content-length: 0` (as node:http and curl send). */
function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

// ---------------------------------------------------------------- pool

export class Http1Pool implements HttpConnectionPool {
  readonly #cluster: UpstreamCluster;
  readonly #host: UpstreamHost;
  /** @internal the host's "ip:port", for error messages. */
  readonly address: string;
  /** @internal read by connections. */
  readonly idleTimeoutMs: number;
  /** @internal read by connections; 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly #maxConnections: number;
  /** Idle connections, most recently used last: taken from the end. */
  readonly #idle: Connection[] = [];
  /** Requests waiting for a connection, oldest first. */
  readonly #queue: Http1Exchange[] = [];
  /** Sockets open or being opened (until their 'close'). */
  #open = 0;
  /** Connects under way. */
  #connecting = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  constructor(cluster: UpstreamCluster, host: UpstreamHost, options: Http1PoolOptions) {
    this.#cluster = cluster;
    this.#host = host;
    this.address = host.address;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.maxRequestsPerConnection = options.maxRequestsPerConnection;
    this.#maxConnections = options.maxConnections;
  }

  send(head: UpstreamRequestHead, body: UpstreamBody, handler: UpstreamResponseHandler): UpstreamExchange {
    const exchange = new Http1Exchange(this, handler, head.method, body);
    try {
      exchange.headText = requestHead(head, body, exchange);
    } catch (err) {
      // Nothing was sent and no connection used; answered like an unusable response.
      queueMicrotask(() => exchange.fail(err as Error, 'protocol'));
      return exchange;
    }
    if (this.#closing) {
      const err = new MosnError('MOSN_ERR_UPSTREAM_CONNECT', `the HTTP/1 pool of ${this.#host.address} is closed`);
      queueMicrotask(() => exchange.fail(err, 'connect'));
      return exchange;
    }
    const idle = this.#idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (!conn.closed) {
        conn.start(exchange);
        return exchange;
      }
    }
    this.#queue.push(exchange);
    if (this.#open < this.#maxConnections) this.#connect(exchange);
    return exchange;
  }

  close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#closing = true;
      this.#closed = new Promise<void>((resolve) => {
        this.#resolveClosed = resolve;
      });
      for (const conn of this.#idle.splice(0)) conn.destroy();
      this.#checkClosed();
    }
    return this.#closed;
  }

  /** Opens a connection for the queue; a failure to connect fails `owner` if it still waits. */
  #connect(owner: Http1Exchange): void {
    this.#open++;
    this.#connecting++;
    owner.ownsConnect = true;
    const reads = new ConnectionReads();
    this.#cluster.connectTcp(this.#host, { onread: reads.options }).then(
      (socket) => {
        this.#connecting--;
        owner.ownsConnect = false;
        this.connectionFree(new Connection(this, socket, reads));
      },
      (err: Error) => {
        this.#connecting--;
        this.#open--;
        if (owner.ownsConnect) {
          owner.ownsConnect = false;
          if (this.dequeue(owner)) owner.fail(err, classify(err));
        }
        this.#fill();
        this.#checkClosed();
      },
    );
  }

  /**
   * Starts connects for queued requests no connect is under way for, within the limit
   * (after a connection closed or a connect failed).
   */
  #fill(): void {
    const queue = this.#queue;
    let i = 0;
    while (this.#open < this.#maxConnections && queue.length > this.#connecting) {
      while (i < queue.length && queue[i]!.ownsConnect) i++;
      if (i === queue.length) return;
      this.#connect(queue[i]!);
    }
  }

  /** @internal a connection is free: it takes the oldest queued request, else goes idle. */
  connectionFree(conn: Connection): void {
    const next = this.#queue.shift();
    if (next !== undefined) conn.start(next);
    else if (this.#closing) conn.destroy();
    else {
      conn.idle();
      this.#idle.push(conn);
    }
  }

  /** @internal a connection's socket closed. */
  connectionClosed(conn: Connection): void {
    this.#open--;
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    this.#fill();
    this.#checkClosed();
  }

  /** @internal removes a queued request; false when it was not queued. */
  dequeue(exchange: Http1Exchange): boolean {
    const i = this.#queue.indexOf(exchange);
    if (i === -1) return false;
    this.#queue.splice(i, 1);
    return true;
  }

  #checkClosed(): void {
    if (this.#closing && this.#open === 0 && this.#queue.length === 0) this.#resolveClosed?.();
  }
}

/**
 * The request head as one latin1 string; notes the declared length of a streamed body on
 * `exchange`. Throws InvalidHeaderError (head.headers is left as it was, for a retry).
 */
function requestHead(head: UpstreamRequestHead, body: UpstreamBody, exchange: Http1Exchange): string {
  const { method, path, authority } = head;
  if (!isCommonMethod(method) && !METHOD_RE.test(method)) throw new InvalidHeaderError('ERR_INVALID_HTTP_TOKEN', `invalid request method: ${JSON.stringify(method)}`);
  if (path.length === 0 || REQUEST_LINE_BAD_RE.test(path)) throw new InvalidHeaderError('ERR_INVALID_CHAR', 'invalid character in the request path');
  if (REQUEST_LINE_BAD_RE.test(authority)) throw new InvalidHeaderError('ERR_INVALID_CHAR', 'invalid character in the request authority');
  const flat = head.headers.flatView();
  const validated = head.headers.validated;
  let own = false;
  for (let i = 0; i < flat.length; i += 2) {
    if (isOwnHeader(flat[i]!)) {
      own = true;
      break;
    }
  }
  let lines: string;
  let declared: string | undefined;
  if (!own) lines = serializeHeaderLines(flat, validated);
  else {
    const kept = KEPT;
    try {
      // The kept lines that came from the validated prefix stay a validated prefix.
      let keptValidated = 0;
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i]!;
        if (!isOwnHeader(name)) {
          kept.push(name, flat[i + 1]!);
          if (i < validated) keptValidated = kept.length;
        } else if (name === 'content-length') declared ??= flat[i + 1]!;
      }
      lines = serializeHeaderLines(kept, keptValidated);
    } finally {
      while (kept.length > 0) kept.pop(); // (pops: setting length would trim the store, a runtime call)
    }
  }
  let framing: string;
  if (body === undefined) framing = expectsBody(method) ? 'content-length: 0\r\n' : '';
  else if (Buffer.isBuffer(body)) framing = `content-length: ${body.length}\r\n`;
  else if (declared !== undefined) {
    if (!CONTENT_LENGTH_RE.test(declared)) throw new InvalidHeaderError('ERR_INVALID_CHAR', `invalid content-length: ${JSON.stringify(declared.slice(0, 40))}`);
    exchange.declaredLength = Number(declared);
    framing = `content-length: ${declared}\r\n`;
  } else framing = 'transfer-encoding: chunked\r\n';
  return `${method} ${path} HTTP/1.1\r\nhost: ${authority}\r\n${lines}${framing}\r\n`;
}

// ---------------------------------------------------------------- exchange

const QUEUED = 0;
const ACTIVE = 1;
const DONE = 2;

/** One request: queued, then on a connection, then done (answered, failed or aborted). */
class Http1Exchange implements UpstreamExchange {
  readonly #pool: Http1Pool;
  readonly handler: UpstreamResponseHandler;
  readonly method: string;
  readonly body: UpstreamBody;
  headText = '';
  /** Content-Length of a streamed body; -1 = chunked. */
  declaredLength = -1;
  /** A connect was started for this request and has not settled. */
  ownsConnect = false;
  state = QUEUED;
  conn: Connection | undefined;

  constructor(pool: Http1Pool, handler: UpstreamResponseHandler, method: string, body: UpstreamBody) {
    this.#pool = pool;
    this.handler = handler;
    this.method = method;
    this.body = body;
  }

  abort(): void {
    const state = this.state;
    if (state === DONE) return;
    this.state = DONE;
    if (state === QUEUED) this.#pool.dequeue(this);
    // A request cut short leaves the connection mid-message: it cannot be reused.
    else this.conn!.abandon(this);
  }

  resume(): void {
    if (this.state === ACTIVE) this.conn!.resumeFor(this);
  }

  /** Ends the exchange with onError (nothing when it already ended). */
  fail(err: Error, failure: UpstreamFailure): void {
    if (this.state === DONE) return;
    this.state = DONE;
    this.handler.onError(err, failure);
  }
}

// ---------------------------------------------------------------- reads

/**
 * Where connections read (net's `onread`): the process's shared read buffer, since a read
 * is handled whole before the next one lands. What outlives the read (a body chunk, an
 * unfinished head) is copied out of it.
 */
const SCRATCH = readScratch();

/**
 * A connection's reads through net's `onread` rather than 'data' events: no stream
 * machinery per read (Readable push, 'data' emit, a tick). Every read lands in SCRATCH
 * and what is kept is copied out, at its own size. (Landing big reads in a fresh 64 KiB
 * buffer each, to skip the copy, cost more: 16 KiB responses went from 51 to 58-71 us of
 * CPU per request and p99 to 20 ms, each read pinning 64 KiB outside the heap until its
 * downstream write was done, and the collector chasing that memory.)
 */
class ConnectionReads {
  conn: Connection | undefined;
  /** Node asked for a buffer: the option reached the socket (else it reads through 'data'). */
  attached = false;
  readonly options = {
    buffer: (): Buffer => {
      this.attached = true;
      return SCRATCH;
    },
    callback: (nread: number, landed: Uint8Array): boolean => {
      // Nothing can arrive before the connection exists (the connect resolves first).
      this.conn?.onRead(landed.subarray(0, nread) as Buffer, landed === SCRATCH);
      return true;
    },
  };
}

// ---------------------------------------------------------------- connection

function ignoreError(): void {}

/**
 * One socket to the upstream and the request on it. Its listeners are attached once, for
 * the socket's life; the per-request state lives here too since there is one at a time.
 */
class Connection implements BodySink {
  readonly #pool: Http1Pool;
  readonly #socket: Socket;
  /** Requests go out at the end of the event loop's turn (see network/turn-writes.ts). */
  readonly #out: TurnWriter;
  /** The read being handled is in SCRATCH: body chunks are copied before they are handed on. */
  #shared = false;
  /** The request in flight; undefined while idle. */
  #exchange: Http1Exchange | undefined;
  #requests = 0;
  /** Destroyed (its 'close' may not have come yet). */
  closed = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** The idle timer is pending. */
  #idleArmed = false;
  /** performance.now() when the connection last went idle. */
  #idleSince = 0;

  // Request side.
  #requestSent = false;
  /** A streamed request body still being sent. */
  #body: Readable | undefined;
  /** Bytes of the streamed body still expected; -1 = chunked. */
  #bodyRemaining = -1;
  /** The body was paused for the socket's 'drain'. */
  #bodyPaused = false;

  // Response side.
  /** Head bytes received before the head's end. */
  #pending: Buffer | undefined;
  #decoder: BodyDecoder | undefined;
  /** The response lets the connection stay open (no Connection: close, not a bare HTTP/1.0). */
  #keepAlive = true;
  /** The socket was paused because onResponseData returned false. */
  #paused = false;

  constructor(pool: Http1Pool, socket: Socket, reads: ConnectionReads) {
    this.#pool = pool;
    this.#socket = socket;
    this.#out = new TurnWriter(socket);
    // The cluster's sockets allow half-close (for tcp_proxy); an HTTP/1 client does not.
    socket.allowHalfOpen = false;
    socket.setNoDelay(true);
    reads.conn = this;
    if (!reads.attached) socket.on('data', (chunk: Buffer) => this.onRead(chunk, false));
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
  }

  /** Sends `exchange`'s request. */
  start(exchange: Http1Exchange): void {
    exchange.state = ACTIVE;
    exchange.conn = this;
    this.#exchange = exchange;
    this.#requests++;
    this.#keepAlive = true;
    this.#requestSent = false;
    const out = this.#out;
    const handler = exchange.handler;
    const text = exchange.headText;
    const body = exchange.body;
    if (body === undefined) {
      out.write(text);
    } else if (Buffer.isBuffer(body)) {
      if (body.length <= COALESCE_LIMIT) out.write(joinHeadAndBody(text, body));
      else {
        out.write(text);
        out.write(body);
      }
      if (body.length > 0) {
        handler.onRequestBodySent(body.length);
        if (this.#exchange !== exchange) return;
      }
    } else {
      out.write(text);
      this.#startBody(exchange, body);
      return;
    }
    this.#requestSent = true;
    handler.onRequestSent();
  }

  /**
   * The connection waits in the pool; closed after the idle timeout. The timer is not
   * moved per request: it checks, when it fires, how long the connection has been idle.
   */
  idle(): void {
    this.#idleSince = performance.now();
    if (this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(this.#onIdleTimeout, this.#pool.idleTimeoutMs);
      this.#idleTimer.unref();
    } else if (!this.#idleArmed) this.#idleTimer.refresh(); // (its duration may be a remainder: the check when it fires keeps it exact)
    this.#idleArmed = true;
  }

  /** Closes at once; bytes already written still go first. */
  destroy(): void {
    this.closed = true;
    this.#out.flush();
    this.#socket.destroy();
  }

  /** The exchange was aborted: no callback follows; the connection is closed. */
  abandon(exchange: Http1Exchange): void {
    if (this.#exchange !== exchange) return;
    this.#exchange = undefined;
    this.#detachBody();
    this.destroy();
  }

  resumeFor(exchange: Http1Exchange): void {
    if (this.#exchange === exchange && this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  /** Ends the exchange with onError and closes the connection. */
  #fail(exchange: Http1Exchange, err: Error, failure: UpstreamFailure): void {
    this.#exchange = undefined;
    this.#detachBody();
    this.destroy();
    exchange.fail(err, failure);
  }

  readonly #onIdleTimeout = (): void => {
    this.#idleArmed = false;
    // Busy now: the next idle() arms it again.
    if (this.#exchange !== undefined || this.closed) return;
    const left = this.#pool.idleTimeoutMs - (performance.now() - this.#idleSince);
    if (left < 1) {
      this.destroy();
      return;
    }
    // Used since the timer was armed: wait for the rest of the idle time.
    this.#idleTimer = setTimeout(this.#onIdleTimeout, left);
    this.#idleTimer.unref();
    this.#idleArmed = true;
  };

  // -------------------------------------------------------------- request body

  #startBody(exchange: Http1Exchange, body: Readable): void {
    this.#bodyRemaining = exchange.declaredLength;
    this.#bodyPaused = false;
    if (body.readableEnded) {
      // Already read to its end by someone else: what is left to send is nothing.
      this.#body = body;
      this.#onBodyEnd();
      return;
    }
    if (body.destroyed) {
      this.#fail(exchange, body.errored ?? resetError('the request body was closed before it was sent'), 'reset');
      return;
    }
    this.#body = body;
    body.on('data', this.#onBodyData);
    body.on('end', this.#onBodyEnd);
    body.on('error', this.#onBodyError);
    body.on('close', this.#onBodyClose);
    body.resume();
  }

  #detachBody(): void {
    const body = this.#body;
    if (body === undefined) return;
    this.#body = undefined;
    body.off('data', this.#onBodyData);
    body.off('end', this.#onBodyEnd);
    body.off('error', this.#onBodyError);
    body.off('close', this.#onBodyClose);
    // A body left unfinished may still fail later, with nobody else listening: not a crash.
    if (!body.readableEnded && !body.listeners('error').includes(ignoreError)) body.on('error', ignoreError);
  }

  // The body handlers check they are still attached: an emitter calls every listener it
  // had when an event began, so one detached by an earlier listener of that event still runs.
  readonly #onBodyData = (chunk: Buffer): void => {
    const exchange = this.#exchange;
    if (exchange === undefined || this.#body === undefined) return;
    const n = chunk.length;
    if (n === 0) return; // in a chunked body it would read as the last chunk
    const out = this.#out;
    let ok: boolean;
    if (this.#bodyRemaining === -1) {
      if (n <= COALESCE_LIMIT) ok = out.write(joinHeadAndBody(chunkHeader(n), chunk, '\r\n'));
      else {
        out.write(chunkHeader(n));
        out.write(chunk);
        ok = out.write('\r\n');
      }
    } else {
      if (n > this.#bodyRemaining) {
        this.#fail(exchange, new MosnError('MOSN_ERR_UPSTREAM_REQUEST_BODY', `the request body is longer than its content-length ${exchange.declaredLength}`), 'reset');
        return;
      }
      this.#bodyRemaining -= n;
      ok = out.write(chunk);
    }
    if (!ok) {
      this.#bodyPaused = true;
      this.#body!.pause();
    }
    exchange.handler.onRequestBodySent(n);
  };

  readonly #onBodyEnd = (): void => {
    const exchange = this.#exchange;
    if (exchange === undefined || this.#body === undefined) return;
    if (this.#bodyRemaining > 0) {
      this.#fail(
        exchange,
        new MosnError(
          'MOSN_ERR_UPSTREAM_REQUEST_BODY',
          `the request body ended ${this.#bodyRemaining} bytes short of its content-length ${exchange.declaredLength}`,
        ),
        'reset',
      );
      return;
    }
    if (this.#bodyRemaining === -1) this.#out.write(lastChunk(undefined));
    this.#detachBody();
    this.#requestSent = true;
    exchange.handler.onRequestSent();
  };

  readonly #onBodyError = (err: Error): void => {
    const exchange = this.#exchange;
    if (exchange !== undefined && this.#body !== undefined) this.#fail(exchange, err, 'reset');
  };

  readonly #onBodyClose = (): void => {
    // Still attached: the body closed without its 'end' (the client went away).
    const exchange = this.#exchange;
    if (exchange !== undefined && this.#body !== undefined) this.#fail(exchange, resetError('the request body was closed before its end'), 'reset');
  };

  readonly #onDrain = (): void => {
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      this.#body?.resume();
    }
  };

  // -------------------------------------------------------------- response

  /** Bytes read (ConnectionReads); `shared` = they are in SCRATCH, valid only during this call. */
  onRead(chunk: Buffer, shared: boolean): void {
    const exchange = this.#exchange;
    if (exchange === undefined) {
      // An idle connection has nothing to say; whatever it sent makes it unusable.
      this.destroy();
      return;
    }
    let buf = chunk;
    let pos = 0;
    this.#shared = shared;
    try {
      if (this.#decoder === undefined) {
        let from = 0;
        const pending = this.#pending;
        if (pending !== undefined) {
          // Buffer.concat copies: buf is no longer in SCRATCH.
          this.#pending = undefined;
          from = pending.length;
          buf = Buffer.concat([pending, chunk]);
          this.#shared = false;
        }
        pos = this.#readHead(exchange, buf, from);
        if (pos === -1) return;
      }
      pos = this.#decoder!.push(buf, pos, buf.length, this);
    } catch (err) {
      if (!(err instanceof Http1ParseError)) throw err;
      if (this.#exchange === exchange) this.#fail(exchange, err, 'protocol');
      return;
    } finally {
      this.#shared = false;
    }
    if (this.#exchange === exchange && this.#decoder!.done) this.#complete(exchange, pos < buf.length);
  }

  /**
   * Parses response heads from buf[0..]: skips 1xx, hands the final head to the handler.
   * Returns where the body starts, or -1 when there is nothing more to do with `buf`
   * (the head is incomplete, the response had no body, or the exchange ended).
   */
  #readHead(exchange: Http1Exchange, buf: Buffer, from: number): number {
    let pos = 0;
    for (;;) {
      const end = findHeadEnd(buf, pos, from, MAX_HEAD_BYTES);
      if (end === -1) {
        if (pos < buf.length) this.#pending = this.#shared ? Buffer.from(buf.subarray(pos)) : pos === 0 ? buf : buf.subarray(pos);
        return -1;
      }
      const head = parseResponseHead(buf, pos, end);
      pos = from = end;
      const status = head.status;
      if (status < 200) {
        if (status === 101) {
          throw new Http1ParseError('HPE_INVALID_STATUS', 'the upstream switched protocols (101) on a request that asked for no upgrade', 502);
        }
        // 100 Continue and other interim responses: the final one follows.
        continue;
      }
      const kind = responseBodyKind(head, exchange.method);
      this.#keepAlive = !head.close && (!head.http10 || head.keepAlive);
      // Checked by the parser: the writers need not check these lines again.
      const headers = new HeaderMap(head.headers, head.headers.length);
      if (head.transferEncoding !== undefined && (head.contentLength !== -1 || head.http10)) {
        // Framing that smells of response smuggling (RFC 9112 §6.1, §6.3): the body is
        // framed by Transfer-Encoding, the Content-Length is not forwarded, and the
        // connection is not trusted with another request.
        this.#keepAlive = false;
        if (head.contentLength !== -1) headers.delete('content-length');
      }
      exchange.handler.onResponseHeaders(status, headers, kind === 'none');
      if (this.#exchange !== exchange) return -1;
      if (kind === 'none') {
        this.#complete(exchange, pos < buf.length);
        return -1;
      }
      this.#decoder =
        kind === 'length'
          ? BodyDecoder.length(head.contentLength)
          : kind === 'chunked'
            ? BodyDecoder.chunked(MAX_TRAILER_BYTES)
            : BodyDecoder.untilClose();
      return pos;
    }
  }

  /** A body chunk from the decoder. */
  onBody(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (exchange === undefined) return; // aborted while the rest of the read is decoded
    // The handler may keep the chunk (a buffered body, a write still queued): never SCRATCH.
    if (this.#shared) chunk = Buffer.from(chunk);
    if (!exchange.handler.onResponseData(chunk) && this.#exchange === exchange && !this.#paused) {
      // Stops the next reads; the rest of the current one is still decoded and delivered.
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** The response ended: `extra` = bytes arrived past its end (the connection is out of step). */
  #complete(exchange: Http1Exchange, extra: boolean): void {
    const decoder = this.#decoder;
    const trailers = decoder?.trailers;
    const max = this.#pool.maxRequestsPerConnection;
    const reusable =
      this.#keepAlive &&
      this.#requestSent &&
      !extra &&
      (decoder === undefined || !decoder.endsWithClose) &&
      (max === 0 || this.#requests < max) &&
      !this.closed;
    this.#exchange = undefined;
    this.#decoder = undefined;
    exchange.state = DONE;
    // A response that came before the whole request was sent: the rest is not sent.
    this.#detachBody();
    if (reusable) {
      if (this.#paused) {
        this.#paused = false;
        this.#socket.resume();
      }
      // Before onResponseEnd: a request sent from that callback can have this connection.
      this.#pool.connectionFree(this);
    } else this.destroy();
    exchange.handler.onResponseEnd(trailers === undefined ? undefined : new HeaderMap(trailers));
  }

  readonly #onEnd = (): void => {
    const exchange = this.#exchange;
    if (exchange !== undefined) {
      if (this.#decoder !== undefined && this.#decoder.endsWithClose) {
        this.#complete(exchange, false);
        return;
      }
      const err = resetError(
        this.#decoder === undefined
          ? `${this.#remote()} closed the connection before a complete response head`
          : `${this.#remote()} closed the connection in the middle of the response body`,
      );
      this.#fail(exchange, err, 'reset');
      return;
    }
    this.destroy();
  };

  readonly #onError = (err: Error): void => {
    const exchange = this.#exchange;
    if (exchange !== undefined) this.#fail(exchange, err, classify(err));
    else this.destroy();
  };

  readonly #onClose = (): void => {
    this.closed = true;
    clearTimeout(this.#idleTimer);
    const exchange = this.#exchange;
    if (exchange !== undefined) this.#fail(exchange, resetError(`the connection to ${this.#remote()} closed before the response ended`), 'reset');
    this.#pool.connectionClosed(this);
  };

  #remote(): string {
    return `upstream ${this.#pool.address}`;
  }
}

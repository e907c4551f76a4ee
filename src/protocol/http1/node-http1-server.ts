/**
 * @module protocol/http1/node-http1-server
 * The node:http HTTP/1.1 server codec, kept as the fallback of mosnode's own codec
 * (http1-server.ts) behind MOSNODE_HTTP1_CODEC=node: node:http's parser (llhttp, strict mode: CL+TE, duplicate or
 * bad Content-Length and obs-fold are refused with a 400; oversized headers get a 431)
 * fed with sockets the `proxy` network filter detached. Each request becomes a
 * ServerStream. This module also owns the connection's life around requests: the
 * header-read deadline, keep-alive, drain on shutdown, and readiness for migration.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { HeaderMap } from '../../api/headers.ts';
import type { RequestHead } from '../../api/stream-filter.ts';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import type { ServerStream } from '../server-stream.ts';
import { formatAddress } from '../../network/address.ts';
import { connectionAddressesOf } from '../../network/connection.ts';
import { DEFAULT_HTTP1_LIMITS, type Http1ConnectionControl, type Http1ServerHandlers, type Http1ServerLimits, type SocketMigration } from './http1-server.ts';

/** Idle keep-alive connections are closed at random moments within this window of a drain. */
const IDLE_CLOSE_SPREAD_MS = 2_000;

/**
 * During a drain, a connection is closed by timer only after this long without a request:
 * a busy client gets `Connection: close` on its next response instead, which never races
 * with a request already on the wire.
 */
const DRAIN_IDLE_MS = 1_000;

/**
 * A keep-alive connection migrates only after this long without a request: node:http's
 * parser may hold the start of a next request that arrived with the previous one, which
 * socket.bytesRead cannot tell apart; a client that paused mid-request this long is rare.
 */
const MIGRATE_IDLE_MS = 250;

interface SocketState {
  /** Responses not yet finished on this socket (more than one when pipelined). */
  responses: Set<ServerResponse>;
  draining: boolean;
  headersTimer: NodeJS.Timeout | undefined;
  /** When a request last started or a response last ended (ms). */
  lastActiveAt: number;
  /**
   * socket.bytesRead when the connection last became idle; -1 = unknown. Equal to the
   * current count means the parser holds no partial request: the socket may migrate.
   */
  bytesReadWhenIdle: number;
}

export class NodeHttp1Server {
  readonly #server: Server;
  readonly #handlers: Http1ServerHandlers;
  readonly #logger: Logger;
  readonly #limits: Http1ServerLimits;
  readonly #sockets = new WeakMap<Socket, SocketState>();

  constructor(handlers: Http1ServerHandlers, logger: Logger, limits: Http1ServerLimits = DEFAULT_HTTP1_LIMITS) {
    this.#handlers = handlers;
    this.#logger = logger;
    this.#limits = limits;
    this.#server = createServer(
      { keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 0, maxHeaderSize: limits.maxHeaderBytes, requireHostHeader: false },
      (req, res) => this.#onRequest(req, res),
    );
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed requests get a 400 (431 for oversized headers), never a crash.
      if (!socket.writable) return socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      logger.debug({ err: describeError(err), code: err.code }, 'http1: malformed request');
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, firstBytes: Buffer) => {
      const state = this.#sockets.get(socket);
      if (state !== undefined) clearTimeout(state.headersTimer);
      this.#sockets.delete(socket);
      handlers.onUpgrade(requestHead(req), socket, firstBytes);
    });
  }

  /** Takes over a downstream socket. */
  accept(socket: Socket): Http1ConnectionControl {
    const state: SocketState = {
      responses: new Set(),
      draining: false,
      headersTimer: undefined,
      lastActiveAt: Date.now(),
      bytesReadWhenIdle: socket.bytesRead === 0 ? 0 : -1,
    };
    this.#sockets.set(socket, state);
    this.#armHeadersTimer(socket, state);
    socket.once('close', () => clearTimeout(state.headersTimer));
    this.#server.emit('connection', socket);
    socket.resume();
    return { isIdle: () => this.isIdle(socket), prepareMigration: () => this.prepareMigration(socket), drain: () => this.drain(socket) };
  }

  #armHeadersTimer(socket: Socket, state: SocketState): void {
    clearTimeout(state.headersTimer);
    state.headersTimer = setTimeout(() => {
      this.#logger.debug({ remote: socket.remoteAddress }, 'http1: request headers timed out; connection closed');
      socket.destroy();
    }, this.#limits.headersTimeoutMs);
    state.headersTimer.unref();
  }

  /** True when no request is in flight on this socket. */
  isIdle(socket: Socket): boolean {
    const state = this.#sockets.get(socket);
    return state !== undefined && !state.draining && state.responses.size === 0;
  }

  /**
   * Readies an idle keep-alive socket for migration (reading already stopped by the
   * caller): no request in flight and not a byte read since the last response ended.
   */
  prepareMigration(socket: Socket): SocketMigration | undefined {
    const state = this.#sockets.get(socket);
    if (state === undefined || state.draining || state.responses.size > 0 || state.bytesReadWhenIdle !== socket.bytesRead) return undefined;
    if (Date.now() - state.lastActiveAt < MIGRATE_IDLE_MS) return undefined;
    return {
      commit: () => {
        clearTimeout(state.headersTimer);
        this.#sockets.delete(socket);
      },
      abort: () => {},
    };
  }

  /** Drains one socket: close now if idle, else after the response in flight (Connection: close). */
  drain(socket: Socket): void {
    const state = this.#sockets.get(socket);
    if (state === undefined) return;
    state.draining = true;
    if (state.responses.size === 0) {
      // Idle: close at a random moment within the spread, so thousands of clients do not
      // all reconnect at once; a request that comes first is answered with Connection: close.
      let timer: NodeJS.Timeout;
      const closeIfIdle = (): void => {
        const idleFor = Date.now() - state.lastActiveAt;
        if (state.responses.size > 0 || socket.destroyed) return; // the response will close it
        if (idleFor >= DRAIN_IDLE_MS) socket.end();
        else timer = setTimeout(closeIfIdle, DRAIN_IDLE_MS - idleFor);
      };
      timer = setTimeout(closeIfIdle, Math.random() * IDLE_CLOSE_SPREAD_MS);
      socket.once('close', () => clearTimeout(timer));
      return;
    }
    for (const res of state.responses) if (!res.headersSent) res.shouldKeepAlive = false;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    let state = this.#sockets.get(socket);
    if (state === undefined) {
      state = { responses: new Set(), draining: false, headersTimer: undefined, lastActiveAt: Date.now(), bytesReadWhenIdle: -1 };
      this.#sockets.set(socket, state);
    }
    const socketState = state;
    clearTimeout(socketState.headersTimer);
    socketState.lastActiveAt = Date.now();
    socketState.responses.add(res);
    res.on('close', () => {
      socketState.responses.delete(res);
      socketState.lastActiveAt = Date.now();
      const finished = res.writableFinished;
      if (socketState.responses.size === 0) socketState.bytesReadWhenIdle = finished ? socket.bytesRead : -1;
      if (socketState.draining && socketState.responses.size === 0) socket.end();
      else if (finished && socketState.responses.size === 0 && !socket.destroyed) this.#armHeadersTimer(socket, socketState);
    });
    if (socketState.draining) res.shouldKeepAlive = false;
    this.#handlers.onRequest(new Http1ServerStream(req, res));
  }
}

function requestHead(req: IncomingMessage): RequestHead {
  const headers = HeaderMap.fromRaw(req.rawHeaders);
  const authority = headers.get('host') ?? '';
  headers.delete('host');
  return { method: req.method ?? 'GET', path: req.url ?? '/', authority, scheme: 'http', headers };
}


class Http1ServerStream implements ServerStream {
  readonly protocol = 'HTTP/1.1' as const;
  readonly head: RequestHead;
  readonly body: Readable | undefined;
  readonly contentLength: number;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  #bytesSent = 0;
  #chunked = false;
  /** Kept: node detaches req.socket when the response is done, and addresses are read at the end. */
  readonly #socket: Socket;
  #remote: string | undefined;
  #local: string | undefined;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.#req = req;
    this.#res = res;
    this.#socket = req.socket;
    this.head = requestHead(req);
    const cl = req.headers['content-length'];
    const te = req.headers['transfer-encoding'];
    this.contentLength = cl !== undefined ? Number(cl) : -1;
    // llhttp already refused conflicting framing; a request without either has no body.
    this.body = (cl !== undefined && cl !== '0') || te !== undefined ? req : undefined;
    // `expect: 100-continue` was answered by node:http already (it sends 100 when the
    // request is handed over); the upstream must not wait for a second one.
    this.head.headers.delete('expect');
  }

  // The connection's addresses, so a PROXY protocol header or original_dst is honoured.
  get remoteAddress(): string {
    return (this.#remote ??= connectionAddressesOf(this.#socket)?.remoteAddress ?? formatAddress(this.#socket.remoteAddress, this.#socket.remotePort));
  }

  get localAddress(): string {
    return (this.#local ??= connectionAddressesOf(this.#socket)?.localAddress ?? formatAddress(this.#socket.localAddress, this.#socket.localPort));
  }

  get headersSent(): boolean {
    return this.#res.headersSent || this.#res.destroyed;
  }

  get bytesSent(): number {
    return this.#bytesSent;
  }

  requestTrailers(): HeaderMap | undefined {
    const raw = this.#req.rawTrailers;
    return raw.length === 0 ? undefined : HeaderMap.fromRaw(raw);
  }

  sendHeaders(status: number, headers: HeaderMap, endStream: boolean, trailersFollow: boolean): void {
    const res = this.#res;
    const flat = headers.toFlat();
    // Trailers need chunked framing: drop a content-length so node frames the body chunked.
    if (trailersFollow && !endStream) {
      headers.delete('content-length');
      this.#chunked = true;
    }
    // Answering before the request body has arrived (a local 504/502, an upstream that
    // answered early): the rest of the body may never be read (a body the upstream side
    // gave up on is destroyed), and keep-alive would leave the next request stuck behind
    // it. So the connection closes after this response (RFC 9112 §9.6).
    if (this.body !== undefined && !this.#req.complete) res.shouldKeepAlive = false;
    res.writeHead(status, flat);
    if (endStream) res.end();
  }

  write(chunk: Buffer): boolean {
    this.#bytesSent += chunk.length;
    return this.#res.write(chunk);
  }

  onceDrain(fn: () => void): void {
    this.#res.once('drain', fn);
  }

  end(trailers?: HeaderMap): void {
    if (trailers !== undefined && this.#chunked && trailers.size > 0) this.#res.addTrailers(trailers.toObject());
    this.#res.end();
  }

  reset(): void {
    // Closing the connection is HTTP/1's only way to abort a response.
    this.#res.destroy();
    this.#socket.destroy();
  }

  onClose(fn: (completed: boolean) => void): void {
    this.#res.once('close', () => fn(this.#res.writableFinished));
  }
}

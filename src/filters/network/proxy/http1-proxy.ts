/**
 * @module filters/network/proxy/http1-proxy
 * The first slice of the L7 proxy: an HTTP/1.1 server (node:http, fed with connections
 * the `proxy` network filter detaches) that routes each request with a RouteTable and
 * either answers a `direct_response` or forwards it to the route's cluster, streaming both
 * bodies with backpressure. Failures map to MOSN's statuses: no route 404, no host or
 * connect failure 503, upstream reset 502, timeout 504; each is logged and counted.
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse, type Server, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamClusters } from '../../../api/upstream.ts';
import type { Logger } from '../../../core/logger.ts';
import { describeError } from '../../../core/errors.ts';
import type { RouteTable } from '../../../router/route-table.ts';
import type { HeaderValueOption } from '../../../config/types.ts';
import type { DownstreamMetrics } from '../../../metrics/metric-bundles.ts';
import { countResponseStatus } from '../../../metrics/metric-bundles.ts';
import type { FilterMigration } from '../../../network/migration.ts';

/** Per-route upstream timeout when the route sets none (MOSN's per-route default). */
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

/**
 * A request's headers must arrive within this long of the connection opening or of the
 * previous response ending. node:http enforces its own headersTimeout only on servers
 * that listen() themselves; ours is fed detached sockets, so we keep the deadline here.
 */
const HEADERS_TIMEOUT_MS = 60_000;

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

/** Hop-by-hop headers (RFC 9110 §7.6.1) never cross the proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

interface SocketState {
  /** Responses not yet finished on this socket (more than one when pipelined). */
  responses: Set<ServerResponse>;
  draining: boolean;
  /** Closes the socket if the next request's headers do not arrive in time. */
  headersTimer: NodeJS.Timeout | undefined;
  /** When a request last started or a response last ended (ms). */
  lastActiveAt: number;
  /**
   * socket.bytesRead when the connection last became idle; -1 = unknown. Equal to the
   * current count means the parser holds no partial request: the socket may migrate.
   */
  bytesReadWhenIdle: number;
}

export interface Http1ProxyOptions {
  routes: RouteTable;
  clusters: UpstreamClusters;
  logger: Logger;
  /** Every bundle counts each request: the listener's and the proxy's (MOSN counts both). */
  metrics: readonly DownstreamMetrics[];
}

export class Http1Proxy {
  readonly #server: Server;
  readonly #options: Http1ProxyOptions;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, timeout: 60_000 });
  readonly #sockets = new WeakMap<Socket, SocketState>();

  constructor(options: Http1ProxyOptions) {
    this.#options = options;
    this.#server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 300_000 }, (req, res) => this.#onRequest(req, res));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed requests get a 400 (431 for oversized headers), never a crash.
      if (!socket.writable) return socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      options.logger.debug({ err: describeError(err) }, 'http1: malformed request');
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  /** Takes over a downstream socket. */
  accept(socket: Socket): void {
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
  }

  #armHeadersTimer(socket: Socket, state: SocketState): void {
    clearTimeout(state.headersTimer);
    state.headersTimer = setTimeout(() => {
      this.#options.logger.debug({ remote: socket.remoteAddress }, 'http1: request headers timed out; connection closed');
      socket.destroy();
    }, HEADERS_TIMEOUT_MS);
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
  prepareMigration(socket: Socket): FilterMigration | undefined {
    const state = this.#sockets.get(socket);
    if (state === undefined || state.draining || state.responses.size > 0 || state.bytesReadWhenIdle !== socket.bytesRead) return undefined;
    if (Date.now() - state.lastActiveAt < MIGRATE_IDLE_MS) return undefined;
    return {
      kind: 'http1',
      extraSockets: [],
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
    // In-flight responses that have not started go out with Connection: close.
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
    const metrics = this.#options.metrics;
    for (const m of metrics) {
      m.requestTotal.inc();
      m.requestActive.inc();
    }
    const started = performance.now();
    res.on('close', () => {
      socketState.responses.delete(res);
      socketState.lastActiveAt = Date.now();
      const finished = res.writableFinished;
      for (const m of metrics) {
        m.requestActive.dec();
        m.requestTime.observe(performance.now() - started);
        // A response that never started has no status to count: it was reset.
        if (res.headersSent) countResponseStatus(m, res.statusCode);
        if (!finished) m.requestReset.inc();
      }
      if (socketState.responses.size === 0) socketState.bytesReadWhenIdle = finished ? socket.bytesRead : -1;
      if (socketState.draining && socketState.responses.size === 0) socket.end();
      else if (finished && socketState.responses.size === 0 && !socket.destroyed) this.#armHeadersTimer(socket, socketState);
    });
    if (socketState.draining) res.shouldKeepAlive = false;

    const host = req.headers.host ?? '';
    const match = this.#options.routes.match(host, req.url ?? '/', (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    });
    if (match === undefined) return this.#localReply(req, res, 404, 'no route');
    const { route, virtualHost } = match;
    if (route.direct_response !== undefined) {
      const body = route.direct_response.body ?? '';
      res.statusCode = route.direct_response.status;
      addHeaders(res, virtualHost.response_headers_to_add);
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
      req.resume();
      return;
    }
    const action = route.route;
    const clusterName = action?.cluster_name ?? (action?.cluster_header ? headerText(req, action.cluster_header) : undefined);
    const cluster = clusterName === undefined ? undefined : this.#options.clusters.getCluster(clusterName);
    if (cluster === undefined) return this.#localReply(req, res, 503, `no cluster "${clusterName ?? ''}"`);
    const upstreamHost = cluster.chooseHost();
    if (upstreamHost === undefined) return this.#localReply(req, res, 503, `no healthy host in cluster "${cluster.name}"`);
    const colon = upstreamHost.address.lastIndexOf(':');
    const hostname = upstreamHost.address.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(upstreamHost.address.slice(colon + 1));

    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    }
    const remote = socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${remote}` : remote;
    headers['x-forwarded-proto'] ??= 'http';
    if (action?.prefix_rewrite !== undefined && action.prefix_rewrite !== '' && route.match.prefix !== undefined) {
      req.url = action.prefix_rewrite + (req.url ?? '/').slice(route.match.prefix.length);
    }
    if (action?.host_rewrite) headers.host = action.host_rewrite;
    for (const name of action?.request_headers_to_remove ?? []) delete headers[name.toLowerCase()];
    for (const { header, append } of action?.request_headers_to_add ?? []) {
      const key = header.key.toLowerCase();
      const old = headers[key];
      headers[key] = append && old !== undefined ? `${String(old)},${header.value}` : header.value;
    }

    const timeoutMs = action?.timeout ?? DEFAULT_ROUTE_TIMEOUT_MS;
    let answered = false;
    const upstreamReq = httpRequest({
      host: hostname,
      port,
      method: req.method,
      path: req.url,
      headers,
      agent: this.#agent,
      timeout: cluster.connectTimeoutMs,
    });
    const timer = setTimeout(() => {
      upstreamReq.destroy();
      fail(504, 'upstream request timeout');
    }, timeoutMs);
    const fail = (status: number, reason: string, err?: unknown): void => {
      clearTimeout(timer);
      if (answered) return;
      answered = true;
      this.#options.logger.warn({ cluster: cluster.name, host: upstreamHost.address, status, reason, err: err && describeError(err) }, 'http1: upstream failure');
      if (res.headersSent) res.destroy();
      else this.#localReply(req, res, status, reason);
    };
    upstreamReq.on('socket', (s: Socket) => {
      // The connect timeout applies until the socket connects; the route timeout after.
      if (s.connecting) s.once('connect', () => upstreamReq.setTimeout(0));
      else upstreamReq.setTimeout(0);
    });
    upstreamReq.on('timeout', () => {
      upstreamReq.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    });
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      const connectFailure = err.code === 'ECONNREFUSED' || err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH';
      fail(connectFailure ? 503 : 502, connectFailure ? 'upstream connect failure' : 'upstream reset', err);
    });
    upstreamReq.on('response', (upstreamRes) => {
      clearTimeout(timer);
      if (answered) return upstreamRes.destroy();
      answered = true;
      res.statusCode = upstreamRes.statusCode ?? 502;
      const raw = upstreamRes.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        if (!HOP_BY_HOP.has(name.toLowerCase())) res.appendHeader(name, raw[i + 1]!);
      }
      for (const name of action?.response_headers_to_remove ?? []) res.removeHeader(name);
      addHeaders(res, action?.response_headers_to_add ?? []);
      addHeaders(res, virtualHost.response_headers_to_add);
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => res.destroy());
      upstreamRes.on('aborted', () => res.destroy());
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  }

  #localReply(req: IncomingMessage, res: ServerResponse, status: number, reason: string): void {
    this.#options.logger.debug({ status, reason, path: req.url }, 'http1: local reply');
    if (status >= 500) for (const m of this.#options.metrics) m.requestFailed.inc();
    const body = `${reason}\n`;
    res.statusCode = status;
    res.setHeader('content-type', 'text/plain');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
    req.resume();
  }
}

function headerText(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function addHeaders(res: ServerResponse, options: readonly HeaderValueOption[]): void {
  for (const { header, append } of options) {
    if (append) res.appendHeader(header.key, header.value);
    else res.setHeader(header.key, header.value);
  }
}

/**
 * @module upstream/pools/http2-pool
 * HTTP/2 (h2c prior knowledge) sessions to one upstream host, multiplexed: a request
 * goes on the first session with a free stream (below the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS and our own cap); a new session is opened only when
 * all are full. Sessions are opened through the cluster (connect timeout, circuit
 * breaker, connection metrics); one that received GOAWAY takes no new stream.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { HeaderMap } from '../../api/headers.ts';
import type { UpstreamCluster, UpstreamHost } from '../../api/upstream.ts';
import type {
  HttpConnectionPool,
  UpstreamBody,
  UpstreamExchange,
  UpstreamFailure,
  UpstreamRequestHead,
  UpstreamResponseHandler,
} from './upstream-exchange.ts';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** Our cap on streams per session, whatever the peer allows. */
const MAX_STREAMS_PER_SESSION = 1000;

/** A session with no stream closes after this long when the cluster sets no idle_timeout. */
const DEFAULT_IDLE_MS = 60_000;

interface PooledSession {
  session: ClientHttp2Session | undefined;
  /** Streams open (or queued until the session connects). */
  active: number;
  usable: boolean;
  /** Requests waiting for this session to connect. */
  waiting: Array<() => void>;
  idleTimer: NodeJS.Timeout | undefined;
  /** Set when the connection could not be opened: every waiting request fails with it. */
  connectError: { err: Error; failure: UpstreamFailure } | undefined;
}

export interface Http2PoolOptions {
  idleTimeoutMs: number | undefined;
  /** Infinity = unlimited. */
  maxConnections: number;
}

export class Http2Pool implements HttpConnectionPool {
  readonly #cluster: UpstreamCluster;
  readonly #host: UpstreamHost;
  readonly #options: Http2PoolOptions;
  readonly #sessions: PooledSession[] = [];

  constructor(cluster: UpstreamCluster, host: UpstreamHost, options: Http2PoolOptions) {
    this.#cluster = cluster;
    this.#host = host;
    this.#options = options;
  }

  send(head: UpstreamRequestHead, body: UpstreamBody, handler: UpstreamResponseHandler): UpstreamExchange {
    const pooled = this.#pick();
    const exchange = new Http2Exchange(handler, () => this.#release(pooled));
    pooled.active++;
    clearTimeout(pooled.idleTimer);
    const start = (): void => {
      if (exchange.aborted) return;
      if (pooled.connectError !== undefined) {
        exchange.fail(pooled.connectError.err, pooled.connectError.failure);
        return;
      }
      const session = pooled.session;
      if (session === undefined || session.destroyed || session.closed) {
        exchange.fail(new Error('upstream HTTP/2 session closed before the request was sent'), 'reset');
        return;
      }
      exchange.start(session, head, body);
    };
    if (pooled.connectError !== undefined || (pooled.session !== undefined && !pooled.session.connecting)) start();
    else pooled.waiting.push(start);
    return exchange;
  }

  #pick(): PooledSession {
    for (const p of this.#sessions) {
      if (!p.usable) continue;
      const limit = Math.min(MAX_STREAMS_PER_SESSION, p.session?.remoteSettings?.maxConcurrentStreams ?? MAX_STREAMS_PER_SESSION);
      if (p.active < limit) return p;
    }
    const pooled: PooledSession = { session: undefined, active: 0, usable: true, waiting: [], idleTimer: undefined, connectError: undefined };
    this.#sessions.push(pooled);
    this.#cluster.connectTcp(this.#host).then(
      (socket: Socket) => {
        socket.allowHalfOpen = false;
        const session = http2.connect(`http://${this.#host.address}`, { createConnection: () => socket });
        pooled.session = session;
        const unusable = (): void => {
          pooled.usable = false;
          const i = this.#sessions.indexOf(pooled);
          if (i >= 0) this.#sessions.splice(i, 1);
        };
        session.on('error', unusable);
        session.on('goaway', unusable);
        session.on('close', () => {
          unusable();
          clearTimeout(pooled.idleTimer);
          this.#flushWaiting(pooled);
        });
        session.once('connect', () => this.#flushWaiting(pooled));
      },
      (err: Error & { code?: string }) => {
        pooled.usable = false;
        const i = this.#sessions.indexOf(pooled);
        if (i >= 0) this.#sessions.splice(i, 1);
        pooled.connectError = { err, failure: err.code === 'MOSN_ERR_UPSTREAM_OVERFLOW' ? 'overflow' : 'connect' };
        this.#flushWaiting(pooled);
      },
    );
    return pooled;
  }

  #flushWaiting(pooled: PooledSession): void {
    const waiting = pooled.waiting.splice(0);
    for (const start of waiting) start();
  }

  #release(pooled: PooledSession): void {
    pooled.active--;
    if (pooled.active > 0 || pooled.session === undefined) return;
    clearTimeout(pooled.idleTimer);
    pooled.idleTimer = setTimeout(() => {
      if (pooled.active === 0) {
        pooled.usable = false;
        const i = this.#sessions.indexOf(pooled);
        if (i >= 0) this.#sessions.splice(i, 1);
        pooled.session?.close();
      }
    }, this.#options.idleTimeoutMs ?? DEFAULT_IDLE_MS);
    pooled.idleTimer.unref();
  }

  async close(): Promise<void> {
    const sessions = this.#sessions.splice(0);
    await Promise.all(
      sessions.map(
        (p) =>
          new Promise<void>((resolve) => {
            clearTimeout(p.idleTimer);
            if (p.session === undefined || p.session.destroyed) return resolve();
            p.session.close(() => resolve());
          }),
      ),
    );
  }
}

class Http2Exchange implements UpstreamExchange {
  readonly #handler: UpstreamResponseHandler;
  readonly #release: () => void;
  #stream: ClientHttp2Stream | undefined;
  #done = false;
  #released = false;
  aborted = false;

  constructor(handler: UpstreamResponseHandler, release: () => void) {
    this.#handler = handler;
    this.#release = release;
  }

  start(session: ClientHttp2Session, head: UpstreamRequestHead, body: UpstreamBody): void {
    const headers: OutgoingHttpHeaders = {
      ':method': head.method,
      ':path': head.path,
      ':authority': head.authority,
      ':scheme': head.scheme,
    };
    head.headers.forEach((name, value) => {
      const old = headers[name];
      if (old === undefined) headers[name] = value;
      else if (Array.isArray(old)) old.push(value);
      else headers[name] = [String(old), value];
    });
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === undefined });
    } catch (err) {
      this.fail(err as Error, 'reset');
      return;
    }
    this.#stream = stream;
    let trailers: HeaderMap | undefined;
    stream.on('response', (h: Record<string, string | string[] | number | undefined>, flags: number) => {
      if (this.#done) return;
      const status = Number(h[':status']);
      if (status < 200) return;
      const flat: string[] = [];
      for (const name in h) {
        if (name.charCodeAt(0) === 58) continue;
        const value = h[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) flat.push(name, v);
        else flat.push(name, String(value));
      }
      this.#handler.onResponseHeaders(status, new HeaderMap(flat), (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0);
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#done) return;
      if (!this.#handler.onResponseData(chunk)) stream.pause();
    });
    stream.on('trailers', (h: Record<string, string | string[] | undefined>) => {
      trailers = new HeaderMap();
      for (const name in h) {
        const value = h[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) trailers.add(name, v);
        else trailers.add(name, String(value));
      }
    });
    stream.on('end', () => {
      if (this.#done) return;
      this.#done = true;
      this.#finish();
      this.#handler.onResponseEnd(trailers);
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      this.#finish();
      if (this.#done) return;
      this.#done = true;
      const code = stream.rstCode;
      this.#handler.onError(new Error(`upstream HTTP/2 stream closed (code ${code ?? 'none'})`), code === NGHTTP2_NO_ERROR ? 'protocol' : 'reset');
    });
    if (Buffer.isBuffer(body)) {
      stream.end(body);
      this.#handler.onRequestBodySent(body.length);
      this.#handler.onRequestSent();
    } else if (body !== undefined) {
      // A broken request body must reach the upstream as a reset, never as an end (see abort()).
      body.on('error', (err) => stream.destroy(err));
      // Counted here, as the pipe starts: a 'data' listener attached earlier would start
      // the body flowing before anyone forwards it.
      body.on('data', (chunk: Buffer) => this.#handler.onRequestBodySent(chunk.length));
      body.once('end', () => this.#handler.onRequestSent());
      body.pipe(stream);
    } else {
      this.#handler.onRequestSent();
    }
  }

  fail(err: Error, failure: UpstreamFailure): void {
    this.#finish();
    if (this.#done) return;
    this.#done = true;
    this.#handler.onError(err, failure);
  }

  #finish(): void {
    if (this.#released) return;
    this.#released = true;
    this.#release();
  }

  abort(): void {
    this.aborted = true;
    this.#done = true;
    const stream = this.#stream;
    if (stream === undefined || stream.destroyed) return this.#finish();
    // close(code) ends the writable side first: with the request body still flowing, the
    // upstream would see END_STREAM (a whole request, truncated) before the RST_STREAM.
    // destroy() sends RST_STREAM alone (INTERNAL_ERROR); CANCEL once the request is whole.
    if (stream.writableEnded) stream.close(NGHTTP2_CANCEL);
    else stream.destroy(new Error('aborted by the proxy'));
  }

  resume(): void {
    this.#stream?.resume();
  }
}

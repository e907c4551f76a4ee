/**
 * @module upstream/pools/undici-http1-pool
 * The undici HTTP/1.1 pool, kept as the fallback of mosnode's own (http1-pool.ts) behind
 * MOSNODE_HTTP1_CODEC=node. HTTP/1.1 keep-alive connections to one upstream host, on undici's Pool (its llhttp
 * parser and `dispatch` API measured fastest of the Node clients here). Connections are
 * opened by the cluster (connect timeout, circuit breaker, connection metrics), kept
 * alive for less time than typical upstream keep-alive, and recycled after
 * `max_request_per_conn` requests.
 */
import { Pool, type Dispatcher } from 'undici';
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
import { DEFAULT_KEEP_ALIVE_MS, type Http1PoolOptions } from './http1-pool.ts';


export class UndiciHttp1Pool implements HttpConnectionPool {
  readonly #pool: Pool;

  constructor(cluster: UpstreamCluster, host: UpstreamHost, options: Http1PoolOptions) {
    const origin = `http://${host.address}`;
    const connector = (_opts: unknown, callback: (err: Error | null, socket: Socket | null) => void): void => {
      cluster.connectTcp(host).then(
        (socket) => {
          // The cluster's sockets allow half-close (for tcp_proxy); an HTTP/1 client does not.
          socket.allowHalfOpen = false;
          callback(null, socket);
        },
        (err: Error) => callback(err, null),
      );
    };
    const poolOptions: Pool.Options = {
      connections: Number.isFinite(options.maxConnections) ? options.maxConnections : null,
      pipelining: 1,
      keepAliveTimeout: options.idleTimeoutMs ?? DEFAULT_KEEP_ALIVE_MS,
      keepAliveMaxTimeout: Math.max(options.idleTimeoutMs ?? DEFAULT_KEEP_ALIVE_MS, 60_000),
      // The proxy runs its own request and per-try timers.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: connector as unknown as NonNullable<Pool.Options['connect']>,
    };
    if (options.maxRequestsPerConnection > 0) poolOptions.maxRequestsPerClient = options.maxRequestsPerConnection;
    this.#pool = new Pool(origin, poolOptions);
    this.#pool.on('connectionError', () => {});
  }

  send(head: UpstreamRequestHead, body: UpstreamBody, handler: UpstreamResponseHandler): UpstreamExchange {
    const exchange = new Http1Exchange(handler);
    // undici copies the headers while dispatch() runs: `host` is appended for that call
    // only, so a retry of the same request does not send it twice.
    const headers = head.headers.toFlat();
    headers.push('host', head.authority);
    try {
      this.#pool.dispatch(
        {
          path: head.path,
          method: head.method,
          headers,
          body: body ?? null,
          // Retries are the proxy's decision, never the client's.
          idempotent: false,
          blocking: false,
        },
        exchange,
      );
    } catch (err) {
      // undici refuses some values synchronously (an invalid header): answered as a failure.
      queueMicrotask(() => exchange.onResponseError(undefined, err as Error));
    } finally {
      headers.length -= 2;
    }
    return exchange;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** undici's header record (lower-case names, repeats as arrays) as a HeaderMap. Exported for bench/micro. */
export function headerMapFromUndici(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const flat: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') flat.push(name, value);
    else for (const v of value) flat.push(name, v);
  }
  return new HeaderMap(flat);
}

function classify(err: Error & { code?: string }): UpstreamFailure {
  switch (err.code) {
    case 'MOSN_ERR_UPSTREAM_CONNECT':
    case 'MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ECONNREFUSED':
      return 'connect';
    case 'MOSN_ERR_UPSTREAM_OVERFLOW':
      return 'overflow';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    default:
      return err.code?.startsWith('HPE_') || err.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || err.code === 'UND_ERR_HEADERS_OVERFLOW'
        ? 'protocol'
        : 'reset';
  }
}

/** The undici handler of one request: turns its callbacks into UpstreamResponseHandler calls. */
class Http1Exchange implements UpstreamExchange, Dispatcher.DispatchHandler {
  readonly #handler: UpstreamResponseHandler;
  #controller: Dispatcher.DispatchController | undefined;
  #done = false;

  constructor(handler: UpstreamResponseHandler) {
    this.#handler = handler;
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller?.abort(new Error('aborted by the proxy'));
  }

  resume(): void {
    this.#controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(new Error('aborted by the proxy'));
  }

  onBodySent(chunk: Buffer | string): void {
    if (!this.#done) this.#handler.onRequestBodySent(chunk.length);
  }

  onRequestSent(): void {
    if (!this.#done) this.#handler.onRequestSent();
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx informational responses are not forwarded (100-continue was answered downstream).
    if (this.#done || statusCode < 200) return;
    const length = headers['content-length'];
    this.#controller = controller;
    this.#handler.onResponseHeaders(statusCode, headerMapFromUndici(headers), length === '0');
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    if (!this.#handler.onResponseData(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.#done) return;
    this.#done = true;
    let map: HeaderMap | undefined;
    for (const name in trailers) {
      const value = trailers[name];
      if (value === undefined) continue;
      map ??= new HeaderMap();
      if (typeof value === 'string') map.add(name, value);
      else for (const v of value) map.add(name, v);
    }
    this.#handler.onResponseEnd(map);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#handler.onError(err, classify(err));
  }
}

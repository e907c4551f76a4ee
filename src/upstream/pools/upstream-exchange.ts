/**
 * @module upstream/pools/upstream-exchange
 * One request sent upstream and its response, the same for every upstream protocol: the
 * proxy hands a head and a body to a pool and gets callbacks; it never sees undici or
 * node:http2 objects.
 */
import type { Readable } from 'node:stream';
import type { HeaderMap } from '../../api/headers.ts';

export interface UpstreamRequestHead {
  method: string;
  /** Path with query. */
  path: string;
  authority: string;
  scheme: string;
  /** Without hop-by-hop headers (the proxy removed them). */
  headers: HeaderMap;
}

/**
 * - `connect`: no connection could be made (refused, timed out): nothing was sent.
 * - `overflow`: the cluster's circuit breaker refused a new connection: nothing was sent.
 * - `reset`: the connection or stream broke after the request was (maybe) sent.
 * - `protocol`: the upstream answered something unparseable (bad framing, wrong length).
 */
export type UpstreamFailure = 'connect' | 'overflow' | 'reset' | 'protocol';

export interface UpstreamResponseHandler {
  onResponseHeaders(status: number, headers: HeaderMap, endStream: boolean): void;
  /** A body chunk; return false to pause the upstream until `exchange.resume()`. */
  onResponseData(chunk: Buffer): boolean;
  onResponseEnd(trailers: HeaderMap | undefined): void;
  /** Request body bytes handed to the upstream connection (counted for access logs). */
  onRequestBodySent(bytes: number): void;
  /** The whole request (body and trailers) has been sent. */
  onRequestSent(): void;
  /** Called at most once, instead of (or after the start of) a response. Never after onResponseEnd. */
  onError(err: Error, failure: UpstreamFailure): void;
}

export interface UpstreamExchange {
  /** Stops the exchange; no callback follows. */
  abort(): void;
  /** Resumes a response paused by onResponseData returning false. */
  resume(): void;
}

/** A request body: none, bytes already buffered, or a stream read with backpressure. */
export type UpstreamBody = undefined | Buffer | Readable;

export interface HttpConnectionPool {
  send(head: UpstreamRequestHead, body: UpstreamBody, handler: UpstreamResponseHandler): UpstreamExchange;
  /** Closes idle connections and lets busy ones finish. */
  close(): Promise<void>;
}

/**
 * @module api/stream-filter
 * Stream filters: HTTP-level filters that run around routing, once per request (MOSN's
 * StreamReceiverFilter / StreamSenderFilter). Receive filters run at one of three phases
 * of the request, send filters once on the response before it goes downstream:
 *
 *   BeforeRoute -> (route match) -> AfterRoute -> (choose host) -> AfterChooseHost
 *   -> upstream ... response -> BeforeSend -> downstream
 *
 * A filter returns a status, synchronously (costs no promise) or as a promise. A filter
 * that throws (or whose promise rejects) yields a 500 and a counter; it never crashes the
 * proxy. Public API: imports only core/ and other api/ modules.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.ts';
import type { HeaderMap } from './headers.ts';
import type { FilterFactoryContext } from './filter-factory.ts';

/**
 * - `Continue`: run the next filter.
 * - `Stop`: stop here; the filter has answered with `sendDirectResponse` (if it has not,
 *   the client gets a 500 naming the filter).
 * - `Termination`: reset the stream (HTTP/1: close the connection; HTTP/2: RST_STREAM).
 * - `RetryMatchRoute`: match the route again (the filter changed what routing reads);
 *   valid after routing.
 * - `RetryChooseHost`: choose the upstream host again; valid at `AfterChooseHost`.
 */
export type StreamFilterStatus = 'Continue' | 'Stop' | 'Termination' | 'RetryMatchRoute' | 'RetryChooseHost';

export type StreamFilterResult = StreamFilterStatus | Promise<StreamFilterStatus>;

export type ReceiverFilterPhase = 'BeforeRoute' | 'AfterRoute' | 'AfterChooseHost';

/** The request as filters see it; headers and body may be replaced. */
export interface RequestHead {
  method: string;
  /** Path with query, as received ("/a/b?x=1"). */
  path: string;
  /** Host / :authority. */
  authority: string;
  scheme: string;
  /** Without pseudo-headers; lower-case names. */
  readonly headers: HeaderMap;
}

export interface ResponseHead {
  status: number;
  readonly headers: HeaderMap;
}

/** What is known about the connection and request, for every filter. */
export interface StreamInfo {
  /** "HTTP/1.1" or "HTTP/2". */
  readonly protocol: string;
  readonly listenerName: string;
  /** "ip:port" of the client as this proxy sees it. */
  readonly downstreamRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  /** Set once routing matched. */
  readonly routeName: string | undefined;
  readonly clusterName: string | undefined;
  /** "ip:port" once a host is chosen. */
  readonly upstreamHost: string | undefined;
  /** Free-form values filters share within one request (MOSN's variables / metadata). */
  readonly variables: Map<string, unknown>;
}

interface CommonHandler {
  readonly info: StreamInfo;
  readonly logger: Logger;
  readonly request: RequestHead;
  /**
   * The settings for this filter from the matched route's or virtual host's
   * `per_filter_config` (already parsed by the factory's `parsePerRouteConfig`), or
   * undefined before routing or when none is set.
   */
  perRouteConfig(): unknown;
  /**
   * Answers the client with this response instead of the upstream's; return `Stop`
   * afterwards. Headers may be given as an object.
   */
  sendDirectResponse(status: number, headers?: Record<string, string>, body?: string | Buffer): void;
}

export interface StreamReceiverFilterHandler extends CommonHandler {
  /** The whole request body, when the filter was added with `needsBody` (else undefined). */
  readonly requestBody: Buffer | undefined;
  readonly requestTrailers: HeaderMap | undefined;
  /** Replaces the request body (needs `needsBody`); content-length is fixed up. */
  setRequestBody(body: Buffer | string): void;
  /**
   * Streams the request body through `transform` on its way upstream, with backpressure,
   * without buffering it (compression, a running size limit, a checksum). Several filters'
   * transforms run in the order they were added. `content-length` is removed (the length may
   * change), and the request can no longer be retried. A transform that fails ends the
   * request: with its error's `status` (400..599) if it has one, else 500, or a reset once
   * the response has started. Call it from `onReceive`; a request without a body ignores it.
   */
  transformRequestBody(transform: Duplex): void;
}

export interface StreamSenderFilterHandler extends CommonHandler {
  readonly response: ResponseHead;
  /** The whole response body, when the filter was added with `needsBody` (else undefined). */
  readonly responseBody: Buffer | undefined;
  readonly responseTrailers: HeaderMap | undefined;
  /** Replaces the response body (needs `needsBody`); content-length is fixed up. */
  setResponseBody(body: Buffer | string): void;
  /**
   * Streams the response body through `transform` on its way downstream, with backpressure
   * (for example `zlib.createGzip()`); trailers follow its end. `content-length` is removed.
   * Call it from `onSend`, before the head goes out; a response without a body ignores it.
   * A transform that fails resets the client's stream.
   */
  transformResponseBody(transform: Duplex): void;
}

export interface StreamReceiverFilter {
  onReceive(handler: StreamReceiverFilterHandler): StreamFilterResult;
  /** Called once when the request ends, however it ends. */
  onDestroy?(): void;
}

export interface StreamSenderFilter {
  onSend(handler: StreamSenderFilterHandler): StreamFilterResult;
  onDestroy?(): void;
}

export interface StreamFilterOptions {
  /**
   * Buffer the whole body before this filter runs (request body for receive filters,
   * response body for send filters), up to the listener's
   * `per_connection_buffer_limit_bytes`; a bigger request gets 413, a bigger response 502.
   */
  needsBody?: boolean;
}

/** What `createFilters` adds filters to, once per request. */
export interface StreamFilterChainBuilder {
  addReceiver(filter: StreamReceiverFilter, phase?: ReceiverFilterPhase, options?: StreamFilterOptions): void;
  addSender(filter: StreamSenderFilter, options?: StreamFilterOptions): void;
}

/**
 * A stream filter type. `parseConfig` runs once per `stream_filters` entry at load time;
 * `parsePerRouteConfig` once per `per_filter_config.<type>` entry of a route or virtual
 * host; `createFilters` for every request (a stateless filter may add the same object
 * every time: no allocation per request).
 */
export interface StreamFilterFactory<C = unknown> {
  readonly type: string;
  parseConfig(raw: unknown, context: FilterFactoryContext): C;
  parsePerRouteConfig?(raw: unknown, context: FilterFactoryContext): unknown;
  createFilters(config: C, chain: StreamFilterChainBuilder): void;
}

export function defineStreamFilter<C>(factory: StreamFilterFactory<C>): StreamFilterFactory<C> {
  return factory;
}

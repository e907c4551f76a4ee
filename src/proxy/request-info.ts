/**
 * @module proxy/request-info
 * What the proxy records about one request, for access logs and metrics (MOSN's
 * RequestInfo). Times are `performance.now()` milliseconds, except `startTime` (epoch ms).
 */
import type { HeaderMap } from '../api/headers.ts';

/**
 * MOSN's response flags: names and bit values as in mosn.io/api v1.6.0 (request.go,
 * `ResponseFlag` constants). Note ReqEntityTooLarge is 0x1000 and DownStreamTerminate 0x2000.
 */
export const ResponseFlags = {
  NoHealthyUpstream: 0x2,
  UpstreamRequestTimeout: 0x4,
  UpstreamLocalReset: 0x8,
  UpstreamRemoteReset: 0x10,
  UpstreamConnectionFailure: 0x20,
  UpstreamConnectionTermination: 0x40,
  UpstreamOverflow: 0x80,
  NoRouteFound: 0x100,
  DelayInjected: 0x200,
  FaultInjected: 0x400,
  RateLimited: 0x800,
  ReqEntityTooLarge: 0x1000,
  DownStreamTerminate: 0x2000,
} as const;

export type ResponseFlag = (typeof ResponseFlags)[keyof typeof ResponseFlags];

export interface RequestInfo {
  /** Epoch ms when the request's headers arrived. */
  startTime: number;
  /** performance.now() when the request's headers arrived. */
  startedAt: number;
  /** performance.now() when the whole request had been received (body included); 0 = never. */
  requestReceivedAt: number;
  /** performance.now() when the upstream's response headers arrived; 0 = never. */
  responseReceivedAt: number;
  /** performance.now() when the response was finished or the stream reset. */
  finishedAt: number;
  /** Response body bytes sent downstream. */
  bytesSent: number;
  /** Request body bytes received from downstream. */
  bytesReceived: number;
  /** "HTTP/1.1" or "HTTP/2". */
  protocol: string;
  /** Status sent downstream; 0 when the stream was reset before a response. */
  responseCode: number;
  /** Bitwise OR of ResponseFlags. */
  responseFlags: number;
  upstreamLocalAddress: string;
  downstreamLocalAddress: string;
  downstreamRemoteAddress: string;
  /** "ip:port" of the chosen upstream host, "" if none. */
  upstreamHost: string;
  upstreamCluster: string;
  listenerName: string;
  routeName: string;
  method: string;
  path: string;
  authority: string;
  requestHeaders: HeaderMap;
  responseHeaders: HeaderMap | undefined;
}

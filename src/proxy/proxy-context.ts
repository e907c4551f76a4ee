/**
 * @module proxy/proxy-context
 * Everything one `proxy` filter entry shares among its requests, built once at load time.
 */
import type { UpstreamClusters } from '../api/upstream.ts';
import type { Logger } from '../core/logger.ts';
import type { DownstreamMetrics } from '../metrics/metric-bundles.ts';
import type { RouteTable } from '../router/route-table.ts';
import type { HttpPoolManager, UpstreamProtocol } from '../upstream/pools/pool-manager.ts';
import type { PreparedStreamFilter } from './stream-filter-chain.ts';
import type { RequestInfo } from './request-info.ts';

export interface RequestLogger {
  log(info: RequestInfo): void;
}

export interface ProxyContext {
  readonly listenerName: string;
  readonly routes: RouteTable;
  readonly clusters: UpstreamClusters;
  readonly pools: HttpPoolManager;
  /** undefined = the same protocol as the downstream request. */
  readonly upstreamProtocol: UpstreamProtocol | undefined;
  readonly logger: Logger;
  /** Every bundle counts each request: the listener's and the proxy's (MOSN counts both). */
  readonly metrics: readonly DownstreamMetrics[];
  readonly streamFilters: readonly PreparedStreamFilter[];
  readonly accessLogs: readonly RequestLogger[];
  /** Largest body buffered for a filter, a retry or a mirror (per_connection_buffer_limit_bytes). */
  readonly bufferLimitBytes: number;
  /** Whole-request timeout when the route sets none, ms. */
  readonly defaultTimeoutMs: number;
}

/** MOSN's default whole-request timeout (types.GlobalTimeout) when a route sets none. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

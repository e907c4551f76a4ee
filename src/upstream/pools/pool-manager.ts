/**
 * @module upstream/pools/pool-manager
 * One connection pool per upstream host and protocol, made on first use. Hosts removed
 * from a cluster take their pools with them (a WeakMap on the host object).
 */
import type { UpstreamCluster, UpstreamHost } from '../../api/upstream.ts';
import type { HttpConnectionPool } from './upstream-exchange.ts';
import { Http1Pool } from './http1-pool.ts';
import { UndiciHttp1Pool } from './undici-http1-pool.ts';
import { useNodeHttp1 } from '../../protocol/http1/codec-choice.ts';
import { Http2Pool } from './http2-pool.ts';

export type UpstreamProtocol = 'HTTP/1.1' | 'HTTP/2';

/** Cluster settings the pools follow (the cluster's config, normalized). */
export interface PoolSettings {
  idleTimeoutMs: number | undefined;
  maxRequestsPerConnection: number;
  maxConnections: number;
}

export class HttpPoolManager {
  readonly #pools = new WeakMap<UpstreamHost, Map<UpstreamProtocol, HttpConnectionPool>>();
  readonly #all = new Set<HttpConnectionPool>();
  readonly #settings: (cluster: UpstreamCluster) => PoolSettings;

  constructor(settings: (cluster: UpstreamCluster) => PoolSettings) {
    this.#settings = settings;
  }

  pool(cluster: UpstreamCluster, host: UpstreamHost, protocol: UpstreamProtocol): HttpConnectionPool {
    let byProtocol = this.#pools.get(host);
    if (byProtocol === undefined) {
      byProtocol = new Map();
      this.#pools.set(host, byProtocol);
    }
    let pool = byProtocol.get(protocol);
    if (pool === undefined) {
      const s = this.#settings(cluster);
      pool =
        protocol === 'HTTP/2'
          ? new Http2Pool(cluster, host, { idleTimeoutMs: s.idleTimeoutMs, maxConnections: s.maxConnections })
          : new (useNodeHttp1() ? UndiciHttp1Pool : Http1Pool)(cluster, host, s);
      byProtocol.set(protocol, pool);
      this.#all.add(pool);
    }
    return pool;
  }

  /** Closes every pool: idle connections now, busy ones when their requests finish. */
  async close(): Promise<void> {
    const pools = [...this.#all];
    this.#all.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}

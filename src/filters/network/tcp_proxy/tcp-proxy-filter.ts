/**
 * @module filters/network/tcp_proxy/tcp-proxy-filter
 * The L4 proxy: one upstream TCP connection per downstream connection, chosen by the
 * cluster's load balancer, bytes relayed both ways with backpressure (a slow reader on
 * one side pauses reading on the other, so nothing is buffered without bound), half-close
 * passed through, an idle timeout, and up to `max_connect_attempts` hosts tried.
 */
import type { Socket } from 'node:net';
import {
  MIGRATED_SOCKETS,
  MIGRATED_UPSTREAM_KEY,
  MIGRATION_KEY,
  nothingBuffered,
  startReading,
  stopReading,
  type FilterMigration,
  type MigrationProvider,
} from '../../../network/migration.ts';
import type { Connection, FilterStatus, ReadFilter, ReadFilterCallbacks } from '../../../api/network-filter.ts';
import type { UpstreamCluster, UpstreamClusters, UpstreamHost } from '../../../api/upstream.ts';
import type { Logger } from '../../../core/logger.ts';
import { describeError, isMosnError } from '../../../core/errors.ts';
import type { DownstreamMetrics } from '../../../metrics/metric-bundles.ts';
import { selectCluster, type TcpProxyConfig } from './tcp-proxy-config.ts';

/** Why a session ended without an upstream (MOSN's response flags), for logs and counters. */
export type TcpProxyFailure = 'NoRouteFound' | 'NoHealthyUpstream' | 'UpstreamConnectionFailure' | 'UpstreamOverflow';

export class TcpProxyFilter implements ReadFilter {
  readonly #config: TcpProxyConfig;
  readonly #clusters: UpstreamClusters;
  readonly #logger: Logger;
  readonly #metrics: DownstreamMetrics | undefined;
  #connection!: Connection;
  #upstream: Socket | undefined;
  /** Bytes that arrived before the upstream connection was up. */
  #pending: Buffer[] = [];
  #downstreamEnded = false;
  /** Reading downstream is paused because the upstream socket's buffer is full. */
  #pausedForUpstream = false;
  #abort = new AbortController();
  /** Destroys the upstream if it has not closed a while after the client left. */
  #closeTimer: NodeJS.Timeout | undefined;
  #upstreamEnded = false;
  /** Handed to the successor process: every handler here stands down. */
  #migrated = false;

  constructor(config: TcpProxyConfig, clusters: UpstreamClusters, logger: Logger, metrics?: DownstreamMetrics) {
    this.#config = config;
    this.#clusters = clusters;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.#connection = callbacks.connection;
    // A session migrated from the previous process was counted there already.
    if (!this.#connection.state.has(MIGRATED_UPSTREAM_KEY)) this.#metrics?.requestTotal.inc();
    this.#metrics?.requestActive.inc();
    this.#connection.onClose(() => {
      this.#metrics?.requestActive.dec();
      if (!this.#migrated) this.#onDownstreamClose();
    });
    const provider: MigrationProvider = { worthWaiting: () => true, prepareMigration: () => this.#prepareMigration() };
    this.#connection.state.set(MIGRATION_KEY, provider);
    this.#connection.onWritable(() => this.#upstream?.resume());
  }

  onNewConnection(): FilterStatus {
    const conn = this.#connection;
    const migrated = conn.state.get(MIGRATED_UPSTREAM_KEY) as Socket | undefined;
    if (migrated !== undefined) {
      // Adopted from the previous process with its upstream connection: carry on with it,
      // counted on its cluster and host here from now on.
      conn.state.delete(MIGRATED_UPSTREAM_KEY);
      const name = selectCluster(this.#config, { ip: conn.remoteIp, port: conn.remotePort }, { ip: conn.localIp, port: conn.localPort });
      if (name !== undefined) this.#clusters.getCluster(name)?.adoptTcp(migrated, { session: true });
      this.#onUpstreamConnected(migrated);
      return 'Continue';
    }
    const clusterName = selectCluster(
      this.#config,
      { ip: conn.remoteIp, port: conn.remotePort },
      { ip: conn.localIp, port: conn.localPort },
    );
    const cluster = clusterName === undefined ? undefined : this.#clusters.getCluster(clusterName);
    if (cluster === undefined) {
      this.#fail('NoRouteFound', clusterName);
      return 'Stop';
    }
    // No bytes are read from the client until the upstream is connected.
    conn.readDisable(true);
    this.#connect(cluster, 1, new Set());
    return 'Continue';
  }

  onData(data: Buffer, endStream: boolean): FilterStatus {
    const upstream = this.#upstream;
    if (endStream) this.#downstreamEnded = true;
    if (upstream === undefined) {
      if (data.length > 0) this.#pending.push(data);
      return 'Stop';
    }
    if (data.length > 0 && !upstream.write(data) && !this.#pausedForUpstream) {
      this.#pausedForUpstream = true;
      this.#connection.readDisable(true);
    }
    if (endStream) upstream.end();
    return 'Stop';
  }

  #connect(cluster: UpstreamCluster, attempt: number, tried: Set<UpstreamHost>): void {
    const host = cluster.chooseHost(tried.size > 0 ? { excludeHosts: tried } : undefined);
    if (host === undefined) {
      this.#fail('NoHealthyUpstream', cluster.name);
      return;
    }
    tried.add(host);
    cluster.connectTcp(host, { signal: this.#abort.signal, session: true }).then(
      (socket) => this.#onUpstreamConnected(socket),
      (err) => {
        if (this.#connection.closed) return;
        if (isMosnError(err, 'MOSN_ERR_UPSTREAM_OVERFLOW')) {
          this.#fail('UpstreamOverflow', cluster.name);
          return;
        }
        this.#logger.warn(
          { cluster: cluster.name, host: host.address, attempt, err: describeError(err) },
          'tcp_proxy: upstream connect failed',
        );
        if (attempt < this.#config.maxConnectAttempts) {
          this.#connect(cluster, attempt + 1, tried);
        } else {
          this.#fail('UpstreamConnectionFailure', cluster.name);
        }
      },
    );
  }

  #onUpstreamConnected(upstream: Socket): void {
    const conn = this.#connection;
    if (conn.closed) {
      upstream.destroy();
      return;
    }
    this.#upstream = upstream;
    if (this.#config.idleTimeoutMs !== undefined) {
      // Every byte in either direction is read or written on the upstream socket, so its
      // inactivity timer is the session's idle timer.
      upstream.setTimeout(this.#config.idleTimeoutMs, () => {
        this.#logger.debug({ connection: conn.id }, 'tcp_proxy: idle timeout');
        upstream.destroy();
        conn.close('NoFlush', 'IdleTimeout');
      });
    }
    upstream.on('data', (chunk: Buffer) => {
      if (!conn.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => {
      if (this.#pausedForUpstream) {
        this.#pausedForUpstream = false;
        conn.readDisable(false);
      }
    });
    upstream.on('end', () => {
      // The server half-closed: pass the FIN on, keep the other direction open.
      this.#upstreamEnded = true;
      if (!this.#migrated) conn.write(Buffer.alloc(0), true);
    });
    upstream.on('error', (err) => {
      this.#logger.debug({ connection: conn.id, err: describeError(err) }, 'tcp_proxy: upstream socket error');
    });
    upstream.on('close', (hadError) => {
      clearTimeout(this.#closeTimer);
      if (conn.closed || this.#migrated) return;
      // A reset upstream resets the client too; a clean close lets pending bytes go first.
      conn.close(hadError ? 'NoFlush' : 'FlushWrite', 'RemoteClose');
    });
    for (const chunk of this.#pending) upstream.write(chunk);
    this.#pending = [];
    if (this.#downstreamEnded) upstream.end();
    conn.readDisable(false);
  }

  /**
   * Ready to move to the successor when both directions are idle in userland: nothing
   * pending before the upstream connected, no half-close, nothing buffered upstream.
   */
  #prepareMigration(): FilterMigration | undefined {
    const upstream = this.#upstream;
    if (upstream === undefined || this.#pending.length > 0 || this.#downstreamEnded || this.#upstreamEnded) return undefined;
    stopReading(upstream);
    if (!nothingBuffered(upstream)) {
      if (!upstream.isPaused()) startReading(upstream);
      return undefined;
    }
    return {
      kind: 'tcp_proxy',
      extraSockets: [upstream],
      commit: () => {
        this.#migrated = true;
        MIGRATED_SOCKETS.add(upstream);
        upstream.setTimeout(0);
        // Our fd only: the successor holds the socket, so no FIN reaches the server.
        upstream.destroy();
      },
      abort: () => {
        if (!upstream.isPaused()) startReading(upstream);
      },
    };
  }

  #onDownstreamClose(): void {
    this.#abort.abort();
    const upstream = this.#upstream;
    if (upstream === undefined || upstream.destroyed) return;
    // Let bytes the client sent before closing reach the server, but do not wait forever.
    upstream.end();
    upstream.setTimeout(0);
    this.#closeTimer = setTimeout(() => upstream.destroy(), 5000).unref();
  }

  #fail(failure: TcpProxyFailure, cluster: string | undefined): void {
    this.#logger.warn({ connection: this.#connection.id, cluster, failure }, 'tcp_proxy: closing downstream connection');
    this.#metrics?.requestFailed.inc();
    this.#connection.close('NoFlush', 'LocalClose');
  }
}

/**
 * @module filters/network/tcp_proxy/tcp-proxy-filter
 * The L4 proxy: one upstream TCP connection per downstream connection, chosen by the
 * cluster's load balancer, bytes relayed both ways with backpressure (a slow reader on
 * one side pauses reading on the other, so nothing is buffered without bound), half-close
 * passed through, an idle timeout, and up to `max_connect_attempts` hosts tried.
 *
 * The upstream socket reads through net's `onread` (buffer/read-buffer): no allocation
 * per read, the bytes go downstream in pooled buffers, and an idle session holds none.
 * A downstream write that did not finish at once still references its bytes, so their
 * buffer is parked until the downstream socket's queue is empty (checked at each read and
 * on drain) or it closes; only then does it go back to the pool. Write filters may keep
 * what they see, so with write filters they get a plain copy.
 * `MOSNODE_TCP_ONREAD=0` turns this off (plain 'data' events; bench/buffer-pool.ts compares).
 */
import type { OnReadOpts, Socket } from 'node:net';
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
import { DownstreamConnection } from '../../../network/connection.ts';
import { SocketReadBuffer } from '../../../buffer/read-buffer.ts';
import { relayAvailable, startRelay, type RelayEndReason, type RelayedPair } from '../../../network/native-relay.ts';
import { selectCluster, type TcpProxyConfig } from './tcp-proxy-config.ts';

/** Read once: the benchmark starts processes with it off and on. */
const ONREAD = process.env.MOSNODE_TCP_ONREAD !== '0';

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
  /** Where the upstream socket reads into; undefined when it emits 'data' events. */
  #reader: SocketReadBuffer | undefined;
  /** Set while the native relay moves the session's bytes (see #maybeRelay). */
  #relay: RelayedPair | undefined;

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
      // The downstream socket is closed: no write of it reads a parked buffer any more.
      this.#reader?.releaseParked();
      if (this.#relay !== undefined) {
        // Closed here while relayed (the close stopped the relay): Node reads neither
        // socket, so nothing would ever end the upstream one but a timer.
        this.#relay = undefined;
        this.#upstream?.destroy();
      }
      if (!this.#migrated) this.#onDownstreamClose();
    });
    const provider: MigrationProvider = { worthWaiting: () => true, prepareMigration: () => this.#prepareMigration() };
    this.#connection.state.set(MIGRATION_KEY, provider);
    this.#connection.onWritable(() => {
      this.#releaseParkedIfFlushed();
      this.#upstream?.resume();
      this.#maybeRelay();
    });
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
      this.#onUpstreamConnected(migrated, undefined);
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
    const reader = ONREAD && this.#connection instanceof DownstreamConnection ? new SocketReadBuffer() : undefined;
    const connecting = cluster.connectTcp(host, {
      signal: this.#abort.signal,
      session: true,
      ...(reader !== undefined && { onread: this.#onReadOptions(reader) }),
    });
    connecting.then(
      (socket) => {
        // The buffer function is called when the socket is created: not called, no onread.
        if (reader !== undefined && !reader.attached) this.#onUpstreamConnected(socket, undefined);
        else this.#onUpstreamConnected(socket, reader);
      },
      (err) => {
        // The attempt's socket has closed already.
        reader?.dispose();
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

  #onReadOptions(reader: SocketReadBuffer): OnReadOpts {
    return {
      buffer: reader.next,
      callback: (nread, landed) => {
        this.#onUpstreamRead(reader, nread, landed);
        return true;
      },
    };
  }

  /** Bytes the upstream socket read into `reader`'s buffer (onread): on to the client as they are. */
  #onUpstreamRead(reader: SocketReadBuffer, nread: number, landed: Uint8Array): void {
    const conn = this.#connection as DownstreamConnection;
    const view = reader.take(nread, landed);
    const copy = conn.filterManager.hasWriteFilters;
    const ok = conn.write(copy ? Buffer.from(view) : view);
    const downstream = conn.socket;
    // Anything queued means this write (queued behind it, or partly written) still holds the view.
    const flushed = downstream.destroyed || downstream.writableLength === 0;
    reader.settle(nread, !copy && !flushed);
    if (flushed) reader.releaseParked();
    if (!ok) this.#upstream?.pause();
  }

  #releaseParkedIfFlushed(): void {
    const reader = this.#reader;
    if (reader === undefined || reader.parked === 0) return;
    const downstream = (this.#connection as DownstreamConnection).socket;
    if (downstream.destroyed || downstream.writableLength === 0) reader.releaseParked();
  }

  #onUpstreamConnected(upstream: Socket, reader: SocketReadBuffer | undefined): void {
    const conn = this.#connection;
    if (conn.closed) {
      upstream.destroy();
      // Destroyed: its fd is closed, no read can come into the buffer any more.
      reader?.dispose();
      return;
    }
    this.#upstream = upstream;
    this.#reader = reader;
    this.#armIdleTimer(upstream);
    if (reader === undefined) {
      upstream.on('data', (chunk: Buffer) => {
        if (!conn.write(chunk)) upstream.pause();
      });
    }
    upstream.on('drain', () => {
      if (this.#pausedForUpstream) {
        this.#pausedForUpstream = false;
        conn.readDisable(false);
      }
      this.#maybeRelay();
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
      reader?.closeReads();
      this.#releaseParkedIfFlushed();
      clearTimeout(this.#closeTimer);
      if (conn.closed || this.#migrated) return;
      // A reset upstream resets the client too; a clean close lets pending bytes go first.
      conn.close(hadError ? 'NoFlush' : 'FlushWrite', 'RemoteClose');
    });
    for (const chunk of this.#pending) upstream.write(chunk);
    this.#pending = [];
    if (this.#downstreamEnded) upstream.end();
    conn.readDisable(false);
    this.#maybeRelay();
  }

  #armIdleTimer(upstream: Socket): void {
    if (this.#config.idleTimeoutMs === undefined) return;
    // Every byte in either direction is read or written on the upstream socket, so its
    // inactivity timer is the session's idle timer.
    upstream.setTimeout(this.#config.idleTimeoutMs, () => {
      this.#logger.debug({ connection: this.#connection.id }, 'tcp_proxy: idle timeout');
      upstream.destroy();
      this.#connection.close('NoFlush', 'IdleTimeout');
    });
  }

  /**
   * Hands the session to the native relay (network/native-relay) once nothing here needs
   * its bytes: tcp_proxy is the connection's only filter, and nothing is buffered, paused
   * or half-closed in Node. Tried when the upstream connects and whenever a backlog clears.
   */
  #maybeRelay(): void {
    const conn = this.#connection;
    const upstream = this.#upstream;
    if (this.#relay !== undefined || upstream === undefined || this.#migrated || !relayAvailable()) return;
    if (!(conn instanceof DownstreamConnection) || conn.closed || conn.readDisabled || conn.relayed) return;
    if (conn.filterManager.readFilterCount !== 1 || conn.filterManager.hasWriteFilters) return;
    if (this.#pending.length > 0 || this.#downstreamEnded || this.#upstreamEnded || this.#pausedForUpstream) return;
    const downstream = conn.socket;
    if (!nothingBuffered(downstream) || !nothingBuffered(upstream) || upstream.isPaused()) return;
    if (this.#reader !== undefined && this.#reader.parked > 0) return;
    const idleMs = Math.min(conn.idleTimeoutMs || Infinity, this.#config.idleTimeoutMs || Infinity);
    const relay = startRelay(downstream, upstream, Number.isFinite(idleMs) ? idleMs : 0, {
      onBytes: (aToB, bToA) => conn.addRelayedBytes(aToB, bToA),
      onEnd: (reason, errno) => this.#onRelayEnd(reason, errno),
    });
    if (relay === undefined) return;
    this.#relay = relay;
    upstream.setTimeout(0);
    conn.setRelay(relay);
  }

  /** The relay ended the session by itself: both sides closed, a socket failed, or idleness. */
  #onRelayEnd(reason: RelayEndReason, errno: number): void {
    this.#relay = undefined;
    const conn = this.#connection;
    if (reason === 'idle') this.#logger.debug({ connection: conn.id }, 'tcp_proxy: idle timeout');
    else if (reason === 'error') this.#logger.debug({ connection: conn.id, errno }, 'tcp_proxy: socket error (relayed)');
    this.#upstream?.destroy();
    conn.close('NoFlush', reason === 'idle' ? 'IdleTimeout' : 'RemoteClose');
  }

  /**
   * Ready to move to the successor when both directions are idle in userland: nothing
   * pending before the upstream connected, no half-close, nothing buffered upstream.
   */
  #prepareMigration(): FilterMigration | undefined {
    const upstream = this.#upstream;
    if (upstream === undefined || this.#pending.length > 0 || this.#downstreamEnded || this.#upstreamEnded) return undefined;
    const relay = this.#relay;
    if (relay !== undefined) {
      // Only when the relay holds no byte and saw no FIN; otherwise it goes on, try later.
      if (!relay.tryDetach()) return undefined;
      this.#relay = undefined;
      (this.#connection as DownstreamConnection).setRelay(undefined);
      this.#armIdleTimer(upstream);
    }
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
        if (relay !== undefined) this.#maybeRelay();
        if (this.#relay === undefined && !upstream.isPaused()) startReading(upstream);
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

/**
 * @module api/upstream
 * What filters may see of the upstream side: clusters by name, and the hosts a cluster's
 * load balancer chooses. The cluster manager (upstream/) implements these interfaces.
 * Public API: imports nothing from mosnode's internals.
 */
import type { OnReadOpts, Socket } from 'node:net';

/** One upstream endpoint. */
export interface UpstreamHost {
  /** "ip:port" */
  readonly address: string;
  readonly hostname: string | undefined;
  readonly weight: number;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly healthy: boolean;
  /** Requests (or TCP-proxy sessions) in flight to this host; load balancers read it. */
  readonly activeRequests: number;
  readonly activeConnections: number;
}

/** Inputs a load balancer may use. All optional. */
export interface LoadBalancerContext {
  /** For hashing balancers. */
  readonly hashKey?: string | number;
  /** Hosts to avoid (already tried by a retry). */
  readonly excludeHosts?: ReadonlySet<UpstreamHost>;
}

export interface UpstreamCluster {
  readonly name: string;
  /** ms */
  readonly connectTimeoutMs: number;
  readonly hosts: readonly UpstreamHost[];
  /** The load balancer's choice, or undefined when no host is available. */
  chooseHost(context?: LoadBalancerContext): UpstreamHost | undefined;
  /**
   * Opens a TCP connection to one of this cluster's hosts with the cluster's connect
   * timeout, counted on the host and cluster. Rejects with MOSN_ERR_UPSTREAM_CONNECT,
   * MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT, or MOSN_ERR_UPSTREAM_OVERFLOW when the cluster's
   * `circuit_breakers.max_connections` is reached. The socket allows half-close.
   */
  connectTcp(host: UpstreamHost, options?: ConnectTcpOptions): Promise<Socket>;
  /**
   * Counts an already-connected socket to one of this cluster's hosts (a connection
   * migrated from the previous process) as connectTcp would, without counting a new
   * connection. False when its peer is not one of the cluster's hosts (left uncounted).
   */
  adoptTcp(socket: Socket, options?: Pick<ConnectTcpOptions, 'session'>): boolean;
}

export interface ConnectTcpOptions {
  /** Aborts the attempt (for example when the client left); not counted as a connect failure. */
  signal?: AbortSignal;
  /**
   * The connection carries one session for its whole life (an L4 proxy): it counts as one
   * request in flight on the host, from connect to close, so LB_LEAST_REQUEST sees it.
   */
  session?: boolean;
  /**
   * Reads go into the caller's buffers instead of 'data' events (net.connect's `onread`;
   * Node asks `buffer()` when the socket is created and after every read).
   */
  onread?: OnReadOpts;
}

export interface UpstreamClusters {
  getCluster(name: string): UpstreamCluster | undefined;
}

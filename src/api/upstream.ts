/**
 * @module api/upstream
 * What filters may see of the upstream side: clusters by name, and the hosts a cluster's
 * load balancer chooses. The cluster manager (upstream/) implements these interfaces.
 * Public API: imports nothing from mosnode's internals.
 */

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
}

export interface UpstreamClusters {
  getCluster(name: string): UpstreamCluster | undefined;
}

/**
 * @module upstream/cluster
 * A cluster: a named group of hosts, its load balancer, and the per-cluster settings the
 * proxies read (timeouts, connection limits, circuit breakers). Only MOSN's SIMPLE type
 * (a static host list) is built. Depends only on core/, config types, api/ and the other
 * upstream modules.
 */
import type { Socket } from 'node:net';
import { MosnError, isMosnError } from '../core/errors.ts';
import type { ClusterConfig, ClusterType, HostConfig, LbType, TlsContextConfig } from '../config/types.ts';
import type { ConnectTcpOptions, LoadBalancerContext, UpstreamCluster, UpstreamHost } from '../api/upstream.ts';
import { Host } from './host.ts';
import { HostSet } from './host-set.ts';
import { createLoadBalancer } from './balancers/balancer-factory.ts';
import type { LoadBalancer } from './balancers/load-balancer.ts';
import { connectTcp } from './tcp-connect.ts';
import type { MetricsRegistry } from '../metrics/metrics-registry.ts';
import { MIGRATED_SOCKETS } from '../network/migration.ts';
import { relayedBytes } from '../network/native-relay.ts';
import { formatAddress, normalizeIp } from '../network/address.ts';
import {
  upstreamClusterMetrics,
  upstreamHostMetrics,
  type UpstreamClusterMetrics,
  type UpstreamHostMetrics,
} from '../metrics/metric-bundles.ts';

export const SUPPORTED_CLUSTER_TYPES: readonly ClusterType[] = Object.freeze(['SIMPLE']);

/** Circuit-breaker thresholds; Infinity where MOSN's config says 0 (unlimited). */
export interface CircuitBreakerLimits {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface ClusterOptions {
  /** Where this config sits, for error messages; default `cluster "<name>"`. */
  path?: string;
  /** Hosts of the cluster this one replaces: unchanged ones are kept, with their counters and health. */
  previousHosts?: readonly Host[];
  /** Random source for the balancer; default Math.random. */
  random?: () => number;
  /** Where the cluster's and hosts' MOSN upstream metrics go; none when absent. */
  metrics?: MetricsRegistry;
}

export class Cluster implements UpstreamCluster {
  readonly name: string;
  readonly type: ClusterType;
  readonly lbType: LbType;
  /** ms */
  readonly connectTimeoutMs: number;
  /** ms; undefined = connections are never closed for idleness. */
  readonly idleTimeoutMs: number | undefined;
  readonly maxRequestPerConn: number;
  readonly connBufferLimitBytes: number;
  /** MOSN's first `circuit_breakers` entry (the default priority); all Infinity when absent. */
  readonly circuitBreakers: CircuitBreakerLimits;
  /** undefined = plain TCP to the hosts. */
  readonly tlsContext: TlsContextConfig | undefined;
  /** The config this cluster was built from. */
  readonly config: ClusterConfig;

  readonly #hostSet: HostSet;
  readonly #balancer: LoadBalancer;
  readonly #path: string;
  readonly #registry: MetricsRegistry | undefined;
  readonly #metrics: UpstreamClusterMetrics | undefined;
  readonly #hostMetrics = new WeakMap<Host, UpstreamHostMetrics>();
  #activeConnections = 0;

  /**
   * Throws MosnError MOSN_ERR_CONFIG_UNSUPPORTED for a cluster or lb type not built yet and
   * MOSN_ERR_CONFIG_INVALID for a bad host or lb option; the message starts with the JSON
   * path (`options.path`).
   */
  constructor(config: ClusterConfig, options: ClusterOptions = {}) {
    const path = options.path ?? `cluster "${config.name}"`;
    if (!SUPPORTED_CLUSTER_TYPES.includes(config.type)) {
      throw new MosnError(
        'MOSN_ERR_CONFIG_UNSUPPORTED',
        `${path}.type: cluster type "${String(config.type)}" is not supported yet; supported: ${SUPPORTED_CLUSTER_TYPES.join(', ')}`,
      );
    }
    this.#path = path;
    this.#registry = options.metrics;
    this.#metrics = options.metrics && upstreamClusterMetrics(options.metrics, config.name);
    this.name = config.name;
    this.type = config.type;
    this.lbType = config.lb_type;
    this.connectTimeoutMs = config.connect_timeout;
    this.idleTimeoutMs = config.idle_timeout;
    this.maxRequestPerConn = config.max_request_per_conn;
    this.connBufferLimitBytes = config.conn_buffer_limit_bytes;
    this.circuitBreakers = toLimits(config);
    this.tlsContext = config.tls_context;
    this.config = config;
    this.#hostSet = new HostSet(reconcileHosts(options.previousHosts ?? [], config.hosts, path));
    try {
      const balancerOptions = options.random === undefined
        ? { choiceCount: config.lbconfig.choice_count }
        : { choiceCount: config.lbconfig.choice_count, random: options.random };
      this.#balancer = createLoadBalancer(config.lb_type, this.#hostSet, balancerOptions);
    } catch (err) {
      if (!isMosnError(err)) throw err;
      // Option errors already start with their field ("lbconfig.choice_count: ...").
      const relative = err.code === 'MOSN_ERR_CONFIG_UNSUPPORTED' ? `lb_type: ${err.message}` : err.message;
      throw new MosnError(err.code, `${path}.${relative}`, { cause: err });
    }
  }

  /** Every host, healthy or not. */
  get hosts(): readonly Host[] {
    return this.#hostSet.hosts;
  }

  /** The live host set (health checkers and the admin API read it). */
  get hostSet(): HostSet {
    return this.#hostSet;
  }

  /** Called per request and per retry: the balancer's choice, or undefined when the cluster has no host. */
  chooseHost(context?: LoadBalancerContext): Host | undefined {
    return this.#balancer.chooseHost(context);
  }

  /** Connections open or being opened to any host of this cluster (circuit breakers read it). */
  get activeConnections(): number {
    return this.#activeConnections;
  }

  /** The cluster's metric bundle (undefined without a registry): L7 request counters. */
  get metrics(): UpstreamClusterMetrics | undefined {
    return this.#metrics;
  }

  /** The bundle of one of this cluster's hosts (undefined without a registry). */
  hostMetrics(host: Host): UpstreamHostMetrics | undefined {
    return this.#metricsOf(host);
  }

  #metricsOf(host: Host): UpstreamHostMetrics | undefined {
    if (this.#registry === undefined) return undefined;
    let metrics = this.#hostMetrics.get(host);
    if (metrics === undefined) {
      metrics = upstreamHostMetrics(this.#registry, this.name, host.address);
      this.#hostMetrics.set(host, metrics);
    }
    return metrics;
  }

  /**
   * Opens a TCP connection to `host` (one of this cluster's hosts) with the cluster's
   * connect timeout, counted on the host and on the cluster until the socket closes.
   * Rejects like connectTcp; MOSN_ERR_UPSTREAM_CONNECT when `host` is not a host of a
   * mosnode cluster; MOSN_ERR_UPSTREAM_OVERFLOW when `circuit_breakers.max_connections`
   * connections are already open or opening. An aborted attempt is not a connect failure.
   */
  async connectTcp(host: UpstreamHost, options: ConnectTcpOptions = {}): Promise<Socket> {
    if (!(host instanceof Host)) {
      throw new MosnError('MOSN_ERR_UPSTREAM_CONNECT', `cluster "${this.name}": ${host.address} is not a host of a cluster`);
    }
    if (this.#activeConnections >= this.circuitBreakers.maxConnections) {
      throw new MosnError(
        'MOSN_ERR_UPSTREAM_OVERFLOW',
        `cluster "${this.name}" has ${this.#activeConnections} connections, its circuit_breakers.max_connections`,
      );
    }
    const { signal, session = false, onread } = options;
    this.#activeConnections++;
    if (session) host.onRequestStart();
    const clusterMetrics = this.#metrics;
    const hostMetrics = this.#metricsOf(host);
    clusterMetrics?.connectionTotal.inc();
    clusterMetrics?.connectionActive.inc();
    hostMetrics?.connectionTotal.inc();
    hostMetrics?.connectionActive.inc();
    let socket: Socket;
    try {
      socket = await connectTcp(host, { timeoutMs: this.connectTimeoutMs, ...(signal !== undefined && { signal }), ...(onread !== undefined && { onread }) });
    } catch (err) {
      // connectTcp settles a failure only after the socket closed.
      this.#activeConnections--;
      if (session) host.onRequestEnd();
      clusterMetrics?.connectionActive.dec();
      hostMetrics?.connectionActive.dec();
      if (signal === undefined || err !== signal.reason) {
        clusterMetrics?.connectionConFail.inc();
        hostMetrics?.connectionConFail.inc();
      }
      throw err;
    }
    this.#countClose(socket, host, session);
    return socket;
  }

  adoptTcp(socket: Socket, options: Pick<ConnectTcpOptions, 'session'> = {}): boolean {
    const peer = formatAddress(normalizeIp(socket.remoteAddress ?? ''), socket.remotePort);
    const host = this.#hostSet.hosts.find((h) => h.address === peer || formatAddress(h.ip, h.port) === peer);
    if (host === undefined) return false;
    const session = options.session ?? false;
    this.#activeConnections++;
    host.onConnectionOpen();
    if (session) host.onRequestStart();
    this.#metrics?.connectionActive.inc();
    this.#metricsOf(host)?.connectionActive.inc();
    socket.once('close', () => host.onConnectionClose());
    this.#countClose(socket, host, session);
    return true;
  }

  /** Counts the end of a connection; one handed to a successor only leaves the active counts. */
  #countClose(socket: Socket, host: Host, session: boolean): void {
    const clusterMetrics = this.#metrics;
    const hostMetrics = this.#metricsOf(host);
    socket.once('close', () => {
      this.#activeConnections--;
      if (session) host.onRequestEnd();
      const migrated = MIGRATED_SOCKETS.has(socket);
      clusterMetrics?.connectionActive.dec();
      hostMetrics?.connectionActive.dec();
      if (migrated) return;
      clusterMetrics?.connectionClose.inc();
      // A tcp_proxy session may have moved its bytes on the native relay, which Node does not count.
      const relayed = relayedBytes(socket);
      clusterMetrics?.bytesReadTotal.inc(socket.bytesRead + relayed.read);
      clusterMetrics?.bytesWriteTotal.inc(socket.bytesWritten + relayed.written);
      hostMetrics?.connectionClose.inc();
    });
  }

  /**
   * Replaces the host list (MOSN's UpdateClusterHosts). Hosts whose config is unchanged
   * are kept as they are, with their counters and health; the balancer follows on its
   * next pick. Throws like the constructor for a bad host; on a throw nothing changes.
   */
  updateHosts(hosts: readonly HostConfig[]): void {
    this.#hostSet.setHosts(reconcileHosts(this.#hostSet.hosts, hosts, this.#path));
  }
}

function toLimits(config: ClusterConfig): CircuitBreakerLimits {
  const first = config.circuit_breakers[0];
  const limit = (value: number | undefined): number => (value === undefined || value <= 0 ? Infinity : value);
  return Object.freeze({
    maxConnections: limit(first?.max_connections),
    maxPendingRequests: limit(first?.max_pending_requests),
    maxRequests: limit(first?.max_requests),
    maxRetries: limit(first?.max_retries),
  });
}

/**
 * Builds the hosts for `configs`, reusing a previous Host whose config is identical so its
 * in-flight counts stay right, and carrying health over to a changed host at the same
 * address (a weight change should not resurrect a host a checker marked down).
 */
function reconcileHosts(previous: readonly Host[], configs: readonly HostConfig[], path: string): Host[] {
  const previousByAddress = new Map<string, Host[]>();
  for (const host of previous) {
    const sameAddress = previousByAddress.get(host.address);
    if (sameAddress === undefined) previousByAddress.set(host.address, [host]);
    else sameAddress.push(host);
  }
  return configs.map((config, index) => {
    const sameAddress = previousByAddress.get(config.address);
    const matchIndex = sameAddress?.findIndex((host) => host.matchesConfig(config)) ?? -1;
    if (sameAddress !== undefined && matchIndex >= 0) {
      return sameAddress.splice(matchIndex, 1)[0] as Host;
    }
    const host = new Host(config, `${path}.hosts[${index}]`);
    const predecessor = sameAddress?.[0];
    if (predecessor !== undefined) host.healthy = predecessor.healthy;
    return host;
  });
}

/**
 * @module config/types
 * The typed, normalized MOSN v2 configuration that every layer reads. The loader
 * (config/load.ts) produces it from a MOSN JSON or YAML file: keys keep MOSN's snake_case
 * names, so a MOSN user recognises them, but every value is normalized:
 *   - durations are numbers of MILLISECONDS (Go strings like "1m30s" are converted);
 *   - sizes are numbers of BYTES ("10MB" is converted; binary units, 1 KB = 1024 B);
 *   - defaults are filled in, so readers never check for absence where MOSN has a default;
 *   - `tls_context: {}` (or `status: false`) becomes undefined (TLS off).
 * Filter `config` objects are left as plain JSON: each filter's factory validates its
 * own config (see api/), so a plugin's schema lives with the plugin.
 * This module depends on nothing.
 */

export type LbType =
  | 'LB_ROUNDROBIN'
  | 'LB_RANDOM'
  | 'LB_WEIGHTED_ROUNDROBIN'
  | 'LB_LEAST_REQUEST'
  | 'LB_LEAST_CONNECTION'
  | 'LB_MAGLEV'
  | 'LB_REQUEST_ROUNDROBIN'
  | 'LB_PEAK_EWMA'
  | 'LB_ORIGINAL_DST';

export type ClusterType = 'SIMPLE' | 'STRICT_DNS' | 'ORIGINAL_DST' | 'EDS';

/** A `{type, config}` filter entry as written in the config; `config` is checked by the filter's factory. */
export interface FilterConfig {
  type: string;
  config: Record<string, unknown>;
}

export interface TlsContextConfig {
  status: boolean;
  server_name?: string;
  ca_cert?: string;
  cert_chain?: string;
  private_key?: string;
  verify_client?: boolean;
  require_client_cert?: boolean;
  insecure_skip?: boolean;
  [key: string]: unknown;
}

export interface FilterChainConfig {
  match: unknown;
  /** undefined = TLS off (MOSN's `{}` or `status: false`). */
  tls_context: TlsContextConfig | undefined;
  filters: FilterConfig[];
}

export interface AccessLogConfig {
  log_path: string;
  log_format: string | undefined;
}

/** `use_original_dst` normalized: off, or MOSN 1.6's two ways of finding the destination. */
export type OriginalDstMode = false | 'redirect' | 'tproxy';

export interface ListenerConfig {
  /** Defaults to the address when absent. */
  name: string;
  /** "ip:port", "[ipv6]:port", or a unix socket path when network is "unix". */
  address: string;
  /** "tcp" (default), "unix" (also inferred from an address starting with "/" or "@"), "udp". */
  network: 'tcp' | 'unix' | 'udp';
  /** MOSN's default is false: such a listener does not listen (a virtual listener for original_dst). */
  bind_port: boolean;
  reuseport: boolean;
  /**
   * false, or how the original destination of a connection is found: "redirect"
   * (SO_ORIGINAL_DST, after an iptables/nftables REDIRECT or DNAT; MOSN 1.x's `true`) or
   * "tproxy" (the local address; the listening socket gets IP_TRANSPARENT). The connection
   * is then handed to the listener of that address (see network/listener-directory.ts).
   */
  use_original_dst: OriginalDstMode;
  inspector: boolean;
  access_logs: AccessLogConfig[];
  listener_filters: FilterConfig[];
  /** MOSN allows exactly one; the loader rejects more. */
  filter_chains: FilterChainConfig[];
  stream_filters: FilterConfig[];
  /** ms; undefined = no idle timeout at the connection level (filters may have their own). */
  connection_idle_timeout: number | undefined;
  /** bytes; default 16384 */
  per_connection_buffer_limit_bytes: number;
}

export interface HeaderValueOption {
  header: { key: string; value: string };
  /** MOSN's default is true: join to an existing value with ","; false replaces it. */
  append: boolean;
}

export interface HeaderMatcherConfig {
  name: string;
  /** Exact value ("" matches a header present with an empty value), or a Go regex when `regex`. */
  value: string;
  regex: boolean;
}

export interface RouteMatchConfig {
  prefix: string | undefined;
  path: string | undefined;
  regex: string | undefined;
  headers: HeaderMatcherConfig[];
  /** Other MOSN match keys (variables, dsl_expressions), kept for config_dump. */
  [key: string]: unknown;
}

export interface DirectResponseConfig {
  status: number;
  body: string | undefined;
}

/** One `weighted_clusters[]` entry, MOSN's shape. */
export interface WeightedClusterConfig {
  cluster: {
    name: string;
    /** >= 0; the entries of a route sum to more than 0. */
    weight: number;
    metadata_match: Record<string, unknown> | undefined;
  };
}

export interface RetryPolicyConfig {
  retry_on: boolean;
  /** ms per try; undefined = not set */
  retry_timeout: number | undefined;
  num_retries: number;
  /** HTTP status codes 100..599 */
  status_codes: number[];
}

export interface RegexRewriteConfig {
  /** A Go (RE2) regular expression; compiled by the router. */
  pattern: { regex: string };
  /** Go template: $1, ${1}, $name, ${name}, $$ */
  substitution: string;
}

export interface RouteActionConfig {
  cluster_name: string | undefined;
  cluster_header: string | undefined;
  /** [] = none */
  weighted_clusters: WeightedClusterConfig[];
  /** ms; undefined = the proxy's default */
  timeout: number | undefined;
  retry_policy: RetryPolicyConfig | undefined;
  prefix_rewrite: string | undefined;
  regex_rewrite: RegexRewriteConfig | undefined;
  host_rewrite: string | undefined;
  auto_host_rewrite: boolean;
  /** The Host sent upstream is taken from this request header. */
  auto_host_rewrite_header: string | undefined;
  request_headers_to_add: HeaderValueOption[];
  request_headers_to_remove: string[];
  response_headers_to_add: HeaderValueOption[];
  response_headers_to_remove: string[];
  /** Other MOSN route-action keys (hash_policy, metadata_match, ...), kept for config_dump. */
  [key: string]: unknown;
}

export interface RedirectConfig {
  /** 301 (default), 302, 303, 307 or 308 */
  response_code: number;
  path_redirect: string | undefined;
  host_redirect: string | undefined;
  /** lower-case, RFC 3986 scheme syntax */
  scheme_redirect: string | undefined;
}

export interface MirrorPolicyConfig {
  cluster: string;
  /** share of requests mirrored; 0 = none, 100 or more = all */
  percent: number;
  trace_sampled: boolean;
}

export interface RouteConfig {
  match: RouteMatchConfig;
  route: RouteActionConfig | undefined;
  direct_response: DirectResponseConfig | undefined;
  redirect: RedirectConfig | undefined;
  request_mirror_policies: MirrorPolicyConfig | undefined;
  per_filter_config: Record<string, unknown>;
  [key: string]: unknown;
}

export interface VirtualHostConfig {
  name: string;
  domains: string[];
  /** MOSN calls the route list `routers`. */
  routers: RouteConfig[];
  request_headers_to_add: HeaderValueOption[];
  request_headers_to_remove: string[];
  response_headers_to_add: HeaderValueOption[];
  response_headers_to_remove: string[];
  per_filter_config: Record<string, unknown>;
}

export interface RouterConfig {
  router_config_name: string;
  virtual_hosts: VirtualHostConfig[];
  request_headers_to_add: HeaderValueOption[];
  request_headers_to_remove: string[];
  response_headers_to_add: HeaderValueOption[];
  response_headers_to_remove: string[];
}

export type LogLevelName = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

export interface ServerConfig {
  /** "stdout" (default), "stderr" or a file path. */
  default_log_path: string;
  default_log_level: LogLevelName;
  /** ms; default 30000 */
  graceful_timeout: number;
  /** worker processes: a number >= 1 or "auto"; default 1 */
  processor: number | 'auto';
  listeners: ListenerConfig[];
  routers: RouterConfig[];
}

export interface HostConfig {
  /** "ip:port" */
  address: string;
  hostname: string | undefined;
  /** 1..128, default 1 */
  weight: number;
  metadata: Record<string, unknown>;
}

export interface CircuitBreakerConfig {
  /** 0 = unlimited (MOSN) */
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
}

export interface ClusterConfig {
  name: string;
  type: ClusterType;
  /** default LB_ROUNDROBIN */
  lb_type: LbType;
  /** LB_LEAST_REQUEST's candidates per pick; default 2 */
  lbconfig: { choice_count: number };
  /** default 1024 */
  max_request_per_conn: number;
  /** bytes; default 16384 */
  conn_buffer_limit_bytes: number;
  /** ms; default 3000 */
  connect_timeout: number;
  /** ms; undefined = none */
  idle_timeout: number | undefined;
  circuit_breakers: CircuitBreakerConfig[];
  hosts: HostConfig[];
  tls_context: TlsContextConfig | undefined;
  health_check: Record<string, unknown> | undefined;
}

export interface ClusterManagerConfig {
  clusters: ClusterConfig[];
}

export interface SocketAddressConfig {
  address: string;
  port_value: number;
}

export interface AdminConfig {
  address: { socket_address: SocketAddressConfig };
}

export interface MetricsSinkConfig {
  type: string;
  config: Record<string, unknown>;
}

export interface StatsMatcherConfig {
  reject_all: boolean;
  exclusion_labels: string[];
  exclusion_keys: string[];
}

export interface MetricsConfig {
  sinks: MetricsSinkConfig[];
  stats_matcher: StatsMatcherConfig;
  /** shm zone name; default "mosn_metrics" */
  shm_zone: string;
  /** bytes; default 10 MiB */
  shm_size: number;
}

export interface MosnConfig {
  /** MOSN accepts exactly one server. */
  servers: [ServerConfig];
  cluster_manager: ClusterManagerConfig;
  /** undefined = no admin server (MOSN's rule). */
  admin: AdminConfig | undefined;
  metrics: MetricsConfig;
  disable_upgrade: boolean;
  inherit_old_mosnconfig: boolean;
  /** Absolute folder of the upgrade sockets; default: the config file's folder. */
  uds_dir: string | undefined;
  /** pid file path (absolute); undefined = no pid file... see server for the default. */
  pid: string | undefined;
  /** ES modules (paths or npm package names) that register filters. */
  plugins: string[];
}

/** What the loader returns: the typed config plus what it noticed along the way. */
export interface LoadedConfig {
  config: MosnConfig;
  /** The document as read, keys canonicalized to MOSN's names, for config_dump (not redacted). */
  document: Record<string, unknown>;
  /** Non-fatal notes, each naming the JSON path: unknown keys, ignored MOSN features. */
  warnings: string[];
  /** Absolute path of the file, or undefined for the built-in default. */
  path: string | undefined;
}

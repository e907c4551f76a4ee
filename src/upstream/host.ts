/**
 * @module upstream/host
 * One upstream endpoint of a cluster: its config (address, weight, metadata), its parsed
 * address, its health flag and the live counters that load balancers, connection pools
 * and circuit breakers read. A Host is a long-lived object: the cluster keeps the same
 * instance across host-list updates when its config did not change, so in-flight counts
 * survive an update. Depends only on core/ and the config and api types.
 */
import { isIP } from 'node:net';
import { MosnError } from '../core/errors.ts';
import type { HostConfig } from '../config/types.ts';
import type { UpstreamHost } from '../api/upstream.ts';

/** MOSN's weight range for hosts. */
export const MIN_HOST_WEIGHT = 1;
export const MAX_HOST_WEIGHT = 128;

/**
 * Bumped whenever any host's health flips. Host sets compare it with the value they last
 * saw, so a pick costs one integer comparison and a flip costs one rebuild per host set,
 * with no listener lists to leak when a host set is dropped.
 */
let healthEpoch = 0;

/** The current health epoch; changes whenever some host's `healthy` changes. */
export function currentHealthEpoch(): number {
  return healthEpoch;
}

/** An "ip:port" (or "[ipv6]:port", or "name:port") split into its parts. */
export interface ParsedAddress {
  /** The IP literal without brackets ("::1"), or a DNS name when family is 0. */
  ip: string;
  port: number;
  /** 4 or 6 for an IP literal; 0 for a DNS name, which the OS resolves at each connect. */
  family: 4 | 6 | 0;
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;

/**
 * Parses "ip:port", "[ipv6]:port" or "name:port". Returns a reason string instead of
 * throwing so the caller can prefix the JSON path it knows.
 */
export function parseHostAddress(address: string): ParsedAddress | string {
  let ip: string;
  let portText: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0 || address[close + 1] !== ':') return `expected "[ipv6]:port", got "${address}"`;
    ip = address.slice(1, close);
    portText = address.slice(close + 2);
    if (isIP(ip) !== 6) return `"${ip}" is not an IPv6 address in "${address}"`;
  } else {
    const colon = address.lastIndexOf(':');
    if (colon <= 0) return `expected "ip:port", got "${address}"`;
    ip = address.slice(0, colon);
    portText = address.slice(colon + 1);
    // A bare IPv6 literal is ambiguous ("::1:80"): MOSN (Go's net.SplitHostPort) wants brackets too.
    if (ip.includes(':')) return `an IPv6 address needs brackets: "[${ip}]:${portText}"`;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return `expected a port number after ":" in "${address}"`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `port ${port} is out of range 1..65535 in "${address}"`;
  const family = isIP(ip);
  if (family === 4 || family === 6) return { ip, port, family };
  if (!HOST_NAME.test(ip)) return `"${ip}" is neither an IP address nor a host name in "${address}"`;
  return { ip, port, family: 0 };
}

/** An upstream endpoint with live counters. */
export class Host implements UpstreamHost {
  readonly address: string;
  readonly hostname: string | undefined;
  /** Integer in 1..128. */
  readonly weight: number;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Address part without brackets: what `net.connect({host})` wants. */
  readonly ip: string;
  readonly port: number;
  /** 4, 6, or 0 when `ip` is a DNS name. */
  readonly family: 4 | 6 | 0;

  #healthy = true;
  #activeRequests = 0;
  #activeConnections = 0;

  /**
   * Throws MosnError MOSN_ERR_CONFIG_INVALID when the address or weight is wrong; `path`
   * (e.g. `cluster_manager.clusters[0].hosts[2]`) starts the message.
   */
  constructor(config: HostConfig, path = 'host') {
    const parsed = parseHostAddress(config.address);
    if (typeof parsed === 'string') {
      throw new MosnError('MOSN_ERR_CONFIG_INVALID', `${path}.address: ${parsed}`);
    }
    if (!Number.isInteger(config.weight) || config.weight < MIN_HOST_WEIGHT || config.weight > MAX_HOST_WEIGHT) {
      throw new MosnError(
        'MOSN_ERR_CONFIG_INVALID',
        `${path}.weight: expected an integer in ${MIN_HOST_WEIGHT}..${MAX_HOST_WEIGHT}, got ${String(config.weight)}`,
      );
    }
    this.address = config.address;
    this.hostname = config.hostname;
    this.weight = config.weight;
    this.metadata = Object.freeze({ ...config.metadata });
    this.ip = parsed.ip;
    this.port = parsed.port;
    this.family = parsed.family;
  }

  /** Set by health checks (or outlier detection); default true. Balancers skip unhealthy hosts. */
  get healthy(): boolean {
    return this.#healthy;
  }

  set healthy(value: boolean) {
    if (value === this.#healthy) return;
    this.#healthy = value;
    healthEpoch++;
  }

  /** Requests (or TCP-proxy sessions) in flight to this host. */
  get activeRequests(): number {
    return this.#activeRequests;
  }

  /** Connections open or being opened to this host. */
  get activeConnections(): number {
    return this.#activeConnections;
  }

  /** Call when a request (or a TCP-proxy session) to this host starts. */
  onRequestStart(): void {
    this.#activeRequests++;
  }

  /** Call exactly once per onRequestStart, when that request ends for any reason. */
  onRequestEnd(): void {
    // Clamped: a negative count would make least-request prefer this host forever.
    if (this.#activeRequests > 0) this.#activeRequests--;
  }

  /** Call when a connection attempt to this host starts (connecting counts as open). */
  onConnectionOpen(): void {
    this.#activeConnections++;
  }

  /** Call exactly once per onConnectionOpen, when that socket has closed. */
  onConnectionClose(): void {
    if (this.#activeConnections > 0) this.#activeConnections--;
  }

  /** True when `config` describes this very host (same address, name, weight and metadata). */
  matchesConfig(config: HostConfig): boolean {
    return (
      config.address === this.address &&
      config.hostname === this.hostname &&
      config.weight === this.weight &&
      JSON.stringify(config.metadata) === JSON.stringify(this.metadata)
    );
  }
}

/**
 * @module api/filter-factory
 * Factories turn a filter's `{type, config}` entry into filters. A factory parses and
 * validates its config once, when the config is loaded (a bad config stops the process
 * before it listens, with the JSON path), then installs filters per connection or socket.
 * Public API: imports only core/ (errors, logger types).
 */
import type { Logger } from '../core/logger.ts';
import { MosnError } from '../core/errors.ts';
import type { Connection, NetworkFilterChainBuilder } from './network-filter.ts';
import type { ListenerFilter } from './listener-filter.ts';
import type { UpstreamClusters } from './upstream.ts';

/** What a factory may use when it parses its config and when it creates filters. */
export interface FilterFactoryContext {
  /** JSON path of this filter's `config`, for error messages ("servers[0].listeners[0]..."). */
  readonly path: string;
  readonly logger: Logger;
  readonly clusters: UpstreamClusters;
  /** The listener this filter runs on. */
  readonly listenerName: string;
  /** Extension points that later layers give to their filters (for example the routers). */
  readonly services: ReadonlyMap<string, unknown>;
  /**
   * This filter's counters and gauges on this listener: the metric group `<type>` with
   * label `listener` (`/api/v1/stats` -> `fault.listener.l7.aborts_injected`, Prometheus
   * `fault_aborts_injected{listener="l7"}`), in shared memory like every mosnode metric.
   * Create them once (in `parseConfig` or the factory), keep the objects, and `inc()` per event.
   */
  readonly stats: FilterStats;
  /**
   * Reports a non-fatal config problem (an unknown key, a value ignored). The message
   * should start with the JSON path; `mosnode validate` prints it, `start` logs it.
   */
  warn(message: string): void;
}

/** A monotonic count a filter publishes. `inc` is a plain add: call it per request freely. */
export interface StatsCounter {
  readonly value: number;
  inc(n?: number): void;
}

/** A value a filter publishes that goes up and down (for example active delayed requests). */
export interface StatsGauge {
  readonly value: number;
  inc(n?: number): void;
  dec(n?: number): void;
  update(value: number): void;
}

/** Named metrics of one filter type on one listener; the same key returns the same object. */
export interface FilterStats {
  counter(key: string): StatsCounter;
  gauge(key: string): StatsGauge;
}

/**
 * A network filter type. `parseConfig` runs once per filter entry at load time and throws
 * `FilterConfigError` for bad input; `createFilters` runs for every new connection.
 */
export interface NetworkFilterFactory<C = unknown> {
  /** The `type` name in config, e.g. "tcp_proxy". */
  readonly type: string;
  parseConfig(raw: unknown, context: FilterFactoryContext): C;
  createFilters(config: C, chain: NetworkFilterChainBuilder, connection: Connection, context: FilterFactoryContext): void;
}

/** A listener filter type; `create` runs for every accepted socket. */
export interface ListenerFilterFactory<C = unknown> {
  readonly type: string;
  parseConfig(raw: unknown, context: FilterFactoryContext): C;
  create(config: C, context: FilterFactoryContext): ListenerFilter;
}

/**
 * A config error in a filter: `path` is the JSON path of the bad value, `expected` the
 * shape wanted. Throw it from `parseConfig`.
 */
export class FilterConfigError extends MosnError {
  readonly path: string;

  constructor(path: string, expected: string) {
    super('MOSN_ERR_FILTER_CONFIG', `${path}: expected ${expected}`);
    this.path = path;
  }
}

/** Identity helpers that give a factory literal full type inference. */
export function defineNetworkFilter<C>(factory: NetworkFilterFactory<C>): NetworkFilterFactory<C> {
  return factory;
}

export function defineListenerFilter<C>(factory: ListenerFilterFactory<C>): ListenerFilterFactory<C> {
  return factory;
}

/**
 * @module filters/stream/flowcontrol/flow-control-filter
 * The `flowControlFilter` receive filter (MOSN's flowcontrol.StreamFilter with its default
 * callbacks). It runs AfterRoute, as MOSN adds it, takes the request's resource (PATH: the
 * path as the router matches it, percent-decoded and normalized, so "//api" and "/%61pi"
 * count as "/api"; URI: the path with its query as received; ARG: the query, without
 * "?"), and asks the limiter. A request whose resource no rule names, or whose resource
 * is empty (ARG without a query), passes uncounted.
 *
 * A limited request is answered with `action.status` and `action.body` and never reaches
 * the upstream (MOSN also echoes the request headers into that answer; mosnode sends
 * `content-type: text/plain` instead). In `monitor` mode (MOSN reads the key and does
 * nothing with it) nothing is limited or held, but every counter moves as if it were,
 * so a rule can be tried on live traffic first. Depends on api/, router/http-path.
 */
import type { StatsCounter } from '../../../api/filter-factory.ts';
import type { StreamFilterResult, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { normalizePath } from '../../../router/http-path.ts';
import type { FlowControlConfig, LimitKeyType } from './flow-control-config.ts';
import { LIMITED, UNMATCHED, type FlowLimiter } from './flow-limiter.ts';

/**
 * The filter's counters (metric group `flowControlFilter`, label `listener`):
 * - `passed`: requests a rule counted and let through (held ones included);
 * - `limited`: requests over a rule: answered with `action.status`, or in monitor mode
 *   only counted; `passed + limited` is every request some rule named;
 * - `delayed`: requests a Throttling rule held to keep its pace (also in `passed`).
 */
export interface FlowControlStats {
  readonly passed: StatsCounter;
  readonly limited: StatsCounter;
  readonly delayed: StatsCounter;
}

/** Everything one filter entry shares among its requests. */
export interface FlowControl {
  readonly config: FlowControlConfig;
  readonly limiter: FlowLimiter;
  readonly stats: FlowControlStats;
  /** The answer's headers, made once. */
  readonly replyHeaders: Record<string, string>;
}

/** The value of the request that `keyType` names. */
export function resourceOf(keyType: LimitKeyType, pathWithQuery: string): string {
  if (keyType === 'URI') return pathWithQuery;
  const q = pathWithQuery.indexOf('?');
  if (keyType === 'ARG') return q < 0 ? '' : pathWithQuery.slice(q + 1);
  return normalizePath(q < 0 ? pathWithQuery : pathWithQuery.slice(0, q));
}

/**
 * One filter object serves every request unless a rule may hold requests: a held request
 * owns a timer, so then each request gets its own (see the factory).
 */
export class FlowControlFilter implements StreamReceiverFilter {
  readonly #flow: FlowControl;
  #timer: NodeJS.Timeout | undefined;
  #release: ((status: 'Continue') => void) | undefined;

  constructor(flow: FlowControl) {
    this.#flow = flow;
  }

  onReceive(handler: StreamReceiverFilterHandler): StreamFilterResult {
    const { config, limiter, stats } = this.#flow;
    const resource = resourceOf(config.keyType, handler.request.path);
    if (resource === '') return 'Continue';
    const verdict = limiter.enter(resource);
    if (verdict === UNMATCHED) return 'Continue';
    if (verdict === LIMITED) {
      stats.limited.inc();
      if (config.monitor) return 'Continue';
      handler.sendDirectResponse(config.status, this.#flow.replyHeaders, config.body);
      return 'Stop';
    }
    stats.passed.inc();
    if (verdict === 0) return 'Continue';
    stats.delayed.inc();
    if (config.monitor) return 'Continue';
    return new Promise((resolve) => {
      this.#release = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#release = undefined;
        resolve('Continue');
      }, verdict);
    });
  }

  /** The request ended while held (the client left): the timer goes, the chain is told nothing more. */
  onDestroy(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // The proxy ignores a status that arrives after the request ended; settling frees the chain's closure.
    this.#release?.('Continue');
    this.#release = undefined;
  }
}

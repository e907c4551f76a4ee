/**
 * @module filters/stream/fault/fault-filter
 * The per-request `fault` filter (MOSN's stream fault injection). Runs AfterRoute, as in
 * MOSN, so it knows the cluster and the route's `per_filter_config.fault`, which replaces
 * the listener-level rule whole. For a request the rule applies to (cluster and header
 * matchers), it first decides the delay (percentage drawn per request), waits on a timer
 * without blocking anything else, then decides the abort and answers with its status.
 *
 * The delay is a timer, not a blocked goroutine as in MOSN: when the request ends during it
 * (the client leaves, the server stops), `onDestroy` clears the timer, so the request never
 * goes upstream and nothing fires later.
 *
 * Stats (metric group `fault`, label `listener`):
 *   - `delays_injected`  counter: requests a delay was started for;
 *   - `aborts_injected`  counter: requests answered with the abort status;
 *   - `delays_cancelled` counter: delayed requests that ended before the delay did;
 *   - `active_faults`    gauge:   requests being delayed now.
 * Depends on api/ only.
 */
import type { StatsCounter, StatsGauge } from '../../../api/filter-factory.ts';
import type { StreamFilterResult, StreamFilterStatus, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { headersMatch, type FaultRule } from './fault-config.ts';

export interface FaultStats {
  readonly delaysInjected: StatsCounter;
  readonly abortsInjected: StatsCounter;
  readonly delaysCancelled: StatsCounter;
  readonly activeFaults: StatsGauge;
}

/** A number in [0, 1), as Math.random; tests pass their own. */
export type RandomSource = () => number;

/** True for `percent`% of the calls (MOSN draws 0..99 and compares with the percentage). */
function chosen(percent: number, random: RandomSource): boolean {
  return percent > 0 && Math.floor(random() * 100) < percent;
}

export class FaultFilter implements StreamReceiverFilter {
  readonly #rule: FaultRule;
  readonly #stats: FaultStats;
  readonly #random: RandomSource;
  #timer: NodeJS.Timeout | undefined;
  /** Settles the pending onReceive promise when the delay is cut short. */
  #wake: ((status: StreamFilterStatus) => void) | undefined;

  /** `rule` is the listener-level rule; a route's `per_filter_config.fault` wins over it. */
  constructor(rule: FaultRule, stats: FaultStats, random: RandomSource = Math.random) {
    this.#rule = rule;
    this.#stats = stats;
    this.#random = random;
  }

  onReceive(handler: StreamReceiverFilterHandler): StreamFilterResult {
    const rule = (handler.perRouteConfig() as FaultRule | undefined) ?? this.#rule;
    if (rule.upstreamCluster !== undefined && handler.info.clusterName !== rule.upstreamCluster) return 'Continue';
    if (!headersMatch(rule, handler.request)) return 'Continue';
    if (rule.delayMs > 0 && chosen(rule.delayPercent, this.#random)) return this.#delay(handler, rule);
    return this.#maybeAbort(handler, rule);
  }

  /** The request ended: a delay still running is cancelled and its request never goes upstream. */
  onDestroy(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stats.activeFaults.dec();
    this.#stats.delaysCancelled.inc();
    const wake = this.#wake;
    this.#wake = undefined;
    // The proxy ignores an outcome that arrives after the request ended; settling the
    // promise just lets its chain runner finish instead of waiting forever.
    wake?.('Stop');
  }

  #delay(handler: StreamReceiverFilterHandler, rule: FaultRule): Promise<StreamFilterStatus> {
    this.#stats.delaysInjected.inc();
    this.#stats.activeFaults.inc();
    handler.logger.debug({ delayMs: rule.delayMs }, 'fault: delaying the request');
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#wake = undefined;
        this.#stats.activeFaults.dec();
        resolve(this.#maybeAbort(handler, rule));
      }, rule.delayMs);
    });
  }

  #maybeAbort(handler: StreamReceiverFilterHandler, rule: FaultRule): StreamFilterStatus {
    if (!chosen(rule.abortPercent, this.#random)) return 'Continue';
    this.#stats.abortsInjected.inc();
    handler.logger.debug({ status: rule.abortStatus }, 'fault: aborting the request');
    handler.sendDirectResponse(rule.abortStatus);
    return 'Stop';
  }
}

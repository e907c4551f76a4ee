/**
 * @module filters/stream/fault/fault-factory
 * The `fault` stream filter factory (MOSN's name and v2.StreamFaultInject config, see
 * fault-config.ts): parses the listener-level rule once, creates the filter's stats once,
 * parses each route's `per_filter_config.fault` once at load time, and adds one FaultFilter
 * per request at AfterRoute (per request because a delay holds a timer of its own).
 */
import { defineStreamFilter } from '../../../api/stream-filter.ts';
import { parseFaultRule, type FaultRule } from './fault-config.ts';
import { FaultFilter, type FaultStats } from './fault-filter.ts';

interface ParsedFault {
  readonly rule: FaultRule;
  readonly stats: FaultStats;
}

export const faultFactory = defineStreamFilter<ParsedFault>({
  type: 'fault',
  parseConfig(raw, context) {
    const rule = parseFaultRule(raw, context.path, (m) => context.warn(m), (name) => context.clusters.getCluster(name) !== undefined);
    const stats: FaultStats = {
      delaysInjected: context.stats.counter('delays_injected'),
      abortsInjected: context.stats.counter('aborts_injected'),
      delaysCancelled: context.stats.counter('delays_cancelled'),
      activeFaults: context.stats.gauge('active_faults'),
    };
    return { rule, stats };
  },
  parsePerRouteConfig(raw, context): FaultRule {
    return parseFaultRule(raw, context.path, (m) => context.warn(m), (name) => context.clusters.getCluster(name) !== undefined);
  },
  createFilters({ rule, stats }, chain) {
    chain.addReceiver(new FaultFilter(rule, stats), 'AfterRoute');
  },
});

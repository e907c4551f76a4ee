/**
 * @module filters/stream/flowcontrol/flow-control-factory
 * The `flowControlFilter` stream filter factory (MOSN's name and config, see
 * flow-control-config.ts): parses the config and builds its limiter once at load time, and
 * adds the filter at AfterRoute to every request while `global_switch` is true (nothing at
 * all otherwise: a switched-off filter costs nothing).
 *
 * Where the counts live, unlike MOSN: MOSN keeps one sentinel per process, and the last
 * filter entry loaded replaces every other entry's rules; here each `stream_filters` entry
 * (so each listener) counts on its own, and each worker process too, so with N worker
 * processes a resource lets up to N x threshold through. MOSN has no per-route settings for
 * this filter; a route's `per_filter_config.flowControlFilter` is reported and ignored.
 */
import { defineStreamFilter } from '../../../api/stream-filter.ts';
import { parseFlowControlConfig } from './flow-control-config.ts';
import { FlowControlFilter, type FlowControl } from './flow-control-filter.ts';
import { FlowLimiter } from './flow-limiter.ts';

interface ParsedFlowControl {
  readonly flow: FlowControl;
  /** Set when no rule can hold a request: one filter object serves every request. */
  readonly shared: FlowControlFilter | undefined;
}

export const flowControlFactory = defineStreamFilter<ParsedFlowControl>({
  type: 'flowControlFilter',
  parseConfig(raw, context) {
    const config = parseFlowControlConfig(raw, context.path, (m) => context.warn(m));
    const flow: FlowControl = {
      config,
      limiter: new FlowLimiter(config.rules),
      stats: {
        passed: context.stats.counter('passed'),
        limited: context.stats.counter('limited'),
        delayed: context.stats.counter('delayed'),
      },
      replyHeaders: config.body === '' ? {} : { 'content-type': 'text/plain; charset=utf-8' },
    };
    const holds = !config.monitor && config.rules.some((r) => r.behavior === 'Throttling' && r.maxQueueingTimeMs > 0);
    return { flow, shared: holds ? undefined : new FlowControlFilter(flow) };
  },
  parsePerRouteConfig(_raw, context) {
    context.warn(`${context.path}: flowControlFilter has no per-route settings (MOSN reads none); ignored`);
    return undefined;
  },
  createFilters({ flow, shared }, chain) {
    if (!flow.config.enabled) return;
    chain.addReceiver(shared ?? new FlowControlFilter(flow), 'AfterRoute');
  },
});

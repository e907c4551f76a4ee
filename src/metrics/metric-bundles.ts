/**
 * @module metrics/metric-bundles
 * Typed bundles of the counters and gauges a listener, a cluster or a host updates, made
 * once when that object is created and kept by it, so the data path increments fields of a
 * plain object and never looks a metric up by name. Names and labels are MOSN's (names.ts),
 * so the groups are `downstream.listener.<name>`, `downstream.proxy.<name>`,
 * `upstream.cluster.<name>` and `upstream.cluster.<name>.host.<address>`.
 * Where MOSN counts "active" things with a counter it decrements, these are gauges: the
 * exported value is the same, and a gauge says what the number means.
 * request_time is a histogram in shared memory (metrics/histogram.ts); request_duration_time
 * upstream comes with the L7 upstream path. Depends only on metrics/.
 */
import type { Counter, Gauge, MetricGroup, MetricsRegistry } from './metrics-registry.ts';
import type { Histogram } from './histogram.ts';
import { DownstreamKeys, GLOBAL_PROXY_NAME, MetricLabelNames, MetricTypes, UpstreamKeys } from './names.ts';

/** What a listener (and, per proxy filter, the proxy) counts about its downstream side. */
export interface DownstreamMetrics {
  readonly connectionTotal: Counter;
  readonly connectionDestroy: Counter;
  readonly connectionActive: Gauge;
  readonly bytesReadTotal: Counter;
  readonly bytesWriteTotal: Counter;
  readonly requestTotal: Counter;
  readonly requestActive: Gauge;
  readonly requestReset: Counter;
  /** Request times (ms), from the first byte of the request to the end of the response. */
  readonly requestTime: Histogram;
  /** Sum of time spent in mosnode itself, in milliseconds. */
  readonly processTimeTotal: Counter;
  readonly requestFailed: Counter;
  readonly request200Total: Counter;
  readonly request206Total: Counter;
  readonly request302Total: Counter;
  readonly request304Total: Counter;
  readonly request400Total: Counter;
  readonly request403Total: Counter;
  readonly request404Total: Counter;
  readonly request416Total: Counter;
  readonly request499Total: Counter;
  readonly request500Total: Counter;
  readonly request502Total: Counter;
  readonly request503Total: Counter;
  readonly request504Total: Counter;
  /** Responses whose status has no counter of its own. */
  readonly requestOtherCode: Counter;
}

/** What a host counts. The cluster bundle has the same keys; callers update both, as MOSN does. */
export interface UpstreamHostMetrics {
  readonly connectionTotal: Counter;
  readonly connectionClose: Counter;
  readonly connectionActive: Gauge;
  readonly connectionConFail: Counter;
  readonly connectionLocalClose: Counter;
  readonly connectionRemoteClose: Counter;
  readonly connectionLocalCloseWithActiveRequest: Counter;
  readonly connectionRemoteCloseWithActiveRequest: Counter;
  readonly connectionCloseNotify: Counter;
  readonly requestTotal: Counter;
  readonly requestActive: Gauge;
  readonly requestLocalReset: Counter;
  readonly requestRemoteReset: Counter;
  readonly requestTimeout: Counter;
  readonly requestFailureEject: Counter;
  readonly requestPendingOverflow: Counter;
  /** Sum of upstream request durations, in milliseconds. */
  readonly requestDurationTotal: Counter;
  readonly responseSuccess: Counter;
  readonly responseFailed: Counter;
}

/** What a cluster counts: the host keys plus the cluster-only ones. */
export interface UpstreamClusterMetrics extends UpstreamHostMetrics {
  readonly connectionRetry: Counter;
  readonly bytesReadTotal: Counter;
  readonly bytesWriteTotal: Counter;
  readonly requestRetry: Counter;
  readonly requestRetryOverflow: Counter;
  readonly lbSubsetsFallback: Counter;
  readonly lbSubsetsCreated: Gauge;
}

/** The bundle of `downstream.listener.<listenerName>`; the same name returns counters over the same cells. */
export function downstreamListenerMetrics(registry: MetricsRegistry, listenerName: string): DownstreamMetrics {
  return downstreamMetrics(registry.group(MetricTypes.downstream, { [MetricLabelNames.listener]: listenerName }));
}

/** The bundle of `downstream.proxy.<proxyName>`; default `global`, the group /api/v1/stats_glob shows. */
export function downstreamProxyMetrics(registry: MetricsRegistry, proxyName: string = GLOBAL_PROXY_NAME): DownstreamMetrics {
  return downstreamMetrics(registry.group(MetricTypes.downstream, { [MetricLabelNames.proxy]: proxyName }));
}

/** The bundle of `upstream.cluster.<clusterName>`. */
export function upstreamClusterMetrics(registry: MetricsRegistry, clusterName: string): UpstreamClusterMetrics {
  const group = registry.group(MetricTypes.upstream, { [MetricLabelNames.cluster]: clusterName });
  return {
    ...hostMetrics(group),
    connectionRetry: group.counter(UpstreamKeys.connectionRetry),
    bytesReadTotal: group.counter(UpstreamKeys.bytesReadTotal),
    bytesWriteTotal: group.counter(UpstreamKeys.bytesWriteTotal),
    requestRetry: group.counter(UpstreamKeys.requestRetry),
    requestRetryOverflow: group.counter(UpstreamKeys.requestRetryOverflow),
    lbSubsetsFallback: group.counter(UpstreamKeys.lbSubsetsFallback),
    lbSubsetsCreated: group.gauge(UpstreamKeys.lbSubsetsCreated),
  };
}

/** The bundle of `upstream.cluster.<clusterName>.host.<hostAddress>` (address as configured, "ip:port"). */
export function upstreamHostMetrics(registry: MetricsRegistry, clusterName: string, hostAddress: string): UpstreamHostMetrics {
  return hostMetrics(
    registry.group(MetricTypes.upstream, { [MetricLabelNames.cluster]: clusterName, [MetricLabelNames.host]: hostAddress }),
  );
}

/**
 * Counts one response status in the matching `request_<code>_total` counter, or in
 * `request_other_code`. Called once per response.
 */
export function countResponseStatus(metrics: DownstreamMetrics, status: number): void {
  switch (status) {
    case 200: metrics.request200Total.inc(); break;
    case 206: metrics.request206Total.inc(); break;
    case 302: metrics.request302Total.inc(); break;
    case 304: metrics.request304Total.inc(); break;
    case 400: metrics.request400Total.inc(); break;
    case 403: metrics.request403Total.inc(); break;
    case 404: metrics.request404Total.inc(); break;
    case 416: metrics.request416Total.inc(); break;
    case 499: metrics.request499Total.inc(); break;
    case 500: metrics.request500Total.inc(); break;
    case 502: metrics.request502Total.inc(); break;
    case 503: metrics.request503Total.inc(); break;
    case 504: metrics.request504Total.inc(); break;
    default: metrics.requestOtherCode.inc();
  }
}

function downstreamMetrics(group: MetricGroup): DownstreamMetrics {
  return {
    connectionTotal: group.counter(DownstreamKeys.connectionTotal),
    connectionDestroy: group.counter(DownstreamKeys.connectionDestroy),
    connectionActive: group.gauge(DownstreamKeys.connectionActive),
    bytesReadTotal: group.counter(DownstreamKeys.bytesReadTotal),
    bytesWriteTotal: group.counter(DownstreamKeys.bytesWriteTotal),
    requestTotal: group.counter(DownstreamKeys.requestTotal),
    requestActive: group.gauge(DownstreamKeys.requestActive),
    requestReset: group.counter(DownstreamKeys.requestReset),
    requestTime: group.histogram(DownstreamKeys.requestTime),
    processTimeTotal: group.counter(DownstreamKeys.processTimeTotal),
    requestFailed: group.counter(DownstreamKeys.requestFailed),
    request200Total: group.counter(DownstreamKeys.request200Total),
    request206Total: group.counter(DownstreamKeys.request206Total),
    request302Total: group.counter(DownstreamKeys.request302Total),
    request304Total: group.counter(DownstreamKeys.request304Total),
    request400Total: group.counter(DownstreamKeys.request400Total),
    request403Total: group.counter(DownstreamKeys.request403Total),
    request404Total: group.counter(DownstreamKeys.request404Total),
    request416Total: group.counter(DownstreamKeys.request416Total),
    request499Total: group.counter(DownstreamKeys.request499Total),
    request500Total: group.counter(DownstreamKeys.request500Total),
    request502Total: group.counter(DownstreamKeys.request502Total),
    request503Total: group.counter(DownstreamKeys.request503Total),
    request504Total: group.counter(DownstreamKeys.request504Total),
    requestOtherCode: group.counter(DownstreamKeys.requestOtherCode),
  };
}

function hostMetrics(group: MetricGroup): UpstreamHostMetrics {
  return {
    connectionTotal: group.counter(UpstreamKeys.connectionTotal),
    connectionClose: group.counter(UpstreamKeys.connectionClose),
    connectionActive: group.gauge(UpstreamKeys.connectionActive),
    connectionConFail: group.counter(UpstreamKeys.connectionConFail),
    connectionLocalClose: group.counter(UpstreamKeys.connectionLocalClose),
    connectionRemoteClose: group.counter(UpstreamKeys.connectionRemoteClose),
    connectionLocalCloseWithActiveRequest: group.counter(UpstreamKeys.connectionLocalCloseWithActiveRequest),
    connectionRemoteCloseWithActiveRequest: group.counter(UpstreamKeys.connectionRemoteCloseWithActiveRequest),
    connectionCloseNotify: group.counter(UpstreamKeys.connectionCloseNotify),
    requestTotal: group.counter(UpstreamKeys.requestTotal),
    requestActive: group.gauge(UpstreamKeys.requestActive),
    requestLocalReset: group.counter(UpstreamKeys.requestLocalReset),
    requestRemoteReset: group.counter(UpstreamKeys.requestRemoteReset),
    requestTimeout: group.counter(UpstreamKeys.requestTimeout),
    requestFailureEject: group.counter(UpstreamKeys.requestFailureEject),
    requestPendingOverflow: group.counter(UpstreamKeys.requestPendingOverflow),
    requestDurationTotal: group.counter(UpstreamKeys.requestDurationTotal),
    responseSuccess: group.counter(UpstreamKeys.responseSuccess),
    responseFailed: group.counter(UpstreamKeys.responseFailed),
  };
}

/**
 * @module metrics/names
 * MOSN's metric types, label names and keys, spelled exactly as MOSN spells them
 * (mosn/mosn pkg/metrics/downstream.go and upstream.go), so dashboards built on MOSN's
 * /api/v1/stats and Prometheus names keep working. Depends on nothing.
 */

/** Metric types (the first part of a group name). */
export const MetricTypes = {
  downstream: 'downstream',
  upstream: 'upstream',
} as const;

/** Label names MOSN uses for each group. */
export const MetricLabelNames = {
  listener: 'listener',
  proxy: 'proxy',
  cluster: 'cluster',
  host: 'host',
} as const;

/** The proxy label value of MOSN's process-wide downstream group (`downstream.proxy.global`, shown by /api/v1/stats_glob). */
export const GLOBAL_PROXY_NAME = 'global';

/** Keys of `downstream` groups (per listener, per proxy). */
export const DownstreamKeys = {
  connectionTotal: 'connection_total',
  connectionDestroy: 'connection_destroy',
  connectionActive: 'connection_active',
  bytesReadTotal: 'bytes_read_total',
  bytesReadBuffered: 'bytes_read_buffered',
  bytesWriteTotal: 'bytes_write_total',
  bytesWriteBuffered: 'bytes_write_buffered',
  requestTotal: 'request_total',
  requestActive: 'request_active',
  requestReset: 'request_reset',
  /** A histogram (ms): Prometheus buckets; count, sum and percentiles in /api/v1/stats. */
  requestTime: 'request_time',
  /** A histogram in MOSN. */
  processTime: 'process_time',
  processTimeTotal: 'process_time_total',
  requestFailed: 'request_failed',
  request200Total: 'request_200_total',
  request206Total: 'request_206_total',
  request302Total: 'request_302_total',
  request304Total: 'request_304_total',
  request400Total: 'request_400_total',
  request403Total: 'request_403_total',
  request404Total: 'request_404_total',
  request416Total: 'request_416_total',
  request499Total: 'request_499_total',
  request500Total: 'request_500_total',
  request502Total: 'request_502_total',
  request503Total: 'request_503_total',
  request504Total: 'request_504_total',
  requestOtherCode: 'request_other_code',
} as const;

export type DownstreamKey = (typeof DownstreamKeys)[keyof typeof DownstreamKeys];

/** Keys of `upstream` groups; those marked "cluster only" exist only per cluster, not per host. */
export const UpstreamKeys = {
  connectionTotal: 'connection_total',
  connectionClose: 'connection_close',
  connectionActive: 'connection_active',
  connectionConFail: 'connection_con_fail',
  /** Cluster only. */
  connectionRetry: 'connection_retry',
  connectionLocalClose: 'connection_local_close',
  connectionRemoteClose: 'connection_remote_close',
  connectionLocalCloseWithActiveRequest: 'connection_local_close_with_active_request',
  connectionRemoteCloseWithActiveRequest: 'connection_remote_close_with_active_request',
  connectionCloseNotify: 'connection_close_notify',
  /** Cluster only. Note MOSN's spelling: "connection_bytes_read_total" but "connection_bytes_write". */
  bytesReadTotal: 'connection_bytes_read_total',
  bytesReadBuffered: 'connection_bytes_read_buffered',
  /** Cluster only. */
  bytesWriteTotal: 'connection_bytes_write',
  bytesWriteBuffered: 'connection_bytes_write_buffered',
  requestTotal: 'request_total',
  requestActive: 'request_active',
  requestLocalReset: 'request_local_reset',
  requestRemoteReset: 'request_remote_reset',
  requestTimeout: 'request_timeout',
  requestFailureEject: 'request_failure_eject',
  requestPendingOverflow: 'request_pending_overflow',
  /** Cluster only. */
  requestRetry: 'request_retry',
  /** Cluster only. */
  requestRetryOverflow: 'request_retry_overflow',
  /** A histogram in MOSN. */
  requestDuration: 'request_duration_time',
  requestDurationEwma: 'request_duration_time_ewma',
  requestDurationTotal: 'request_duration_time_total',
  responseSuccess: 'response_success',
  responseFailed: 'response_failed',
  responseTotalEwma: 'response_total_ewma',
  responseClientErrorEwma: 'response_client_error_ewma',
  responseServerErrorEwma: 'response_server_error_ewma',
  /** Cluster only. */
  lbSubsetsFallback: 'lb_subsets_fallback',
  /** Cluster only; a gauge. */
  lbSubsetsCreated: 'lb_subsets_created',
} as const;

export type UpstreamKey = (typeof UpstreamKeys)[keyof typeof UpstreamKeys];

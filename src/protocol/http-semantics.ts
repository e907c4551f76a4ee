/**
 * @module protocol/http-semantics
 * HTTP facts every codec and the proxy share (RFC 9110, RFC 9113).
 */

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) never cross the proxy; HTTP/2 forbids them
 * outright (RFC 9113 §8.2.2). `te` is handled apart: only `te: trailers` may travel
 * over HTTP/2 (gRPC needs it).
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Methods a retry may safely send twice (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The first bytes of every HTTP/2 prior-knowledge connection (RFC 9113 §3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Responses to these never carry a body (RFC 9110 §6.4.1). */
export function statusHasNoBody(status: number, method: string): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}

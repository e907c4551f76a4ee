/**
 * @module proxy/mirror
 * Request mirroring (MOSN's request_mirror_policies): a copy of the request goes to
 * another cluster, fire and forget. Its answer is read and dropped; its failures are
 * logged at debug and never touch the original request. A stream filter may take over a
 * request's copies (`takeOverMirrors`, used by the `mirror` filter for amplification and
 * broadcast): the proxy's decision to mirror stays the one decision, the filter decides
 * how many copies go where.
 */
import { HeaderMap } from '../api/headers.ts';
import type { RequestHead } from '../api/stream-filter.ts';
import type { UpstreamHost } from '../api/upstream.ts';
import { describeError } from '../core/errors.ts';
import type { UpstreamProtocol } from '../upstream/pools/pool-manager.ts';
import type { ProxyContext } from './proxy-context.ts';

/** One request's mirror copies, handed to the filter that took them over. */
export interface MirrorCopies {
  readonly clusterName: string;
  /**
   * Sends one copy (headers of its own, the same body) to `host`, or to the cluster's load
   * balancer's choice. False when nothing was sent (no such cluster, no host). `onDone`
   * is called once when a sent copy ends: undefined after the whole answer, else the error.
   */
  send(host?: UpstreamHost, onDone?: (err: Error | undefined) => void): boolean;
}

const takenOver = new WeakMap<RequestHead, (copies: MirrorCopies) => void>();

/** The route's mirror copies of `request`, if the proxy sends any, go to `handler` instead. */
export function takeOverMirrors(request: RequestHead, handler: (copies: MirrorCopies) => void): void {
  takenOver.set(request, handler);
}

export function sendMirror(ctx: ProxyContext, clusterName: string, request: RequestHead, body: Buffer | undefined, protocol: UpstreamProtocol): void {
  const handler = takenOver.get(request);
  if (handler === undefined) {
    sendCopy(ctx, clusterName, request, body, protocol, undefined, undefined);
    return;
  }
  handler({ clusterName, send: (host, onDone) => sendCopy(ctx, clusterName, request, body, protocol, host, onDone) });
}

function sendCopy(
  ctx: ProxyContext,
  clusterName: string,
  request: RequestHead,
  body: Buffer | undefined,
  protocol: UpstreamProtocol,
  chosen: UpstreamHost | undefined,
  onDone: ((err: Error | undefined) => void) | undefined,
): boolean {
  const cluster = ctx.clusters.getCluster(clusterName);
  const host = chosen ?? cluster?.chooseHost();
  if (cluster === undefined || host === undefined) {
    ctx.logger.debug({ cluster: clusterName }, 'proxy: mirror skipped, no cluster or host');
    return false;
  }
  const headers = new HeaderMap(request.headers.flatView().slice());
  const timer = setTimeout(() => {
    exchange.abort();
    onDone?.(new Error(`mirror request timed out after ${ctx.defaultTimeoutMs}ms`));
  }, ctx.defaultTimeoutMs);
  timer.unref();
  const exchange = ctx.pools.pool(cluster, host, protocol).send(
    { method: request.method, path: request.path, authority: request.authority, scheme: 'http', headers },
    body,
    {
      onResponseHeaders() {},
      onRequestBodySent() {},
      onRequestSent() {},
      onResponseData: () => true,
      onResponseEnd: () => {
        clearTimeout(timer);
        onDone?.(undefined);
      },
      onError(err) {
        clearTimeout(timer);
        ctx.logger.debug({ cluster: clusterName, err: describeError(err) }, 'proxy: mirror request failed');
        onDone?.(err);
      },
    },
  );
  return true;
}

/**
 * @module proxy/mirror
 * Request mirroring (MOSN's request_mirror_policies): a copy of the request goes to
 * another cluster, fire and forget. Its answer is read and dropped; its failures are
 * logged at debug and never touch the original request.
 */
import { HeaderMap } from '../api/headers.ts';
import type { RequestHead } from '../api/stream-filter.ts';
import { describeError } from '../core/errors.ts';
import type { UpstreamProtocol } from '../upstream/pools/pool-manager.ts';
import type { ProxyContext } from './proxy-context.ts';

export function sendMirror(ctx: ProxyContext, clusterName: string, request: RequestHead, body: Buffer | undefined, protocol: UpstreamProtocol): void {
  const cluster = ctx.clusters.getCluster(clusterName);
  const host = cluster?.chooseHost();
  if (cluster === undefined || host === undefined) {
    ctx.logger.debug({ cluster: clusterName }, 'proxy: mirror skipped, no cluster or host');
    return;
  }
  const headers = new HeaderMap(request.headers.toFlat().slice());
  const timer = setTimeout(() => exchange.abort(), ctx.defaultTimeoutMs);
  timer.unref();
  const exchange = ctx.pools.pool(cluster, host, protocol).send(
    { method: request.method, path: request.path, authority: request.authority, scheme: 'http', headers },
    body,
    {
      onResponseHeaders() {},
      onRequestBodySent() {},
      onRequestSent() {},
      onResponseData: () => true,
      onResponseEnd: () => clearTimeout(timer),
      onError(err) {
        clearTimeout(timer);
        ctx.logger.debug({ cluster: clusterName, err: describeError(err) }, 'proxy: mirror request failed');
      },
    },
  );
}

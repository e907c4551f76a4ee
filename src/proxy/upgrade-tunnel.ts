/**
 * @module proxy/upgrade-tunnel
 * HTTP/1.1 protocol switches (WebSocket): the request is routed like any other, the
 * request head goes to the chosen host on a fresh connection, and from then on bytes are
 * piped both ways with backpressure and half-close, until either side closes. Stream
 * filters do not run on upgrades (their handler speaks requests and responses, not
 * frames); routing, header mutations and X-Forwarded-For do.
 */
import type { Socket } from 'node:net';
import type { RequestHead } from '../api/stream-filter.ts';
import { describeError } from '../core/errors.ts';
import type { ProxyContext } from './proxy-context.ts';

export function tunnelUpgrade(ctx: ProxyContext, head: RequestHead, client: Socket, firstBytes: Buffer): void {
  client.on('error', () => {});
  const refuse = (status: string, reason: string): void => {
    ctx.logger.debug({ path: head.path, reason }, 'proxy: upgrade refused');
    if (client.writable) client.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else client.destroy();
  };
  const route = ctx.routes.match(head);
  if (route === undefined) return refuse('404 Not Found', 'no route');
  if (route.directResponse !== undefined || route.redirect(head) !== undefined) return refuse('400 Bad Request', 'the route does not forward');
  const clusterName = route.clusterName(head.headers);
  const cluster = clusterName === undefined ? undefined : ctx.clusters.getCluster(clusterName);
  const host = cluster?.chooseHost();
  if (cluster === undefined || host === undefined) return refuse('503 Service Unavailable', 'no cluster or healthy host');

  route.rewrite(head);
  route.applyRequestHeaders(head.headers);
  if (route.autoHostRewrite) head.authority = host.hostname ?? host.address;
  const remote = client.remoteAddress ?? '';
  const xff = head.headers.get('x-forwarded-for');
  head.headers.set('x-forwarded-for', xff === undefined ? remote : `${xff}, ${remote}`);

  client.pause();
  const abort = new AbortController();
  client.once('close', () => abort.abort());
  cluster.connectTcp(host, { signal: abort.signal, session: true }).then(
    (upstream) => {
      if (client.destroyed) return upstream.destroy();
      let text = `${head.method} ${head.path} HTTP/1.1\r\nhost: ${head.authority}\r\n`;
      head.headers.forEach((name, value) => {
        if (name !== 'host') text += `${name}: ${value}\r\n`;
      });
      upstream.write(`${text}\r\n`);
      if (firstBytes.length > 0) upstream.write(firstBytes);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
      // pipe() gives backpressure both ways and forwards each side's FIN (half-close).
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    },
    (err: unknown) => {
      if (abort.signal.aborted) return;
      ctx.logger.warn({ cluster: cluster.name, host: host.address, err: describeError(err) }, 'proxy: upgrade connect failed');
      refuse('503 Service Unavailable', 'upstream connect failure');
    },
  );
}

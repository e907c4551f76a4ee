/**
 * @module admin/drain-http-server
 * Closes an operator-facing HTTP server (admin API, Prometheus sink) at a hot upgrade
 * without failing a scrape: stop accepting at once (the successor serves the same
 * socket), answer each request still coming on an open connection with
 * `Connection: close`, close connections idle for a second, and cut what is left after
 * `graceMs`. Depends on node:http only.
 */
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';

const IDLE_CLOSE_MS = 1_000;

export function drainHttpServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    server.prependListener('request', (_req, res) => {
      res.shouldKeepAlive = false;
    });
    const idle = setTimeout(() => server.closeIdleConnections(), IDLE_CLOSE_MS);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    // http.Server.close() would also close idle keep-alive connections at once, racing
    // with the client's next request: stop accepting the net.Server way instead.
    NetServer.prototype.close.call(server, () => {
      clearTimeout(idle);
      clearTimeout(cut);
      resolve();
    });
  });
}

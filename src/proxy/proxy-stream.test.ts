/**
 * ProxyStream through a running proxy (in this process, real sockets): route request
 * timeouts, which share one timer per duration (core/deadline-queue), expire neither early nor
 * much late whatever was armed and cancelled around them; and a proxied response ends
 * its exchange only after the upstream exchange ended, so the upstream connection is
 * reused.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, get, type Server } from 'node:http';
import { once } from 'node:events';
import { startInProcess, type InProcessServer } from '../../test/helpers/in-process.ts';
import { proxyConfig, h1 } from '../../test/helpers/l7.ts';

describe('ProxyStream: request timeouts and exchange ends', () => {
  let upstream: Server;
  let upstreamConnections = 0;
  let proxy: InProcessServer;

  before(async () => {
    // /slow* never answers; anything else answers at once.
    upstream = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      if (req.url?.startsWith('/slow')) return;
      res.end('ok');
    });
    upstream.on('connection', () => upstreamConnections++);
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as { port: number }).port;
    proxy = await startInProcess(
      proxyConfig({
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routers: [
              { match: { prefix: '/slow-short' }, route: { cluster_name: 'backend', timeout: '150ms' } },
              { match: { prefix: '/slow-long' }, route: { cluster_name: 'backend', timeout: '400ms' } },
              { match: { prefix: '/' }, route: { cluster_name: 'backend', timeout: '150ms' } },
            ],
          },
        ],
        clusters: { backend: [port] },
      }),
    );
  });

  after(async () => {
    await proxy.stop();
    upstream.closeAllConnections();
    upstream.close();
  });

  async function timed(path: string): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    const res = await h1(proxy.port, path);
    return { status: res.status, ms: performance.now() - started };
  }

  test('timeouts armed among cancelled ones expire on time, each with its own duration', async () => {
    // Requests that finish at once arm and cancel timeouts of the same duration before and after.
    const fast1 = Promise.all(Array.from({ length: 20 }, () => timed('/fast')));
    const short = timed('/slow-short');
    const long = timed('/slow-long');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const later = timed('/slow-short'); // armed after the first one: expires after it
    const fast2 = Promise.all(Array.from({ length: 20 }, () => timed('/fast')));
    for (const r of [...(await fast1), ...(await fast2)]) assert.equal(r.status, 200);
    const [s, l, t] = await Promise.all([short, long, later]);
    assert.equal(s.status, 504);
    assert.equal(l.status, 504);
    assert.equal(t.status, 504);
    assert.ok(s.ms >= 145 && s.ms < 1000, `150 ms timeout answered after ${s.ms.toFixed(0)} ms`);
    assert.ok(t.ms >= 145 && t.ms < 1000, `150 ms timeout (armed later) answered after ${t.ms.toFixed(0)} ms`);
    assert.ok(l.ms >= 395 && l.ms < 1500, `400 ms timeout answered after ${l.ms.toFixed(0)} ms`);
  });

  test('sequential requests on one client connection reuse one upstream connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await getStatus(proxy.port, agent); // the upstream connection exists from here on
      const opened = upstreamConnections;
      for (let i = 0; i < 30; i++) assert.equal(await getStatus(proxy.port, agent), 200);
      assert.equal(upstreamConnections, opened, 'no upstream connection was dropped and reopened');
    } finally {
      agent.destroy();
    }
  });
});

/** GET /fast through `agent` (one kept-alive client connection); resolves with the status. */
function getStatus(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/fast', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

/**
 * The first slice of the `proxy` filter (HTTP/1.1): MOSN's http-sample server config
 * proxies real traffic with only its ports rewritten, and failures map to MOSN's statuses
 * (404 no route, 503 no host / connect failure, 502 upstream reset, 504 timeout); bad
 * requests get 400/431; a graceful stop closes keep-alive connections.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { closedPort } from '../helpers/servers.ts';

const SAMPLE = fileURLToPath(new URL('../../../shared/mosn-examples/examples__codes__http-sample__server_config.json', import.meta.url));

async function startUpstream(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('error', () => {});
    s.on('close', () => resolve(out));
    s.write(text);
  });
}

describe('proxy filter, HTTP/1.1', () => {
  let upstream: { server: Server; port: number };
  let proc: MosnodeProcess;
  let port: number;
  const seen: IncomingMessage[] = [];

  before(async () => {
    upstream = await startUpstream((req, res) => {
      seen.push(req);
      if (req.url === '/slow') return; // never answers
      if (req.url === '/reset') return req.socket.destroy();
      if (req.method === 'POST') {
        res.setHeader('x-upstream', 'yes');
        req.pipe(res);
        return;
      }
      res.setHeader('x-upstream', 'yes');
      res.setHeader('keep-alive', 'timeout=5');
      res.end(`hello from ${req.url}`);
    });
    // MOSN's sample config, unchanged but for its ports.
    const sample = JSON.parse(readFileSync(SAMPLE, 'utf8'));
    sample.servers[0].listeners[0].address = '127.0.0.1:0';
    sample.cluster_manager.clusters[0].hosts[0].address = `127.0.0.1:${upstream.port}`;
    sample.admin.address.socket_address.port_value = 0;
    proc = await startMosnode(sample);
    port = proc.listenerAddress('serverListener').port;
  });
  after(async () => {
    await proc.cleanup();
    upstream.server.closeAllConnections();
    upstream.server.close();
  });

  test('proxies requests over keep-alive with forwarding headers and no hop-by-hop headers', async () => {
    const a = await get(port, '/a', { connection: 'keep-alive', 'x-forwarded-for': '10.1.1.1' });
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), 'hello from /a');
    assert.equal(a.headers['x-upstream'], 'yes');
    assert.notEqual(a.headers['keep-alive'], 'timeout=5', "the upstream's hop-by-hop header is not forwarded");
    const req = seen.at(-1)!;
    assert.equal(req.headers['x-forwarded-for'], '10.1.1.1, 127.0.0.1');
    assert.equal(req.headers['x-forwarded-proto'], 'http');
    const b = await get(port, '/b?x=1');
    assert.equal(b.body.toString(), 'hello from /b?x=1');
  });

  test('streams a 5 MB request body to the upstream and back', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 'z');
    const r = await get(port, '/echo', { 'content-type': 'application/octet-stream' }, 'POST', body);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, body.length);
    assert.ok(r.body.equals(body));
  });

  test('upstream reset before the response: 502', async () => {
    const r = await get(port, '/reset');
    assert.equal(r.status, 502);
  });

  test('malformed request: 400; oversized headers: 431', async () => {
    assert.match(await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await rawRequest(port, 'NOT A REQUEST\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await rawRequest(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
  });
});

describe('proxy filter, HTTP/1.1 routing and failures', () => {
  test('direct_response, 404 without a route, 503 for a dead host, 504 on route timeout', async () => {
    const dead = await closedPort();
    const silent = await startUpstream(() => {});
    const proc = await startMosnode({
      servers: [{
        default_log_path: 'stdout',
        routers: [{
          router_config_name: 'r',
          virtual_hosts: [{
            name: 'only-example', domains: ['example.com', '*.example.org'],
            routers: [
              { match: { path: '/hello' }, direct_response: { status: 201, body: 'hi' } },
              { match: { prefix: '/dead' }, route: { cluster_name: 'dead' } },
              { match: { prefix: '/slow' }, route: { cluster_name: 'silent', timeout: '300ms' } },
              { match: { headers: [{ name: 'x-canary', value: 'v[0-9]+', regex: true }] }, direct_response: { status: 200, body: 'canary' } },
            ],
          }],
        }],
        listeners: [{ name: 'http', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] }],
      }],
      cluster_manager: { clusters: [
        { name: 'dead', connect_timeout: '1s', hosts: [{ address: `127.0.0.1:${dead}` }] },
        { name: 'silent', hosts: [{ address: `127.0.0.1:${silent.port}` }] },
      ] },
    });
    try {
      const port = proc.listenerAddress('http').port;
      const hello = await get(port, '/hello', { host: 'example.com' });
      assert.deepEqual([hello.status, hello.body.toString()], [201, 'hi']);
      assert.equal((await get(port, '/hello', { host: 'api.example.org' })).status, 201, 'wildcard domain');
      // MOSN: a domain without a port matches only a Host without one.
      assert.equal((await get(port, '/hello', { host: 'api.example.org:8080' })).status, 404, 'wildcard domain, Host with a port');
      assert.equal((await get(port, '/hello', { host: 'other.com' })).status, 404, 'no virtual host');
      assert.equal((await get(port, '/nothing', { host: 'example.com' })).status, 404, 'no route');
      assert.equal((await get(port, '/x', { host: 'example.com', 'x-canary': 'v12' })).body.toString(), 'canary');
      assert.equal((await get(port, '/dead', { host: 'example.com' })).status, 503);
      const started = Date.now();
      assert.equal((await get(port, '/slow', { host: 'example.com' })).status, 504);
      assert.ok(Date.now() - started < 3000);
      await proc.waitForLog((l) => l.msg === 'proxy: upstream request timeout');
    } finally {
      await proc.cleanup();
      silent.server.closeAllConnections();
      silent.server.close();
    }
  });

  test('graceful stop closes an idle keep-alive connection and answers an in-flight request with Connection: close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const up = await startUpstream((req, res) => {
      if (req.url === '/wait') void gate.then(() => res.end('done'));
      else res.end('ok');
    });
    const proc = await startMosnode({
      servers: [{
        default_log_path: 'stdout',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'up' } }] }] }],
        listeners: [{ name: 'http', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] }],
      }],
      cluster_manager: { clusters: [{ name: 'up', hosts: [{ address: `127.0.0.1:${up.port}` }] }] },
    });
    try {
      const port = proc.listenerAddress('http').port;
      const idle = connect(port, '127.0.0.1');
      await once(idle, 'connect');
      idle.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      await once(idle, 'data');
      const idleClosed = once(idle, 'close');
      const inflight = get(port, '/wait');
      await new Promise((r) => setTimeout(r, 200));
      proc.signal('SIGTERM');
      await idleClosed;
      release();
      const r = await inflight;
      assert.equal(r.body.toString(), 'done');
      assert.equal(r.headers.connection, 'close');
      assert.deepEqual(await proc.exited, { code: 0, signal: null });
    } finally {
      await proc.cleanup();
      up.server.closeAllConnections();
      up.server.close();
    }
  });
});

describe('HTTP/1.1 codec choice and the node flags of mosnode start', () => {
  let upstream: { server: Server; port: number };
  const procs: MosnodeProcess[] = [];

  before(async () => {
    upstream = await startUpstream((req, res) => res.end(`hello from ${req.url}`));
  });
  after(async () => {
    for (const p of procs) await p.cleanup();
    upstream.server.closeAllConnections();
    upstream.server.close();
  });

  async function start(env: Record<string, string>): Promise<{ proc: MosnodeProcess; port: number; cmdline: string[] }> {
    const sample = JSON.parse(readFileSync(SAMPLE, 'utf8'));
    sample.servers[0].listeners[0].address = '127.0.0.1:0';
    sample.cluster_manager.clusters[0].hosts[0].address = `127.0.0.1:${upstream.port}`;
    sample.admin.address.socket_address.port_value = 0;
    const proc = await startMosnode(sample, { env });
    procs.push(proc);
    // The pid the test spawned is the serving process: the re-exec happened in place.
    const cmdline = readFileSync(`/proc/${proc.child.pid}/cmdline`, 'utf8').split('\0');
    return { proc, port: proc.listenerAddress('serverListener').port, cmdline };
  }

  test('by default: own codec (no node:http Keep-Alive header), re-executed in place with --max-semi-space-size=8', async () => {
    const { port, cmdline } = await start({});
    assert.ok(cmdline.includes('--max-semi-space-size=8'), cmdline.join(' '));
    const r = await get(port, '/own');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello from /own');
    assert.equal(r.headers['keep-alive'], undefined);
  });

  test('MOSNODE_HTTP1_CODEC=node serves through node:http (its Keep-Alive header); MOSNODE_NODE_DEFAULTS=0 keeps node flags as given', async () => {
    const { port, cmdline } = await start({ MOSNODE_HTTP1_CODEC: 'node', MOSNODE_NODE_DEFAULTS: '0' });
    assert.ok(!cmdline.some((a) => a.startsWith('--max-semi-space-size')), cmdline.join(' '));
    const r = await get(port, '/fallback');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello from /fallback');
    assert.equal(r.headers['keep-alive'], 'timeout=60');
  });
});

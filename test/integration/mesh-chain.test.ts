/**
 * MOSN's http-sample topology with two real mosnode processes:
 *
 *   client -> client mesh (clientListener) -> server mesh (serverListener) -> upstream
 *
 * The configs are MOSN's own examples/codes/http-sample client_config.json and
 * server_config.json, with only addresses and ports rewritten (and, for the HTTP/2 and
 * gRPC chains, both proxy filters switched to Http2). Checks bodies, headers, the Host
 * kept end to end, and X-Forwarded-For growing by one address per mesh.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest, type Server } from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { h2, h2On, startJsonUpstream } from '../helpers/l7.ts';
import { sleep } from '../helpers/sockets.ts';

const EXAMPLES = '/work/shared/mosn-examples';

interface MeshConfig {
  servers: Array<{ listeners: Array<{ name: string; address: string; filter_chains: Array<{ filters: Array<{ type: string; config: Record<string, unknown> }> }> }> }>;
  cluster_manager: { clusters: Array<{ name: string; hosts: Array<{ address: string }> }> };
  admin: { address: { socket_address: { address: string; port_value: number } } };
}

/**
 * MOSN's sample config `file` with the listener on 127.0.0.1:0, the cluster's one host at
 * `upstreamPort`, the admin API on 127.0.0.1:0; `protocol` sets both sides of the proxy.
 */
function sampleConfig(file: 'client_config.json' | 'server_config.json', upstreamPort: number, protocol?: 'Http2'): MeshConfig {
  const config = JSON.parse(readFileSync(`${EXAMPLES}/examples__codes__http-sample__${file}`, 'utf8')) as MeshConfig;
  const listener = config.servers[0]!.listeners[0]!;
  listener.address = '127.0.0.1:0';
  const cluster = config.cluster_manager.clusters[0]!;
  assert.equal(cluster.hosts.length, 1, 'the sample has one host per cluster');
  cluster.hosts[0]!.address = `127.0.0.1:${upstreamPort}`;
  config.admin.address.socket_address = { address: '127.0.0.1', port_value: 0 };
  if (protocol !== undefined) {
    for (const filter of listener.filter_chains[0]!.filters) {
      if (filter.type !== 'proxy') continue;
      filter.config['downstream_protocol'] = protocol;
      filter.config['upstream_protocol'] = protocol;
    }
  }
  return config;
}

interface Chain {
  serverMesh: MosnodeProcess;
  clientMesh: MosnodeProcess;
  /** The client mesh's listener port: where clients connect. */
  port: number;
  cleanup(): Promise<void>;
}

/** Starts the server mesh (pointing at `upstreamPort`), then the client mesh pointing at it. */
async function startChain(upstreamPort: number, protocol?: 'Http2'): Promise<Chain> {
  const serverMesh = await startMosnode(sampleConfig('server_config.json', upstreamPort, protocol));
  let clientMesh: MosnodeProcess;
  try {
    clientMesh = await startMosnode(sampleConfig('client_config.json', serverMesh.listenerAddress('serverListener').port, protocol));
  } catch (err) {
    await serverMesh.cleanup();
    throw err;
  }
  return {
    serverMesh,
    clientMesh,
    port: clientMesh.listenerAddress('clientListener').port,
    async cleanup() {
      await clientMesh.cleanup();
      await serverMesh.cleanup();
    },
  };
}

interface Echo {
  protocol: string;
  method: string;
  path: string;
  host: string;
  xff: string | undefined;
  xfp: string | undefined;
  custom: string | undefined;
  bodyLength: number;
  bodyHead: string;
}

function echo(protocol: string, method: string, path: string, host: string, headers: Record<string, string | string[] | undefined>, body: Buffer): string {
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);
  const e: Echo = {
    protocol,
    method,
    path,
    host,
    xff: one(headers['x-forwarded-for']),
    xfp: one(headers['x-forwarded-proto']),
    custom: one(headers['x-custom']),
    bodyLength: body.length,
    bodyHead: body.subarray(0, 16).toString(),
  };
  return JSON.stringify(e);
}

describe('mesh chain: MOSN http-sample, HTTP/1.1', () => {
  let upstream: Server;
  let chain: Chain;

  before(async () => {
    const started = await startJsonUpstream((req, body) => echo('h1', req.method!, req.url!, req.headers.host ?? '', req.headers, body));
    upstream = started.server;
    chain = await startChain(started.port);
  });
  after(async () => {
    await chain?.cleanup();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  test('GET and POST cross both meshes; Host is kept; X-Forwarded-For gets one address per mesh', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (path: string, method = 'GET', body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; echo: Echo }> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: chain.port, path, method, agent, headers: { 'x-custom': 'through', ...(body !== undefined && { 'content-type': 'application/octet-stream' }) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, echo: JSON.parse(Buffer.concat(chunks).toString()) as Echo }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await send(`/hello?i=${i}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-upstream'], 'h1');
        assert.deepEqual(
          { ...res.echo, bodyHead: undefined },
          { protocol: 'h1', method: 'GET', path: `/hello?i=${i}`, host: `127.0.0.1:${chain.port}`, xff: '127.0.0.1, 127.0.0.1', xfp: 'http', custom: 'through', bodyLength: 0, bodyHead: undefined },
        );
      }
      const body = Buffer.alloc(3 * 1024 * 1024, 'p');
      body.write('first-bytes', 0);
      const post = await send('/upload', 'POST', body);
      assert.equal(post.status, 200);
      assert.equal(post.echo.method, 'POST');
      assert.equal(post.echo.bodyLength, body.length, 'a 3 MiB body streams through both meshes');
      assert.equal(post.echo.bodyHead, 'first-bytes\0\0\0\0\0'.replace(/\0/g, 'p'));
      assert.equal(post.echo.xff, '127.0.0.1, 127.0.0.1');
    } finally {
      agent.destroy();
    }
  });

  test('a client-supplied X-Forwarded-For is kept and extended by each mesh', async () => {
    const res = await new Promise<Echo>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: chain.port, path: '/xff', agent: false, headers: { 'x-forwarded-for': '203.0.113.7' } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as Echo));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.xff, '203.0.113.7, 127.0.0.1, 127.0.0.1');
  });

  test('both meshes count each request once (downstream request_total of each listener)', async () => {
    const requestTotal = async (proc: MosnodeProcess, listener: string): Promise<number> => {
      const { host, port } = proc.adminAddress();
      const stats = (await (await fetch(`http://${host}:${port}/api/v1/stats`)).json()) as Record<string, Record<string, Record<string, string>>>;
      return Number(stats['downstream']?.[`listener.${listener}`]?.['request_total']);
    };
    const before = [await requestTotal(chain.clientMesh, 'clientListener'), await requestTotal(chain.serverMesh, 'serverListener')];
    for (let i = 0; i < 4; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: chain.port, path: `/count/${i}`, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
    }
    const afterCounts = [await requestTotal(chain.clientMesh, 'clientListener'), await requestTotal(chain.serverMesh, 'serverListener')];
    assert.deepEqual(afterCounts.map((n, i) => n - before[i]!), [4, 4], JSON.stringify({ before, afterCounts }));
  });
});

describe('mesh chain: both meshes Http2 (h2c), HTTP/2 upstream', () => {
  let upstream: http2.Http2Server;
  let chain: Chain;

  before(async () => {
    upstream = http2.createServer();
    upstream.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const plain: Record<string, string | string[] | undefined> = {};
        for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) plain[k] = v as string | string[] | undefined;
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': 'h2' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'end' }));
        stream.end(echo('h2', String(headers[':method']), String(headers[':path']), String(headers[':authority']), plain, Buffer.concat(chunks)));
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    chain = await startChain((upstream.address() as { port: number }).port, 'Http2');
  });
  after(async () => {
    await chain?.cleanup();
    upstream?.close();
  });

  test('concurrent streams on one session cross both meshes with bodies, :authority and trailers', async () => {
    const session = http2.connect(`http://127.0.0.1:${chain.port}`);
    try {
      const body = Buffer.alloc(1024 * 1024, 'q');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          i % 2 === 0
            ? h2On(session, `/stream/${i}`, { headers: { 'x-custom': `n${i}` } })
            : h2On(session, `/stream/${i}`, { method: 'POST', body, headers: { 'x-custom': `n${i}` } }),
        ),
      );
      results.forEach((res, i) => {
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-upstream'], 'h2');
        assert.equal(res.trailers?.['x-trailer'], 'end', 'trailers cross both meshes');
        const e = JSON.parse(res.body.toString()) as Echo;
        assert.equal(e.protocol, 'h2');
        assert.equal(e.path, `/stream/${i}`);
        assert.equal(e.host, `127.0.0.1:${chain.port}`);
        assert.equal(e.custom, `n${i}`);
        assert.equal(e.xff, '127.0.0.1, 127.0.0.1');
        assert.equal(e.bodyLength, i % 2 === 0 ? 0 : body.length);
      });
    } finally {
      session.close();
    }
  });

  test('a fresh session works too (one request per session)', async () => {
    const res = await h2(chain.port, '/single?x=1');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body.toString()) as Echo).path, '/single?x=1');
  });
});

describe('mesh chain: gRPC through two Http2 meshes', () => {
  const raw = (b: Buffer): Buffer => b;
  const method = (path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
    path,
    requestStream: false,
    responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  });
  const service = {
    unary: method('/mesh.Echo/Unary', false),
    serverStream: method('/mesh.Echo/ServerStream', true),
    fail: method('/mesh.Echo/Fail', false),
  };
  let server: grpc.Server;
  let chain: Chain;
  interface EchoClient extends grpc.Client {
    unary(request: Buffer, callback: (err: grpc.ServiceError | null, reply: Buffer) => void): grpc.ClientUnaryCall;
    serverStream(request: Buffer): grpc.ClientReadableStream<Buffer>;
    fail(request: Buffer, callback: (err: grpc.ServiceError | null, reply: Buffer) => void): grpc.ClientUnaryCall;
  }
  let client: EchoClient;

  before(async () => {
    server = new grpc.Server();
    server.addService(service, {
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-seen-xff', String(call.metadata.get('x-forwarded-for')[0] ?? ''));
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), md);
      },
      serverStream: async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = Number(call.request.toString());
        for (let i = 0; i < n; i++) {
          call.write(Buffer.from(`part${i}:${String(call.metadata.get('x-forwarded-for')[0] ?? '')}`));
          await sleep(60);
        }
        call.end();
      },
      fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        cb({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'too much' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    chain = await startChain(port, 'Http2');
    const Client = grpc.makeGenericClientConstructor(service, 'Echo');
    client = new Client(`127.0.0.1:${chain.port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });
  after(async () => {
    client?.close();
    await chain?.cleanup();
    server?.forceShutdown();
  });

  test('unary: the reply, and the trailing metadata showing X-Forwarded-For from both meshes', async () => {
    const { reply, metadata } = await new Promise<{ reply: Buffer; metadata: grpc.Metadata }>((resolve, reject) => {
      let reply: Buffer | undefined;
      const call = client.unary(Buffer.from('through two meshes'), (err, r) => (err ? reject(err) : (reply = r)));
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve({ reply: reply!, metadata: s.metadata }) : reject(new Error(s.details))));
    });
    assert.equal(reply.toString(), 'echo:through two meshes');
    assert.deepEqual(metadata.get('x-seen-xff'), ['127.0.0.1, 127.0.0.1']);
  });

  test('server streaming: every message arrives, as it is sent (not buffered until the end)', async () => {
    const parts: Array<{ text: string; at: number }> = [];
    const started = performance.now();
    const call = client.serverStream(Buffer.from('5'));
    call.on('data', (d: Buffer) => parts.push({ text: d.toString(), at: performance.now() - started }));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    await once(call, 'end');
    assert.equal((await status).code, grpc.status.OK);
    assert.deepEqual(
      parts.map((p) => p.text),
      [0, 1, 2, 3, 4].map((i) => `part${i}:127.0.0.1, 127.0.0.1`),
    );
    // The server waits 60 ms between messages: streamed, the first arrives well before the last.
    assert.ok(parts[4]!.at - parts[0]!.at >= 150, `messages arrived at ${parts.map((p) => Math.round(p.at)).join(', ')} ms`);
  });

  test('a gRPC error status crosses both meshes', async () => {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.fail(Buffer.from(''), (e) => resolve(e)));
    assert.ok(err !== null);
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(err.details, 'too much');
  });
});

/**
 * The `proxy` filter across protocols: every downstream (Http1, Http2 h2c, Auto) with
 * every upstream (Http1, Http2), gRPC's four call shapes through HTTP/2 with trailers and
 * statuses, and WebSocket tunnelling over HTTP/1.1. Real node:http, node:http2,
 * @grpc/grpc-js and ws peers on 127.0.0.1.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { WebSocketServer, WebSocket } from 'ws';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { proxyConfig, h1, h2, startJsonUpstream } from '../helpers/l7.ts';

interface Seen {
  protocol: string;
  method: string;
  path: string;
  authority: string;
  headers: Record<string, unknown>;
  bodyLength: number;
}

/** Answers with what it saw, as JSON; POST bodies are echoed in `x-body-sha`-free form: their length. */
function describeRequest(protocol: string, method: string, path: string, authority: string, headers: Record<string, unknown>, body: Buffer): string {
  const seen: Seen = { protocol, method, path, authority, headers, bodyLength: body.length };
  return JSON.stringify(seen);
}

function startH1Upstream(): Promise<{ server: Server; port: number }> {
  return startJsonUpstream((req, body) => describeRequest('h1', req.method!, req.url!, req.headers.host ?? '', req.headers, body));
}

async function startH2Upstream(): Promise<{ server: http2.Http2Server; port: number }> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const plain: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) plain[k] = v;
      const wantsTrailers = headers['x-want-trailers'] === '1';
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': 'h2' }, { waitForTrailers: wantsTrailers });
      if (wantsTrailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end(describeRequest('h2', String(headers[':method']), String(headers[':path']), String(headers[':authority']), plain, Buffer.concat(chunks)));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

describe('proxy filter: protocol matrix', () => {
  let up1: { server: Server; port: number };
  let up2: { server: http2.Http2Server; port: number };
  const procs: MosnodeProcess[] = [];

  before(async () => {
    up1 = await startH1Upstream();
    up2 = await startH2Upstream();
  });
  after(async () => {
    for (const p of procs) await p.cleanup();
    up1.server.closeAllConnections();
    up1.server.close();
    up2.server.close();
  });

  for (const downstream of ['Http1', 'Http2', 'Auto']) {
    for (const upstream of ['Http1', 'Http2']) {
      test(`${downstream} -> ${upstream}: GET and a POST body, forwarding headers, no hop-by-hop headers`, async () => {
        const port = upstream === 'Http1' ? up1.port : up2.port;
        const proc = await startMosnode(proxyConfig({ downstream, upstream, clusters: { backend: [port] } }));
        procs.push(proc);
        const listen = proc.listenerAddress('l7').port;
        const body = Buffer.alloc(100_000, 7);
        const clients = downstream === 'Http1' ? ['h1'] : downstream === 'Http2' ? ['h2'] : ['h1', 'h2'];
        for (const client of clients) {
          const get =
            client === 'h1'
              ? await h1(listen, '/a/b?x=1', { headers: { 'x-custom': 'one', connection: 'keep-alive, x-hop', 'x-hop': 'drop me' } })
              : await h2(listen, '/a/b?x=1', { headers: { 'x-custom': 'one' } });
          assert.equal(get.status, 200, `${client} GET`);
          const seen = JSON.parse(get.body.toString()) as Seen;
          assert.equal(seen.protocol, upstream === 'Http1' ? 'h1' : 'h2');
          assert.equal(seen.method, 'GET');
          assert.equal(seen.path, '/a/b?x=1');
          assert.equal(seen.authority, `127.0.0.1:${listen}`);
          assert.equal(seen.headers['x-custom'], 'one');
          assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
          assert.equal(seen.headers['x-forwarded-proto'], 'http');
          assert.equal(seen.headers['x-hop'], undefined, 'a header named by Connection is hop-by-hop');
          assert.equal(get.headers['x-upstream'], upstream === 'Http1' ? 'h1' : 'h2');
          assert.equal(get.headers['connection'] === undefined || client === 'h1', true);

          const post = client === 'h1' ? await h1(listen, '/post', { method: 'POST', body }) : await h2(listen, '/post', { method: 'POST', body });
          assert.equal(post.status, 200);
          assert.equal((JSON.parse(post.body.toString()) as Seen).bodyLength, body.length);
        }
        await proc.cleanup();
      });
    }
  }

  test('Http2 -> Http2: response trailers pass through', async () => {
    const proc = await startMosnode(proxyConfig({ downstream: 'Http2', upstream: 'Http2', clusters: { backend: [up2.port] } }));
    procs.push(proc);
    const res = await h2(proc.listenerAddress('l7').port, '/t', { headers: { 'x-want-trailers': '1' } });
    assert.equal(res.status, 200);
    assert.equal(res.trailers?.['x-checksum'], 'abc');
    await proc.cleanup();
  });
});

describe('proxy filter: gRPC through HTTP/2', () => {
  const raw = (b: Buffer): Buffer => b;
  const method = (path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
    path,
    requestStream,
    responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  });
  const service = {
    unary: method('/test.Echo/Unary', false, false),
    serverStream: method('/test.Echo/ServerStream', false, true),
    clientStream: method('/test.Echo/ClientStream', true, false),
    bidi: method('/test.Echo/Bidi', true, true),
    fail: method('/test.Echo/Fail', false, false),
  };
  let server: grpc.Server;
  let proc: MosnodeProcess;
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  before(async () => {
    server = new grpc.Server();
    server.addService(service, {
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-trailer', 'kept');
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), md);
      },
      serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 0; i < 5; i++) call.write(Buffer.from(`part${i}`));
        call.end();
      },
      clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        let n = 0;
        call.on('data', (d: Buffer) => (n += d.length));
        call.on('end', () => cb(null, Buffer.from(String(n))));
      },
      bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (d: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), d])));
        call.on('end', () => call.end());
      },
      fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        cb({ code: grpc.status.PERMISSION_DENIED, details: 'nope' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    proc = await startMosnode(proxyConfig({ downstream: 'Http2', upstream: 'Http2', clusters: { backend: [port] } }));
    const Client = grpc.makeGenericClientConstructor(service, 'Echo');
    client = new Client(`127.0.0.1:${proc.listenerAddress('l7').port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  after(async () => {
    client?.close();
    await proc?.cleanup();
    server?.forceShutdown();
  });

  test('unary: the reply and the trailing metadata', async () => {
    const trailers = new Promise<grpc.Metadata>((resolve) => {
      const call = client.unary(Buffer.from('hi'), (err: Error | null, reply: Buffer) => {
        assert.equal(err, null);
        assert.equal(reply.toString(), 'echo:hi');
      }) as grpc.ClientUnaryCall;
      call.on('status', (s: grpc.StatusObject) => resolve(s.metadata));
    });
    assert.deepEqual((await trailers).get('x-trailer'), ['kept']);
  });

  test('server streaming, client streaming and bidi streaming', async () => {
    const parts: string[] = [];
    const ss = client.serverStream(Buffer.from('x')) as grpc.ClientReadableStream<Buffer>;
    ss.on('data', (d: Buffer) => parts.push(d.toString()));
    await once(ss, 'end');
    assert.deepEqual(parts, ['part0', 'part1', 'part2', 'part3', 'part4']);

    const total = await new Promise<string>((resolve, reject) => {
      const cs = client.clientStream((err: Error | null, reply: Buffer) => (err ? reject(err) : resolve(reply.toString()))) as grpc.ClientWritableStream<Buffer>;
      for (let i = 0; i < 10; i++) cs.write(Buffer.alloc(1000));
      cs.end();
    });
    assert.equal(total, '10000');

    const bidi = client.bidi() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const echoed: string[] = [];
    bidi.on('data', (d: Buffer) => {
      echoed.push(d.toString());
      // Each reply arrives before the next request is sent: the stream is truly interactive.
      if (echoed.length < 3) bidi.write(Buffer.from(`m${echoed.length}`));
      else bidi.end();
    });
    bidi.write(Buffer.from('m0'));
    await once(bidi, 'end');
    assert.deepEqual(echoed, ['re:m0', 're:m1', 're:m2']);
  });

  test('a gRPC error status reaches the client', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.fail(Buffer.from(''), (e: grpc.ServiceError) => resolve(e)));
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.equal(err.details, 'nope');
  });
});

describe('proxy filter: WebSocket over HTTP/1.1', () => {
  test('upgrades and relays messages both ways', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.headers['x-forwarded-for']}`);
      ws.on('message', (m) => ws.send(`echo ${m.toString()}`));
    });
    const proc = await startMosnode(proxyConfig({ clusters: { backend: [(wss.address() as { port: number }).port] } }));
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${proc.listenerAddress('l7').port}/chat`);
      const messages: string[] = [];
      ws.on('message', (m) => {
        messages.push(m.toString());
        if (messages.length === 1) ws.send('ping');
        if (messages.length === 2) ws.close();
      });
      await once(ws, 'close');
      assert.deepEqual(messages, ['hello 127.0.0.1', 'echo ping']);
    } finally {
      await proc.cleanup();
      for (const c of wss.clients) c.terminate();
      wss.close();
    }
  });
});

/**
 * The built-in `payload_limit` and `gzip` stream filters through a real running proxy
 * (in process), real node:http / node:http2 clients and real upstreams: statuses, what the
 * upstream received, bytes the client decoded, and the filters' counters.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import http2 from 'node:http2';
import { gunzipSync } from 'node:zlib';
import { proxyConfig, h1, h2 } from '../helpers/l7.ts';
import { startInProcess, type InProcessServer } from '../helpers/in-process.ts';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { until } from '../helpers/sockets.ts';
import { acceptsGzip } from '../../src/filters/stream/gzip/gzip.ts';

/** Sends a chunked HTTP/1.1 body (no content-length) in `pieces`; resolves the status and body. */
function chunkedUpload(port: number, path: string, pieces: Buffer[]): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    for (const p of pieces) req.write(p);
    req.end();
  });
}

describe('payload_limit', () => {
  let upstream: RecordingUpstream;
  let proxy: InProcessServer;

  before(async () => {
    upstream = await startRecordingUpstream('u');
    proxy = await startInProcess(
      proxyConfig({
        downstream: 'Auto',
        clusters: { backend: [upstream.port] },
        streamFilters: [{ type: 'payload_limit', config: { max_entity_size: 100 } }],
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routers: [
              // MOSN's own spelling of the key has a trailing space: accepted too.
              { match: { prefix: '/large' }, route: { cluster_name: 'backend' }, per_filter_config: { payload_limit: { 'max_entity_size ': 100000, http_status: 400 } } },
              { match: { prefix: '/' }, route: { cluster_name: 'backend' } },
            ],
          },
        ],
      }),
    );
  });
  after(async () => {
    await proxy.stop();
    await upstream.close();
  });

  const rejected = (): number => Number(proxy.stats().payload_limit?.['listener.l7']?.rejected ?? 0);

  test('a body within the limit passes untouched', async () => {
    const before = upstream.seen.length;
    const res = await h1(proxy.port, '/ok', { method: 'POST', body: 'x'.repeat(100) });
    assert.equal(res.status, 200);
    assert.equal(upstream.seen.length, before + 1);
    assert.equal(upstream.seen.at(-1)!.body, 'x'.repeat(100));
  });

  test('a declared content-length over the limit is refused with 413 before the upstream', async () => {
    const before = upstream.seen.length;
    const count = rejected();
    const res = await h1(proxy.port, '/too-big', { method: 'POST', body: 'x'.repeat(101) });
    assert.equal(res.status, 413);
    assert.equal(res.headers.connection, 'close');
    assert.equal(upstream.seen.length, before);
    assert.equal(rejected(), count + 1);
  });

  test('a chunked body is counted as it streams and refused once over the limit', async () => {
    const before = upstream.seen.length;
    const count = rejected();
    const res = await chunkedUpload(proxy.port, '/chunked', [Buffer.alloc(60, 'a'), Buffer.alloc(60, 'b')]);
    assert.equal(res.status, 413);
    assert.match(res.body, /larger than 100 bytes/);
    assert.equal(rejected(), count + 1);
    // The upstream may have seen the start of the request, never a whole one.
    assert.equal(upstream.seen.filter((s) => s.url === '/chunked').length, 0);
    assert.equal(upstream.seen.length, before);
    const ok = await chunkedUpload(proxy.port, '/chunked-ok', [Buffer.alloc(50, 'a'), Buffer.alloc(50, 'b')]);
    assert.equal(ok.status, 200);
    assert.equal(upstream.seen.at(-1)!.body, 'a'.repeat(50) + 'b'.repeat(50));
  });

  test('an HTTP/2 body without content-length is counted too', async () => {
    const count = rejected();
    const res = await h2(proxy.port, '/h2', { method: 'POST', body: Buffer.alloc(500, 'z') });
    assert.equal(res.status, 413);
    assert.equal(rejected(), count + 1);
    const ok = await h2(proxy.port, '/h2', { method: 'POST', body: Buffer.alloc(80, 'z') });
    assert.equal(ok.status, 200);
  });

  test("a route's per_filter_config replaces the listener's limit and status", async () => {
    const ok = await h1(proxy.port, '/large/a', { method: 'POST', body: 'y'.repeat(5000) });
    assert.equal(ok.status, 200);
    assert.equal(upstream.seen.at(-1)!.body.length, 5000);
    const count = rejected();
    const refused = await h1(proxy.port, '/large/b', { method: 'POST', body: 'y'.repeat(100001) });
    assert.equal(refused.status, 400);
    assert.equal(rejected(), count + 1);
  });
});

describe('gzip', () => {
  let origin: Server;
  let proxy: InProcessServer;
  const html = 'hello gzip '.repeat(100);

  before(async () => {
    origin = createServer((req, res) => {
      const url = req.url!;
      if (url === '/html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', etag: '"v1"', 'content-length': Buffer.byteLength(html) });
        res.end(html);
      } else if (url === '/json') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
        res.end('{' + ' '.repeat(998) + '}');
      } else if (url === '/tiny') {
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': 10 });
        res.end('0123456789');
      } else if (url === '/encoded') {
        res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'br', 'content-length': 500 });
        res.end(Buffer.alloc(500, 1));
      } else if (url === '/no-transform') {
        res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, no-transform' });
        res.end(html);
      } else if (url === '/stream') {
        // 1 MiB in 64 KiB pieces, no content-length (chunked).
        res.writeHead(200, { 'content-type': 'text/plain' });
        let left = 16;
        const next = (): void => {
          if (left-- === 0) return void res.end();
          res.write(Buffer.alloc(65536, 'abcdefgh'), () => setImmediate(next));
        };
        next();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const port = (origin.address() as { port: number }).port;
    proxy = await startInProcess(
      proxyConfig({
        downstream: 'Auto',
        clusters: { backend: [port] },
        streamFilters: [{ type: 'gzip', config: { gzip_level: 6, content_length: 100, content_types: ['text/html', 'Text/Plain'] } }],
      }),
    );
  });
  after(async () => {
    await proxy.stop();
    origin.close();
  });

  const stat = (key: string): number => Number(proxy.stats().gzip?.['listener.l7']?.[key] ?? 0);

  test('a listed type is compressed for a browser that accepts gzip among others', async () => {
    const compressed = stat('compressed');
    const res = await h1(proxy.port, '/html', { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.headers.vary, 'accept-encoding');
    assert.equal(res.headers.etag, 'W/"v1"');
    assert.equal(gunzipSync(res.body).toString(), html);
    assert.ok(res.body.length < html.length / 5, `compressed to ${res.body.length} bytes`);
    assert.equal(stat('compressed'), compressed + 1);
    await until(() => stat('bytes_in') >= html.length, 'gzip byte counters');
    assert.ok(stat('bytes_out') > 0 && stat('bytes_out') < stat('bytes_in'));
  });

  test('left alone: no accept-encoding, q=0, unlisted type, small body, already encoded, no-transform, HEAD', async () => {
    const compressed = stat('compressed');
    const plain = await h1(proxy.port, '/html');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers['content-length'], String(Buffer.byteLength(html)));
    assert.equal(plain.body.toString(), html);
    const refused = await h1(proxy.port, '/html', { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    assert.equal(refused.headers['content-encoding'], undefined);
    const json = await h1(proxy.port, '/json', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(json.headers['content-encoding'], undefined);
    assert.equal(json.body.length, 1000);
    const tiny = await h1(proxy.port, '/tiny', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(tiny.headers['content-encoding'], undefined);
    assert.equal(tiny.body.toString(), '0123456789');
    const encoded = await h1(proxy.port, '/encoded', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(encoded.headers['content-encoding'], 'br');
    assert.equal(encoded.body.length, 500);
    const noTransform = await h1(proxy.port, '/no-transform', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(noTransform.headers['content-encoding'], undefined);
    const head = await h1(proxy.port, '/html', { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-encoding'], undefined);
    assert.equal(stat('compressed'), compressed);
  });

  test('a streamed 1 MiB body of unknown length is compressed as it streams, HTTP/1.1 and HTTP/2', async () => {
    const expected = Buffer.alloc(65536 * 16, 'abcdefgh');
    const r1 = await h1(proxy.port, '/stream', { headers: { 'accept-encoding': '*' } });
    assert.equal(r1.headers['content-encoding'], 'gzip');
    assert.equal(r1.headers['transfer-encoding'], 'chunked');
    assert.ok(gunzipSync(r1.body).equals(expected));
    const r2 = await h2(proxy.port, '/stream', { headers: { 'accept-encoding': 'x-gzip' } });
    assert.equal(r2.headers['content-encoding'], 'gzip');
    assert.ok(gunzipSync(r2.body).equals(expected));
  });

  test('a client leaving mid-response leaves no compressor behind and the proxy keeps serving', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    const stream = session.request({ ':path': '/stream', 'accept-encoding': 'gzip' });
    await once(stream, 'response');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    session.close();
    const res = await h1(proxy.port, '/html', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gunzipSync(res.body).toString(), html);
    await until(() => Number(proxy.stats().downstream?.['listener.l7']?.request_active ?? 0) === 0, 'no active request');
  });
});

describe('acceptsGzip', () => {
  test('tokens, weights, wildcards', () => {
    assert.equal(acceptsGzip(undefined), false);
    assert.equal(acceptsGzip(''), false);
    assert.equal(acceptsGzip('gzip'), true);
    assert.equal(acceptsGzip('GZIP;q=0.5'), true);
    assert.equal(acceptsGzip('deflate, br'), false);
    assert.equal(acceptsGzip('br, gzip;q=0'), false);
    assert.equal(acceptsGzip('*'), true);
    assert.equal(acceptsGzip('*;q=0'), false);
    assert.equal(acceptsGzip('gzip;q=0, *'), false);
    assert.equal(acceptsGzip('x-gzip'), true);
    assert.equal(acceptsGzip('gzip;q=abc'), false);
  });
});

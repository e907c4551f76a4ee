/**
 * Micro-benchmark cases: the header work of one proxied request. mosnode's own HTTP/1.1
 * codec (parse a request head from bytes, parse a response head, serialise a response
 * head) next to the node:http + undici fallback (MOSNODE_HTTP1_CODEC=node): node:http's
 * raw request headers to what undici gets for the upstream, and undici's response headers
 * back to the downstream response head. Two request shapes: wrk's (Host only, what the
 * harness rows send) and a browser's (13 lines with a cookie).
 *
 * Where the step is a private function of src/ (node-http1-server's requestHead), the
 * case performs the same HeaderMap calls in the same order; its `source` names the
 * function to keep in step with. Run through bench/micro/run.ts.
 */
import { createRequire } from 'node:module';
import { ServerResponse, type IncomingMessage } from 'node:http';
import { HeaderMap } from '../../src/api/headers.ts';
import { stripHopByHop } from '../../src/proxy/proxy-stream.ts';
import { http2HeaderObject } from '../../src/protocol/http2/node-http2-server.ts';
import type { MicroCase } from '../lib/micro.ts';
import { headerMapFromUndici } from '../../src/upstream/pools/undici-http1-pool.ts';
import { findHeadEnd, parseRequestHead, parseResponseHead } from '../../src/protocol/http1/http1-parser.ts';
import { serializeHeaderLines, statusLine } from '../../src/protocol/http1/http1-writer.ts';

/** The bytes of a request whose headers are `raw`, as they arrive on the socket. */
function requestBytes(raw: readonly string[]): Buffer {
  let text = 'GET /catalog?page=3 HTTP/1.1\r\n';
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

function parseRequestBytes(bytes: Buffer): number {
  const end = findHeadEnd(bytes, 0, 0, 65536);
  return parseRequestHead(bytes, 0, end).headers.length;
}

const WRK_RAW = ['Host', '127.0.0.1:8030'];

const BROWSER_RAW = [
  'Host', 'shop.example.com',
  'Connection', 'keep-alive',
  'Cache-Control', 'max-age=0',
  'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Sec-Fetch-Site', 'same-origin',
  'Sec-Fetch-Mode', 'navigate',
  'Sec-Fetch-Dest', 'document',
  'Referer', 'https://shop.example.com/catalog?page=2',
  'Accept-Encoding', 'gzip, deflate, br, zstd',
  'Accept-Language', 'en-US,en;q=0.9,de;q=0.8',
  'Cookie', 'session=7f3a9c1e2b4d6f80a1b2c3d4e5f60718; theme=dark; cart=3; _ga=GA1.2.123456789.1700000000',
  'X-Request-Id', '0b7c5f0e-6a3b-4e0e-9d1c-2f4a6b8c0d1e',
];

/** undici's response headers for the origin's /small (names lower-case, as undici hands them over). */
const UPSTREAM_RESPONSE: Record<string, string | string[] | undefined> = {
  server: 'nginx',
  date: 'Sat, 21 Nov 2026 03:43:54 GMT',
  'content-type': 'text/plain',
  'content-length': '13',
  connection: 'keep-alive',
  'cache-control': 'no-cache',
};

/** node-http1-server.ts requestHead() + the Http1ServerStream constructor's header steps. */
function http1RequestHead(raw: readonly string[]): { authority: string; headers: HeaderMap } {
  const headers = HeaderMap.fromRaw(raw);
  const authority = headers.get('host') ?? '';
  headers.delete('host');
  headers.delete('expect');
  return { authority, headers };
}

/**
 * Everything mosnode does to a request's headers between node:http and undici: the
 * codec's head, hop-by-hop removal (ProxyStream start), x-forwarded-for/-proto
 * (#prepareUpstream), `te` (#send), and the flat array with `host` appended (UndiciHttp1Pool.send).
 */
function requestPath(raw: readonly string[]): number {
  const { authority, headers } = http1RequestHead(raw);
  stripHopByHop(headers);
  const xff = headers.get('x-forwarded-for');
  headers.set('x-forwarded-for', xff === undefined ? '127.0.0.1' : `${xff}, 127.0.0.1`);
  if (!headers.has('x-forwarded-proto')) headers.add('x-forwarded-proto', 'http');
  headers.delete('te');
  const flat = headers.toFlat();
  flat.push('host', authority);
  const n = flat.length;
  flat.length -= 2;
  return n;
}

const require = createRequire(import.meta.url);
/** undici's request object (lib/core/request.js): validates and copies the headers given to dispatch(). */
const UndiciRequest = require('undici/lib/core/request.js') as new (origin: string, opts: object, handler: object) => { headers: string[] };
const NOOP_HANDLER = { onRequestStart() {}, onResponseStart() {}, onResponseData() {}, onResponseEnd() {}, onResponseError() {} };

const FAKE_REQUEST = { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers: {} } as unknown as IncomingMessage;

function upstreamFlat(raw: readonly string[]): string[] {
  const { authority, headers } = http1RequestHead(raw);
  stripHopByHop(headers);
  headers.set('x-forwarded-for', '127.0.0.1');
  headers.add('x-forwarded-proto', 'http');
  return [...headers.toFlat(), 'host', authority];
}

export const cases: MicroCase[] = [
  {
    group: 'headers',
    name: 'own codec: parse request head from bytes, wrk request',
    source: 'protocol/http1/http1-parser.ts findHeadEnd + parseRequestHead',
    setup: () => {
      const bytes = requestBytes(WRK_RAW);
      return () => parseRequestBytes(bytes);
    },
  },
  {
    group: 'headers',
    name: 'own codec: parse request head from bytes, browser request',
    source: 'protocol/http1/http1-parser.ts findHeadEnd + parseRequestHead',
    setup: () => {
      const bytes = requestBytes(BROWSER_RAW);
      return () => parseRequestBytes(bytes);
    },
  },
  {
    group: 'headers',
    name: 'own codec: parse response head from bytes (6 lines)',
    source: 'protocol/http1/http1-parser.ts parseResponseHead (upstream/pools/http1-pool.ts)',
    setup: () => {
      let text = 'HTTP/1.1 200 OK\r\n';
      for (const [name, value] of Object.entries(UPSTREAM_RESPONSE)) text += `${name}: ${String(value)}\r\n`;
      const bytes = Buffer.from(`${text}\r\n`, 'latin1');
      return () => parseResponseHead(bytes, 0, findHeadEnd(bytes, 0, 0, 65536)).headers.length;
    },
  },
  {
    group: 'headers',
    name: 'own codec: response head serialise (status line + validated lines)',
    source: 'protocol/http1/http1-server.ts sendHeaders',
    setup: () => {
      const map = headerMapFromUndici(UPSTREAM_RESPONSE);
      stripHopByHop(map);
      const flat = map.toFlat();
      return () => `${statusLine(200)}${serializeHeaderLines(flat)}\r\n`.length;
    },
  },
  {
    group: 'headers',
    name: 'HeaderMap.fromRaw, wrk request (1 line)',
    source: 'api/headers.ts HeaderMap.fromRaw',
    setup: () => () => HeaderMap.fromRaw(WRK_RAW).size,
  },
  {
    group: 'headers',
    name: 'HeaderMap.fromRaw, browser request (13 lines)',
    source: 'api/headers.ts HeaderMap.fromRaw',
    setup: () => () => HeaderMap.fromRaw(BROWSER_RAW).size,
  },
  {
    group: 'headers',
    name: 'request headers node:http -> undici, wrk request',
    source: 'node-http1-server requestHead + proxy-stream stripHopByHop/#prepareUpstream/#send + undici-http1-pool send',
    setup: () => () => requestPath(WRK_RAW),
  },
  {
    group: 'headers',
    name: 'request headers node:http -> undici, browser request',
    source: 'node-http1-server requestHead + proxy-stream stripHopByHop/#prepareUpstream/#send + undici-http1-pool send',
    setup: () => () => requestPath(BROWSER_RAW),
  },
  {
    group: 'headers',
    name: 'undici Request() validate + copy, browser request (upstream)',
    source: 'undici lib/core/request.js, inside UndiciHttp1Pool.send dispatch()',
    setup: () => {
      const headers = upstreamFlat(BROWSER_RAW);
      const opts = { path: '/catalog?page=3', method: 'GET', headers, body: null, idempotent: false, blocking: false };
      return () => new UndiciRequest('http://127.0.0.1:8000', opts, NOOP_HANDLER).headers.length;
    },
  },
  {
    group: 'headers',
    name: 'response headers undici -> HeaderMap (6 lines)',
    source: 'upstream/pools/undici-http1-pool.ts headerMapFromUndici',
    setup: () => () => headerMapFromUndici(UPSTREAM_RESPONSE).size,
  },
  {
    group: 'headers',
    name: 'response head serialise: node:http ServerResponse + writeHead(flat)',
    source: 'protocol/http1/node-http1-server.ts sendHeaders -> node:http _storeHeader',
    setup: () => {
      const map = headerMapFromUndici(UPSTREAM_RESPONSE);
      stripHopByHop(map);
      const flat = map.toFlat();
      return () => {
        const res = new ServerResponse(FAKE_REQUEST);
        res.writeHead(200, flat);
        return (res as unknown as { _header: string })._header.length;
      };
    },
  },
  {
    group: 'headers',
    name: 'response head -> node:http2 object (h2 downstream)',
    source: 'protocol/http2/node-http2-server.ts http2HeaderObject',
    setup: () => {
      const map = headerMapFromUndici(UPSTREAM_RESPONSE);
      return () => http2HeaderObject(map, { ':status': 200 });
    },
  },
];

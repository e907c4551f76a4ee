/**
 * The `proxy` filter when things go wrong, against real upstreams on 127.0.0.1 and a real
 * mosnode process: MOSN's status mapping with the response flags in the access log and
 * the counters in /api/v1/stats; broken responses (HTTP/1 connection closed, HTTP/2
 * stream reset, never a hang or a clean end); a client leaving mid-upload; retries
 * (retry_policy and the one transparent retry of a reused connection); request smuggling
 * and size limits, HTTP/2 connection-specific headers sent as raw frames (node's client
 * refuses to send them); 100 MB bodies both ways with backpressure and the proxy's peak
 * RSS bounded; keep-alive pooling; Expect: 100-continue.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import http2 from 'node:http2';
import { connect, type Server as NetServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { proxyConfig, h1 } from '../helpers/l7.ts';
import { closedPort, listen, startTcpServer, type TcpTestServer } from '../helpers/servers.ts';
import { sleep, until } from '../helpers/sockets.ts';

// ------------------------------------------------------------------------------ helpers

interface HttpUpstream {
  server: Server;
  port: number;
  /** Requests received, by URL (path and query). */
  hits: Map<string, number>;
  /** Every request received, in order. */
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body?: Buffer }>;
  /** TCP connections accepted. */
  connections: number;
  close(): Promise<void>;
}

/** A node:http upstream that counts requests and connections, answering with `handler`. */
async function httpUpstream(handler: (req: IncomingMessage, res: ServerResponse, up: HttpUpstream) => void): Promise<HttpUpstream> {
  const server = createServer({ keepAliveTimeout: 30_000 });
  const up: HttpUpstream = {
    server,
    port: 0,
    hits: new Map(),
    requests: [],
    connections: 0,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
  server.on('connection', (s: Socket) => {
    up.connections++;
    s.on('error', () => {});
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    up.hits.set(req.url!, (up.hits.get(req.url!) ?? 0) + 1);
    up.requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    handler(req, res, up);
  });
  up.port = await listen(server as unknown as NetServer);
  return up;
}

type RawUpstream = TcpTestServer;

/** A TCP server speaking HTTP/1.1 by hand, for answers node:http would never send. */
const rawUpstream = (onConnection: (socket: Socket) => void): Promise<RawUpstream> => startTcpServer(onConnection);

/** Calls `onRequest` with each request head (and its Content-Length body) read from `socket`. */
function readRequests(socket: Socket, onRequest: (head: string, body: Buffer, index: number) => void): void {
  let buffered = Buffer.alloc(0);
  let index = 0;
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const length = m === null ? 0 : Number(m[1]);
      if (buffered.length < end + 4 + length) return;
      const body = buffered.subarray(end + 4, end + 4 + length);
      buffered = buffered.subarray(end + 4 + length);
      onRequest(head, body, index++);
    }
  });
}

type Stats = Record<string, Record<string, Record<string, string>>>;

async function stats(proc: MosnodeProcess): Promise<Stats> {
  const { port } = proc.adminAddress();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/stats`);
  assert.equal(res.status, 200);
  return (await res.json()) as Stats;
}

/** `after - before` of one counter; groups look like ["downstream", "listener.l7"]. */
function delta(before: Stats, after: Stats, type: string, group: string, key: string): number {
  const value = (s: Stats): number => Number(s[type]?.[group]?.[key] ?? 0);
  return value(after) - value(before);
}

/** The lines of a file written so far (none if it does not exist yet). */
function lines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}

/** Peak resident set of a process, MB (VmHWM, Linux). */
function peakRssMb(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmHWM in /proc/<pid>/status');
  return Number(m[1]) / 1024;
}

/** Rejects when `promise` takes longer than `ms`: a failure case must never hang. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no outcome in ${ms} ms (hang)`)), ms);
    }),
  ]);
}

interface RawResponse {
  /** Everything received, latin1. */
  text: string;
  /** The server closed the connection (rather than the wait running out). */
  closed: boolean;
}

/** Writes `chunks` on a fresh connection and collects the answer until the server closes (or `waitMs`). */
function rawRequest(port: number, chunks: Array<string | Buffer>, waitMs = 3000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('end', () => (closed = true));
    s.on('close', (hadError) => {
      clearTimeout(timer);
      resolve({ text, closed: closed || hadError });
    });
    for (const c of chunks) s.write(c);
  });
}

/** A response that may break: status, headers, body bytes, and how it ended. */
interface Outcome {
  status: number;
  headers: Record<string, unknown>;
  bytes: number;
  ended: 'end' | 'error';
  rstCode?: number;
}

function h1Outcome(port: number, path: string, headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let bytes = 0;
      let settled = false;
      const settle = (ended: 'end' | 'error'): void => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode!, headers: res.headers, bytes, ended });
      };
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => settle('end'));
      res.on('error', () => settle('error'));
      res.on('aborted', () => settle('error'));
      res.on('close', () => settle(res.complete ? 'end' : 'error'));
    });
    req.on('error', reject);
    req.end();
  });
}

function h2Outcome(port: number, path: string, headers: http2.OutgoingHttpHeaders = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':path': path, ...headers });
    let status = 0;
    let head: Record<string, unknown> = {};
    let bytes = 0;
    let ended: 'end' | 'error' = 'end';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      head = h;
    });
    stream.on('data', (c: Buffer) => (bytes += c.length));
    stream.on('error', () => (ended = 'error'));
    stream.on('close', () => {
      const rstCode = stream.rstCode;
      if (rstCode !== undefined && rstCode !== http2.constants.NGHTTP2_NO_ERROR) ended = 'error';
      session.close();
      resolve({ status, headers: head, bytes, ended, ...(rstCode !== undefined && { rstCode }) });
    });
  });
}

// ------------------------------------------------------------------------------ 1. status mapping

/**
 * The fields asked for, plus %upstream_transport_failure_reason% last: %response_flag%
 * prints only "true"/"false" (as MOSN does), the other one prints the flags as "0x<hex>".
 */
const ACCESS_FORMAT =
  '%response_code% %response_flag% %upstream_cluster% %upstream_host% %bytes_received% %bytes_sent% %protocol% %request_header_x-id% %upstream_transport_failure_reason%';

interface LogEntry {
  code: number;
  flag: string;
  cluster: string;
  host: string;
  received: number;
  sent: number;
  protocol: string;
  id: string;
  /** MOSN's response flags as a number (from %upstream_transport_failure_reason%, "0x<hex>"). */
  flags: number;
}

const FLAGS = {
  UpstreamRequestTimeout: 0x4,
  UpstreamRemoteReset: 0x10,
  UpstreamConnectionFailure: 0x20,
  NoRouteFound: 0x100,
} as const;

describe('failures: MOSN status mapping, response flags in the access log, metrics', () => {
  let dir: string;
  let logPath: string;
  let defaultLogPath: string;
  let up: HttpUpstream;
  let liar: RawUpstream;
  let dead: number;
  let proc: MosnodeProcess;
  let port: number;
  let nextId = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mosnode-l7-failures-'));
    logPath = join(dir, 'access.log');
    defaultLogPath = join(dir, 'default.log');
    up = await httpUpstream((req, res) => {
      if (req.url!.startsWith('/slow')) return; // never answers
      if (req.url!.startsWith('/reset')) {
        req.socket.resetAndDestroy();
        return;
      }
      if (req.url!.startsWith('/early')) {
        // Answers at once, without reading the request body.
        res.writeHead(413, { 'content-type': 'text/plain' });
        res.end('too large');
        return;
      }
      if (req.url!.startsWith('/midbody')) {
        // A 1 MB response that breaks after 64 KB; chunked (no length) for /midbody-chunked.
        const chunked = req.url!.startsWith('/midbody-chunked');
        res.writeHead(200, { ...(!chunked && { 'content-length': String(1_000_000) }), 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(65_536, 'm'));
        setTimeout(() => req.socket.destroy(), 100);
        return;
      }
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    // Declares 1000 bytes, sends 10, closes.
    liar = await rawUpstream((socket) =>
      readRequests(socket, () => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789')),
    );
    dead = await closedPort();
    proc = await startMosnode(
      proxyConfig({
        downstream: 'Auto',
        upstream: 'Http1',
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routers: [
              { match: { prefix: '/ok' }, route: { cluster_name: 'backend' } },
              { match: { prefix: '/reset' }, route: { cluster_name: 'backend' } },
              { match: { prefix: '/midbody' }, route: { cluster_name: 'backend' } },
              { match: { prefix: '/early' }, route: { cluster_name: 'backend' } },
              { match: { prefix: '/slow' }, route: { cluster_name: 'backend', timeout: '300ms' } },
              { match: { prefix: '/refused' }, route: { cluster_name: 'dead' } },
              { match: { prefix: '/liar' }, route: { cluster_name: 'liar' } },
            ],
          },
        ],
        clusters: {
          backend: [up.port],
          dead: { connect_timeout: '1s', hosts: [{ address: `127.0.0.1:${dead}` }] },
          liar: [liar.port],
        },
        accessLogs: [{ log_path: logPath, log_format: ACCESS_FORMAT }, { log_path: defaultLogPath }],
      }),
    );
    port = proc.listenerAddress('l7').port;
  });
  after(async () => {
    await proc?.cleanup();
    await up?.close();
    await liar?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The access log entry of request `id`, once written. */
  async function entry(id: string): Promise<LogEntry> {
    let found: string | undefined;
    await until(() => (found = lines(logPath).find((l) => l.split(' ')[7] === id)) !== undefined, `access log line of ${id}`);
    const f = found!.split(' ');
    assert.equal(f.length, 9, `9 fields in "${found}"`);
    return {
      code: Number(f[0]),
      flag: f[1]!,
      cluster: f[2]!,
      host: f[3]!,
      received: Number(f[4]),
      sent: Number(f[5]),
      protocol: f[6]!,
      id: f[7]!,
      flags: Number.parseInt(f[8]!.replace(/^0x/, ''), 16),
    };
  }

  /** Runs one request tagged with a fresh x-id; returns its outcome, its log entry and the stats around it. */
  async function observe<T>(send: (id: string) => Promise<T>): Promise<{ result: T; log: LogEntry; d: (type: string, group: string, key: string) => number }> {
    const id = `req-${++nextId}`;
    const before = await stats(proc);
    const result = await within(10_000, id, send(id));
    const log = await entry(id);
    const after = await stats(proc);
    return { result, log, d: (type, group, key) => delta(before, after, type, group, key) };
  }

  const L = ['downstream', 'listener.l7'] as const;

  test('a normal request: 200, no flag, bytes both ways counted', async () => {
    const { result, log, d } = await observe((id) => h1(port, '/ok', { method: 'POST', headers: { 'x-id': id }, body: 'hello' }));
    assert.equal(result.status, 200);
    assert.deepEqual(
      [log.code, log.flag, log.cluster, log.host, log.received, log.sent, log.protocol, log.flags],
      [200, 'false', 'backend', `127.0.0.1:${up.port}`, 5, 2, 'Http1', 0],
    );
    assert.equal(d(...L, 'request_total'), 1);
    assert.equal(d(...L, 'request_200_total'), 1);
    assert.equal(d('upstream', 'cluster.backend', 'request_total'), 1);
    assert.equal(d('upstream', 'cluster.backend', 'response_success'), 1);
  });

  test('no route: 404, NoRouteFound, no cluster and no host', async () => {
    const { result, log, d } = await observe((id) => h1(port, '/nowhere', { headers: { 'x-id': id } }));
    assert.equal(result.status, 404);
    assert.deepEqual([log.code, log.flag, log.cluster, log.host, log.flags], [404, 'true', '-', '-', FLAGS.NoRouteFound]);
    assert.equal(d(...L, 'request_total'), 1);
    assert.equal(d(...L, 'request_404_total'), 1);
    assert.equal(d('upstream', 'cluster.backend', 'request_total'), 0);
  });

  test('connection refused: 503, UpstreamConnectionFailure; without a policy, MOSN\'s 3 retries of a connection failure', async () => {
    const { result, log, d } = await observe((id) => h1(port, '/refused', { headers: { 'x-id': id } }));
    assert.equal(result.status, 503);
    assert.deepEqual([log.code, log.flag, log.cluster, log.host, log.flags], [503, 'true', 'dead', `127.0.0.1:${dead}`, FLAGS.UpstreamConnectionFailure]);
    assert.equal(d(...L, 'request_503_total'), 1);
    assert.equal(d(...L, 'request_failed'), 1);
    assert.equal(d('upstream', 'cluster.dead', 'connection_con_fail'), 4);
    assert.equal(d('upstream', 'cluster.dead', 'request_retry'), 3);
    assert.equal(d('upstream', 'cluster.dead', 'response_failed'), 4);
  });

  test('upstream resets before responding: 502, UpstreamRemoteReset', async () => {
    const { result, log, d } = await observe((id) => h1(port, `/reset?${id}`, { headers: { 'x-id': id } }));
    assert.equal(result.status, 502);
    assert.deepEqual([log.code, log.flag, log.cluster, log.flags], [502, 'true', 'backend', FLAGS.UpstreamRemoteReset]);
    // No retry policy: an idempotent request without a body is tried once more, no further.
    assert.equal(up.hits.get(`/reset?${log.id}`), 2);
    assert.equal(d(...L, 'request_502_total'), 1);
    assert.equal(d(...L, 'request_failed'), 1);
    assert.equal(d('upstream', 'cluster.backend', 'request_remote_reset'), 2);
    assert.equal(d('upstream', 'cluster.backend', 'request_retry'), 1);
    assert.equal(d('upstream', 'cluster.backend', 'request_total'), 2);
  });

  test('upstream never answers, route timeout 300ms: 504, UpstreamRequestTimeout', async () => {
    const started = Date.now();
    const { result, log, d } = await observe((id) => h1(port, '/slow', { headers: { 'x-id': id } }));
    const took = Date.now() - started;
    assert.equal(result.status, 504);
    assert.ok(took >= 250 && took < 3000, `answered after ${took} ms`);
    assert.deepEqual([log.code, log.flag, log.cluster, log.flags], [504, 'true', 'backend', FLAGS.UpstreamRequestTimeout]);
    assert.equal(d(...L, 'request_504_total'), 1);
    assert.equal(d('upstream', 'cluster.backend', 'request_timeout'), 1);
    assert.equal(d(`upstream`, `cluster.backend.host.127.0.0.1:${up.port}`, 'request_timeout'), 1);
  });

  for (const framing of ['content-length', 'chunked'] as const) {
    const path = framing === 'chunked' ? '/midbody-chunked' : '/midbody';
    test(`upstream resets mid-body (${framing}), HTTP/1.1 client: the connection closes before the end, never a hang`, async () => {
      const { result, log, d } = await observe((id) => h1Outcome(port, path, { 'x-id': id }));
      assert.equal(result.status, 200);
      assert.equal(result.headers['content-length'], framing === 'chunked' ? undefined : '1000000');
      assert.equal(result.ended, 'error');
      assert.ok(result.bytes >= 65_536 && result.bytes < 1_000_000, `${result.bytes} bytes`);
      assert.deepEqual([log.code, log.cluster, log.protocol, log.flags], [200, 'backend', 'Http1', FLAGS.UpstreamRemoteReset]);
      assert.equal(log.sent, result.bytes);
      assert.equal(d(...L, 'request_reset'), 1);
      assert.equal(d('upstream', 'cluster.backend', 'request_remote_reset'), 1);
      assert.equal(d('upstream', 'cluster.backend', 'request_retry'), 0, 'a response already started is never retried');
    });

    // Bug fixed with this test: the HTTP/2 codec reset a stream with close(code), which
    // sends END_STREAM first: a chunked response cut by the upstream reached the client
    // as complete.
    test(`upstream resets mid-body (${framing}), HTTP/2 client: RST_STREAM, never a clean end, never a hang`, async () => {
      const { result, log, d } = await observe((id) => h2Outcome(port, path, { 'x-id': id }));
      assert.equal(result.status, 200);
      assert.equal(result.ended, 'error');
      assert.equal(result.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
      assert.ok(result.bytes >= 65_536 && result.bytes < 1_000_000, `${result.bytes} bytes`);
      assert.deepEqual([log.code, log.protocol, log.flags], [200, 'Http2', FLAGS.UpstreamRemoteReset]);
      assert.equal(log.sent, result.bytes);
      assert.equal(d(...L, 'request_reset'), 1);
      assert.equal(d('upstream', 'cluster.backend', 'request_remote_reset'), 1);
    });
  }

  test('upstream declares more Content-Length than it sends, then closes: treated as a reset', async () => {
    const { result, log, d } = await observe((id) => h1Outcome(port, '/liar', { 'x-id': id }));
    assert.equal(result.status, 200);
    assert.equal(result.ended, 'error', 'the client must not take 10 bytes for a 1000-byte body');
    assert.ok(result.bytes <= 10);
    assert.deepEqual([log.code, log.cluster, log.host, log.flags], [200, 'liar', `127.0.0.1:${liar.port}`, FLAGS.UpstreamRemoteReset]);
    assert.equal(d(...L, 'request_reset'), 1);
    assert.equal(d('upstream', 'cluster.liar', 'request_remote_reset'), 1);
  });

  // Bug fixed with this test: a keep-alive connection answered before its request body had
  // arrived stayed open with the rest of the body never read: the next request on it hung.
  for (const [path, status] of [['/slow', 504], ['/early', 413]] as const) {
    test(`answered (${status}) while the request body is still coming: Connection: close, and the connection closes`, async () => {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      // Not once(): it rejects on 'error', and writing to a closed connection is expected to fail.
      const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
      await once(s, 'connect');
      // A keep-alive request with 1 MB announced and 10 KB sent.
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'a'.repeat(10_000)}`);
      await within(3000, 'the response', until(() => /\r\n\r\n[\s\S]+/.test(text), 'the response', 3000));
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(text, /\r\nConnection: close\r\n/i);
      // The rest of the body and a next request: the proxy must not sit on them.
      s.write(`${'a'.repeat(990_000)}GET /ok HTTP/1.1\r\nHost: x\r\n\r\n`);
      await within(3000, 'the connection to close', closed);
      assert.equal(text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, 'no second response on that connection');
    });
  }

  test('the default format (no log_format) writes one line per request', async () => {
    await h1(port, '/ok', { headers: { 'x-id': `req-${++nextId}` } });
    await h1(port, '/nowhere', { headers: { 'x-id': `req-${++nextId}` } });
    await entry(`req-${nextId}`);
    await until(() => lines(defaultLogPath).length === lines(logPath).length, 'as many default-format lines as requests');
    const custom = lines(logPath);
    const defaults = lines(defaultLogPath);
    assert.ok(defaults.length >= 2);
    // MOSN's default: start_time, trace_id, two spaces, ... protocol, response_code, duration, response_flag, response_code, ...
    const re = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3} - {2}- - \S+ \S+ (\d+) (\d+) (Http1|Http2) (\d{3}) \S+ (true|false) (\d{3}) \S+ 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ \S+$/;
    const codes = (ls: string[], pick: (l: string) => string): string[] => ls.map(pick).sort();
    for (const l of defaults) assert.match(l, re);
    assert.deepEqual(
      codes(defaults, (l) => re.exec(l)![4]!),
      codes(custom, (l) => l.split(' ')[0]!),
      'the same requests in both logs',
    );
    const last = re.exec(defaults.at(-1)!)!;
    assert.deepEqual([last[4], last[5], last[6]], ['404', 'true', '404']);
  });
});

// ------------------------------------------------------------------------------ 1b. client aborts

describe('a client that leaves mid-upload', () => {
  let upstream: http2.Http2Server;
  let upstreamPort: number;
  /** What each upstream stream saw, by path: "end" (a whole request) or "aborted". */
  const outcome = new Map<string, { bytes: number; how: 'end' | 'aborted' }>();
  let proc: MosnodeProcess;
  let port: number;

  before(async () => {
    upstream = http2.createServer();
    upstream.on('stream', (stream, headers) => {
      const path = String(headers[':path']);
      let bytes = 0;
      stream.on('error', () => {});
      stream.on('data', (c: Buffer) => (bytes += c.length));
      stream.on('end', () => {
        if (!outcome.has(path)) outcome.set(path, { bytes, how: 'end' });
        if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true });
      });
      stream.on('close', () => {
        if (!outcome.has(path)) outcome.set(path, { bytes, how: 'aborted' });
      });
    });
    upstreamPort = await listen(upstream as unknown as NetServer);
    proc = await startMosnode(proxyConfig({ downstream: 'Http1', upstream: 'Http2', clusters: { backend: [upstreamPort] } }));
    port = proc.listenerAddress('l7').port;
  });
  after(async () => {
    await proc?.cleanup();
    upstream?.close();
  });

  // Bug fixed with this test: the HTTP/2 pool aborted a stream with close(CANCEL), which
  // ends the request first: the upstream saw a truncated chunked body as a whole request.
  for (const framing of ['content-length', 'chunked'] as const) {
    test(`HTTP/1.1 -> HTTP/2, ${framing} body: the upstream sees the stream reset, never a whole request`, async () => {
      const path = `/abort-${framing}`;
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      const head = `POST ${path} HTTP/1.1\r\nHost: x\r\n${framing === 'chunked' ? 'Transfer-Encoding: chunked' : 'Content-Length: 1000000'}\r\n\r\n`;
      const part = Buffer.alloc(100_000, 'u');
      s.write(head);
      s.write(framing === 'chunked' ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part);
      // Wait until the upstream stream exists and got bytes, then leave.
      await sleep(200);
      s.destroy();
      await until(() => outcome.has(path), `the upstream stream of ${path} to finish`);
      const seen = outcome.get(path)!;
      assert.equal(seen.how, 'aborted', `upstream saw ${JSON.stringify(seen)}`);
      assert.ok(seen.bytes <= 100_000);
    });
  }
});

// ------------------------------------------------------------------------------ 2. retries

describe('retries', () => {
  let ok: HttpUpstream;
  let flaky: HttpUpstream;
  let slow: HttpUpstream;
  let fast: HttpUpstream;
  let dropper: RawUpstream;
  let dropperSeen: string[];
  let closer: RawUpstream;
  let dead: number;
  let proc: MosnodeProcess;
  let port: number;

  before(async () => {
    ok = await httpUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`ok ${req.method} ${Buffer.concat(chunks).length}`));
    });
    // /once503?<id>: 503 the first time an id is seen, then 200; /always503, /always500: as named;
    // /reset: resets every time. Bodies are recorded and echoed.
    flaky = await httpUpstream((req, res, self) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        self.requests.at(-1)!.body = body;
        const url = req.url!;
        if (url.startsWith('/r/reset')) return req.socket.resetAndDestroy();
        const status = url.startsWith('/r/always503') ? 503 : url.startsWith('/r/always500') ? 500 : url.startsWith('/r/once503') && self.hits.get(url) === 1 ? 503 : 200;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(`${status} ${body.toString()}`);
      });
    });
    slow = await httpUpstream(() => {}); // never answers
    fast = await httpUpstream((req, res) => res.end('fast'));
    // Answers the first request on each connection (keep-alive, no Connection: close) and
    // drops the connection when a second request comes on it: a keep-alive connection the
    // upstream closed just as the proxy reused it.
    dropperSeen = [];
    dropper = await rawUpstream((socket) =>
      readRequests(socket, (head, _body, index) => {
        dropperSeen.push(`${head.split(' ').slice(0, 2).join(' ')}#${index}`);
        if (index === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
        else socket.destroy();
      }),
    );
    // Closes the connection right after each response, without saying Connection: close.
    closer = await rawUpstream((socket) =>
      readRequests(socket, () => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok')),
    );
    dead = await closedPort();
    const policy = (p: Record<string, unknown>) => ({ retry_on: true, ...p });
    proc = await startMosnode(
      proxyConfig({
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routers: [
              { match: { prefix: '/failover' }, route: { cluster_name: 'half', retry_policy: policy({ num_retries: 1 }) } },
              { match: { prefix: '/r/once503' }, route: { cluster_name: 'flaky', retry_policy: policy({ status_codes: [503], num_retries: 2 }) } },
              { match: { prefix: '/r/always500' }, route: { cluster_name: 'flaky', retry_policy: policy({ status_codes: [503], num_retries: 2 }) } },
              { match: { prefix: '/r/always503' }, route: { cluster_name: 'flaky', retry_policy: policy({ status_codes: [503], num_retries: 2 }) } },
              { match: { prefix: '/r/reset' }, route: { cluster_name: 'flaky', retry_policy: policy({ num_retries: 2 }) } },
              {
                match: { prefix: '/pertry' },
                route: { cluster_name: 'slowfast', timeout: '5s', retry_policy: policy({ retry_timeout: '200ms', num_retries: 1 }) },
              },
              { match: { prefix: '/np' }, route: { cluster_name: 'dropper' } },
              { match: { prefix: '/closer' }, route: { cluster_name: 'closer' } },
            ],
          },
        ],
        clusters: {
          half: [dead, ok.port],
          flaky: [flaky.port],
          slowfast: [slow.port, fast.port],
          dropper: [dropper.port],
          closer: [closer.port],
        },
      }),
    );
    port = proc.listenerAddress('l7').port;
  });
  after(async () => {
    await proc?.cleanup();
    for (const u of [ok, flaky, slow, fast, dropper, closer]) await u?.close();
  });

  test('two hosts, one refusing connections: every request succeeds, a POST body included', async () => {
    const before = await stats(proc);
    const hitsBefore = ok.requests.length;
    for (let i = 0; i < 8; i++) {
      const post = i % 2 === 1;
      const r = await h1(port, `/failover/${i}`, post ? { method: 'POST', body: 'x'.repeat(1000) } : {});
      assert.equal(r.status, 200, `request ${i}`);
      assert.equal(r.body.toString(), post ? 'ok POST 1000' : 'ok GET 0');
    }
    const after = await stats(proc);
    assert.equal(ok.requests.length - hitsBefore, 8, 'each request reached the live host once');
    // Round robin sends every other first try to the dead host.
    assert.ok(delta(before, after, 'upstream', 'cluster.half', 'request_retry') >= 3);
    assert.equal(
      delta(before, after, 'upstream', 'cluster.half', 'connection_con_fail'),
      delta(before, after, 'upstream', 'cluster.half', 'request_retry'),
      'one retry per refused connection',
    );
  });

  test('status_codes [503]: a 503 is retried (200 on the second try); a 500 is not', async () => {
    const r = await h1(port, '/r/once503?a');
    assert.deepEqual([r.status, r.body.toString()], [200, '200 ']);
    assert.equal(flaky.hits.get('/r/once503?a'), 2);
    const e = await h1(port, '/r/always500?a');
    assert.equal(e.status, 500);
    assert.equal(flaky.hits.get('/r/always500?a'), 1, '500 is not in status_codes');
  });

  test('num_retries bounds the tries: 1 + num_retries upstream hits, then the last answer', async () => {
    const before = await stats(proc);
    const r = await h1(port, '/r/always503?b');
    assert.deepEqual([r.status, r.body.toString()], [503, '503 '], "the upstream's own last 503 reaches the client");
    assert.equal(flaky.hits.get('/r/always503?b'), 3);
    const reset = await h1(port, '/r/reset?b');
    assert.equal(reset.status, 502);
    assert.equal(flaky.hits.get('/r/reset?b'), 3);
    const after = await stats(proc);
    assert.equal(delta(before, after, 'upstream', 'cluster.flaky', 'request_retry'), 4);
    assert.equal(delta(before, after, 'upstream', 'cluster.flaky', 'request_total'), 6);
  });

  test('a POST with a small body is retried with its body intact', async () => {
    const body = Buffer.from(`payload-${'0123456789'.repeat(100)}-end`);
    const r = await h1(port, '/r/once503?post', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `200 ${body.toString()}`);
    const tries = flaky.requests.filter((q) => q.url === '/r/once503?post');
    assert.equal(tries.length, 2);
    for (const t of tries) {
      assert.ok(t.body?.equals(body), 'each try carries the whole body');
      assert.equal(t.headers['content-length'], String(body.length));
    }
  });

  test('a body over the buffer limit (16 KiB by default) streams and is not retried: the upstream answer reaches the client', async () => {
    const body = Buffer.alloc(100_000, 'b');
    const r = await h1(port, '/r/once503?big', { method: 'POST', body });
    assert.equal(r.status, 503);
    assert.equal(r.body.length, '503 '.length + body.length, 'the upstream got the whole body');
    assert.equal(flaky.hits.get('/r/once503?big'), 1);
  });

  test('retry_timeout: a try on a silent host is cut and the request goes to the other host', async () => {
    const before = await stats(proc);
    const slowBefore = slow.requests.length;
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const r = await h1(port, `/pertry/${i}`);
      const took = Date.now() - started;
      assert.deepEqual([r.status, r.body.toString()], [200, 'fast'], `request ${i}`);
      assert.ok(took < 2000, `request ${i} took ${took} ms (per-try timeout 200ms, route timeout 5s)`);
    }
    const after = await stats(proc);
    const slowTries = slow.requests.length - slowBefore;
    assert.ok(slowTries >= 1, 'round robin put some first tries on the silent host');
    assert.equal(delta(before, after, 'upstream', 'cluster.slowfast', 'request_timeout'), slowTries);
    assert.equal(delta(before, after, 'upstream', 'cluster.slowfast', 'request_retry'), slowTries);
  });

  test('no policy: a GET on a reused connection the upstream dropped is retried once; a POST is not', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          });
          req.on('error', reject);
          req.end();
        });
      assert.deepEqual(await get('/np/1'), { status: 200, body: 'ok' });
      // Goes out on the same upstream connection, which the upstream drops: a POST is not sent again.
      const post = await h1(port, '/np/2', { method: 'POST', body: 'once only' });
      assert.equal(post.status, 502);
      assert.deepEqual(dropperSeen, ['GET /np/1#0', 'POST /np/2#1'], 'a POST is never sent twice without a policy');
      assert.deepEqual(await get('/np/3'), { status: 200, body: 'ok' });
      // Same again with a GET: tried once more, on a new connection.
      assert.deepEqual(await get('/np/4'), { status: 200, body: 'ok' });
      assert.deepEqual(dropperSeen.slice(2), ['GET /np/3#0', 'GET /np/4#1', 'GET /np/4#0']);
    } finally {
      agent.destroy();
    }
  });

  test('no policy: an upstream closing after every response (no Connection: close) still answers every GET', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: `/closer/${i}`, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(r, 200, `request ${i}`);
      }
    } finally {
      agent.destroy();
    }
  });
});

// ------------------------------------------------------------------------------ 3. limits and smuggling

/** One HTTP/2 frame (RFC 9113 §4.1). */
function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK "literal header field without indexing, new name", no Huffman (RFC 7541 §6.2.2); short strings only. */
function hpackHeaders(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    assert.ok(name.length < 127 && value.length < 127);
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

interface H2FrameSeen {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

const H2 = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7, END_STREAM: 0x1, END_HEADERS: 0x4, ACK: 0x1 } as const;

/**
 * A hand-written HTTP/2 client: sends the preface, SETTINGS and `frames`, acknowledges the
 * server's SETTINGS, and collects frames until `done` says so (or `waitMs`).
 */
function rawH2(port: number, frames: Buffer[], done: (seen: H2FrameSeen[]) => boolean, waitMs = 3000): Promise<H2FrameSeen[]> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const seen: H2FrameSeen[] = [];
    let buffered = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(seen);
    };
    const timer = setTimeout(finish, waitMs);
    s.on('error', () => {});
    s.on('close', finish);
    s.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const frame = { type: buffered[3]!, flags: buffered[4]!, streamId: buffered.readUInt32BE(5) & 0x7fffffff, payload: buffered.subarray(9, 9 + length) };
        buffered = buffered.subarray(9 + length);
        seen.push(frame);
        if (frame.type === H2.SETTINGS && (frame.flags & H2.ACK) === 0) s.write(h2Frame(H2.SETTINGS, H2.ACK, 0));
      }
      if (done(seen)) finish();
    });
    s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), h2Frame(H2.SETTINGS, 0, 0), ...frames]));
  });
}

describe('limits and request smuggling', () => {
  let up: HttpUpstream;
  let proc: MosnodeProcess;
  let port: number;

  before(async () => {
    up = await httpUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('upstream'));
    });
    proc = await startMosnode(proxyConfig({ downstream: 'Auto', clusters: { backend: [up.port] } }));
    port = proc.listenerAddress('l7').port;
  });
  after(async () => {
    await proc?.cleanup();
    await up?.close();
  });

  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  const cases: Array<[string, string]> = [
    ['Content-Length with Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding with Content-Length', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`],
    ['two different Content-Length values', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello${smuggled}`],
    ['Content-Length list', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 40\r\n\r\nhello${smuggled}`],
    ['obfuscated Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['obs-fold (a header line starting with a space)', `GET /a HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n${smuggled}`],
    ['obs-fold (a header line starting with a tab)', `GET /a HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n${smuggled}`],
    ['request line garbage', `NOT A REQUEST\r\n\r\n${smuggled}`],
    ['a space inside the request target', `GET /a b HTTP/1.1\r\nHost: x\r\n\r\n${smuggled}`],
    ['a bare LF header line', `GET /a HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n${smuggled}`],
    // Once made mosnode exit (the body failed before anyone read it); the control test below checks it still serves.
    ['a bad chunk size in the same packet as the head', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n${smuggled}`],
    ['whitespace inside a chunk size', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 6\r\nhello\r\n0\r\n\r\n${smuggled}`],
    ['two Host headers', `GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n${smuggled}`],
  ];
  for (const [name, text] of cases) {
    test(`${name}: 400, connection closed, nothing reaches the upstream`, async () => {
      const before = up.requests.length;
      const started = Date.now();
      const r = await rawRequest(port, [text]);
      assert.match(r.text, /^HTTP\/1\.1 400 /, r.text);
      assert.equal(r.text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, `one response only: ${r.text}`);
      assert.ok(r.closed && Date.now() - started < 2000, 'the proxy closed the connection');
      await sleep(50);
      assert.equal(up.requests.length - before, 0, `upstream saw ${JSON.stringify(up.requests.slice(before).map((q) => q.url))}`);
    });
  }

  test('a 70 KB header: 431, connection closed, nothing reaches the upstream', async () => {
    const before = up.requests.length;
    const r = await rawRequest(port, [`GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`]);
    assert.match(r.text, /^HTTP\/1\.1 431 /);
    assert.ok(r.closed);
    assert.equal(up.requests.length - before, 0);
  });

  test('a well-formed request on the same listener still goes through (control)', async () => {
    const before = up.requests.length;
    const r = await rawRequest(port, ['GET /control HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.match(r.text, /^HTTP\/1\.1 200 [\s\S]*upstream$/);
    assert.deepEqual(up.requests.slice(before).map((q) => q.url), ['/control']);
  });

  test('HTTP/2: a request with a connection-specific header is reset (PROTOCOL_ERROR); the connection serves the next stream', async () => {
    const base: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':authority', 'x'], [':path', '/h2']];
    const bad: Array<[string, string]> = [
      ['connection', 'keep-alive'],
      ['transfer-encoding', 'chunked'],
      ['upgrade', 'websocket'],
      ['keep-alive', 'timeout=5'],
      ['te', 'gzip'],
    ];
    const frames = bad.map(([n, v], i) => h2Frame(H2.HEADERS, H2.END_STREAM | H2.END_HEADERS, 1 + 2 * i, hpackHeaders([...base.slice(0, 3), [':path', `/h2bad/${n}`], [n, v]])));
    const goodId = 1 + 2 * bad.length;
    frames.push(h2Frame(H2.HEADERS, H2.END_STREAM | H2.END_HEADERS, goodId, hpackHeaders([...base.slice(0, 3), [':path', '/h2good'], ['te', 'trailers']])));
    const before = up.requests.length;
    const seen = await rawH2(port, frames, (f) => f.some((x) => x.streamId === goodId && x.type === H2.DATA && (x.flags & H2.END_STREAM) !== 0));
    for (let i = 0; i < bad.length; i++) {
      const id = 1 + 2 * i;
      const rst = seen.find((f) => f.streamId === id && f.type === H2.RST_STREAM);
      assert.ok(rst, `RST_STREAM for "${bad[i]![0]}"; frames: ${JSON.stringify(seen.map((f) => [f.type, f.streamId]))}`);
      assert.equal(rst.payload.readUInt32BE(0), http2.constants.NGHTTP2_PROTOCOL_ERROR);
      assert.equal(seen.some((f) => f.streamId === id && f.type === H2.HEADERS), false, `no response for "${bad[i]![0]}"`);
    }
    assert.equal(seen.some((f) => f.type === H2.GOAWAY), false, 'the connection stays up');
    assert.ok(seen.some((f) => f.streamId === goodId && f.type === H2.HEADERS), 'the good stream is answered');
    assert.deepEqual(up.requests.slice(before).map((q) => q.url), ['/h2good']);
  });
});

// ------------------------------------------------------------------------------ 4. large bodies

const MB = 1024 * 1024;
const LARGE = 100 * MB;
/** Peak RSS the proxy may reach while moving 100 MB bodies. */
const RSS_LIMIT_MB = 250;

/** 1 MiB of random bytes, sent 100 times: a checksum catches a lost, doubled or reordered chunk. */
const PATTERN = (() => {
  const b = Buffer.alloc(MB);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((Math.random() * 0x100000000) >>> 0, i);
  return b;
})();

/** Writes `total` bytes of PATTERN (in 64 KiB slices) to a writable, honouring backpressure; returns their sha256. */
async function writePattern(w: NodeJS.WritableStream & { write(b: Buffer): boolean }, total: number, onProgress?: (sent: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const slice = 64 * 1024;
  for (let sent = 0; sent < total; sent += slice) {
    const off = sent % MB;
    const chunk = PATTERN.subarray(off, off + Math.min(slice, total - sent));
    hash.update(chunk);
    const ok = w.write(chunk);
    onProgress?.(sent + chunk.length);
    if (!ok) await once(w, 'drain');
  }
  return hash.digest('hex');
}

/** The largest TCP buffer the kernel may give a socket (`tcp_rmem` or `tcp_wmem`, third value), bytes. */
function tcpBufferMax(name: 'tcp_rmem' | 'tcp_wmem'): number {
  try {
    return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]) || 8 * MB;
  } catch {
    return 8 * MB;
  }
}

describe('100 MB bodies through the proxy, memory bounded', () => {
  let up: HttpUpstream;
  let proc: MosnodeProcess;
  let port: number;
  const rss: Record<string, number> = {};
  /** Bytes of /download the upstream has written so far. */
  let downloadSent = 0;

  before(async () => {
    up = await httpUpstream((req, res) => {
      if (req.url === '/upload') {
        const hash = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => {
          n += c.length;
          hash.update(c);
        });
        req.on('end', () => res.end(JSON.stringify({ bytes: n, sha256: hash.digest('hex') })));
        return;
      }
      if (req.url === '/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(LARGE) });
        void writePattern(res, LARGE, (n) => (downloadSent = n)).then(() => res.end());
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    proc = await startMosnode(proxyConfig({ downstream: 'Auto', clusters: { backend: [up.port] } }));
    port = proc.listenerAddress('l7').port;
    rss.start = peakRssMb(proc.child.pid!);
  });
  after(async () => {
    await proc?.cleanup();
    await up?.close();
  });

  test('HTTP/1.1 -> HTTP/1.1: a 100 MB upload arrives whole', async (t) => {
    const { status, body, sha } = await new Promise<{ status: number; body: string; sha: string }>((resolve, reject) => {
      let sha = '';
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/upload', method: 'POST', headers: { 'content-length': String(LARGE), 'content-type': 'application/octet-stream' }, agent: false },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: text, sha }));
        },
      );
      req.on('error', reject);
      void writePattern(req, LARGE).then((s) => {
        sha = s;
        req.end();
      });
    });
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(body), { bytes: LARGE, sha256: sha });
    rss.h1Upload = peakRssMb(proc.child.pid!);
    t.diagnostic(`proxy peak RSS (VmHWM): ${rss.start!.toFixed(0)} MB at start, ${rss.h1Upload.toFixed(0)} MB after a 100 MB HTTP/1.1 upload`);
    assert.ok(rss.h1Upload < RSS_LIMIT_MB, `peak RSS ${rss.h1Upload} MB`);
  });

  test('HTTP/1.1 <- HTTP/1.1: a 100 MB download to a client that pauses now and then arrives whole', async (t) => {
    const expected = createHash('sha256');
    for (let i = 0; i < 100; i++) expected.update(PATTERN);
    /** How far the upstream got ahead of the client at the end of each pause, bytes. */
    const ahead: number[] = [];
    const { status, bytes, sha } = await new Promise<{ status: number; bytes: number; sha: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/download', agent: false }, (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        let pauses = 0;
        let nextPauseAt = 5 * MB;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
          // A slow reader for the first 25 MB: five pauses of 300 ms, during which the
          // proxy must hold the upstream back.
          if (bytes >= nextPauseAt && pauses < 5) {
            pauses++;
            nextPauseAt += 5 * MB;
            res.pause();
            setTimeout(() => {
              ahead.push(downloadSent - bytes);
              res.resume();
            }, 300);
          }
        });
        res.on('end', () => resolve({ status: res.statusCode!, bytes, sha: hash.digest('hex') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.equal(bytes, LARGE);
    assert.equal(sha, expected.digest('hex'));
    t.diagnostic(`upstream ahead of the paused client: ${ahead.map((a) => (a / MB).toFixed(1)).join(', ')} MB`);
    assert.equal(ahead.length, 5);
    // The kernel buffers of the two connections (at most their tcp_rmem + tcp_wmem maxima
    // each, ~10 MB seen in practice) and a few MB in userland; without backpressure the
    // upstream would be 100 MB ahead within 300 ms.
    const limit = Math.min(2 * (tcpBufferMax('tcp_rmem') + tcpBufferMax('tcp_wmem')) + 8 * MB, 48 * MB);
    for (const a of ahead) assert.ok(a < limit, `the upstream got ${(a / MB).toFixed(1)} MB ahead of a paused client (limit ${(limit / MB).toFixed(1)} MB)`);
    rss.h1Download = peakRssMb(proc.child.pid!);
    t.diagnostic(`proxy peak RSS (VmHWM) after a 100 MB download with a pausing client: ${rss.h1Download.toFixed(0)} MB`);
    assert.ok(rss.h1Download < RSS_LIMIT_MB, `peak RSS ${rss.h1Download} MB`);
  });

  test('HTTP/2 <- HTTP/1.1: a 100 MB download to a client that pauses now and then arrives whole', async (t) => {
    const expected = createHash('sha256');
    for (let i = 0; i < 100; i++) expected.update(PATTERN);
    const ahead: number[] = [];
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ':path': '/download' });
      const hash = createHash('sha256');
      let bytes = 0;
      let status = 0;
      let nextPauseAt = 5 * MB;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
        if (bytes >= nextPauseAt && ahead.length < 3) {
          nextPauseAt += 5 * MB;
          stream.pause();
          setTimeout(() => {
            ahead.push(downloadSent - bytes);
            stream.resume();
          }, 300);
        }
      });
      await once(stream, 'end');
      assert.equal(status, 200);
      assert.equal(bytes, LARGE);
      assert.equal(hash.digest('hex'), expected.digest('hex'));
    } finally {
      session.close();
    }
    t.diagnostic(`upstream ahead of the paused HTTP/2 client: ${ahead.map((a) => (a / MB).toFixed(1)).join(', ')} MB`);
    for (const a of ahead) assert.ok(a < 48 * MB, `the upstream got ${(a / MB).toFixed(1)} MB ahead of a paused client`);
    rss.h2Download = peakRssMb(proc.child.pid!);
    t.diagnostic(`proxy peak RSS (VmHWM) after a 100 MB HTTP/2 download: ${rss.h2Download.toFixed(0)} MB`);
    assert.ok(rss.h2Download < RSS_LIMIT_MB, `peak RSS ${rss.h2Download} MB`);
  });

  test('HTTP/2 -> HTTP/1.1: a 100 MB upload arrives whole', async (t) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/upload', 'content-length': String(LARGE) });
      let text = '';
      let status = 0;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => (text += c));
      const ended = once(stream, 'end');
      const sha = await writePattern(stream, LARGE);
      stream.end();
      await ended;
      assert.equal(status, 200);
      assert.deepEqual(JSON.parse(text), { bytes: LARGE, sha256: sha });
    } finally {
      session.close();
    }
    rss.h2Upload = peakRssMb(proc.child.pid!);
    t.diagnostic(`proxy peak RSS (VmHWM) after a 100 MB HTTP/2 upload: ${rss.h2Upload.toFixed(0)} MB`);
    assert.ok(rss.h2Upload < RSS_LIMIT_MB, `peak RSS ${rss.h2Upload} MB`);
  });
});

// ------------------------------------------------------------------------------ 5 and 6. pooling, 100-continue

describe('keep-alive pooling and Expect: 100-continue', () => {
  let pooled: HttpUpstream;
  let capped: HttpUpstream;
  /** Requests per upstream connection of `capped`. */
  const perConnection = new Map<Socket, number>();
  let proc: MosnodeProcess;
  let port: number;

  before(async () => {
    const answer = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(JSON.stringify({ expect: req.headers.expect ?? null, body: Buffer.concat(chunks).toString() })));
    };
    pooled = await httpUpstream(answer);
    capped = await httpUpstream((req, res) => {
      perConnection.set(req.socket, (perConnection.get(req.socket) ?? 0) + 1);
      answer(req, res);
    });
    proc = await startMosnode(
      proxyConfig({
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routers: [
              { match: { prefix: '/capped' }, route: { cluster_name: 'capped' } },
              { match: { prefix: '/' }, route: { cluster_name: 'pooled' } },
            ],
          },
        ],
        clusters: { pooled: [pooled.port], capped: { max_request_per_conn: 10, hosts: [{ address: `127.0.0.1:${capped.port}` }] } },
      }),
    );
    port = proc.listenerAddress('l7').port;
  });
  after(async () => {
    await proc?.cleanup();
    await pooled?.close();
    await capped?.close();
  });

  /** `n` sequential GETs on one keep-alive client connection; returns how many reused it. */
  async function sequential(path: string, n: number): Promise<number> {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let reused = 0;
    try {
      for (let i = 0; i < n; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: `${path}/${i}`, agent }, (res) => {
            assert.equal(res.statusCode, 200);
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          if (req.reusedSocket) reused++;
          req.end();
        });
      }
    } finally {
      agent.destroy();
    }
    return reused;
  }

  test('50 sequential requests on one client connection use one or two upstream connections', async () => {
    const before = pooled.connections;
    const reused = await sequential('/pooled', 50);
    assert.equal(reused, 49, 'the client kept its connection');
    const used = pooled.connections - before;
    assert.ok(used >= 1 && used <= 2, `${used} upstream connections for 50 requests`);
  });

  test('max_request_per_conn: 10 makes 50 requests use at least 5 upstream connections, none serving more than 10', async () => {
    const before = capped.connections;
    await sequential('/capped', 50);
    const used = capped.connections - before;
    assert.ok(used >= 5, `${used} upstream connections`);
    assert.ok(Math.max(...perConnection.values()) <= 10, `requests per connection: ${[...perConnection.values()].join(', ')}`);
  });

  test('Expect: 100-continue: 100 Continue before the body is sent, then the response', async () => {
    const s = connect(port, '127.0.0.1');
    try {
      await once(s, 'connect');
      let received = '';
      s.on('data', (d: Buffer) => (received += d.toString('latin1')));
      s.write('POST /continue HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      await until(() => received.includes('\r\n\r\n'), '100 Continue');
      assert.equal(received, 'HTTP/1.1 100 Continue\r\n\r\n');
      s.write('hello');
      await until(() => /\r\n\r\n[\s\S]*\}$/.test(received.slice('HTTP/1.1 100 Continue\r\n\r\n'.length)), 'the final response');
      const final = received.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
      assert.match(final, /^HTTP\/1\.1 200 OK\r\n/);
      const body = JSON.parse(final.slice(final.indexOf('\r\n\r\n') + 4)) as { expect: string | null; body: string };
      assert.deepEqual(body, { expect: null, body: 'hello' }, 'the body arrives whole; the upstream is not asked to send 100 again');
    } finally {
      s.destroy();
    }
  });
});

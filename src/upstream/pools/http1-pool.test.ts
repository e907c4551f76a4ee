/**
 * Http1Pool against real upstreams on 127.0.0.1: node:http servers for ordinary traffic,
 * raw TCP servers for what node:http would not send (bad framing, bytes after a response,
 * interim responses, resets at chosen moments). Connections are opened through a real
 * Cluster, so its connection count shows what the pool holds open.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { HeaderMap } from '../../api/headers.ts';
import type { ClusterConfig } from '../../config/types.ts';
import { Cluster } from '../cluster.ts';
import type { Host } from '../host.ts';
import { Http1Pool, type Http1PoolOptions } from './http1-pool.ts';
import type { UpstreamBody, UpstreamExchange, UpstreamFailure, UpstreamRequestHead, UpstreamResponseHandler } from './upstream-exchange.ts';
import { closedPort, listen, startTcpServer } from '../../../test/helpers/servers.ts';

// ---------------------------------------------------------------- helpers

function clusterAt(port: number, overrides: Partial<ClusterConfig> = {}): Cluster {
  return new Cluster({
    name: 'backend',
    type: 'SIMPLE',
    lb_type: 'LB_ROUNDROBIN',
    lbconfig: { choice_count: 2 },
    max_request_per_conn: 0,
    conn_buffer_limit_bytes: 16384,
    connect_timeout: 3000,
    idle_timeout: undefined,
    circuit_breakers: [],
    hosts: [{ address: `127.0.0.1:${port}`, hostname: undefined, weight: 1, metadata: {} }],
    tls_context: undefined,
    health_check: undefined,
    ...overrides,
  });
}

interface Setup {
  cluster: Cluster;
  pool: Http1Pool;
}

function poolAt(port: number, options: Partial<Http1PoolOptions> = {}, clusterOverrides: Partial<ClusterConfig> = {}): Setup {
  const cluster = clusterAt(port, clusterOverrides);
  const host = cluster.hosts[0] as Host;
  const pool = new Http1Pool(cluster, host, { idleTimeoutMs: undefined, maxRequestsPerConnection: 0, maxConnections: Infinity, ...options });
  return { cluster, pool };
}

/** Records every callback; `done` settles at onResponseEnd or onError. */
class Recorder implements UpstreamResponseHandler {
  events: string[] = [];
  status = 0;
  headers: HeaderMap | undefined;
  endStream: boolean | undefined;
  chunks: Buffer[] = [];
  trailers: HeaderMap | undefined;
  bodySent = 0;
  requestSent = 0;
  error: Error | undefined;
  failure: UpstreamFailure | undefined;
  /** What onResponseData returns. */
  onData: (chunk: Buffer) => boolean = () => true;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor() {
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }

  onResponseHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    this.events.push('headers');
    this.status = status;
    this.headers = headers;
    this.endStream = endStream;
  }

  onResponseData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return this.onData(chunk);
  }

  onResponseEnd(trailers: HeaderMap | undefined): void {
    this.events.push('end');
    this.trailers = trailers;
    this.#resolve();
  }

  onRequestBodySent(bytes: number): void {
    this.bodySent += bytes;
  }

  onRequestSent(): void {
    this.events.push('sent');
    this.requestSent++;
  }

  onError(err: Error, failure: UpstreamFailure): void {
    this.events.push('error');
    this.error = err;
    this.failure = failure;
    this.#resolve();
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.body.toString('latin1');
  }
}

function headOf(overrides: Partial<UpstreamRequestHead> = {}): UpstreamRequestHead {
  return { method: 'GET', path: '/', authority: 'example.test', scheme: 'http', headers: new HeaderMap(), ...overrides };
}

function send(pool: Http1Pool, head: Partial<UpstreamRequestHead> = {}, body?: UpstreamBody): { rec: Recorder; exchange: UpstreamExchange } {
  const rec = new Recorder();
  const exchange = pool.send(headOf(head), body, rec);
  return { rec, exchange };
}

async function fetchOk(pool: Http1Pool, head: Partial<UpstreamRequestHead> = {}, body?: UpstreamBody): Promise<Recorder> {
  const { rec } = send(pool, head, body);
  await rec.done;
  assert.equal(rec.error, undefined, `unexpected failure: ${rec.error?.message}`);
  return rec;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what = 'condition', ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

interface HttpUpstream {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

async function httpUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpUpstream> {
  const server = createServer({ keepAliveTimeout: 30_000 }, handler);
  let connections = 0;
  server.on('connection', () => connections++);
  const port = await listen(server);
  return {
    port,
    get connections() {
      return connections;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}

interface RawUpstream {
  port: number;
  readonly connections: number;
  /** Request heads received, in order. */
  requests: string[];
  /** Sockets still open on the server side. */
  sockets: Set<Socket>;
  /** Everything received, per connection. */
  received: string[];
  close(): Promise<void>;
}

/**
 * A TCP server reading request heads (bodiless requests) and answering each with
 * `respond(socket, head, n)` (n counts requests across connections, from 1).
 */
async function rawUpstream(respond: (socket: Socket, head: string, n: number) => void): Promise<RawUpstream> {
  let connections = 0;
  const requests: string[] = [];
  const received: string[] = [];
  const srv = await startTcpServer((socket) => {
    const index = connections++;
    received[index] = '';
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      received[index] += data;
      buf += data;
      let at: number;
      while ((at = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, at + 4);
        buf = buf.slice(at + 4);
        requests.push(head);
        respond(socket, head, requests.length);
      }
    });
  });
  return {
    port: srv.port,
    get connections() {
      return connections;
    },
    requests,
    received,
    sockets: srv.sockets,
    close: () => srv.close(),
  };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

/** Reads a whole request body and answers with its length and sha256. */
function digestHandler(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256');
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    res.setHeader('x-te', String(req.headers['transfer-encoding'] ?? ''));
    res.setHeader('x-cl', String(req.headers['content-length'] ?? ''));
    res.end(`${size} ${hash.digest('hex')}`);
  });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A Readable producing `total` random-ish bytes in `chunk`-byte pieces, on demand; `read` counts bytes produced. */
function generator(total: number, chunk = 64 * 1024): { stream: Readable; produced: () => number; hash: () => string } {
  const hash = createHash('sha256');
  let produced = 0;
  const block = randomBytes(chunk);
  const stream = new Readable({
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - produced);
      const piece = Buffer.from(block.subarray(0, n));
      piece[0] = produced & 0xff; // not every chunk the same
      produced += n;
      hash.update(piece);
      this.push(piece);
    },
  });
  return { stream, produced: () => produced, hash: () => hash.digest('hex') };
}

// ---------------------------------------------------------------- tests

describe('Http1Pool: connections', () => {
  test('sequential requests reuse one keep-alive connection', async (t) => {
    const upstream = await httpUpstream((req, res) => res.end(`hello ${req.url} ${req.headers.host}`));
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    for (let i = 0; i < 5; i++) {
      const rec = await fetchOk(pool, { path: `/r${i}` });
      assert.equal(rec.status, 200);
      assert.equal(rec.text, `hello /r${i} example.test`);
      assert.equal(rec.endStream, false);
      assert.deepEqual(rec.events, ['sent', 'headers', 'end']);
    }
    assert.equal(upstream.connections, 1);
    assert.equal(cluster.activeConnections, 1);
  });

  test('the request head: request line, host from the authority, own framing, headers untouched', async (t) => {
    const upstream = await rawUpstream((socket) => socket.write(OK));
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const headers = new HeaderMap([
      'x-a', '1',
      'host', 'ignored.test',
      'connection', 'keep-alive',
      'keep-alive', 'timeout=5',
      'content-length', '99',
      'transfer-encoding', 'chunked',
      'x-b', 'two words',
    ]);
    const before = [...headers.toFlat()];
    await fetchOk(pool, { path: '/p?q=1', authority: 'api.test:8080', headers });
    assert.equal(upstream.requests[0], 'GET /p?q=1 HTTP/1.1\r\nhost: api.test:8080\r\nx-a: 1\r\nx-b: two words\r\n\r\n');
    assert.deepEqual(headers.toFlat(), before, 'head.headers is not changed (a retry sends it again)');
    // Without body: content-length: 0 only for the methods that normally carry one.
    await fetchOk(pool, { method: 'POST' });
    await fetchOk(pool, { method: 'DELETE', headers: new HeaderMap(['x-c', '3']) });
    assert.equal(upstream.requests[1], 'POST / HTTP/1.1\r\nhost: example.test\r\ncontent-length: 0\r\n\r\n');
    assert.equal(upstream.requests[2], 'DELETE / HTTP/1.1\r\nhost: example.test\r\nx-c: 3\r\n\r\n');
    assert.equal(upstream.connections, 1);
  });

  test('maxConnections: requests beyond it wait and run in order on freed connections', async (t) => {
    const order: string[] = [];
    const upstream = await httpUpstream((req, res) => {
      order.push(req.url!);
      setTimeout(() => res.end(req.url), 20);
    });
    const { pool } = poolAt(upstream.port, { maxConnections: 2 });
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const recs = ['/1', '/2', '/3', '/4', '/5'].map((path) => send(pool, { path }).rec);
    await Promise.all(recs.map((r) => r.done));
    assert.deepEqual(recs.map((r) => r.text), ['/1', '/2', '/3', '/4', '/5']);
    assert.equal(upstream.connections, 2);
    assert.deepEqual(order.slice(2), ['/3', '/4', '/5'], 'queued requests leave the queue oldest first');
  });

  test('maxConnections 1 serializes requests on one connection', async (t) => {
    let inFlight = 0;
    let maxInFlight = 0;
    const upstream = await httpUpstream((req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        res.end(req.url);
      }, 5);
    });
    const { pool } = poolAt(upstream.port, { maxConnections: 1 });
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const recs = Array.from({ length: 6 }, (_, i) => send(pool, { path: `/${i}` }).rec);
    await Promise.all(recs.map((r) => r.done));
    assert.deepEqual(recs.map((r) => r.text), ['/0', '/1', '/2', '/3', '/4', '/5']);
    assert.equal(upstream.connections, 1);
    assert.equal(maxInFlight, 1);
  });

  test('maxRequestsPerConnection: a connection is closed after that many requests', async (t) => {
    const upstream = await httpUpstream((_req, res) => res.end('x'));
    const { pool, cluster } = poolAt(upstream.port, { maxRequestsPerConnection: 2 });
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    for (let i = 0; i < 5; i++) await fetchOk(pool);
    assert.equal(upstream.connections, 3);
    await until(() => cluster.activeConnections === 1, 'the used-up connections to close');
  });

  test('idle connections close after the idle timeout; the next request opens a new one', async (t) => {
    const upstream = await rawUpstream((socket) => socket.write(OK));
    const { pool, cluster } = poolAt(upstream.port, { idleTimeoutMs: 80 });
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    await fetchOk(pool);
    await sleep(30);
    await fetchOk(pool); // reused: the idle timer starts again
    assert.equal(upstream.connections, 1);
    const idleSince = Date.now();
    await until(() => cluster.activeConnections === 0, 'the idle connection to close');
    assert.ok(Date.now() - idleSince >= 60, 'not closed before the timeout');
    await until(() => upstream.sockets.size === 0, 'the upstream to see the close');
    await fetchOk(pool);
    assert.equal(upstream.connections, 2);
  });

  test('an idle connection the upstream closed is not reused', async (t) => {
    // Answers, then closes the keep-alive connection shortly after (as an upstream with a short keep-alive does).
    const upstream = await rawUpstream((socket) => {
      socket.write(OK);
      setTimeout(() => socket.end(), 20);
    });
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    await fetchOk(pool);
    await until(() => cluster.activeConnections === 0, 'the pool to drop the closed connection');
    const rec = await fetchOk(pool);
    assert.equal(rec.text, 'ok');
    assert.equal(upstream.connections, 2);
  });

  test('an idle connection that receives bytes is dropped', async (t) => {
    const upstream = await rawUpstream((socket) => {
      socket.write(OK);
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\n'), 20);
    });
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    await fetchOk(pool);
    await until(() => cluster.activeConnections === 0, 'the pool to drop the connection');
    await until(() => upstream.sockets.size === 0, 'the upstream to see the close');
  });

  test('close(): idle connections close now, busy ones after their exchange, queued ones still run', async (t) => {
    const upstream = await httpUpstream((req, res) => setTimeout(() => res.end(req.url), req.url === '/slow' ? 60 : 0));
    const { pool, cluster } = poolAt(upstream.port, { maxConnections: 2 });
    t.after(() => upstream.close());
    // Two connections, both idle.
    await Promise.all([fetchOk(pool), fetchOk(pool)]);
    assert.equal(cluster.activeConnections, 2);
    const slow = send(pool, { path: '/slow' }).rec;
    const other = send(pool, { path: '/other' }).rec;
    const queued = send(pool, { path: '/queued' }).rec;
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    await other.done;
    assert.equal(closed, false);
    await Promise.all([slow.done, queued.done, closing]);
    assert.deepEqual([slow.text, other.text, queued.text], ['/slow', '/other', '/queued']);
    assert.equal(cluster.activeConnections, 0);
    // A closed pool refuses new requests as a connect failure (nothing sent).
    const late = send(pool).rec;
    await late.done;
    assert.equal(late.failure, 'connect');
  });

  test('close() closes idle connections at once', async (t) => {
    const upstream = await rawUpstream((socket) => socket.write(OK));
    const { pool, cluster } = poolAt(upstream.port);
    t.after(() => upstream.close());
    await Promise.all([fetchOk(pool), fetchOk(pool), fetchOk(pool)]);
    assert.equal(cluster.activeConnections, 3);
    await pool.close();
    assert.equal(cluster.activeConnections, 0);
    await until(() => upstream.sockets.size === 0, 'the upstream to see the closes');
  });
});

describe('Http1Pool: responses', () => {
  test('Content-Length, chunked with trailers, and close-delimited bodies', async (t) => {
    const upstream = await rawUpstream((socket, head) => {
      if (head.startsWith('GET /length')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Mixed-Case: v\r\n\r\nhello world');
      else if (head.startsWith('GET /chunked')) {
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => socket.write('6;ext=1\r\n world\r\n0\r\nx-sum: 42\r\nx-other: a\r\n\r\n'), 10);
      } else if (head.startsWith('GET /close')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ');
        setTimeout(() => socket.end('the end'), 10);
      }
    });
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const length = await fetchOk(pool, { path: '/length' });
    assert.equal(length.text, 'hello world');
    assert.deepEqual(length.headers?.toFlat(), ['content-length', '11', 'x-mixed-case', 'v']);
    assert.equal(length.trailers, undefined);

    const chunked = await fetchOk(pool, { path: '/chunked' });
    assert.equal(chunked.text, 'hello world');
    assert.deepEqual(chunked.trailers?.toFlat(), ['x-sum', '42', 'x-other', 'a']);
    assert.equal(upstream.connections, 1);

    const close = await fetchOk(pool, { path: '/close' });
    assert.equal(close.text, 'until the end');
    assert.deepEqual(close.events, ['sent', 'headers', 'end']);
    await until(() => cluster.activeConnections === 0, 'the close-delimited connection to close');
    await fetchOk(pool, { path: '/length' });
    assert.equal(upstream.connections, 2);
  });

  test('HEAD, 204 and 304 have no body; the connection stays usable', async (t) => {
    const upstream = await rawUpstream((socket, head) => {
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
      else if (head.startsWith('GET /204')) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (head.startsWith('GET /304')) socket.write('HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const head = await fetchOk(pool, { method: 'HEAD' });
    assert.equal(head.endStream, true);
    assert.equal(head.headers?.get('content-length'), '1000');
    for (const [path, status] of [['/204', 204], ['/304', 304], ['/empty', 200]] as const) {
      const rec = await fetchOk(pool, { path });
      assert.equal(rec.status, status);
      assert.equal(rec.endStream, true);
      assert.equal(rec.chunks.length, 0);
      assert.deepEqual(rec.events, ['sent', 'headers', 'end']);
    }
    assert.equal(upstream.connections, 1);
  });

  test('interim 1xx responses are skipped, in the same read or apart', async (t) => {
    const upstream = await rawUpstream((socket, head) => {
      if (head.startsWith('GET /together')) {
        socket.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n${OK}`);
      } else {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        setTimeout(() => socket.write('HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone'), 10);
      }
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const together = await fetchOk(pool, { path: '/together' });
    assert.equal(together.status, 200);
    assert.equal(together.text, 'ok');
    const apart = await fetchOk(pool, { path: '/apart' });
    assert.equal(apart.status, 201);
    assert.equal(apart.text, 'done');
    assert.deepEqual(apart.events, ['sent', 'headers', 'end']);
    assert.equal(upstream.connections, 1);
  });

  test('a head split over many reads is put together', async (t) => {
    const response = 'HTTP/1.1 200 OK\r\nx-long: ' + 'v'.repeat(3000) + '\r\ncontent-length: 3\r\n\r\nabc';
    const upstream = await rawUpstream((socket) => {
      let i = 0;
      const step = (): void => {
        if (i >= response.length) return;
        socket.write(response.slice(i, i + 700));
        i += 700;
        setTimeout(step, 2);
      };
      step();
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const rec = await fetchOk(pool);
    assert.equal(rec.headers?.get('x-long')?.length, 3000);
    assert.equal(rec.text, 'abc');
  });

  test('Connection: close and HTTP/1.0 responses close the connection', async (t) => {
    const upstream = await rawUpstream((socket, head) => {
      if (head.startsWith('GET /close')) socket.write('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
      else if (head.startsWith('GET /http10-ka')) socket.write('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok');
      else if (head.startsWith('GET /http10')) socket.write('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else socket.write(OK);
    });
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const close = await fetchOk(pool, { path: '/close' });
    assert.equal(close.headers?.get('connection'), 'close', 'headers are passed as parsed');
    await until(() => cluster.activeConnections === 0, 'Connection: close to close');
    await fetchOk(pool, { path: '/http10' });
    assert.equal(upstream.connections, 2);
    await until(() => cluster.activeConnections === 0, 'an HTTP/1.0 response to close');
    await fetchOk(pool, { path: '/http10-ka' });
    await fetchOk(pool, { path: '/other' });
    assert.equal(upstream.connections, 3, 'HTTP/1.0 with keep-alive keeps the connection');
  });

  test('Transfer-Encoding with Content-Length: framed by the chunks, Content-Length dropped, connection closed', async (t) => {
    const upstream = await rawUpstream((socket) =>
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n6\r\nlonger\r\n0\r\n\r\n'),
    );
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const rec = await fetchOk(pool);
    assert.equal(rec.text, 'longer');
    assert.deepEqual(rec.headers?.toFlat(), ['transfer-encoding', 'chunked']);
    await until(() => cluster.activeConnections === 0, 'the connection to close');
  });

  test('a response followed by bytes past its end closes the connection', async (t) => {
    const upstream = await rawUpstream((socket, _head, n) => {
      if (n === 1) socket.write(`${OK}HTTP/1.1 200 OK\r\n`);
      else socket.write(OK);
    });
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const first = await fetchOk(pool);
    assert.equal(first.text, 'ok');
    await until(() => cluster.activeConnections === 0, 'the out-of-step connection to close');
    await fetchOk(pool);
    assert.equal(upstream.connections, 2);
  });

  test('response backpressure: onResponseData returning false pauses reads until resume()', async (t) => {
    const total = 8 * 1024 * 1024;
    const upstream = await httpUpstream((_req, res) => {
      res.setHeader('content-length', total);
      res.end(Buffer.alloc(total, 7));
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const rec = new Recorder();
    let paused = true;
    rec.onData = () => !paused;
    const exchange = pool.send(headOf(), undefined, rec);
    await until(() => rec.chunks.length > 0, 'the first body chunk');
    await sleep(100);
    const whilePaused = rec.body.length;
    assert.ok(whilePaused < total / 4, `received ${whilePaused} of ${total} bytes while paused`);
    assert.deepEqual(rec.events, ['sent', 'headers']);
    await sleep(50);
    assert.equal(rec.body.length, whilePaused, 'nothing more arrives while paused');
    paused = false;
    exchange.resume();
    await rec.done;
    assert.equal(rec.body.length, total);
    assert.deepEqual(rec.events, ['sent', 'headers', 'end']);
    // The connection is reusable after a paused response.
    await fetchOk(pool);
    assert.equal(upstream.connections, 1);
  });
});

describe('Http1Pool: request bodies', () => {
  test('Buffer bodies, small (one write) and large, with content-length', async (t) => {
    const upstream = await httpUpstream(digestHandler);
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    for (const size of [0, 10, 16 * 1024, 16 * 1024 + 1, 300_000]) {
      const body = randomBytes(size);
      const rec = await fetchOk(pool, { method: 'PUT', headers: new HeaderMap(['content-length', '1']) }, body);
      assert.equal(rec.text, `${size} ${sha256(body)}`);
      assert.equal(rec.headers?.get('x-cl'), String(size));
      assert.equal(rec.headers?.get('x-te'), '');
      assert.equal(rec.bodySent, size);
      assert.equal(rec.requestSent, 1);
    }
    assert.equal(upstream.connections, 1);
  });

  test('a streamed body with the content-length of the head', async (t) => {
    const upstream = await httpUpstream(digestHandler);
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const parts = [Buffer.from('hello '), Buffer.alloc(0), Buffer.from('streamed '), randomBytes(40_000)];
    const all = Buffer.concat(parts);
    const rec = await fetchOk(pool, { method: 'POST', headers: new HeaderMap(['content-length', String(all.length)]) }, Readable.from(parts));
    assert.equal(rec.text, `${all.length} ${sha256(all)}`);
    assert.equal(rec.headers?.get('x-cl'), String(all.length));
    assert.equal(rec.headers?.get('x-te'), '');
    assert.equal(rec.bodySent, all.length);
    assert.equal(rec.requestSent, 1);
    // Reused after a streamed body.
    await fetchOk(pool);
    assert.equal(upstream.connections, 1);
  });

  test('a streamed body without content-length goes chunked', async (t) => {
    const upstream = await httpUpstream(digestHandler);
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const body = new PassThrough();
    const { rec } = send(pool, { method: 'POST' }, body);
    const parts = [Buffer.from('a'), Buffer.alloc(0), randomBytes(20_000), Buffer.from('z')];
    for (const part of parts) {
      body.write(part);
      await sleep(5);
    }
    body.end();
    await rec.done;
    const all = Buffer.concat(parts);
    assert.equal(rec.text, `${all.length} ${sha256(all)}`);
    assert.equal(rec.headers?.get('x-te'), 'chunked');
    assert.equal(rec.bodySent, all.length);
    assert.deepEqual(rec.events, ['sent', 'headers', 'end']);
  });

  test('5 MB streamed chunked and with content-length arrive intact', async (t) => {
    const upstream = await httpUpstream(digestHandler);
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const size = 5 * 1024 * 1024;
    for (const withLength of [false, true]) {
      const gen = generator(size, 50_000);
      const headers = new HeaderMap(withLength ? ['content-length', String(size)] : []);
      const rec = await fetchOk(pool, { method: 'POST', headers }, gen.stream);
      assert.equal(rec.text, `${size} ${gen.hash()}`);
      assert.equal(rec.headers?.get('x-te'), withLength ? '' : 'chunked');
      assert.equal(rec.bodySent, size);
    }
  });

  test('request backpressure: the body is paused while the upstream does not read', async (t) => {
    const total = 32 * 1024 * 1024;
    const upstream = await rawUpstream(() => {});
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const gen = generator(total);
    const { rec } = send(pool, { method: 'POST', headers: new HeaderMap(['content-length', String(total)]) }, gen.stream);
    await until(() => upstream.sockets.size === 1, 'the connection');
    const serverSocket = [...upstream.sockets][0]!;
    serverSocket.pause();
    await sleep(300);
    const produced = gen.produced();
    assert.ok(produced < total / 4, `produced ${produced} bytes of ${total} while the upstream did not read`);
    assert.equal(gen.stream.isPaused(), true);
    assert.ok(rec.bodySent < total / 4);
    // Read it all, then answer.
    const expected = `POST / HTTP/1.1\r\nhost: example.test\r\ncontent-length: ${total}\r\n\r\n`.length + total;
    let received = upstream.received[0]!.length;
    serverSocket.removeAllListeners('data');
    serverSocket.on('data', (chunk: string) => {
      received += chunk.length;
      if (received === expected) serverSocket.write(OK);
    });
    serverSocket.resume();
    await rec.done;
    assert.equal(rec.error, undefined);
    assert.equal(rec.bodySent, total);
    assert.equal(received, expected);
  });

  test('a streamed body shorter or longer than its content-length resets the connection', async (t) => {
    const upstream = await rawUpstream(() => {});
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const short = await send(pool, { method: 'POST', headers: new HeaderMap(['content-length', '10']) }, Readable.from([Buffer.from('abc')])).rec;
    await short.done;
    assert.equal(short.failure, 'reset');
    assert.match(short.error!.message, /7 bytes short/);
    const long = send(pool, { method: 'POST', headers: new HeaderMap(['content-length', '3']) }, Readable.from([Buffer.from('ab'), Buffer.from('cd')])).rec;
    await long.done;
    assert.equal(long.failure, 'reset');
    assert.match(long.error!.message, /longer than its content-length/);
    await until(() => upstream.sockets.size === 0, 'the upstream to see both connections close');
    assert.equal(upstream.connections, 2);
    // The upstream never got the 4th byte.
    assert.ok(upstream.received[1]!.endsWith('\r\n\r\nab'), JSON.stringify(upstream.received[1]));
  });

  test('a request body that errors or closes early resets the exchange', async (t) => {
    const upstream = await rawUpstream(() => {});
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const failing = new PassThrough();
    const a = send(pool, { method: 'POST' }, failing).rec;
    failing.write('part');
    await until(() => a.bodySent === 4, 'the first part to be sent');
    failing.destroy(new Error('client went away'));
    await a.done;
    assert.equal(a.failure, 'reset');
    assert.equal(a.error?.message, 'client went away');

    const closing = new PassThrough();
    const b = send(pool, { method: 'POST' }, closing).rec;
    closing.write('part');
    await until(() => b.bodySent === 4, 'the first part to be sent');
    closing.destroy();
    await b.done;
    assert.equal(b.failure, 'reset');
    assert.deepEqual(b.events, ['error']);
    await until(() => upstream.sockets.size === 0, 'the upstream to see the connections close');
  });

  test('a response before the whole body was sent ends the exchange and closes the connection', async (t) => {
    const upstream = await rawUpstream((socket) => socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n'));
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const body = new PassThrough();
    const { rec } = send(pool, { method: 'POST' }, body);
    body.write('start');
    await rec.done;
    assert.equal(rec.status, 413);
    assert.deepEqual(rec.events, ['headers', 'end']);
    body.write('more'); // not sent, and no callback
    await until(() => cluster.activeConnections === 0, 'the connection to close');
    // The abandoned body failing later is not an uncaught error.
    body.destroy(new Error('client went away later'));
    await sleep(10);
    assert.equal(rec.bodySent, 5);
    assert.deepEqual(rec.events, ['headers', 'end']);
  });
});

describe('Http1Pool: failures', () => {
  test('malformed responses fail with "protocol"', async (t) => {
    const responses: Record<string, string> = {
      '/garbage': 'NOT HTTP AT ALL\r\n\r\n',
      '/chunk': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      '/header': 'HTTP/1.1 200 OK\r\nbad header: x\r\n\r\n',
      '/huge': `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
      '/switch': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
    };
    const upstream = await rawUpstream((socket, head) => socket.write(responses[head.split(' ')[1]!]!));
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    for (const [path, code] of [['/garbage', 'HPE_INVALID_VERSION'], ['/chunk', 'HPE_INVALID_CHUNK_SIZE'], ['/header', 'HPE_INVALID_HEADER_TOKEN'], ['/huge', 'HPE_HEADER_OVERFLOW'], ['/switch', 'HPE_INVALID_STATUS']]) {
      const { rec } = send(pool, { path: path! });
      await rec.done;
      assert.equal(rec.failure, 'protocol', path);
      assert.equal((rec.error as Error & { code?: string }).code, code, path);
    }
    await until(() => cluster.activeConnections === 0, 'the broken connections to close');
    assert.equal(upstream.connections, 5);
  });

  test('a reset before or in the middle of a response fails with "reset"', async (t) => {
    const upstream = await rawUpstream((socket, head) => {
      if (head.startsWith('GET /before')) socket.destroy();
      else if (head.startsWith('GET /eof-head')) socket.end('HTTP/1.1 200 OK\r\ncontent-');
      else if (head.startsWith('GET /eof-length')) socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..');
      else if (head.startsWith('GET /eof-chunked')) socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
      else if (head.startsWith('GET /rst')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
        setTimeout(() => socket.resetAndDestroy(), 10);
      }
    });
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    for (const path of ['/before', '/eof-head', '/eof-length', '/eof-chunked', '/rst']) {
      const { rec } = send(pool, { path });
      await rec.done;
      assert.equal(rec.failure, 'reset', path);
      assert.ok(rec.error!.message.length > 0);
      assert.ok(typeof (rec.error as Error & { code?: string }).code === 'string', `${path}: ${rec.error!.message}`);
      assert.equal(rec.events.filter((e) => e === 'end' || e === 'error').length, 1);
    }
    await until(() => cluster.activeConnections === 0, 'the connections to close');
  });

  test('connection refused fails with "connect"; the circuit breaker with "overflow"', async (t) => {
    const port = await closedPort();
    const refused = poolAt(port).pool;
    t.after(() => refused.close());
    const { rec } = send(refused);
    await rec.done;
    assert.equal(rec.failure, 'connect');
    assert.equal((rec.error as Error & { code?: string }).code, 'MOSN_ERR_UPSTREAM_CONNECT');
    assert.deepEqual(rec.events, ['error']);

    const upstream = await httpUpstream((_req, res) => setTimeout(() => res.end('x'), 30));
    const limited = poolAt(upstream.port, {}, { circuit_breakers: [{ max_connections: 1, max_pending_requests: 0, max_requests: 0, max_retries: 0 }] });
    t.after(async () => {
      await limited.pool.close();
      await upstream.close();
    });
    const first = send(limited.pool).rec;
    const second = send(limited.pool).rec;
    await Promise.all([first.done, second.done]);
    assert.equal(first.error, undefined);
    assert.equal(second.failure, 'overflow');
  });

  test('a connect failure fails only the request that started it; a queued one gets its own attempt', async (t) => {
    const port = await closedPort();
    const { pool } = poolAt(port, { maxConnections: 1 });
    t.after(() => pool.close());
    const a = send(pool).rec;
    await a.done;
    assert.equal(a.failure, 'connect');
    const b = send(pool).rec;
    const c = send(pool).rec;
    await Promise.all([b.done, c.done]);
    assert.equal(b.failure, 'connect');
    assert.equal(c.failure, 'connect');
    assert.notEqual(b.error, c.error, 'the queued request failed on a connect of its own');
  });

  test('abort in flight: the connection closes and no callback follows', async (t) => {
    const upstream = await rawUpstream(() => {});
    const { pool, cluster } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const { rec, exchange } = send(pool);
    await until(() => upstream.requests.length === 1, 'the request to arrive');
    const serverSocket = [...upstream.sockets][0]!;
    const closed = once(serverSocket, 'close');
    exchange.abort();
    exchange.abort();
    await closed;
    await until(() => cluster.activeConnections === 0, 'the pool to count the close');
    await sleep(20);
    assert.deepEqual(rec.events, ['sent']);
  });

  test('abort during the response body: no more callbacks', async (t) => {
    const upstream = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
      setTimeout(() => socket.write('defghij'), 30);
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const rec = new Recorder();
    let exchange: UpstreamExchange | undefined;
    rec.onData = () => {
      exchange!.abort();
      return true;
    };
    exchange = pool.send(headOf(), undefined, rec);
    await until(() => rec.chunks.length === 1, 'the first chunk');
    await until(() => upstream.sockets.size === 0, 'the upstream to see the close');
    assert.deepEqual(rec.events, ['sent', 'headers']);
    assert.equal(rec.text, 'abc');
  });

  test('abort of a queued request: it is never sent and gets no callback', async (t) => {
    const upstream = await rawUpstream((socket) => setTimeout(() => socket.write(OK), 30));
    const { pool } = poolAt(upstream.port, { maxConnections: 1 });
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const first = send(pool, { path: '/first' }).rec;
    const queued = send(pool, { path: '/queued' });
    const third = send(pool, { path: '/third' }).rec;
    queued.exchange.abort();
    await Promise.all([first.done, third.done]);
    await sleep(20);
    assert.deepEqual(queued.rec.events, []);
    assert.deepEqual(upstream.requests.map((r) => r.split(' ')[1]), ['/first', '/third']);
    assert.equal(upstream.connections, 1);
  });

  test('an invalid header fails with "protocol" asynchronously, and nothing is sent', async (t) => {
    const upstream = await rawUpstream((socket) => socket.write(OK));
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const cases: Partial<UpstreamRequestHead>[] = [
      { headers: new HeaderMap(['x-a', 'evil\r\nx-injected: 1']) },
      { headers: new HeaderMap(['bad name', 'v']) },
      { headers: new HeaderMap(['host', 'h', 'x-b', 'nul\0']) },
      { path: '/a b' },
      { authority: 'a\r\nb' },
    ];
    for (const head of cases) {
      const { rec } = send(pool, head);
      assert.deepEqual(rec.events, [], 'no callback during send()');
      await rec.done;
      assert.equal(rec.failure, 'protocol');
      assert.deepEqual(rec.events, ['error']);
    }
    // A streamed body with a content-length that is not a number.
    const body = new PassThrough();
    const bad = send(pool, { method: 'POST', headers: new HeaderMap(['content-length', '1x']) }, body).rec;
    await bad.done;
    assert.equal(bad.failure, 'protocol');
    await sleep(20);
    assert.equal(upstream.connections, 0);
    // The pool's scratch array of kept headers was emptied by the failures.
    await fetchOk(pool, { headers: new HeaderMap(['host', 'h', 'x-ok', '1']) });
    assert.deepEqual(upstream.requests, ['GET / HTTP/1.1\r\nhost: example.test\r\nx-ok: 1\r\n\r\n']);
    // An aborted invalid request stays silent.
    const aborted = send(pool, { headers: new HeaderMap(['x', '\n']) });
    aborted.exchange.abort();
    await sleep(10);
    assert.deepEqual(aborted.rec.events, []);
  });
});

describe('Http1Pool: reads and idle time', () => {
  test('a connection used again and again stays open past the idle timeout; it closes one idle timeout after its last use', async (t) => {
    const upstream = await rawUpstream((socket) => socket.write(OK));
    const { pool, cluster } = poolAt(upstream.port, { idleTimeoutMs: 100 });
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    // 8 uses 40 ms apart: 320 ms in all, three idle timeouts, never 100 ms idle.
    for (let i = 0; i < 8; i++) {
      await fetchOk(pool);
      await sleep(40);
    }
    assert.equal(upstream.connections, 1, 'one connection served every request');
    const lastUse = Date.now() - 40;
    await until(() => cluster.activeConnections === 0, 'the idle connection to close');
    const idleFor = Date.now() - lastUse;
    assert.ok(idleFor >= 90, `closed ${idleFor} ms after its last use, before the idle timeout`);
    assert.ok(idleFor < 1000, `closed ${idleFor} ms after its last use, long after the idle timeout`);
  });

  test('body chunks kept by the handler stay intact while other connections read (small reads share one buffer)', async (t) => {
    // Each response comes in pieces: the head split in two, then the body 7 bytes at a time.
    const upstream = await rawUpstream((socket, _head, n) => {
      const body = `response-${n}-`.repeat(20);
      const whole = `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-n: ${n}\r\n\r\n${body}`;
      const pieces = [whole.slice(0, 10), whole.slice(10, whole.indexOf('\r\n\r\n') + 4)];
      for (let at = whole.indexOf('\r\n\r\n') + 4; at < whole.length; at += 7) pieces.push(whole.slice(at, at + 7));
      let i = 0;
      const next = (): void => {
        if (i < pieces.length && !socket.destroyed) {
          socket.write(pieces[i++]!, 'latin1');
          setTimeout(next, 1);
        }
      };
      next();
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    const recs = Array.from({ length: 4 }, () => send(pool).rec);
    await Promise.all(recs.map((r) => r.done));
    assert.equal(upstream.connections, 4);
    for (const rec of recs) {
      assert.equal(rec.error, undefined);
      const n = rec.headers!.get('x-n');
      assert.equal(rec.text, `response-${n}-`.repeat(20));
      assert.ok(rec.chunks.length > 1, 'the body came in several reads');
    }
  });

  test('a big body (big reads, then fresh buffers) arrives whole, chunks kept by the handler unchanged', async (t) => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const upstream = await httpUpstream((_req, res) => {
      res.setHeader('content-length', body.length);
      res.end(body);
    });
    const { pool } = poolAt(upstream.port);
    t.after(async () => {
      await pool.close();
      await upstream.close();
    });
    // Two at once, so reads of both connections interleave.
    const [a, b] = await Promise.all([fetchOk(pool), fetchOk(pool)]);
    assert.equal(sha256(a.body), sha256(body));
    assert.equal(sha256(b.body), sha256(body));
  });
});

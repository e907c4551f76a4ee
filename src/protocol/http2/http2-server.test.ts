/**
 * @module protocol/http2/http2-server.test
 * mosnode's own HTTP/2 server codec on real sockets, with two kinds of client:
 * - node:http2 for the normal paths: bodies and trailers both ways, large uploads and
 *   downloads under flow control and backpressure, many concurrent streams, header blocks
 *   that need CONTINUATION, cookie crumbs, cancels, drain and the idle timeout;
 * - a raw socket client that writes frames by hand (our HPACK encoder for header blocks)
 *   and parses what comes back, for the protocol edges node:http2 would never produce:
 *   the server preface, split header blocks, interrupted ones, bad prefaces, oversized
 *   frames, PING, malformed requests, limits (431, REFUSED_STREAM), reset floods, window
 *   overruns, WINDOW_UPDATE pacing and even stream ids.
 * Error codes and frame bytes are asserted exactly. Cases found wrong in review sit at the
 * end; they fail until http2-server.ts is fixed.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { HeaderMap } from '../../api/headers.ts';
import { silentLogger } from '../../core/logger.ts';
import type { ServerStream } from '../server-stream.ts';
import {
  CANCEL,
  ENHANCE_YOUR_CALM,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLOW_CONTROL_ERROR,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_HEADER_LENGTH,
  FRAME_PING,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_SIZE_ERROR,
  FRAME_WINDOW_UPDATE,
  NO_ERROR,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
  SETTINGS_INITIAL_WINDOW_SIZE,
  readUint31,
  readUint32,
  writeFrameHeader,
} from './h2-frames.ts';
import { HpackDecoder } from './hpack/hpack-decoder.ts';
import { HpackEncoder } from './hpack/hpack-encoder.ts';
import { Http2Server, DEFAULT_HTTP2_LIMITS, type Http2ServerLimits } from './http2-server.ts';
import { until, sleep } from '../../../test/helpers/sockets.ts';
import { bodyOutcome, closeOf, readAll, reply } from '../../../test/helpers/server-streams.ts';

// ------------------------------------------------------------------ harness

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  port: number;
  codec: Http2Server;
  /** Server-side sockets, in accept order. */
  sockets: Socket[];
  /** Every stream handed to onRequest, in order. */
  streams: ServerStream[];
}

/** A node:net server set up like mosnode's listener, each socket handed to one Http2Server. */
async function start(onRequest: (stream: ServerStream, harness: Harness) => void, limits: Partial<Http2ServerLimits> = {}): Promise<Harness> {
  const harness = { port: 0, sockets: [], streams: [] } as unknown as Harness;
  const codec = new Http2Server(
    (stream) => {
      harness.streams.push(stream);
      onRequest(stream, harness);
    },
    silentLogger(),
    { ...DEFAULT_HTTP2_LIMITS, ...limits },
  );
  harness.codec = codec;
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    harness.sockets.push(socket);
    codec.accept(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  harness.port = (server.address() as { port: number }).port;
  cleanups.push(async () => {
    for (const socket of harness.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return harness;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface PumpStats {
  /** write() calls that returned false. */
  falses: number;
  /** onceDrain callbacks that ran. */
  drains: number;
}

/** Writes `data` in `chunkSize` pieces, waiting for onceDrain whenever write() says so, then ends. */
function pump(stream: ServerStream, data: Buffer, chunkSize: number, stats: PumpStats): void {
  let at = 0;
  const next = (): void => {
    while (at < data.length) {
      const chunk = data.subarray(at, at + chunkSize);
      at += chunk.length;
      if (!stream.write(chunk)) {
        stats.falses++;
        stream.onceDrain(() => {
          stats.drains++;
          next();
        });
        return;
      }
    }
    stream.end();
  };
  next();
}

// ---------------------------------------------------- node:http2 client helpers

async function h2connect(port: number, options: http2.ClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`, options);
  session.on('error', () => {});
  cleanups.push(() => {
    if (!session.destroyed) session.destroy();
  });
  await once(session, 'connect');
  return session;
}

interface ClientResponse {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

function collect(req: http2.ClientHttp2Stream): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ headers, body: Buffer.concat(chunks), trailers }));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------- raw frame client

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

interface HeaderBlock {
  streamId: number;
  fields: string[];
  /** END_STREAM was on the HEADERS frame. */
  endStream: boolean;
  /** HEADERS plus CONTINUATION frames it took. */
  frames: number;
}

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_LENGTH + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER_LENGTH);
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

function settingsFrame(settings: [number, number][]): Buffer {
  const payload = Buffer.alloc(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME_SETTINGS, 0, 0, payload);
}

const windowUpdate = (streamId: number, increment: number): Buffer => frame(FRAME_WINDOW_UPDATE, 0, streamId, u32(increment));
const rstStream = (streamId: number, code: number): Buffer => frame(FRAME_RST_STREAM, 0, streamId, u32(code));

const GET = (path: string, extra: string[] = []): string[] => [':method', 'GET', ':scheme', 'http', ':authority', 'test.local', ':path', path, ...extra];
const POST = (path: string, extra: string[] = []): string[] => [':method', 'POST', ':scheme', 'http', ':authority', 'test.local', ':path', path, ...extra];

/** A client that speaks HTTP/2 frame by frame and keeps every frame it receives. */
class RawH2 {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  /** Response header blocks, decoded in arrival order (which keeps the HPACK table in step). */
  readonly blocks: HeaderBlock[] = [];
  readonly encoder = new HpackEncoder();
  readonly #decoder = new HpackDecoder();
  /** The bytes the server sent, in order (for exact byte checks). */
  readonly #raw: Buffer[] = [];
  #pending = Buffer.alloc(0);
  #block: { streamId: number; endStream: boolean; parts: Buffer[]; frames: number } | undefined;
  readonly #waiters = new Set<() => boolean>();
  closed = false;

  constructor(port: number) {
    this.socket = connect({ port, host: '127.0.0.1' });
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    this.socket.on('error', () => {});
    cleanups.push(() => void this.socket.destroy());
  }

  /** Connects and sends the preface and a SETTINGS frame (unless `preface` is false). */
  static async open(port: number, settings: [number, number][] = [], preface = true): Promise<RawH2> {
    const client = new RawH2(port);
    await once(client.socket, 'connect');
    if (preface) client.send(Buffer.concat([PREFACE, settingsFrame(settings)]));
    return client;
  }

  get received(): Buffer {
    return Buffer.concat(this.#raw);
  }

  send(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** A header block from our encoder (copied: the encoder reuses its buffer). */
  block(fields: string[]): Buffer {
    return Buffer.from(this.encoder.encode(-1, fields));
  }

  /** HEADERS with END_HEADERS (and END_STREAM unless told otherwise). */
  request(streamId: number, fields: string[], endStream = true): void {
    this.send(frame(FRAME_HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), streamId, this.block(fields)));
  }

  #onData(chunk: Buffer): void {
    this.#raw.push(chunk);
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= FRAME_HEADER_LENGTH) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < FRAME_HEADER_LENGTH + length) break;
      const f: Frame = { type: buf[3]!, flags: buf[4]!, streamId: readUint31(buf, 5), payload: Buffer.from(buf.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + length)) };
      buf = buf.subarray(FRAME_HEADER_LENGTH + length);
      this.frames.push(f);
      this.#onFrame(f);
    }
    this.#pending = Buffer.from(buf);
    this.#wake();
  }

  #onFrame(f: Frame): void {
    if (f.type === FRAME_SETTINGS && (f.flags & FLAG_ACK) === 0) this.send(frame(FRAME_SETTINGS, FLAG_ACK, 0));
    if (f.type === FRAME_HEADERS) {
      this.#block = { streamId: f.streamId, endStream: (f.flags & FLAG_END_STREAM) !== 0, parts: [f.payload], frames: 1 };
    } else if (f.type === FRAME_CONTINUATION) {
      assert.ok(this.#block !== undefined && this.#block.streamId === f.streamId, 'CONTINUATION without its HEADERS');
      this.#block.parts.push(f.payload);
      this.#block.frames++;
    } else {
      assert.equal(this.#block, undefined, `frame type ${f.type} inside a header block`);
      return;
    }
    if ((f.flags & FLAG_END_HEADERS) === 0) return;
    const { streamId, endStream, parts, frames } = this.#block;
    this.#block = undefined;
    const whole = Buffer.concat(parts);
    const fields: string[] = [];
    this.#decoder.decode(whole, 0, whole.length, fields);
    this.blocks.push({ streamId, fields, endStream, frames });
  }

  #wake(): void {
    for (const check of [...this.#waiters]) if (check()) this.#waiters.delete(check);
  }

  /** Resolves with what `find` returns once it is not undefined; rejects on close or timeout. */
  waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const check = (): boolean => {
        const found = find();
        if (found === undefined && !this.closed) return false;
        clearTimeout(timer);
        if (found !== undefined) resolve(found);
        else reject(new Error(`the connection closed while waiting for ${what}; got ${this.describe()}`));
        return true;
      };
      if (!check()) this.#waiters.add(check);
    });
  }

  describe(): string {
    const shown = this.frames.slice(-30).map((f) => `${f.type}/${f.flags}/${f.streamId}/${f.payload.length}${f.type === FRAME_GOAWAY || f.type === FRAME_RST_STREAM ? `:${f.payload.toString('hex')}` : ''}`);
    return `${this.frames.length} frames (type/flags/stream/length), last ones ${shown.join(' ')}${this.closed ? ', closed' : ''}`;
  }

  find(type: number, streamId?: number): Frame | undefined {
    return this.frames.find((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  }

  async goAway(): Promise<{ lastStreamId: number; code: number; debug: string }> {
    const f = await this.waitFor(() => this.find(FRAME_GOAWAY), 'GOAWAY');
    return { lastStreamId: readUint31(f.payload, 0), code: readUint32(f.payload, 4), debug: f.payload.subarray(8).toString('latin1') };
  }

  async reset(streamId: number): Promise<number> {
    const f = await this.waitFor(() => this.find(FRAME_RST_STREAM, streamId), `RST_STREAM on stream ${streamId}`);
    assert.equal(f.payload.length, 4);
    return readUint32(f.payload, 0);
  }

  waitClosed(): Promise<true> {
    return this.waitFor(() => (this.closed ? true : undefined), 'the connection to close');
  }

  /** PING with `data` and waits for its ACK: every frame the server sent before is in by then. */
  async ping(data = 'barrier!'): Promise<void> {
    const bytes = Buffer.from(data, 'latin1');
    const seen = this.frames.length;
    this.send(frame(FRAME_PING, 0, 0, bytes));
    await this.waitFor(() => this.frames.slice(seen).find((f) => f.type === FRAME_PING && (f.flags & FLAG_ACK) !== 0 && f.payload.equals(bytes)), `PING ACK ${data}`);
  }

  dataFrames(streamId: number): Frame[] {
    return this.frames.filter((f) => f.type === FRAME_DATA && f.streamId === streamId);
  }

  dataBytes(streamId: number): number {
    return this.dataFrames(streamId).reduce((n, f) => n + f.payload.length, 0);
  }

  ended(streamId: number): boolean {
    return this.blocks.some((b) => b.streamId === streamId && b.endStream) || this.dataFrames(streamId).some((f) => (f.flags & FLAG_END_STREAM) !== 0);
  }

  /** The whole response of a stream once END_STREAM arrived: head fields, body, trailer fields. */
  async response(streamId: number): Promise<{ head: string[]; body: string; trailers: string[] | undefined }> {
    await this.waitFor(() => (this.ended(streamId) ? true : undefined), `the end of stream ${streamId}`);
    const blocks = this.blocks.filter((b) => b.streamId === streamId);
    return {
      head: blocks[0]!.fields,
      body: Buffer.concat(this.dataFrames(streamId).map((f) => f.payload)).toString('latin1'),
      trailers: blocks[1]?.fields,
    };
  }
}

// ------------------------------------------------------------------ tests

describe('node:http2 client', () => {
  test('GET and POST: the stream describes the request, bodies are echoed, onClose(true)', async () => {
    const closes: Promise<boolean>[] = [];
    const h = await start((stream) => {
      closes.push(closeOf(stream));
      if (stream.body === undefined) {
        reply(stream, 200, `got ${stream.head.method} ${stream.head.path}`, ['content-type', 'text/plain']);
        return;
      }
      void readAll(stream.body).then((body) => reply(stream, 201, Buffer.concat([Buffer.from('echo:'), body]), ['x-len', String(body.length)]));
    });
    const session = await h2connect(h.port);
    const get = await collect(session.request({ ':path': '/a?x=1', 'x-thing': 'one' }));
    assert.equal(get.headers[':status'], 200);
    assert.equal(get.headers['content-type'], 'text/plain');
    assert.equal(get.headers['content-length'], String('got GET /a?x=1'.length));
    assert.equal(get.body.toString(), 'got GET /a?x=1');

    const req = session.request({ ':method': 'POST', ':path': '/p', 'content-length': '11' });
    req.end('hello world');
    const post = await collect(req);
    assert.equal(post.headers[':status'], 201);
    assert.equal(post.headers['x-len'], '11');
    assert.equal(post.body.toString(), 'echo:hello world');

    assert.equal(h.streams.length, 2);
    const [g, p] = h.streams as [ServerStream, ServerStream];
    assert.equal(g.protocol, 'HTTP/2');
    assert.deepEqual({ ...g.head, headers: g.head.headers.toFlat() }, {
      method: 'GET',
      path: '/a?x=1',
      authority: `127.0.0.1:${h.port}`,
      scheme: 'http',
      headers: ['x-thing', 'one'],
    });
    assert.equal(g.body, undefined);
    assert.equal(g.contentLength, -1);
    assert.equal(g.remoteAddress, `127.0.0.1:${session.socket.localPort}`);
    assert.equal(g.localAddress, `127.0.0.1:${h.port}`);
    assert.equal(g.bytesSent, 'got GET /a?x=1'.length);
    assert.equal(p.head.method, 'POST');
    assert.equal(p.contentLength, 11);
    assert.notEqual(p.body, undefined);
    assert.equal(p.requestTrailers(), undefined);
    assert.deepEqual(await Promise.all(closes), [true, true]);
  });

  test('request trailers reach requestTrailers(); response trailers reach the client', async () => {
    let seen: { body: string; trailers: string[] | undefined } | undefined;
    const h = await start((stream) => {
      void readAll(stream.body!).then((body) => {
        seen = { body: body.toString(), trailers: stream.requestTrailers()?.toFlat() };
        stream.sendHeaders(200, new HeaderMap(['content-type', 'application/grpc']), false, true);
        stream.write(Buffer.from('response body'));
        stream.end(new HeaderMap(['grpc-status', '0', 'grpc-message', 'fine', 'x-trailer', 'last']));
      });
    });
    const session = await h2connect(h.port);
    const req = session.request({ ':method': 'POST', ':path': '/t', te: 'trailers' }, { waitForTrailers: true });
    req.on('wantTrailers', () => req.sendTrailers({ 'x-req-trailer': 'rt', 'x-sum': '42' }));
    req.end('request body');
    const res = await collect(req);
    assert.deepEqual(seen, { body: 'request body', trailers: ['x-req-trailer', 'rt', 'x-sum', '42'] });
    assert.equal(h.streams[0]!.head.headers.get('te'), 'trailers');
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.body.toString(), 'response body');
    assert.equal(res.trailers?.['grpc-status'], '0');
    assert.equal(res.trailers?.['grpc-message'], 'fine');
    assert.equal(res.trailers?.['x-trailer'], 'last');
  });

  test('a 5 MiB upload read slowly by the handler arrives whole', async () => {
    const upload = randomBytes(5 * 1024 * 1024);
    const h = await start((stream) => {
      void (async () => {
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const chunk of stream.body!) {
          chunks.push(chunk as Buffer);
          // A slow reader: the server must hold the client back with its windows.
          if (++n % 8 === 0) await sleep(1);
        }
        const body = Buffer.concat(chunks);
        reply(stream, 200, `${body.length} ${sha256(body)}`);
      })();
    });
    const session = await h2connect(h.port);
    const req = session.request({ ':method': 'POST', ':path': '/upload' });
    req.end(upload);
    const res = await collect(req);
    assert.equal(res.body.toString(), `${upload.length} ${sha256(upload)}`);
  });

  test('an 8 MiB response to a client that reads late arrives whole; the handler saw backpressure', { timeout: 30_000 }, async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const stats: PumpStats = { falses: 0, drains: 0 };
    let closed: Promise<boolean> | undefined;
    const h = await start((stream) => {
      closed = closeOf(stream);
      stream.sendHeaders(200, new HeaderMap(['content-length', String(payload.length)]), false, false);
      pump(stream, payload, 64 * 1024, stats);
    });
    const session = await h2connect(h.port);
    const req = session.request({ ':path': '/big' });
    req.pause();
    // Nothing is read until the server reported backpressure.
    await until(() => stats.falses > 0, 'write() to return false');
    const hash = createHash('sha256');
    let received = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      received += c.length;
    });
    const ended = once(req, 'end');
    req.resume();
    await ended;
    assert.equal(received, payload.length);
    assert.equal(hash.digest('hex'), sha256(payload));
    assert.ok(stats.falses > 0);
    assert.equal(stats.drains, stats.falses, 'every write() that returned false was followed by a drain');
    assert.equal(await closed, true);
    assert.equal(h.streams[0]!.bytesSent, payload.length);
  });

  test('more than 256 KiB gathered in one turn goes to the socket at once, so write() reports a full socket within that turn', { timeout: 30_000 }, async () => {
    const chunk = randomBytes(1024 * 1024);
    const count = 32;
    let firstFalse = -1;
    let closed: Promise<boolean> | undefined;
    const h = await start((stream) => {
      closed = closeOf(stream);
      stream.sendHeaders(200, new HeaderMap(['content-length', String(count * chunk.length)]), false, false);
      // One synchronous burst: without the early write nothing reaches the socket before the turn ends.
      for (let i = 0; i < count; i++) if (!stream.write(chunk) && firstFalse === -1) firstFalse = i;
      stream.end();
    });
    // Windows wide open, so flow control does not hold the burst back.
    const session = await h2connect(h.port, { settings: { initialWindowSize: 2 ** 31 - 1 } });
    session.setLocalWindowSize(2 ** 31 - 1);
    const res = await collect(session.request({ ':path': '/burst' }));
    assert.equal(res.body.length, count * chunk.length);
    assert.equal(sha256(res.body.subarray(0, chunk.length)), sha256(chunk));
    assert.ok(firstFalse >= 0 && firstFalse < count - 1, `write() returned false within the burst (first at ${firstFalse})`);
    assert.equal(await closed, true);
  });

  test('a response to a client with a 1000-byte stream window arrives whole, paced by its WINDOW_UPDATEs', { timeout: 30_000 }, async () => {
    const payload = randomBytes(2 * 1024 * 1024);
    const stats: PumpStats = { falses: 0, drains: 0 };
    const h = await start((stream) => {
      stream.sendHeaders(200, new HeaderMap([]), false, false);
      pump(stream, payload, 64 * 1024, stats);
    });
    const session = await h2connect(h.port, { settings: { initialWindowSize: 1000 } });
    const res = await collect(session.request({ ':path': '/small-window' }));
    assert.equal(res.body.length, payload.length);
    assert.equal(sha256(res.body), sha256(payload));
    assert.ok(stats.falses > 0);
    assert.equal(stats.drains, stats.falses);
  });

  test('100 concurrent streams on one session, answered in reverse order, all correct', async () => {
    const held: ServerStream[] = [];
    const h = await start((stream) => {
      held.push(stream);
      // Answer only once all 100 are open at the same time.
      if (held.length === 100) for (const s of [...held].reverse()) reply(s, 200, `reply to ${s.head.path} ${s.head.headers.get('x-n')}`);
    });
    const session = await h2connect(h.port);
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => collect(session.request({ ':path': `/r/${i}`, 'x-n': String(i * 7) }))));
    responses.forEach((res, i) => {
      assert.equal(res.headers[':status'], 200);
      assert.equal(res.body.toString(), `reply to /r/${i} ${i * 7}`);
    });
    assert.equal(h.sockets.length, 1);
    assert.equal(h.streams.length, 100);
  });

  test('a response header block over 16 KiB (HEADERS + CONTINUATION) reaches the client intact', async () => {
    const big = ['x-big-a', 'a'.repeat(9000), 'x-big-b', 'b'.repeat(9000), 'x-big-c', 'c'.repeat(3000)];
    const h = await start((stream) => reply(stream, 200, 'after the big head', big));
    const session = await h2connect(h.port);
    const res = await collect(session.request({ ':path': '/' }));
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.headers['x-big-a'], 'a'.repeat(9000));
    assert.equal(res.headers['x-big-b'], 'b'.repeat(9000));
    assert.equal(res.headers['x-big-c'], 'c'.repeat(3000));
    assert.equal(res.body.toString(), 'after the big head');
    // The HPACK tables stay in step: a normal request after it still works.
    const again = await collect(session.request({ ':path': '/again' }));
    assert.equal(again.headers['x-big-a'], 'a'.repeat(9000));
  });

  test('cookie crumbs sent as separate fields reach the handler as one cookie line', async () => {
    const h = await start((stream) => reply(stream, 200, stream.head.headers.getAll('cookie').join('|')));
    const session = await h2connect(h.port);
    const res = await collect(session.request({ ':path': '/', cookie: ['a=1', 'b=2'], 'x-mid': 'm' }));
    assert.equal(res.body.toString(), 'a=1; b=2');
    assert.deepEqual(h.streams[0]!.head.headers.toFlat(), ['cookie', 'a=1; b=2', 'x-mid', 'm']);
  });

  test('a client cancel mid-response gives onClose(false); a completed one onClose(true)', async () => {
    const closes: Promise<boolean>[] = [];
    const stats: PumpStats = { falses: 0, drains: 0 };
    const h = await start((stream) => {
      closes.push(closeOf(stream));
      if (stream.head.path === '/endless') {
        stream.sendHeaders(200, new HeaderMap([]), false, false);
        pump(stream, Buffer.alloc(4 * 1024 * 1024, 7), 64 * 1024, stats);
      } else {
        reply(stream, 200, 'small');
      }
    });
    const session = await h2connect(h.port);
    const req = session.request({ ':path': '/endless' });
    req.on('error', () => {});
    await once(req, 'data');
    req.close(http2.constants.NGHTTP2_CANCEL);
    assert.equal(await closes[0], false);
    const res = await collect(session.request({ ':path': '/small' }));
    assert.equal(res.body.toString(), 'small');
    assert.equal(await closes[1], true);
    // The pump was released by the close (a drain waiter must not hang).
    assert.equal(stats.drains, stats.falses);
  });

  test('drain(socket): the client gets GOAWAY, the open stream completes, then the connection closes', async () => {
    let held: ServerStream | undefined;
    const h = await start((stream) => (held = stream));
    const session = await h2connect(h.port);
    const goaway = once(session, 'goaway');
    const closed = once(session, 'close');
    const pending = collect(session.request({ ':path': '/slow' }));
    await until(() => held !== undefined, 'the request');
    h.codec.drain(h.sockets[0]!);
    const [code, lastStreamId] = (await goaway) as [number, number];
    assert.equal(code, NO_ERROR);
    assert.equal(lastStreamId, 1);
    assert.equal(h.sockets[0]!.destroyed, false);
    reply(held!, 200, 'finished after the GOAWAY');
    const res = await pending;
    assert.equal(res.body.toString(), 'finished after the GOAWAY');
    await closed;
  });

  test('idle timeout: the connection is closed with GOAWAY(NO_ERROR) only once no stream is open', async () => {
    let held: ServerStream | undefined;
    let answeredAt = 0;
    const h = await start((stream) => (held = stream), { idleTimeoutMs: 200 });
    const session = await h2connect(h.port);
    let goawayCode: number | undefined;
    session.on('goaway', (code: number) => (goawayCode = code));
    const closed = once(session, 'close');
    const pending = collect(session.request({ ':path': '/held' }));
    await until(() => held !== undefined, 'the request');
    // An open stream is not idle, however long it takes (several sweeps pass here).
    await sleep(700);
    assert.equal(goawayCode, undefined);
    answeredAt = Date.now();
    reply(held!, 200, 'late but fine');
    assert.equal((await pending).body.toString(), 'late but fine');
    await closed;
    assert.equal(goawayCode, NO_ERROR);
    // The connection became idle after the reply, so not before idleTimeoutMs from it.
    assert.ok(Date.now() - answeredAt >= 200, `closed ${Date.now() - answeredAt} ms after the reply`);
  });
});

describe('raw frames', () => {
  test('the server preface: SETTINGS (max concurrent streams, max header list size), then the connection window opened to 1 MiB', async () => {
    const h = await start((stream) => reply(stream, 204), { maxConcurrentStreams: 77, maxHeaderListSize: 5000 });
    const c = await RawH2.open(h.port);
    await c.waitFor(() => c.find(FRAME_SETTINGS, 0) && c.find(FRAME_WINDOW_UPDATE, 0), 'the server preface');
    const expected = Buffer.concat([
      Buffer.from('00000c040000000000' + '0003' + '0000004d' + '0006' + '00001388', 'hex'),
      Buffer.from('000004080000000000' + '000f0001', 'hex'), // 1 MiB - 65,535
    ]);
    assert.deepEqual(c.received.subarray(0, expected.length), expected);
    await c.waitFor(() => c.frames.find((f) => f.type === FRAME_SETTINGS && f.flags === FLAG_ACK && f.payload.length === 0), 'the ACK of our SETTINGS');
  });

  test('response framing: END_STREAM on HEADERS without a body, on the last DATA frame with one, on trailers; hop-by-hop fields dropped', async () => {
    const h = await start((stream) => {
      switch (stream.head.path) {
        case '/empty':
          return reply(stream, 204, '', ['x-a', '1', 'connection', 'close', 'keep-alive', 'timeout=5']);
        case '/body':
          return reply(stream, 200, 'hello', ['transfer-encoding', 'chunked']);
        default:
          stream.sendHeaders(200, new HeaderMap([]), false, true);
          stream.write(Buffer.from('part'));
          return stream.end(new HeaderMap(['x-t', 'done']));
      }
    });
    const c = await RawH2.open(h.port);
    c.request(1, GET('/empty'));
    c.request(3, GET('/body'));
    c.request(5, GET('/trailers'));
    const empty = await c.response(1);
    const body = await c.response(3);
    const trailers = await c.response(5);
    await c.ping();
    assert.deepEqual(empty, { head: [':status', '204', 'x-a', '1'], body: '', trailers: undefined });
    assert.deepEqual(body, { head: [':status', '200', 'content-length', '5'], body: 'hello', trailers: undefined });
    assert.deepEqual(trailers, { head: [':status', '200'], body: 'part', trailers: ['x-t', 'done'] });
    // type/flags/length of each frame of a stream (the length of header blocks left out).
    const ofStream = (id: number): string[] => c.frames.filter((f) => f.streamId === id).map((f) => `${f.type}/${f.flags}${f.type === FRAME_DATA ? `/${f.payload.length}` : ''}`);
    assert.deepEqual(ofStream(1), [`${FRAME_HEADERS}/${FLAG_END_HEADERS | FLAG_END_STREAM}`]);
    assert.deepEqual(ofStream(3), [`${FRAME_HEADERS}/${FLAG_END_HEADERS}`, `${FRAME_DATA}/${FLAG_END_STREAM}/5`], 'no empty DATA frame after the body');
    assert.deepEqual(ofStream(5), [`${FRAME_HEADERS}/${FLAG_END_HEADERS}`, `${FRAME_DATA}/0/4`, `${FRAME_HEADERS}/${FLAG_END_HEADERS | FLAG_END_STREAM}`]);
    assert.equal(c.find(FRAME_RST_STREAM), undefined);
  });

  test('a request header block split into HEADERS + 2 CONTINUATION frames is decoded whole', async () => {
    const h = await start((stream) => reply(stream, 200, `${stream.head.path} ${stream.head.headers.get('x-long')?.length}`));
    const c = await RawH2.open(h.port);
    const block = c.block(GET('/split', ['x-long', 'L'.repeat(600), 'x-other', 'o']));
    const a = Math.floor(block.length / 3);
    const b = Math.floor((2 * block.length) / 3);
    c.send(Buffer.concat([
      frame(FRAME_HEADERS, FLAG_END_STREAM, 1, block.subarray(0, a)),
      frame(FRAME_CONTINUATION, 0, 1, block.subarray(a, b)),
      frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, block.subarray(b)),
    ]));
    const res = await c.response(1);
    assert.equal(res.body, '/split 600');
    assert.deepEqual(h.streams[0]!.head.headers.toFlat(), ['x-long', 'L'.repeat(600), 'x-other', 'o']);
  });

  test('a response header block over 16 KiB goes out as HEADERS + CONTINUATION, each at most 16384 bytes', async () => {
    const h = await start((stream) => reply(stream, 200, '', ['x-big-a', 'a'.repeat(12000), 'x-big-b', 'b'.repeat(12000)]));
    const c = await RawH2.open(h.port);
    c.request(1, GET('/'));
    const res = await c.response(1);
    assert.deepEqual(res.head, [':status', '200', 'x-big-a', 'a'.repeat(12000), 'x-big-b', 'b'.repeat(12000)]);
    const frames = c.frames.filter((f) => f.streamId === 1);
    assert.deepEqual(frames.map((f) => `${f.type}/${f.flags}`), [`${FRAME_HEADERS}/${FLAG_END_STREAM}`, `${FRAME_CONTINUATION}/${FLAG_END_HEADERS}`]);
    assert.equal(frames[0]!.payload.length, 16384);
    assert.ok(frames[1]!.payload.length > 0 && frames[1]!.payload.length <= 16384);
  });

  test('cookie crumbs in separate fields are joined with "; "', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port);
    c.request(1, GET('/', ['cookie', 'a=1', 'x-mid', 'm', 'cookie', 'b=2', 'cookie', 'c=3']));
    await c.response(1);
    assert.deepEqual(h.streams[0]!.head.headers.toFlat(), ['cookie', 'a=1; b=2; c=3', 'x-mid', 'm']);
  });

  test('a frame other than CONTINUATION inside a header block: GOAWAY(PROTOCOL_ERROR)', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port);
    const block = c.block(GET('/'));
    c.send(Buffer.concat([frame(FRAME_HEADERS, FLAG_END_STREAM, 1, block.subarray(0, 4)), frame(FRAME_PING, 0, 0, Buffer.alloc(8))]));
    const goaway = await c.goAway();
    assert.deepEqual({ code: goaway.code, lastStreamId: goaway.lastStreamId }, { code: PROTOCOL_ERROR, lastStreamId: 0 });
    await c.waitClosed();
    assert.equal(h.streams.length, 0);
    assert.equal(c.find(FRAME_PING, 0), undefined, 'the PING was not answered');
  });

  test('a CONTINUATION for another stream inside a header block: GOAWAY(PROTOCOL_ERROR)', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port);
    const block = c.block(GET('/'));
    c.send(Buffer.concat([frame(FRAME_HEADERS, FLAG_END_STREAM, 1, block.subarray(0, 4)), frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 3, block.subarray(4))]));
    assert.equal((await c.goAway()).code, PROTOCOL_ERROR);
    await c.waitClosed();
    assert.equal(h.streams.length, 0);
  });

  test('a bad preface: GOAWAY(PROTOCOL_ERROR), then the connection closes', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port, [], false);
    c.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
    const goaway = await c.goAway();
    assert.deepEqual({ code: goaway.code, lastStreamId: goaway.lastStreamId }, { code: PROTOCOL_ERROR, lastStreamId: 0 });
    await c.waitClosed();
    assert.equal(h.streams.length, 0);
  });

  test('a client that skips SETTINGS after the preface: GOAWAY(PROTOCOL_ERROR)', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port, [], false);
    c.send(Buffer.concat([PREFACE, frame(FRAME_PING, 0, 0, Buffer.alloc(8))]));
    assert.equal((await c.goAway()).code, PROTOCOL_ERROR);
    await c.waitClosed();
  });

  test('a frame over 16384 bytes: GOAWAY(FRAME_SIZE_ERROR)', async () => {
    let outcome: Promise<Error | undefined> | undefined;
    const h = await start((stream) => (outcome = bodyOutcome(stream.body!)));
    const c = await RawH2.open(h.port);
    c.request(1, POST('/'), false);
    c.send(frame(FRAME_DATA, 0, 1, Buffer.alloc(16385)));
    const goaway = await c.goAway();
    assert.deepEqual({ code: goaway.code, lastStreamId: goaway.lastStreamId }, { code: FRAME_SIZE_ERROR, lastStreamId: 1 });
    await c.waitClosed();
    // The open stream was aborted with the connection.
    assert.ok((await outcome) instanceof Error);
  });

  test('PING is answered with a PING ACK carrying the same 8 bytes', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port);
    const data = Buffer.from('0123abcd', 'latin1');
    c.send(frame(FRAME_PING, 0, 0, data));
    const ack = await c.waitFor(() => c.find(FRAME_PING, 0), 'PING ACK');
    assert.deepEqual(ack, { type: FRAME_PING, flags: FLAG_ACK, streamId: 0, payload: data });
    // A PING ACK from the client is not answered.
    c.send(frame(FRAME_PING, FLAG_ACK, 0, Buffer.from('ignored!')));
    await c.ping('second!!');
    assert.equal(c.frames.filter((f) => f.type === FRAME_PING).length, 2);
  });

  test('malformed requests get RST_STREAM(PROTOCOL_ERROR) without reaching the handler; the connection stays usable', async () => {
    const bodies: Promise<Error | undefined>[] = [];
    const closes: Promise<boolean>[] = [];
    const h = await start((stream) => {
      closes.push(closeOf(stream));
      if (stream.body !== undefined) bodies.push(bodyOutcome(stream.body));
      if (stream.head.path === '/good') reply(stream, 200, 'good');
    });
    const c = await RawH2.open(h.port);
    const cases: [string, string[]][] = [
      ['an upper-case field name', GET('/', ['X-Upper', '1'])],
      ['connection: keep-alive', GET('/', ['connection', 'keep-alive'])],
      ['te: gzip', GET('/', ['te', 'gzip'])],
      ['transfer-encoding', POST('/', ['transfer-encoding', 'chunked'])],
      ['no :path', [':method', 'GET', ':scheme', 'http', ':authority', 'test.local']],
      ['no :method', [':scheme', 'http', ':authority', 'test.local', ':path', '/']],
      ['a pseudo-header after a regular field', [':method', 'GET', ':scheme', 'http', 'x-a', '1', ':path', '/']],
      ['an unknown pseudo-header', [':method', 'GET', ':scheme', 'http', ':foo', 'bar', ':path', '/']],
      ['a repeated :path', [...GET('/'), ':path', '/again']],
      ['a NUL in a value', GET('/', ['x-bad', 'a\x00b'])],
      ['a value starting with a space', GET('/', ['x-pad', ' a'])],
      ['a value ending with a tab', GET('/', ['x-pad', 'a\t'])],
    ];
    let id = 1;
    for (const [what, fields] of cases) {
      c.request(id, fields);
      assert.equal(await c.reset(id), PROTOCOL_ERROR, what);
      id += 2;
    }
    assert.equal(h.streams.length, 0, 'no malformed request reached the handler');

    // content-length 5 with a 3-byte body: the head was fine, so the handler has the stream; it is reset.
    const clId = id;
    c.request(clId, POST('/cl', ['content-length', '5']), false);
    c.send(frame(FRAME_DATA, FLAG_END_STREAM, clId, Buffer.from('abc')));
    assert.equal(await c.reset(clId), PROTOCOL_ERROR);
    assert.equal(h.streams.length, 1);
    assert.equal(await closes[0], false);
    assert.ok((await bodies[0]) instanceof Error, 'the body errors');

    c.request(clId + 2, GET('/good'));
    assert.deepEqual(await c.response(clId + 2), { head: [':status', '200', 'content-length', '4'], body: 'good', trailers: undefined });
    assert.equal(await closes[1], true);
    assert.equal(c.find(FRAME_GOAWAY), undefined);
    assert.deepEqual(h.streams.map((s) => s.head.path), ['/cl', '/good']);
  });

  test('content-length on a request that ends with its HEADERS: RST_STREAM(PROTOCOL_ERROR)', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port);
    c.request(1, POST('/', ['content-length', '3']));
    assert.equal(await c.reset(1), PROTOCOL_ERROR);
    assert.equal(h.streams.length, 0);
  });

  test('a header list over maxHeaderListSize gets a 431 without reaching the handler', async () => {
    const h = await start((stream) => reply(stream, 200, 'fine'), { maxHeaderListSize: 1000 });
    const c = await RawH2.open(h.port);
    c.request(1, GET('/', ['x-big', 'x'.repeat(1500)]));
    assert.deepEqual(await c.response(1), { head: [':status', '431', 'content-length', '0'], body: '', trailers: undefined });
    assert.equal(c.find(FRAME_RST_STREAM, 1), undefined);
    // With a body still to come, the 431 is followed by RST_STREAM(NO_ERROR).
    c.request(3, POST('/', ['x-big', 'y'.repeat(1500)]), false);
    assert.equal((await c.response(3)).head[1], '431');
    assert.equal(await c.reset(3), NO_ERROR);
    c.send(frame(FRAME_DATA, FLAG_END_STREAM, 3, Buffer.from('late body')));
    c.request(5, GET('/small'));
    assert.equal((await c.response(5)).body, 'fine');
    assert.deepEqual(h.streams.map((s) => s.head.path), ['/small']);
    assert.equal(c.find(FRAME_GOAWAY), undefined);
  });

  test('maxConcurrentStreams 2: a third concurrent stream gets RST_STREAM(REFUSED_STREAM); a slot freed is reused', async () => {
    const h = await start(() => {}, { maxConcurrentStreams: 2 });
    const c = await RawH2.open(h.port);
    c.request(1, GET('/1'));
    c.request(3, GET('/3'));
    c.request(5, GET('/5'));
    assert.equal(await c.reset(5), REFUSED_STREAM);
    assert.deepEqual(h.streams.map((s) => s.head.path), ['/1', '/3']);
    reply(h.streams[0]!, 200, 'one');
    assert.equal((await c.response(1)).body, 'one');
    await until(() => h.streams[0]!.headersSent, 'the first response');
    await c.ping();
    c.request(7, GET('/7'));
    await until(() => h.streams.length === 3, 'stream 7 to be accepted');
    reply(h.streams[2]!, 200, 'seven');
    assert.equal((await c.response(7)).body, 'seven');
    assert.equal(c.find(FRAME_RST_STREAM, 7), undefined);
  });

  test('a flood of HEADERS each followed by RST_STREAM (rapid reset): GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const closes: Promise<boolean>[] = [];
    const h = await start((stream) => closes.push(closeOf(stream)));
    const c = await RawH2.open(h.port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const id = 1 + 2 * i;
      frames.push(frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, c.block(GET(`/${i}`))), rstStream(id, CANCEL));
    }
    c.send(Buffer.concat(frames));
    const goaway = await c.goAway();
    // The 501st reset within a second is one too many.
    assert.deepEqual({ code: goaway.code, lastStreamId: goaway.lastStreamId }, { code: ENHANCE_YOUR_CALM, lastStreamId: 1001 });
    await c.waitClosed();
    assert.equal(h.streams.length, 501);
    assert.ok((await Promise.all(closes)).every((completed) => !completed));
  });

  test('DATA beyond the stream window: RST_STREAM(FLOW_CONTROL_ERROR); the connection goes on', async () => {
    let outcome: Promise<Error | undefined> | undefined;
    let closed: Promise<boolean> | undefined;
    const h = await start((stream) => {
      if (stream.head.path === '/good') return reply(stream, 200, 'still here');
      // The handler never reads: the client can only be allowed one stream window plus what the body buffers.
      closed = closeOf(stream);
      stream.body!.pause();
      outcome = new Promise((resolve) => stream.body!.on('error', resolve));
    });
    const c = await RawH2.open(h.port);
    c.request(1, POST('/'), false);
    // 131,072 bytes, twice the 65,535-byte stream window, without waiting for WINDOW_UPDATE.
    for (let i = 0; i < 8; i++) c.send(frame(FRAME_DATA, 0, 1, Buffer.alloc(16384, i)));
    assert.equal(await c.reset(1), FLOW_CONTROL_ERROR);
    assert.equal(await closed, false);
    assert.ok((await outcome) instanceof Error);
    c.request(3, GET('/good'));
    assert.equal((await c.response(3)).body, 'still here');
    assert.equal(c.find(FRAME_GOAWAY), undefined);
  });

  test('WINDOW_UPDATE paces a response larger than the client window (100); END_STREAM on the last DATA frame', async () => {
    const payload = Buffer.from(Array.from({ length: 1000 }, (_, i) => 65 + (i % 26)));
    let writeResult: boolean | undefined;
    let closed: Promise<boolean> | undefined;
    const h = await start((stream) => {
      closed = closeOf(stream);
      stream.sendHeaders(200, new HeaderMap(['content-length', '1000']), false, false);
      writeResult = stream.write(payload);
      stream.end();
    });
    const c = await RawH2.open(h.port, [[SETTINGS_INITIAL_WINDOW_SIZE, 100]]);
    c.request(1, GET('/paced'));
    await c.waitFor(() => (c.dataBytes(1) >= 100 ? true : undefined), 'the first 100 bytes');
    await c.ping('barrier1');
    assert.equal(c.dataBytes(1), 100, 'no more than the window before a WINDOW_UPDATE');
    assert.equal(writeResult, false);
    for (let round = 2; round <= 10; round++) {
      c.send(windowUpdate(1, 100));
      await c.waitFor(() => (c.dataBytes(1) >= round * 100 ? true : undefined), `${round * 100} bytes`);
      await c.ping(`round-${String(round).padStart(2, '0')}`);
      assert.equal(c.dataBytes(1), round * 100);
    }
    const data = c.dataFrames(1);
    assert.deepEqual(data.map((f) => f.payload.length), Array(10).fill(100));
    assert.deepEqual(data.map((f) => f.flags), [...Array(9).fill(0), FLAG_END_STREAM]);
    assert.deepEqual(Buffer.concat(data.map((f) => f.payload)), payload);
    assert.equal(await closed, true);
  });

  test('a SETTINGS raising INITIAL_WINDOW_SIZE releases DATA that waited for window', async () => {
    const payload = Buffer.alloc(5000, 'z');
    const h = await start((stream) => reply(stream, 200, payload));
    const c = await RawH2.open(h.port, [[SETTINGS_INITIAL_WINDOW_SIZE, 100]]);
    c.request(1, GET('/'));
    await c.waitFor(() => (c.dataBytes(1) >= 100 ? true : undefined), 'the first 100 bytes');
    await c.ping();
    assert.equal(c.dataBytes(1), 100);
    c.send(settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 65535]]));
    const res = await c.response(1);
    assert.equal(res.body, payload.toString('latin1'));
  });

  test('an even stream id from the client: GOAWAY(PROTOCOL_ERROR)', async () => {
    const h = await start((stream) => reply(stream, 204));
    const c = await RawH2.open(h.port);
    c.request(2, GET('/'));
    const goaway = await c.goAway();
    assert.deepEqual({ code: goaway.code, lastStreamId: goaway.lastStreamId }, { code: PROTOCOL_ERROR, lastStreamId: 0 });
    await c.waitClosed();
    assert.equal(h.streams.length, 0);
  });

  test('a response that ends before the request body: HEADERS(END_STREAM), then RST_STREAM(NO_ERROR); onClose(true)', async () => {
    let closed: Promise<boolean> | undefined;
    const h = await start((stream) => {
      closed = closeOf(stream);
      stream.body!.on('error', () => {});
      reply(stream, 413);
    });
    const c = await RawH2.open(h.port);
    c.request(1, POST('/upload'), false);
    assert.deepEqual((await c.response(1)).head, [':status', '413']);
    assert.equal(await c.reset(1), NO_ERROR);
    assert.equal(await closed, true);
    // Its DATA still in flight is dropped quietly.
    c.send(frame(FRAME_DATA, FLAG_END_STREAM, 1, Buffer.from('too late')));
    await c.ping();
    assert.equal(c.find(FRAME_GOAWAY), undefined);
  });

  test('a client GOAWAY: open streams finish, then the server closes the connection', async () => {
    const h = await start(() => {});
    const c = await RawH2.open(h.port);
    c.request(1, GET('/'));
    await until(() => h.streams.length === 1, 'the request');
    c.send(frame(FRAME_GOAWAY, 0, 0, Buffer.concat([u32(0), u32(NO_ERROR)])));
    await c.ping();
    assert.equal(c.closed, false);
    reply(h.streams[0]!, 200, 'bye');
    assert.equal((await c.response(1)).body, 'bye');
    await c.waitClosed();
  });
});

describe('found in review (fail until http2-server.ts is fixed)', () => {
  test('a response to a client with small windows, pumped in chunks bigger than the window, does not stall', { timeout: 30_000 }, async () => {
    // #resumeBlocked deleted a stream from #blocked after flushQueue() returned true, even
    // when the drain callback inside flushQueue had written more and blocked it again.
    const payload = randomBytes(300 * 1024);
    const stats: PumpStats = { falses: 0, drains: 0 };
    const h = await start((stream) => {
      stream.sendHeaders(200, new HeaderMap([]), false, false);
      pump(stream, payload, 32 * 1024, stats);
    });
    const c = await RawH2.open(h.port, [[SETTINGS_INITIAL_WINDOW_SIZE, 10_000]]);
    c.request(1, GET('/'));
    // The client grants each stream window back as soon as it receives DATA, as node:http2 does.
    let granted = 0;
    const grant = (): void => {
      const received = c.dataBytes(1);
      if (received > granted) {
        c.send(Buffer.concat([windowUpdate(1, received - granted), windowUpdate(0, received - granted)]));
        granted = received;
      }
    };
    // Runs after the client's own 'data' listener has parsed the frames.
    c.socket.on('data', grant);
    const res = await c.response(1);
    assert.equal(res.body.length, payload.length);
    assert.equal(sha256(Buffer.from(res.body, 'latin1')), sha256(payload));
  });

  test('DATA of a stream reset for FLOW_CONTROL_ERROR is given back to the connection window', async () => {
    // H2Stream.onData reset the stream without crediting the frame that overran its window:
    // 16 KiB of connection window lost for good per such stream, until the connection fails.
    const h = await start((stream) => {
      stream.body!.pause();
      stream.body!.on('error', () => {});
    });
    const c = await RawH2.open(h.port);
    const streams = 64;
    for (let i = 0; i < streams; i++) {
      const id = 1 + 2 * i;
      c.request(id, POST('/'), false);
      for (let k = 0; k < 8; k++) c.send(frame(FRAME_DATA, 0, id, Buffer.alloc(16384, k)));
    }
    const last = await c.waitFor(() => c.find(FRAME_GOAWAY) ?? c.find(FRAME_RST_STREAM, 2 * streams - 1), 'the last reset');
    assert.notEqual(last.type, FRAME_GOAWAY, `GOAWAY(${readUint32(last.payload, 4)}) ${last.payload.subarray(8).toString('latin1')}`);
    await c.ping();
    assert.equal(c.find(FRAME_GOAWAY), undefined);
    const resets = c.frames.filter((f) => f.type === FRAME_RST_STREAM);
    assert.equal(resets.length, streams);
    assert.ok(resets.every((f) => readUint32(f.payload, 0) === FLOW_CONTROL_ERROR));
  });

  test('an empty CONTINUATION flood ends the connection with GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    // The header block size check counts bytes only: empty CONTINUATION frames are kept
    // (one Buffer each) without limit.
    const h = await start((stream) => reply(stream, 200, 'decoded'));
    const c = await RawH2.open(h.port);
    const frames = [frame(FRAME_HEADERS, FLAG_END_STREAM, 1, c.block(GET('/')))];
    for (let i = 0; i < 10_000; i++) frames.push(frame(FRAME_CONTINUATION, 0, 1));
    frames.push(frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1));
    c.send(Buffer.concat(frames));
    const first = await c.waitFor(() => c.find(FRAME_GOAWAY) ?? c.find(FRAME_HEADERS, 1), 'GOAWAY or a response');
    assert.equal(first.type, FRAME_GOAWAY, 'the request was decoded and answered instead');
    assert.equal(readUint32(first.payload, 4), ENHANCE_YOUR_CALM);
    assert.equal(h.streams.length, 0);
  });

  test('streams the server resets for the client (WINDOW_UPDATE of 0, "MadeYouReset") count towards the reset flood', async () => {
    const h = await start((stream) => stream.onClose(() => {}));
    const c = await RawH2.open(h.port);
    const frames: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const id = 1 + 2 * i;
      frames.push(frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, c.block(GET(`/${i}`))), windowUpdate(id, 0));
    }
    frames.push(frame(FRAME_PING, 0, 0, Buffer.from('after!!!')));
    c.send(Buffer.concat(frames));
    const first = await c.waitFor(() => c.find(FRAME_GOAWAY) ?? c.find(FRAME_PING, 0), 'GOAWAY or the PING ACK');
    assert.equal(first.type, FRAME_GOAWAY, `no GOAWAY: ${c.frames.filter((f) => f.type === FRAME_RST_STREAM).length} streams reset one by one`);
    assert.deepEqual({ code: readUint32(first.payload, 4), lastStreamId: readUint31(first.payload, 0) }, { code: ENHANCE_YOUR_CALM, lastStreamId: 1001 });
  });
});

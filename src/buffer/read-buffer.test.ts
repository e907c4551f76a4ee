/**
 * SocketReadBuffer: quiet mode (one shared scratch buffer, bytes copied out), busy mode
 * (a buffer of its own, no copies), parking a buffer a pending write still references,
 * and a real socket reading through net's `onread` into it: every byte arrives, in order,
 * idle sockets hold nothing, and every buffer goes back when the socket is done.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { BytePool } from './byte-pool.ts';
import { SocketReadBuffer } from './read-buffer.ts';

function strictPool(): BytePool {
  return new BytePool({ strict: true, trimIntervalMs: 0 });
}

const servers = new Set<Server>();
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([...servers].map((s) => new Promise((r) => s.close(r))));
});

/** Where the last read() landed: what Node passes to the onread callback. */
let landed: Buffer = Buffer.alloc(0);

/** Fills what next() returned as a read of `bytes` would, and returns nread. */
function read(reader: SocketReadBuffer, bytes: Buffer): number {
  landed = reader.next();
  bytes.copy(landed);
  return Math.min(bytes.length, landed.length);
}

describe('SocketReadBuffer modes', () => {
  test('quiet: every reader reads into one shared scratch buffer; take copies into a pooled buffer of the read\'s size', () => {
    const pool = strictPool();
    const a = new SocketReadBuffer(pool);
    const b = new SocketReadBuffer(pool);
    assert.equal(a.next(), b.next(), 'one scratch buffer for the process');
    assert.equal(a.next().length, 65536);
    assert.equal(pool.stats.inUse, 0, 'an idle reader holds nothing');
    const n = read(a, Buffer.from('hello'));
    const taken = a.take(n, landed);
    assert.equal(taken.toString(), 'hello');
    assert.equal(pool.stats.inUseBytes, 512, 'the copy sits in the smallest class that fits');
    // Another socket reads into the scratch buffer: what a took is a copy, untouched.
    read(b, Buffer.from('XXXXX'));
    assert.equal(taken.toString(), 'hello');
    a.settle(n, false);
    assert.equal(pool.stats.inUse, 0, 'settled and not retained: the copy went back');
    assert.deepEqual(a.reads, { copied: 1, direct: 0 });
    assert.equal(a.busy, false);
  });

  test('busy: a read that fills the buffer moves the socket to a 64 KiB buffer of its own, read without copies; a short read ends it', () => {
    const pool = strictPool();
    const reader = new SocketReadBuffer(pool);
    const scratch = new SocketReadBuffer(pool).next();
    let n = read(reader, Buffer.alloc(65536, 3));
    reader.take(n, landed);
    reader.settle(n, false);
    assert.equal(reader.busy, true);
    const own = reader.next();
    assert.notEqual(own, scratch, 'not the shared scratch buffer');
    assert.equal(own.length, 65536);
    assert.equal(pool.stats.inUseBytes, 65536, 'its own buffer');
    n = read(reader, Buffer.alloc(65536, 4));
    const view = reader.take(n, landed);
    assert.equal(view.buffer, own.buffer, 'a view of its own buffer: no copy');
    assert.equal(view.byteOffset, own.byteOffset);
    reader.settle(n, false);
    assert.equal(reader.next(), own, 'still busy: the same buffer again');
    n = read(reader, Buffer.alloc(1000, 5));
    reader.take(n, landed);
    reader.settle(n, false);
    assert.equal(reader.busy, false);
    assert.equal(pool.stats.inUse, 0, 'quiet again: its buffer went back');
    assert.deepEqual(reader.reads, { copied: 1, direct: 2 });
  });

  test('retained bytes are parked: never read into again until releaseParked()', () => {
    const pool = strictPool();
    const reader = new SocketReadBuffer(pool);
    // A copy (quiet mode) retained by a pending write.
    let n = read(reader, Buffer.alloc(100, 1));
    const first = reader.take(n, landed);
    reader.settle(n, true);
    assert.equal(reader.parked, 1);
    // Busy mode: its own buffer retained, the next read gets another.
    n = read(reader, Buffer.alloc(65536, 2));
    reader.take(n, landed);
    reader.settle(n, false);
    const own = reader.next();
    n = read(reader, Buffer.alloc(65536, 6));
    const second = reader.take(n, landed);
    reader.settle(n, true);
    assert.equal(reader.parked, 2);
    const next = reader.next();
    assert.ok(next.buffer !== own.buffer || next.byteOffset !== own.byteOffset, 'a parked buffer is not read into');
    read(reader, Buffer.alloc(65536, 9));
    assert.ok(first.every((x) => x === 1), 'parked copy intact');
    assert.ok(second.every((x) => x === 6), 'parked own buffer intact');
    reader.releaseParked();
    assert.equal(reader.parked, 0);
    reader.dispose();
    assert.equal(pool.stats.inUse, 0);
    assert.equal(pool.stats.doubleRelease, 0);
  });

  test('dispose gives everything back once; a socket that never read holds nothing', () => {
    const pool = strictPool();
    const idle = new SocketReadBuffer(pool);
    idle.next();
    idle.dispose();
    const busy = new SocketReadBuffer(pool);
    const n = read(busy, Buffer.alloc(65536));
    busy.take(n, landed);
    busy.settle(n, false);
    busy.next();
    assert.equal(pool.stats.inUse, 1);
    busy.dispose();
    busy.dispose();
    assert.equal(pool.stats.inUse, 0);
    assert.equal(idle.attached, true);
  });
});

describe('SocketReadBuffer on a real socket (onread)', () => {
  test('a socket: small messages copied out of the scratch buffer, 4 MiB in bulk read without copies, all intact; idle it holds nothing', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const small = 20 * 100;
    let serverSocket!: Socket;
    const server = createServer((s) => {
      sockets.add(s);
      serverSocket = s;
      // Small messages apart in time (quiet mode), then the bulk (busy mode).
      let i = 0;
      const tick = (): void => {
        if (i === 20) {
          s.write(payload.subarray(small));
          return;
        }
        s.write(payload.subarray(i * 100, ++i * 100));
        setTimeout(tick, 2);
      };
      tick();
    });
    servers.add(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const pool = strictPool();
    const reader = new SocketReadBuffer(pool);
    const hash = createHash('sha256');
    let received = 0;
    let allReceived!: () => void;
    const done = new Promise<void>((resolve) => (allReceived = resolve));
    const socket = connect({
      host: '127.0.0.1',
      port: (server.address() as { port: number }).port,
      onread: {
        buffer: reader.next,
        callback: (nread, buf) => {
          // Consumed here (hashed): nothing references the bytes afterwards.
          hash.update(reader.take(nread, buf));
          reader.settle(nread, false);
          received += nread;
          if (received === payload.length) allReceived();
          return true;
        },
      },
    });
    sockets.add(socket);
    assert.equal(reader.attached, true, 'asked for a buffer when the socket was created');
    await done;
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
    const { copied, direct } = reader.reads;
    assert.ok(copied >= 20, `small messages were copied out of the scratch buffer (${copied})`);
    assert.ok(direct > 0, `bulk reads went on without copies (${direct})`);
    // Everything read and nothing since: the last read was short, so the socket is quiet.
    assert.equal(reader.busy, false);
    assert.equal(pool.stats.inUse, 0, 'an idle socket holds no buffer');
    assert.ok(pool.stats.allocated <= 4, `${pool.stats.allocated} buffers allocated for ${copied + direct} reads`);
    serverSocket.end();
    await once(socket, 'end');
    socket.destroy();
    await once(socket, 'close');
    reader.dispose();
    assert.equal(pool.stats.inUse, 0);
  });
});

// Last in this file: it switches busy mode off for the whole process.
test('a read that lands somewhere else than the buffer handed out (a Node ignoring it) is copied from where it landed, and busy mode ends', () => {
  const pool = strictPool();
  const reader = new SocketReadBuffer(pool);
  let n = read(reader, Buffer.alloc(65536, 1));
  reader.take(n, landed);
  reader.settle(n, false);
  const own = reader.next();
  const scratch = new SocketReadBuffer(pool).next();
  assert.notEqual(own, scratch);
  // Node kept reading into the scratch buffer.
  scratch.fill(7, 0, 100);
  n = 100;
  const taken = reader.take(n, scratch);
  assert.ok(taken.every((x) => x === 7), 'the bytes where the read landed');
  reader.settle(n, false);
  assert.equal(reader.next(), scratch);
  const other = new SocketReadBuffer(pool);
  n = read(other, Buffer.alloc(65536, 2));
  other.take(n, landed);
  other.settle(n, false);
  assert.equal(other.next(), scratch, 'no socket goes busy any more');
  reader.dispose();
  other.dispose();
  assert.equal(pool.stats.inUse, 0);
});

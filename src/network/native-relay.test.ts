/**
 * The native TCP relay (native/tcp_relay.c through network/native-relay) over real
 * sockets on 127.0.0.1: each pair is client1 <-> A (accepted here) and B (accepted here)
 * <-> client2, and the relay moves bytes between A and B. Covers bytes both ways, a large
 * transfer through a slow reader (backpressure) with exact byte counts, half-close each
 * way, resets, idle timeouts, stop() and tryDetach() (Node reads the sockets again), many
 * pairs at once and relayStats(). Skipped, with the reason, when the addon is not built.
 */
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { startRelay, relayStats, relayAvailable, type RelayedPair, type RelayEndReason } from './native-relay.ts';
import { startReading } from './migration.ts';
import { until, sleep } from '../../test/helpers/sockets.ts';

/** Everything a client socket received, and whether its peer's FIN arrived. */
interface Received {
  chunks: Buffer[];
  length: number;
  ended: boolean;
  bytes(): Buffer;
}

interface Ends {
  reason: RelayEndReason;
  errno: number;
  at: number;
}

interface Relay {
  pair: RelayedPair;
  startedAt: number;
  /** Sums of every onBytes call. */
  totals: { aToB: number; bToA: number };
  /** Every onEnd call (there must be at most one). */
  ends: Ends[];
  ended: Promise<Ends>;
}

interface Pair {
  client1: Socket;
  a: Socket;
  b: Socket;
  client2: Socket;
  got1: Received;
  got2: Received;
}

/** Collects what `socket` receives (it starts flowing). */
function collect(socket: Socket): Received {
  const received: Received = {
    chunks: [],
    length: 0,
    ended: false,
    bytes: () => Buffer.concat(received.chunks),
  };
  socket.on('data', (chunk: Buffer) => {
    received.chunks.push(chunk);
    received.length += chunk.length;
  });
  socket.on('end', () => {
    received.ended = true;
  });
  return received;
}

/**
 * One listening server per test plus everything opened through it; `t.after` stops the
 * relays (before their sockets close, as the relay's contract asks) and closes it all.
 */
class Harness {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #relays: Relay[] = [];
  readonly #accepted = new Map<number, Socket>();
  readonly #waiting = new Map<number, (socket: Socket) => void>();
  #port = 0;

  constructor(t: TestContext) {
    // pauseOnConnect: Node never reads A or B before the relay takes them.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      this.#track(socket);
      const port = socket.remotePort ?? -1;
      const waiter = this.#waiting.get(port);
      if (waiter === undefined) {
        this.#accepted.set(port, socket);
      } else {
        this.#waiting.delete(port);
        waiter(socket);
      }
    });
    t.after(() => this.close());
  }

  async listen(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    const address = this.#server.address();
    assert.ok(address !== null && typeof address === 'object');
    this.#port = address.port;
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    // Resets are part of some tests; an unhandled 'error' would crash the run instead.
    socket.on('error', () => {});
  }

  /** A connected client and the server-side socket accepted for it. */
  async connectOne(): Promise<{ client: Socket; accepted: Socket }> {
    const client = connect({ port: this.#port, host: '127.0.0.1', allowHalfOpen: true });
    this.#track(client);
    await once(client, 'connect');
    const port = client.localPort ?? -1;
    const early = this.#accepted.get(port);
    if (early !== undefined) {
      this.#accepted.delete(port);
      return { client, accepted: early };
    }
    const accepted = await new Promise<Socket>((resolve) => this.#waiting.set(port, resolve));
    return { client, accepted };
  }

  async pair(): Promise<Pair> {
    const one = await this.connectOne();
    const two = await this.connectOne();
    return {
      client1: one.client,
      a: one.accepted,
      b: two.accepted,
      client2: two.client,
      got1: collect(one.client),
      got2: collect(two.client),
    };
  }

  relay(pair: Pair, idleMs = 0): Relay {
    const totals = { aToB: 0, bToA: 0 };
    const ends: Ends[] = [];
    let resolveEnded!: (ends: Ends) => void;
    const ended = new Promise<Ends>((resolve) => (resolveEnded = resolve));
    const startedAt = performance.now();
    const relayed = startRelay(pair.a, pair.b, idleMs, {
      onBytes(aToB, bToA) {
        assert.ok(aToB >= 0 && bToA >= 0 && aToB + bToA > 0, `onBytes(${aToB}, ${bToA})`);
        totals.aToB += aToB;
        totals.bToA += bToA;
      },
      onEnd(reason, errno) {
        const end = { reason, errno, at: performance.now() };
        ends.push(end);
        resolveEnded(end);
      },
    });
    assert.ok(relayed !== undefined, 'startRelay took the pair');
    const relay: Relay = { pair: relayed, startedAt, totals, ends, ended };
    this.#relays.push(relay);
    return relay;
  }

  async close(): Promise<void> {
    for (const relay of this.#relays) relay.pair.stop();
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

async function harness(t: TestContext): Promise<Harness> {
  const h = new Harness(t);
  await h.listen();
  return h;
}

/** Resolves with the sha256 of everything `socket` receives until its peer's FIN. */
function hashUntilEnd(socket: Socket, slow: boolean): Promise<{ hash: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
      if (slow) {
        // A slow consumer: the kernel buffers on its side fill, so the relay has to hold
        // what it read and stop reading its source until the destination drains.
        socket.pause();
        setTimeout(() => socket.resume(), 1);
      }
    });
    socket.once('end', () => resolve({ hash: hash.digest('hex'), length }));
    socket.once('close', () => reject(new Error(`closed before the end, after ${length} bytes`)));
  });
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// Without the relay the whole file is one skipped test (counted as skipped, not passed).
if (!relayAvailable()) test('native TCP relay', { skip: 'the native relay is not available (addon not built, or MOSNODE_TCP_RELAY=0)' });
else describe('native TCP relay', () => {
  test('moves bytes both ways and counts them exactly', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const before = relayStats();
    const r = h.relay(p);
    assert.equal(relayStats().active, before.active + 1);
    assert.equal(relayStats().started, before.started + 1);
    assert.equal(r.pair.running, true);

    p.client1.write('hello from one');
    await until(() => p.got2.length >= 14, 'client2 to get the bytes');
    p.client2.write('and back from two');
    await until(() => p.got1.length >= 17, 'client1 to get the bytes');
    assert.equal(p.got2.bytes().toString(), 'hello from one');
    assert.equal(p.got1.bytes().toString(), 'and back from two');

    r.pair.stop();
    assert.equal(r.pair.running, false);
    assert.deepEqual(r.totals, { aToB: 14, bToA: 17 });
    assert.equal(relayStats().active, before.active);
    // stop() twice is harmless and reports nothing more.
    r.pair.stop();
    assert.deepEqual(r.totals, { aToB: 14, bToA: 17 });
    await sleep(50);
    assert.equal(r.ends.length, 0, 'a stopped pair does not also end');
  });

  test('32 MiB through a slow reader arrive intact, with exact byte counts, while 4 MiB go back', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    const forward = randomBytes(32 * 1024 * 1024);
    const backward = randomBytes(4 * 1024 * 1024);
    const atTwo = hashUntilEnd(p.client2, true);
    const atOne = hashUntilEnd(p.client1, false);
    p.client1.end(forward);
    p.client2.end(backward);
    const [two, one] = await Promise.all([atTwo, atOne]);
    assert.equal(two.length, forward.length);
    assert.equal(two.hash, sha256(forward));
    assert.equal(one.length, backward.length);
    assert.equal(one.hash, sha256(backward));
    const end = await r.ended;
    assert.equal(end.reason, 'closed');
    assert.equal(end.errno, 0);
    assert.equal(r.pair.running, false);
    assert.deepEqual(r.totals, { aToB: forward.length, bToA: backward.length });
    await sleep(20);
    assert.equal(r.ends.length, 1, 'onEnd once');
  });

  test('half-close from the client1 side: client2 sees the end and can still answer', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    p.client1.end('last words');
    await until(() => p.got2.ended, "client2 to see client1's FIN");
    assert.equal(p.got2.bytes().toString(), 'last words');
    assert.equal(r.pair.running, true, 'one direction still open');
    assert.equal(r.ends.length, 0);

    p.client2.write('still talking');
    await until(() => p.got1.length >= 13, 'client1 to get the answer');
    assert.equal(p.got1.ended, false);
    p.client2.end(' and done');
    const end = await r.ended;
    assert.deepEqual([end.reason, end.errno], ['closed', 0]);
    await until(() => p.got1.ended, "client1 to see client2's FIN");
    assert.equal(p.got1.bytes().toString(), 'still talking and done');
    assert.deepEqual(r.totals, { aToB: 10, bToA: 22 });
  });

  test('half-close from the client2 side: client1 sees the end and can still send', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    p.client2.end('bye');
    await until(() => p.got1.ended, "client1 to see client2's FIN");
    assert.equal(r.ends.length, 0);

    p.client1.write('one more');
    await until(() => p.got2.length >= 8, 'client2 to get it');
    p.client1.end();
    const end = await r.ended;
    assert.deepEqual([end.reason, end.errno], ['closed', 0]);
    await until(() => p.got2.ended, "client2 to see client1's FIN");
    assert.equal(p.got2.bytes().toString(), 'one more');
    assert.deepEqual(r.totals, { aToB: 8, bToA: 3 });
  });

  test('a reset by client1 ends the pair with an error and its errno', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    p.client1.write('x');
    await until(() => p.got2.length === 1, 'the first byte');
    p.client1.resetAndDestroy();
    const end = await r.ended;
    assert.equal(end.reason, 'error');
    assert.ok(end.errno > 0, `errno ${end.errno}`);
    assert.equal(r.pair.running, false);
    assert.deepEqual(r.totals, { aToB: 1, bToA: 0 });
  });

  test('a reset by client2 while the relay holds bytes for it ends the pair with an error', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    // client2 does not read: the kernel buffers fill and the relay keeps the rest pending.
    p.client2.pause();
    p.client1.write(randomBytes(16 * 1024 * 1024));
    await until(() => p.client1.writableLength > 0 && r.ends.length === 0, 'a backlog');
    await sleep(100);
    p.client2.resetAndDestroy();
    const end = await r.ended;
    assert.equal(end.reason, 'error');
    assert.ok(end.errno > 0, `errno ${end.errno}`);
    assert.ok(r.totals.aToB > 0 && r.totals.aToB < 16 * 1024 * 1024, `moved ${r.totals.aToB}`);
  });

  test('ends an idle pair after about idleMs, not before, and activity keeps it alive', async (t) => {
    const h = await harness(t);
    const quiet = await h.pair();
    const busy = await h.pair();
    const q = h.relay(quiet, 200);
    const b = h.relay(busy, 300);
    // The busy pair moves a byte every 50 ms for 600 ms: twice its idle timeout.
    for (let i = 0; i < 12; i++) {
      busy.client1.write('.');
      await sleep(50);
    }
    const end = await q.ended;
    assert.equal(end.reason, 'idle');
    assert.equal(end.errno, 0);
    const after = end.at - q.startedAt;
    assert.ok(after >= 150, `ended after ${after.toFixed(0)} ms`);
    assert.ok(after < 2000, `ended after ${after.toFixed(0)} ms`);
    assert.equal(b.ends.length, 0, 'the busy pair is still relayed');
    assert.equal(b.pair.running, true);
    const busyEnd = await b.ended;
    assert.equal(busyEnd.reason, 'idle');
    assert.ok(busyEnd.at - q.startedAt >= 800, 'idle counts from the last byte moved');
    assert.equal(busy.got2.length, 12);
    assert.deepEqual(b.totals, { aToB: 12, bToA: 0 });
    // The sockets are still open after an idle end; whoever owns them closes them.
    assert.equal(quiet.a.destroyed, false);
    assert.equal(quiet.b.destroyed, false);
  });

  test('stop() mid-stream: nothing moves afterwards, counts match what arrived, sockets close cleanly', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    const chunk = randomBytes(256 * 1024);
    let writing = true;
    const pumpWrites = (): void => {
      while (writing && p.client1.write(chunk));
      if (writing) p.client1.once('drain', pumpWrites);
    };
    pumpWrites();
    await until(() => p.got2.length > 4 * 1024 * 1024, 'a few MiB through');
    r.pair.stop();
    writing = false;
    assert.equal(r.pair.running, false);
    const moved = r.totals.aToB;
    assert.ok(moved > 4 * 1024 * 1024);
    // What the relay had sent before it stopped still arrives; then nothing more.
    await until(() => p.got2.length === moved, 'the bytes already sent to arrive', 5000);
    p.client2.write('after stop');
    p.client1.write('after stop too');
    await sleep(300);
    assert.equal(p.got2.length, moved, 'nothing forwarded after stop()');
    assert.equal(p.got1.length, 0, 'nothing forwarded after stop()');
    assert.deepEqual(r.totals, { aToB: moved, bToA: 0 });
    assert.equal(r.ends.length, 0);

    // Closing A with client1's bytes unread resets client1: wait for 'close', not a clean end.
    const closed = [p.a, p.b, p.client1, p.client2].map((s) => new Promise((resolve) => s.once('close', resolve)));
    p.a.destroy();
    p.b.destroy();
    await Promise.all(closed);
    await sleep(50);
    assert.equal(r.ends.length, 0, 'no end after stop');
  });

  test('tryDetach() on a quiet pair hands both sockets back to Node', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    p.client1.write('relayed');
    await until(() => p.got2.length === 7, 'the relayed bytes');
    const before = relayStats().active;
    assert.equal(r.pair.tryDetach(), true);
    assert.equal(r.pair.running, false);
    assert.equal(relayStats().active, before - 1);
    assert.deepEqual(r.totals, { aToB: 7, bToA: 0 });
    assert.equal(r.pair.tryDetach(), false, 'only once');

    // Node reads and writes the sockets itself again.
    const gotA = collect(p.a);
    const gotB = collect(p.b);
    startReading(p.a);
    startReading(p.b);
    // pauseOnConnect left them explicitly paused, so a 'data' listener alone does not resume.
    p.a.resume();
    p.b.resume();
    p.client1.write('to A');
    p.client2.write('to B');
    await until(() => gotA.length === 4 && gotB.length === 4, 'Node to read A and B');
    assert.equal(gotA.bytes().toString(), 'to A');
    assert.equal(gotB.bytes().toString(), 'to B');
    p.a.write('from A');
    await until(() => p.got1.length === 6, 'client1 to get what A wrote');
    assert.equal(p.got1.bytes().toString(), 'from A');
    assert.equal(p.got2.length, 7, 'the relay forwards nothing any more');
    p.client1.end();
    await until(() => gotA.ended, "A to see client1's FIN");
    await sleep(20);
    assert.equal(r.ends.length, 0);
    assert.deepEqual(r.totals, { aToB: 7, bToA: 0 });
  });

  test('tryDetach() refuses once a FIN was seen, and the pair keeps relaying', async (t) => {
    const h = await harness(t);
    const p = await h.pair();
    const r = h.relay(p);
    p.client1.end();
    await until(() => p.got2.ended, "client2 to see client1's FIN");
    assert.equal(r.pair.tryDetach(), false);
    assert.equal(r.pair.running, true);
    p.client2.write('after the refusal');
    await until(() => p.got1.length === 17, 'the relay to go on');
    p.client2.end();
    const end = await r.ended;
    assert.equal(end.reason, 'closed');
    assert.deepEqual(r.totals, { aToB: 0, bToA: 17 });
  });

  test('a live relayed pair keeps the process alive, and only until it ends', async (t) => {
    // A child relays two connections from here, then closes its listener: nothing but the
    // relayed (read-stopped) sockets is left to keep its event loop running.
    const script = `
      import { createServer } from 'node:net';
      import { startRelay } from ${JSON.stringify(new URL('./native-relay.ts', import.meta.url).href)};
      const accepted = [];
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        accepted.push(socket);
        if (accepted.length < 2) return;
        const [a, b] = accepted;
        startRelay(a, b, 0, {
          onBytes() {},
          onEnd(reason) { console.log('end ' + reason); a.destroy(); b.destroy(); },
        });
        server.close();
        console.log('relaying');
      });
      server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill());
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    let exited = false;
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { exited = true; resolve(code); }));
    await until(() => /port \d+/.test(output) || exited, 'the child to listen', 10_000);
    const port = Number(/port (\d+)/.exec(output)?.[1]);
    const sockets: Socket[] = [];
    t.after(() => { for (const socket of sockets) socket.destroy(); });
    const open = async (): Promise<Socket> => {
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      sockets.push(socket);
      socket.on('error', () => {});
      await once(socket, 'connect');
      return socket;
    };
    const client1 = await open();
    const client2 = await open();
    const got1 = collect(client1);
    const got2 = collect(client2);
    await until(() => output.includes('relaying') || exited, 'the relay to start', 5000);
    await sleep(500);
    assert.equal(exited, false, 'the child still runs while its pair is relayed');
    client1.write('ping');
    await until(() => got2.length === 4, 'the relayed bytes');
    client2.write('pong');
    await until(() => got1.length === 4, 'the relayed answer');
    client1.end();
    client2.end();
    assert.equal(await exit, 0);
    assert.match(output, /end closed/);
    assert.equal(got1.bytes().toString() + got2.bytes().toString(), 'pongping');
  });

  test('200 pairs ping-pong at once', async (t) => {
    const h = await harness(t);
    const count = 200;
    const rounds = 20;
    const pairs: Pair[] = [];
    for (let i = 0; i < count; i++) pairs.push(await h.pair());
    const before = relayStats();
    const relays = pairs.map((p) => h.relay(p));
    assert.equal(relayStats().active, before.active + count);
    assert.equal(relayStats().started, before.started + count);
    // client2 echoes; client1 sends a 100-byte message and waits for it to come back.
    for (const p of pairs) {
      p.client2.on('data', (data: Buffer) => p.client2.write(data));
      p.client2.on('end', () => p.client2.end());
    }
    await Promise.all(
      pairs.map(async (p, i) => {
        for (let round = 0; round < rounds; round++) {
          const message = Buffer.alloc(100, `${i}:${round};`);
          p.client1.write(message);
          await until(() => p.got1.length >= (round + 1) * 100, `pair ${i} round ${round}`, 30_000);
        }
        const all = p.got1.bytes();
        for (let round = 0; round < rounds; round++) {
          assert.ok(all.subarray(round * 100, round * 100 + 100).equals(Buffer.alloc(100, `${i}:${round};`)));
        }
        p.client1.end();
      }),
    );
    const ends = await Promise.all(relays.map((r) => r.ended));
    for (const end of ends) assert.deepEqual([end.reason, end.errno], ['closed', 0]);
    for (const r of relays) {
      assert.deepEqual(r.totals, { aToB: rounds * 100, bToA: rounds * 100 });
      assert.equal(r.ends.length, 1);
    }
    assert.equal(relayStats().active, before.active);
    assert.equal(relayStats().started, before.started + count);
  });
});

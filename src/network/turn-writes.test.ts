/**
 * TurnWriter on real loopback sockets: writes are held to the end of the event loop's
 * turn and go out in order, as one writev; big writes go at once; whenFlushed() is told
 * only once the bytes are in the kernel (after the peer read them, when the socket was
 * full); backpressure is reported as socket.write() does; a destroyed socket drops what
 * was held; a listener that throws does not keep other sockets' bytes back.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { socketPair, until, type SocketPair } from '../../test/helpers/sockets.ts';
import { EARLY_FLUSH_BYTES, TurnWriter, type FlushListener } from './turn-writes.ts';

const pairs: SocketPair[] = [];
after(() => Promise.all(pairs.map((p) => p.close())));

interface Pair {
  /** Our end: what a TurnWriter writes to. */
  local: Socket;
  /** The peer, collecting what it reads. */
  peer: Socket;
  received(): Buffer;
}

/** A connected loopback pair on port 0. */
async function pair(): Promise<Pair> {
  const sockets = await socketPair();
  pairs.push(sockets);
  const chunks: Buffer[] = [];
  sockets.accepted.on('data', (c: Buffer) => chunks.push(c));
  return { local: sockets.client, peer: sockets.accepted, received: () => Buffer.concat(chunks) };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Recorder implements FlushListener {
  calls: (Error | null | undefined)[] = [];
  flushed(err?: Error | null): void {
    this.calls.push(err);
  }
}

describe('TurnWriter', () => {
  test('writes are held until the turn ends, then go out in order in one corked write', async () => {
    const { local, received } = await pair();
    const corkedAtWrite: number[] = [];
    const write = local.write.bind(local) as (...args: unknown[]) => boolean;
    local.write = ((...args: unknown[]) => {
      corkedAtWrite.push(local.writableCorked);
      return write(...args);
    }) as Socket['write'];
    const out = new TurnWriter(local);
    assert.equal(out.write('GET / HTTP/1.1\r\n'), true);
    assert.equal(out.write(Buffer.from('host: x\r\n')), true);
    assert.equal(out.write('\r\n'), true);
    assert.equal(out.heldBytes, 27);
    assert.equal(local.bytesWritten, 0, 'nothing reaches the socket within the turn');
    await turn();
    assert.equal(out.heldBytes, 0);
    assert.deepEqual(corkedAtWrite, [1, 1, 1], 'all three inside one cork: one writev');
    await until(() => received().length === 27, '27 bytes');
    assert.equal(received().toString('latin1'), 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  });

  test('a single held chunk is written as is; strings are latin1', async () => {
    const { local, received } = await pair();
    const out = new TurnWriter(local);
    out.write('caf\u00e9');
    await turn();
    await until(() => received().length === 4, '4 bytes');
    assert.deepEqual([...received()], [0x63, 0x61, 0x66, 0xe9]);
  });

  test('writes to several sockets in one turn all go out at its end', async () => {
    const pairs = await Promise.all([pair(), pair(), pair()]);
    const writers = pairs.map((p) => new TurnWriter(p.local));
    writers.forEach((w, i) => w.write(`to ${i}`));
    writers[0]!.write(' again');
    assert.ok(pairs.every((p) => p.local.bytesWritten === 0));
    await turn();
    await until(() => pairs.every((p, i) => p.received().length === (i === 0 ? 10 : 4)), 'every peer to read');
    assert.deepEqual(
      pairs.map((p) => p.received().toString()),
      ['to 0 again', 'to 1', 'to 2'],
    );
  });

  test(`past ${EARLY_FLUSH_BYTES} bytes held, they are written at once, in order`, async () => {
    const { local, received } = await pair();
    const out = new TurnWriter(local);
    const head = 'head:';
    const big = randomBytes(EARLY_FLUSH_BYTES);
    out.write(head);
    // As socket.write(): a write reaching the high-water mark says wait for 'drain'.
    assert.equal(out.write(big), false);
    assert.equal(out.heldBytes, 0);
    assert.equal(local.bytesWritten, head.length + big.length, 'given to the socket within the turn');
    await once(local, 'drain');
    assert.equal(out.write('tail'), true);
    assert.equal(out.heldBytes, 4);
    await turn();
    const total = head.length + big.length + 4;
    await until(() => received().length === total, `${total} bytes`);
    const got = received();
    assert.equal(got.subarray(0, 5).toString(), head);
    assert.ok(got.subarray(5, 5 + big.length).equals(big));
    assert.equal(got.subarray(5 + big.length).toString(), 'tail');
  });

  test('whenFlushed is told at the end of the turn when the kernel took every byte', async () => {
    const { local } = await pair();
    const out = new TurnWriter(local);
    const listener = new Recorder();
    out.write('response');
    out.whenFlushed(listener);
    assert.deepEqual(listener.calls, []);
    await turn();
    assert.deepEqual(listener.calls, [undefined]);
    // With nothing held, it still waits for the turn (never inside the caller's own call).
    out.whenFlushed(listener);
    assert.equal(listener.calls.length, 1);
    await turn();
    assert.equal(listener.calls.length, 2);
  });

  test('with the socket full, whenFlushed waits until the peer has read; write() reports backpressure, then drain', async () => {
    const { local, peer, received } = await pair();
    peer.pause();
    const out = new TurnWriter(local);
    const listener = new Recorder();
    const payload = randomBytes(16 * 1024 * 1024);
    // Larger than the early-flush limit: written at once, and more than the kernel takes.
    assert.equal(out.write(payload), false);
    assert.equal(local.writableNeedDrain, true);
    out.whenFlushed(listener);
    // Behind already: the next write is queued in the socket, in order, and says wait.
    assert.equal(out.write('end'), false);
    await turn();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(listener.calls, [], 'not told while the peer reads nothing');
    const drained = once(local, 'drain');
    peer.resume();
    await drained;
    await until(() => listener.calls.length === 1, 'the listener');
    assert.equal(listener.calls[0], null);
    await until(() => received().length === payload.length + 3, 'every byte');
    assert.ok(received().subarray(0, payload.length).equals(payload));
    assert.equal(received().subarray(payload.length).toString(), 'end');
  });

  test('bytes held for a socket destroyed before the turn ends are dropped; the listener is not told', async () => {
    const { local, peer } = await pair();
    const out = new TurnWriter(local);
    const listener = new Recorder();
    out.write('never sent');
    out.whenFlushed(listener);
    local.destroy();
    const peerClosed = once(peer, 'close');
    await turn();
    await peerClosed;
    assert.equal(peer.bytesRead, 0);
    assert.deepEqual(listener.calls, []);
  });

  test('flush() before end(): held bytes precede the FIN', async () => {
    const { local, peer, received } = await pair();
    const out = new TurnWriter(local);
    out.write('last words');
    out.flush();
    local.end();
    await once(peer, 'end');
    assert.equal(received().toString(), 'last words');
  });

  test('a listener that throws: the writers after it in the turn still flush, one turn later', async (t) => {
    const pairs = await Promise.all([pair(), pair()]);
    const [a, b] = pairs.map((p) => new TurnWriter(p.local)) as [TurnWriter, TurnWriter];
    const thrown: unknown[] = [];
    // The exception escapes the turn's setImmediate, as any bug would; caught here instead of by the runner.
    process.setUncaughtExceptionCaptureCallback((err) => thrown.push(err));
    t.after(() => process.setUncaughtExceptionCaptureCallback(null));
    a.write('first');
    a.whenFlushed({
      flushed() {
        throw new Error('listener bug');
      },
    });
    b.write('second');
    await turn();
    await turn();
    await until(() => pairs[1]!.received().length === 6, 'the second socket');
    assert.equal(pairs[0]!.received().toString(), 'first');
    assert.equal(pairs[1]!.received().toString(), 'second');
    assert.equal(thrown.length, 1);
    assert.match(String(thrown[0]), /listener bug/);
  });
});

/**
 * readInto() / readAsStream() on real accepted loopback sockets: reads land in our
 * buffer with no 'data' events; pause() leaves bytes in the kernel and resume() reads
 * them; a callback returning false stops reading; EOF still ends the socket; bytes a
 * listener filter left buffered come back first; readAsStream() gives the socket back to
 * stream readers, backpressure included; sockets that cannot be switched are refused.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { sleep, socketPair, until, type SocketPair } from '../../test/helpers/sockets.ts';
import { canReadInto, readAsStream, readInto } from './socket-reads.ts';

const pairs: SocketPair[] = [];
after(() => Promise.all(pairs.map((p) => p.close())));

/** A client and the server's end of it (accepted paused, as mosnode's listeners do). */
async function accepted(): Promise<{ client: Socket; server: Socket }> {
  const sockets = await socketPair({ pauseOnConnect: true, allowHalfOpen: true });
  pairs.push(sockets);
  return { client: sockets.client, server: sockets.accepted };
}

describe('readInto', () => {
  test('this Node lays out the onread fields as expected', () => {
    assert.equal(canReadInto, true);
  });

  test('reads land in the buffer and call back, with no data events; EOF still ends the socket', async () => {
    const { client, server } = await accepted();
    const buffer = Buffer.alloc(1024);
    const got: string[] = [];
    let landedIn: Buffer | undefined;
    const buffered = readInto(server, buffer, (nread, into) => {
      landedIn = into;
      got.push(into.toString('latin1', 0, nread));
      return true;
    });
    assert.deepEqual(buffered, []);
    server.on('data', () => assert.fail('no data events'));
    server.resume();
    client.write('hello');
    await until(() => got.join('') === 'hello', 'hello');
    assert.equal(landedIn, buffer);
    client.write('world');
    await until(() => got.join('') === 'helloworld', 'world');
    const ended = once(server, 'end');
    client.end();
    await ended;
    assert.equal(server.bytesRead, 10);
  });

  test('pause() leaves bytes in the kernel; resume() reads them', async () => {
    const { client, server } = await accepted();
    let total = 0;
    readInto(server, Buffer.alloc(64 * 1024), (nread) => {
      total += nread;
      return true;
    });
    server.resume();
    client.write('a');
    await until(() => total === 1, 'the first byte');
    server.pause();
    client.write('bcd');
    await sleep(50);
    assert.equal(total, 1, 'nothing read while paused');
    assert.equal(server.readableLength, 0, 'nor buffered in the stream');
    server.resume();
    await until(() => total === 4, 'the rest');
  });

  test('a callback returning false stops reading until resume()', async () => {
    const { client, server } = await accepted();
    let reads = 0;
    readInto(server, Buffer.alloc(4), () => {
      reads++;
      return false;
    });
    server.resume();
    client.write('12345678');
    await until(() => reads === 1, 'one read');
    await sleep(50);
    assert.equal(reads, 1, 'stopped after it');
    server.resume();
    await until(() => reads === 2, 'the next read');
  });

  test('bytes a listener filter left in the stream come back first, oldest first', async () => {
    const { client, server } = await accepted();
    client.write('PROXY-LIKE PREFIX ');
    server.resume();
    const [first] = (await once(server, 'data')) as [Buffer];
    server.pause();
    server.unshift(first);
    const got: string[] = [];
    const buffered = readInto(server, Buffer.alloc(1024), (nread, into) => {
      got.push(into.toString('latin1', 0, nread));
      return true;
    });
    assert.deepEqual(
      buffered?.map((b) => b.toString()),
      ['PROXY-LIKE PREFIX '],
    );
    server.resume();
    client.write('then the request');
    await until(() => got.join('') === 'then the request', 'the next read');
  });

  test('refused, with nothing changed: a socket without a handle, and one already switched', async () => {
    const loose = new Socket();
    assert.equal(readInto(loose, Buffer.alloc(8), () => true), undefined);
    loose.destroy();
    const { client, server } = await accepted();
    assert.ok(readInto(server, Buffer.alloc(8), () => true));
    assert.equal(readInto(server, Buffer.alloc(8), () => true), undefined);
    client.destroy();
  });
});

describe('readAsStream', () => {
  test('after it, reads come as data events and pipes, with backpressure', async () => {
    const { client, server } = await accepted();
    readInto(server, Buffer.alloc(16 * 1024), () => assert.fail('no longer ours'));
    readAsStream(server);
    const payload = randomBytes(8 * 1024 * 1024);
    let received = 0;
    let mostBuffered = 0;
    const hash = createHash('sha256');
    server.on('data', (chunk: Buffer) => {
      received += chunk.length;
      mostBuffered = Math.max(mostBuffered, server.readableLength);
      hash.update(chunk);
      // A slow reader: the socket stops reading while the stream's buffer is full.
      if (received < payload.length) {
        server.pause();
        setTimeout(() => server.resume(), 0);
      }
    });
    server.resume();
    client.end(payload);
    await once(server, 'end');
    assert.equal(received, payload.length);
    // Reading stopped whenever the stream's buffer was full: at most one read past it.
    assert.ok(mostBuffered <= server.readableHighWaterMark + 16 * 1024, `${mostBuffered} bytes buffered`);
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  });

  test('a socket that was never switched is left alone', async () => {
    const { client, server } = await accepted();
    readAsStream(server);
    server.resume();
    client.write('plain');
    const [chunk] = (await once(server, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'plain');
  });
});

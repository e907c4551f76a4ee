/**
 * IoBuffer: writes, peeks, drains and takes keep byte order through growth and
 * compaction; memory comes from the pool in size classes, starts at nothing, grows by
 * class, and goes back when the buffer is idle.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BytePool } from './byte-pool.ts';
import { IoBuffer } from './io-buffer.ts';

function strictPool(): BytePool {
  return new BytePool({ strict: true, trimIntervalMs: 0 });
}

describe('IoBuffer', () => {
  test('holds no memory until the first write, then the smallest class that fits', () => {
    const pool = strictPool();
    const buf = new IoBuffer(pool);
    assert.equal(buf.capacity, 0);
    assert.equal(pool.stats.inUse, 0);
    buf.write(Buffer.from('hello'));
    assert.equal(buf.capacity, 512);
    assert.equal(buf.length, 5);
    assert.equal(pool.stats.inUse, 1);
    buf.release();
  });

  test('peek does not consume; drain and take do, in order', () => {
    const buf = new IoBuffer(strictPool());
    buf.write(Buffer.from('abc'));
    buf.write(Buffer.from('defgh'));
    assert.equal(buf.peek(4).toString(), 'abcd');
    assert.equal(buf.peek(100).toString(), 'abcdefgh', 'peek past the end gives what there is');
    assert.equal(buf.length, 8);
    buf.drain(2);
    assert.equal(buf.readIndex, 2);
    const taken = buf.take(3);
    assert.equal(taken.toString(), 'cde');
    assert.equal(buf.readable().toString(), 'fgh');
    assert.throws(() => buf.drain(4), RangeError);
    assert.throws(() => buf.take(4), RangeError);
    assert.equal(buf.take().toString(), 'fgh');
    assert.equal(buf.length, 0);
    assert.equal(buf.readIndex, 0, 'empty: indices start over');
    assert.equal(buf.writeIndex, 0);
    buf.release();
  });

  test('take returns a copy that outlives the buffer', () => {
    const pool = strictPool();
    const buf = new IoBuffer(pool);
    buf.write(Buffer.from('keep me'));
    const taken = buf.take();
    buf.release();
    // The pooled buffer goes to the next owner, who overwrites it.
    const next = pool.acquire(512);
    next.bytes.fill(0);
    assert.equal(taken.toString(), 'keep me');
    next.release();
  });

  test('grows class by class, copying, and gives every smaller buffer back', () => {
    const pool = strictPool();
    const buf = new IoBuffer(pool);
    const data = randomBytes(200_000);
    let written = 0;
    const capacities = new Set<number>();
    while (written < data.length) {
      const n = Math.min(3000, data.length - written);
      buf.write(data.subarray(written, written + n));
      written += n;
      capacities.add(buf.capacity);
      assert.equal(pool.stats.inUse, 1, 'one lease at a time');
    }
    assert.deepEqual([...capacities].filter((c) => c <= 65536), [4096, 8192, 16384, 32768, 65536]);
    assert.ok(buf.capacity >= data.length, 'past 64 KiB: plain allocations');
    assert.ok(buf.readable().equals(data));
    buf.release();
    assert.equal(pool.stats.inUse, 0);
  });

  test('compacts instead of growing when drained space makes room', () => {
    const pool = strictPool();
    const buf = new IoBuffer(pool);
    buf.write(Buffer.alloc(400, 1));
    buf.drain(300);
    buf.write(Buffer.alloc(300, 2));
    assert.equal(buf.capacity, 512, 'no growth: 100 + 300 fit');
    assert.equal(buf.readIndex, 0);
    assert.deepEqual([...buf.readable()], [...Buffer.alloc(100, 1), ...Buffer.alloc(300, 2)]);
    buf.drain(50);
    buf.compact();
    assert.equal(buf.readIndex, 0);
    assert.equal(buf.length, 350);
    buf.release();
  });

  test('reserve and commit: reading straight into the buffer', () => {
    const buf = new IoBuffer(strictPool());
    buf.write(Buffer.from('ab'));
    const target = buf.reserve(1000);
    assert.ok(target.length >= 1000);
    target.write('cdef');
    buf.commit(4);
    assert.equal(buf.readable().toString(), 'abcdef');
    assert.throws(() => buf.commit(1_000_000), RangeError);
    buf.release();
  });

  test('shrinkIfIdle gives the memory back only when empty; the next write starts small again', () => {
    const pool = strictPool();
    const buf = new IoBuffer(pool);
    buf.write(Buffer.alloc(40_000));
    assert.equal(buf.capacity, 65536);
    buf.drain(39_999);
    assert.equal(buf.shrinkIfIdle(), false, 'a byte is still unread');
    buf.drain(1);
    assert.equal(buf.shrinkIfIdle(), true);
    assert.equal(buf.capacity, 0);
    assert.equal(pool.stats.inUse, 0);
    assert.equal(pool.classStats()[7]!.free, 1, 'the 64 KiB buffer is back in its class');
    buf.write(Buffer.from('x'));
    assert.equal(buf.capacity, 512);
    assert.equal(buf.shrinkIfIdle(), false);
    buf.release();
    buf.release();
    assert.equal(pool.stats.doubleRelease, 0, 'release() of an empty IoBuffer gives nothing back twice');
  });

  test('a peek view is overwritten by later writes once its bytes were drained (the documented limit)', () => {
    const buf = new IoBuffer(strictPool());
    buf.write(Buffer.from('first'));
    const view = buf.peek(5);
    buf.drain(5);
    buf.write(Buffer.from('later'));
    assert.equal(view.toString(), 'later');
    buf.release();
  });
});

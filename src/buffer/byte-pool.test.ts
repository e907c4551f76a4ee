/**
 * BytePool: size classes, reuse, reference counts, the bounded free lists and trim(), and
 * every wrong give-back refused (thrown when strict, counted and reported otherwise)
 * without a buffer ever reaching a free list twice.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BytePool, MAX_CLASS_BYTES, MIN_CLASS_BYTES, classBytes, defaultStrict, sharedBytePool, sizeClassOf, type BytePoolProblem } from './byte-pool.ts';

function lenientPool(options: ConstructorParameters<typeof BytePool>[0] = {}): { pool: BytePool; reports: Array<{ problem: BytePoolProblem; message: string }> } {
  const pool = new BytePool({ strict: false, trimIntervalMs: 0, ...options });
  const reports: Array<{ problem: BytePoolProblem; message: string }> = [];
  pool.onProblem((problem, message) => reports.push({ problem, message }));
  return { pool, reports };
}

describe('size classes', () => {
  test('powers of two from 512 B to 64 KiB', () => {
    assert.equal(sizeClassOf(0), 0);
    assert.equal(sizeClassOf(1), 0);
    assert.equal(sizeClassOf(512), 0);
    assert.equal(sizeClassOf(513), 1);
    assert.equal(sizeClassOf(1024), 1);
    assert.equal(sizeClassOf(4097), 4);
    assert.equal(sizeClassOf(65536), 7);
    assert.equal(sizeClassOf(65537), -1);
    assert.equal(classBytes(0), MIN_CLASS_BYTES);
    assert.equal(classBytes(7), MAX_CLASS_BYTES);
  });

  test('a lease holds the whole class; above 64 KiB a plain allocation of the exact size', () => {
    const { pool } = lenientPool();
    const small = pool.acquire(100);
    assert.equal(small.bytes.length, 512);
    assert.equal(small.pooled, true);
    const mid = pool.acquire(5000);
    assert.equal(mid.size, 8192);
    const big = pool.acquire(100_000);
    assert.equal(big.size, 100_000);
    assert.equal(big.pooled, false);
    assert.equal(pool.stats.inUse, 3);
    assert.equal(pool.stats.inUseBytes, 512 + 8192 + 100_000);
    assert.equal(pool.stats.unpooled, 1);
    for (const lease of [small, mid, big]) lease.release();
    assert.equal(pool.stats.inUse, 0);
    assert.equal(pool.stats.inUseBytes, 0);
    // The unpooled one is not kept.
    assert.equal(pool.stats.freeBytes, 512 + 8192);
  });
});

describe('reuse', () => {
  test('a released buffer serves the next acquire of its class, never of another', () => {
    const { pool } = lenientPool();
    const a = pool.acquire(1000);
    const bytes = a.bytes;
    a.release();
    const other = pool.acquire(3000);
    assert.notEqual(other.bytes.buffer === bytes.buffer && other.bytes.byteOffset === bytes.byteOffset, true);
    const b = pool.acquire(1024);
    assert.equal(b.bytes, bytes);
    assert.deepEqual(
      { allocated: pool.stats.allocated, reused: pool.stats.reused },
      { allocated: 2, reused: 1 },
    );
    b.release();
    other.release();
  });

  test('slab-carved buffers of one class do not overlap, and writes to one leave the others alone', () => {
    const { pool } = lenientPool();
    const leases = Array.from({ length: 130 }, () => pool.acquire(512));
    leases.forEach((lease, i) => lease.bytes.fill(i & 0xff));
    leases.forEach((lease, i) => assert.ok(lease.bytes.every((b) => b === (i & 0xff)), `buffer ${i} was overwritten`));
    // 64 KiB slabs hold 128 buffers of 512 B: 130 needed a second slab.
    assert.equal(new Set(leases.map((l) => l.bytes.buffer)).size, 2);
    for (const lease of leases) lease.release();
  });

  test('without slabs every buffer is its own allocation', () => {
    const { pool } = lenientPool({ slabs: false });
    const a = pool.acquire(512);
    const b = pool.acquire(512);
    assert.notEqual(a.bytes.buffer, b.bytes.buffer);
    assert.equal(a.bytes.byteOffset, 0);
    a.release();
    b.release();
  });

  test('reference counts: the buffer goes back only when the last holder releases', () => {
    const { pool } = lenientPool();
    const lease = pool.acquire(2048);
    lease.retain().retain();
    assert.equal(lease.refs, 3);
    lease.release();
    lease.release();
    assert.equal(pool.stats.inUse, 1);
    assert.equal(pool.stats.freeBytes, 0);
    lease.release();
    assert.equal(lease.refs, 0);
    assert.equal(pool.stats.inUse, 0);
    assert.equal(pool.stats.freeBytes, 2048);
  });
});

describe('bounded memory', () => {
  test('a class keeps at most maxFreeBytesPerClass of free buffers (at least 2); the rest is dropped', () => {
    const { pool } = lenientPool({ maxFreeBytesPerClass: 4096 });
    const leases = Array.from({ length: 12 }, () => pool.acquire(1024));
    for (const lease of leases) lease.release();
    assert.equal(pool.classStats()[1]!.maxFree, 4);
    assert.equal(pool.classStats()[1]!.free, 4);
    assert.equal(pool.stats.dropped, 8);
    const big = Array.from({ length: 3 }, () => pool.acquire(65536));
    for (const lease of big) lease.release();
    assert.equal(pool.classStats()[7]!.free, 2);
  });

  test('trim() drops what nobody took since the previous trim, and keeps what was used', () => {
    const { pool } = lenientPool();
    const burst = Array.from({ length: 10 }, () => pool.acquire(4096));
    for (const lease of burst) lease.release();
    assert.equal(pool.trim(), 0, 'the first trim only starts the observation');
    // Steady use of 3 buffers at a time during the next period.
    for (let round = 0; round < 5; round++) {
      const used = Array.from({ length: 3 }, () => pool.acquire(4096));
      for (const lease of used) lease.release();
    }
    assert.equal(pool.trim(), 7 * 4096);
    assert.equal(pool.classStats()[3]!.free, 3);
    assert.equal(pool.trim(), 3 * 4096, 'idle for a whole period: the rest goes too');
    assert.equal(pool.stats.freeBytes, 0);
    // Trimmed buffers are forgotten: acquiring again allocates.
    const before = pool.stats.allocated;
    pool.acquire(4096).release();
    assert.equal(pool.stats.allocated, before + 1);
  });

  test('the trim timer is unref\'d and runs on its own', async () => {
    const pool = new BytePool({ strict: true, trimIntervalMs: 20 });
    try {
      pool.acquire(512).release();
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(pool.stats.freeBytes, 0, 'two periods without use: trimmed');
    } finally {
      pool.clear();
    }
  });
});

describe('wrong give-backs (strict: thrown)', () => {
  test('a second release throws and does not reach the free list', () => {
    const pool = new BytePool({ strict: true, trimIntervalMs: 0 });
    const lease = pool.acquire(512);
    lease.release();
    assert.throws(() => lease.release(), /released twice/);
    assert.equal(pool.stats.doubleRelease, 1);
    assert.equal(pool.classStats()[0]!.free, 1);
    // Two acquires get two different buffers: nothing is handed out twice.
    const a = pool.acquire(512);
    const b = pool.acquire(512);
    assert.notEqual(a.bytes, b.bytes);
  });

  test('a stale lease (its buffer went to another owner) is named as such and leaves the new owner alone', () => {
    const pool = new BytePool({ strict: true, trimIntervalMs: 0 });
    const old = pool.acquire(512);
    const oldBytes = old.bytes;
    old.release();
    const current = pool.acquire(512);
    assert.equal(current.bytes, oldBytes, 'the same buffer, handed out again');
    assert.throws(() => old.release(), /stale 512-byte lease .*generation 1; the buffer went to another owner, now generation 2/);
    assert.equal(current.refs, 1, 'the new owner still holds it');
    assert.equal(pool.stats.inUse, 1);
    current.release();
  });

  test('retain and bytes after the last release throw', () => {
    const pool = new BytePool({ strict: true, trimIntervalMs: 0 });
    const lease = pool.acquire(512);
    lease.release();
    assert.throws(() => lease.retain(), /released .* retained/);
    assert.throws(() => lease.bytes, /bytes of a released/);
    assert.equal(pool.stats.useAfterRelease, 2);
  });

  test('strict by default under the test runner, and switchable', () => {
    assert.equal(defaultStrict(), process.env.NODE_TEST_CONTEXT !== undefined || process.env.MOSNODE_BYTE_POOL_STRICT === '1');
    const pool = new BytePool({ trimIntervalMs: 0 });
    assert.equal(pool.strict, defaultStrict());
    pool.setStrict(false);
    pool.onProblem(() => {});
    const lease = pool.acquire(512);
    lease.release();
    lease.release();
    assert.equal(pool.stats.doubleRelease, 1);
  });
});

describe('wrong give-backs (lenient: counted and reported, data intact)', () => {
  test('a double release is counted, reported once, and the buffer is not handed out twice', () => {
    const { pool, reports } = lenientPool();
    const lease = pool.acquire(1024);
    lease.release();
    lease.release();
    assert.equal(pool.stats.doubleRelease, 1);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.problem, 'doubleRelease');
    assert.match(reports[0]!.message, /byte pool "bytes": a 1024-byte lease was released twice; refused/);
    const a = pool.acquire(1024);
    const b = pool.acquire(1024);
    a.bytes.fill(1);
    b.bytes.fill(2);
    assert.ok(a.bytes.every((x) => x === 1), 'two owners never share a buffer');
  });

  test('a stale release does not free the buffer under its new owner', () => {
    const { pool, reports } = lenientPool();
    const old = pool.acquire(1024);
    old.release();
    const owner = pool.acquire(1024);
    owner.bytes.fill(7);
    old.release();
    assert.equal(owner.refs, 1);
    assert.equal(pool.stats.inUse, 1);
    // Were it freed, this acquire would get the owner's buffer.
    const next = pool.acquire(1024);
    next.bytes.fill(9);
    assert.ok(owner.bytes.every((x) => x === 7));
    assert.match(reports[0]!.message, /stale/);
  });

  test('reports are limited to one a second; the counter counts all', () => {
    const { pool, reports } = lenientPool();
    for (let i = 0; i < 50; i++) {
      const lease = pool.acquire(512);
      lease.release();
      lease.release();
    }
    assert.equal(pool.stats.doubleRelease, 50);
    assert.equal(reports.length, 1);
  });

  test('the default report is a process warning', async () => {
    const pool = new BytePool({ strict: false, trimIntervalMs: 0, name: 'warned' });
    const warned = new Promise<Error>((resolve) => {
      const onWarning = (warning: Error): void => {
        if (!warning.message.includes('"warned"')) return;
        process.off('warning', onWarning);
        resolve(warning);
      };
      process.on('warning', onWarning);
    });
    const lease = pool.acquire(512);
    lease.release();
    lease.release();
    const warning = await warned;
    assert.match(warning.message, /byte pool "warned": a 512-byte lease was released twice/);
    assert.equal((warning as Error & { code?: string }).code, 'MOSNODE_BYTE_POOL');
  });
});

test('the shared pool exists and is strict under the test runner', () => {
  assert.equal(sharedBytePool.name, 'shared');
  assert.equal(sharedBytePool.strict, defaultStrict());
});

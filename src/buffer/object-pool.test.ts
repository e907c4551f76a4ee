import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PoolRegistry, objectPools, poolsEnabledFromEnv, type PoolCounters } from './object-pool.ts';

interface Rec {
  id: number;
  refs: string[] | undefined;
}

let made = 0;
function recPool(registry: PoolRegistry, cap = 4, name = 'rec') {
  return registry.register<Rec>(name, () => ({ id: ++made, refs: undefined }), (r) => { r.refs = undefined; }, cap);
}

/** A registry that counts problems instead of throwing, and keeps what it reported. */
function lenient(): { registry: PoolRegistry; reports: string[] } {
  const registry = new PoolRegistry({ strict: false });
  const reports: string[] = [];
  registry.onProblem((message) => reports.push(message));
  return { registry, reports };
}

describe('ObjectPool', () => {
  test('a given-back object is reset and served again; counters follow', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const a = pool.take();
    a.refs = ['kept'];
    assert.equal(pool.counters().inUse, 1);
    pool.give(a, pool.generationOf(a));
    assert.equal(a.refs, undefined, 'reset at give-back: an idle object keeps nothing alive');
    const b = pool.take();
    assert.equal(b, a);
    const c = pool.take();
    assert.notEqual(c, a);
    const n = pool.counters();
    assert.deepEqual([n.created, n.reused, n.inUse, n.idle, n.givenBack], [2, 1, 2, 0, 1]);
  });

  test('cap bounds the idle objects; the rest are dropped to the garbage collector', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry, 2);
    const taken = [pool.take(), pool.take(), pool.take()];
    for (const r of taken) pool.give(r, pool.generationOf(r));
    const n = pool.counters();
    assert.deepEqual([n.idle, n.dropped, n.inUse], [2, 1, 0]);
    // The dropped one is forgotten: giving it back again is refused, not pooled twice.
    assert.throws(() => pool.give(taken[2]!, pool.generationOf(taken[2]!)), /after it was transmitted or dropped/);
  });

  test('a pool that is not enabled allocates every time and ignores give-backs', () => {
    const registry = new PoolRegistry({ enabled: new Set(['other']), strict: true });
    const pool = recPool(registry);
    const a = pool.take();
    pool.give(a, pool.generationOf(a));
    pool.give(a, pool.generationOf(a));
    assert.notEqual(pool.take(), a);
    assert.equal(pool.enabled, false);
    assert.deepEqual([pool.counters().created, pool.counters().reused, pool.counters().doubleGives], [2, 0, 0]);
  });

  test('a double give-back throws when strict', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const a = pool.take();
    const gen = pool.generationOf(a);
    pool.give(a, gen);
    assert.throws(() => pool.give(a, gen), /object pool "rec": an object was given back twice/);
    assert.equal(pool.counters().doubleGives, 1);
    assert.equal(pool.counters().idle, 1, 'still pooled once, not twice');
  });

  test('a stale reference given back after reuse is detected by its generation', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const a = pool.take();
    const first = pool.generationOf(a);
    pool.give(a, first);
    const again = pool.take();
    assert.equal(again, a, 'the same object went to another request');
    assert.throws(() => pool.give(a, first), /stale reference/);
    assert.equal(pool.counters().inUse, 1, 'the new holder keeps it');
    pool.give(again, pool.generationOf(again));
    assert.equal(pool.counters().inUse, 0);
  });

  test('an object from elsewhere is refused', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const other = recPool(registry, 4, 'other');
    assert.throws(() => pool.give({ id: 0, refs: undefined }, 1), /did not make/);
    const o = other.take();
    assert.throws(() => pool.give(o, other.generationOf(o)), /did not make/);
  });

  test('not strict: counted, and reported once per pool through the hook', () => {
    const { registry, reports } = lenient();
    const pool = recPool(registry);
    const a = pool.take();
    const gen = pool.generationOf(a);
    pool.give(a, gen);
    pool.give(a, gen);
    pool.give(a, gen);
    assert.equal(pool.counters().doubleGives, 2);
    assert.equal(reports.length, 1);
    assert.match(reports[0]!, /"rec": an object was given back twice/);
  });

  test('names are unique and caps are checked', () => {
    const registry = new PoolRegistry();
    recPool(registry);
    assert.throws(() => recPool(registry), /registered already/);
    assert.throws(() => registry.register('neg', () => ({}), () => {}, -1), /cap/);
    assert.ok(registry.get('rec'));
    assert.deepEqual(registry.stats().map((s: PoolCounters) => s.name), ['rec']);
  });
});

describe('RequestLease', () => {
  test('release gives back everything the request took, from several pools', () => {
    const registry = new PoolRegistry({ strict: true });
    const recs = recPool(registry);
    const arrays = registry.register<string[]>('arr', () => [], (a) => a.fill(''), 8);
    const lease = registry.lease();
    const r = lease.take(recs);
    const a = lease.take(arrays);
    a.push('x');
    const r3 = lease.take(recs);
    assert.equal(lease.size, 3);
    lease.release();
    assert.equal(lease.isOpen, false);
    assert.deepEqual([recs.counters().inUse, recs.counters().idle, arrays.counters().inUse, arrays.counters().idle], [0, 2, 0, 1]);
    assert.deepEqual(a, [''], 'reset ran');
    // The next request gets the lease and the objects again.
    const next = registry.lease();
    assert.equal(next, lease, 'leases are reused');
    assert.ok([r, r3].includes(next.take(recs)));
    assert.equal(recs.counters().reused, 1);
    next.release();
  });

  test('give returns one object early; giving it again is caught', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const lease = registry.lease();
    const a = lease.take(pool);
    const b = lease.take(pool);
    lease.give(a);
    assert.equal(lease.size, 1);
    assert.equal(pool.counters().givenBack, 1);
    assert.throws(() => lease.give(a), /given back twice/);
    lease.release();
    assert.equal(pool.counters().givenBack, 2);
    assert.equal(pool.counters().inUse, 0);
    void b;
  });

  test('a stale reference kept past the end of its request is caught when given back', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const first = registry.lease();
    const a = first.take(pool);
    first.release();
    const second = registry.lease();
    assert.equal(second.take(pool), a, 'reused by the next request');
    // The first request's code still holds `a` and gives it back through a new lease.
    const third = registry.lease();
    assert.throws(() => third.give(a), /stale reference/);
    assert.equal(pool.counters().inUse, 1);
    second.release();
    third.release();
  });

  test('transmit without a new owner: the release skips it and the pool forgets it', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const lease = registry.lease();
    const kept = lease.take(pool);
    kept.refs = ['for a writer'];
    lease.take(pool);
    assert.equal(lease.transmit(kept), true);
    lease.release();
    const n = pool.counters();
    assert.deepEqual([n.givenBack, n.transmitted, n.inUse, n.idle], [1, 1, 0, 1]);
    assert.deepEqual(kept.refs, ['for a writer'], 'not reset: it lives on elsewhere');
    assert.notEqual(pool.take(), kept, 'never handed to another request');
    assert.throws(() => pool.give(kept, pool.generationOf(kept)), /after it was transmitted/);
  });

  test('transmit to another lease: given back when that one ends, not before', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const request = registry.lease();
    const mirror = registry.lease();
    const copy = request.take(pool);
    request.transmit(copy, mirror);
    request.release();
    assert.equal(pool.counters().inUse, 1, 'the request ended, the mirror still holds it');
    mirror.release();
    assert.deepEqual([pool.counters().inUse, pool.counters().idle], [0, 1]);
  });

  test('transmitting what the lease does not hold is refused; transmitting twice is harmless', () => {
    const { registry, reports } = lenient();
    const pool = recPool(registry);
    const lease = registry.lease();
    const a = pool.take();
    assert.equal(lease.transmit(a), false);
    assert.equal(reports.length, 1);
    assert.match(reports[0]!, /does not hold/);
    const b = lease.take(pool);
    assert.equal(lease.transmit(b), true);
    assert.equal(lease.transmit(b), false);
    assert.equal(lease.transmit([]), false, 'an object from no pool');
    assert.equal(reports.length, 1);
    lease.release();
  });

  test('a copy of a pooled object does not pass for it', () => {
    const registry = new PoolRegistry({ strict: true });
    const pool = recPool(registry);
    const lease = registry.lease();
    const a = lease.take(pool);
    assert.throws(() => pool.give({ ...a }, pool.generationOf(a)), /did not make/);
    lease.release();
  });

  test('a lease released twice, or used after release, is reported', () => {
    const { registry, reports } = lenient();
    const pool = recPool(registry);
    const lease = registry.lease();
    lease.release();
    lease.release();
    assert.match(reports[0]!, /released twice/);
    const obj = lease.take(pool);
    assert.ok(obj, 'still returns an object');
    assert.equal(pool.counters().inUse, 0, 'not counted as held: nobody would give it back');
    assert.match(reports[1]!, /through a released lease/);
  });

  test('with every pool off, leases are inert and objects are plain allocations', () => {
    const registry = new PoolRegistry({ enabled: false, strict: true });
    const pool = recPool(registry);
    const lease = registry.lease();
    assert.equal(registry.lease(), lease, 'one shared inert lease, no allocation per request');
    const a = lease.take(pool);
    lease.transmit(a);
    lease.give(a);
    lease.release();
    lease.release();
    assert.notEqual(lease.take(pool), a);
    assert.deepEqual([pool.counters().created, pool.counters().reused, pool.counters().doubleGives], [2, 0, 0]);
  });
});

test('MOSNODE_OBJECT_POOLS values', () => {
  assert.equal(poolsEnabledFromEnv(undefined), true);
  assert.equal(poolsEnabledFromEnv('1'), true);
  assert.equal(poolsEnabledFromEnv('0'), false);
  assert.equal(poolsEnabledFromEnv('off'), false);
  assert.deepEqual(poolsEnabledFromEnv('a, b,'), new Set(['a', 'b']));
});

test('the process registry is strict under node --test', () => {
  assert.equal(objectPools.strict, process.env.NODE_TEST_CONTEXT !== undefined || process.env.MOSNODE_OBJECT_POOLS_STRICT === '1');
});

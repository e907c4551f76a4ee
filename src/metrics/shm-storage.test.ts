import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../core/native.ts';
import { ShmZone } from '../shm/shm-zone.ts';
import { MetricsRegistry } from './metrics-registry.ts';
import { shmStorage } from './shm-storage.ts';

const skip = process.platform !== 'linux' || native === undefined ? 'needs the native addon (Linux)' : false;
let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'mosnode-shm-storage-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

test('two registries over one zone share counters under MOSN cell names and sum gauges', { skip }, () => {
  const path = join(dir, 'mosn_shm_metrics');
  const zone = ShmZone.open(path, 1 << 20, { mode: 'fresh' });
  const peer = ShmZone.open(path, 1 << 20, { mode: 'attach' });
  try {
    const mine = new MetricsRegistry({ storage: shmStorage(zone) });
    const theirs = new MetricsRegistry({ storage: shmStorage(peer) });
    const listener = { listener: 'x' };
    mine.group('downstream', listener).counter('request_total').inc(3);
    theirs.group('downstream', listener).counter('request_total').inc(4);
    mine.group('downstream', listener).gauge('connection_active').inc(2);
    theirs.group('downstream', listener).gauge('connection_active').update(5);

    assert.equal(mine.group('downstream', listener).counter('request_total').value, 7);
    assert.deepEqual(mine.snapshot(), { downstream: { 'listener.x': { connection_active: '7', request_total: '7' } } });
    assert.deepEqual(
      zone.snapshot().map(({ name, kind, value }) => [name, kind, value]),
      [['downstream.listener.x.request_total', 'counter', 7], ['downstream.listener.x.connection_active', 'gauge', 7]],
    );
    peer.close();
    assert.equal(mine.group('downstream', listener).gauge('connection_active').value, 2, "the peer's share left with it");
  } finally {
    peer.close();
    zone.close();
  }
});

test('metrics the stats matcher excludes spend no zone cell', { skip }, () => {
  const zone = ShmZone.open(join(dir, 'mosn_shm_matcher'), 1 << 20, { mode: 'fresh' });
  try {
    const registry = new MetricsRegistry({ storage: shmStorage(zone), statsMatcher: { exclusion_keys: ['request_total'] } });
    registry.group('downstream', { listener: 'x' }).counter('request_total').inc();
    registry.group('downstream', { listener: 'x' }).counter('bytes_read_total').inc(10);
    assert.deepEqual(zone.snapshot().map((cell) => cell.name), ['downstream.listener.x.bytes_read_total']);
  } finally {
    zone.close();
  }
});

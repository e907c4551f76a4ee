import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ShmZoneError } from './shm-zone-error.ts';
import { ZoneLock } from './zone-lock.ts';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

test('acquire and release; another pid cannot take a held lock, and can once it is released', () => {
  const words = new Int32Array(1);
  const lock = new ZoneLock(words, 0);
  assert.deepEqual(lock.acquire('t'), { stolenFrom: undefined });
  assert.equal(lock.holder, process.pid);
  // Plays a second live process (our parent's pid) wanting the same lock.
  const other = new ZoneLock(words, 0, 20, process.ppid);
  assert.throws(() => other.acquire('t'), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_LOCK_TIMEOUT');
  other.release();
  assert.equal(lock.holder, process.pid, 'release by a non-holder does nothing');
  lock.release();
  assert.equal(lock.holder, 0);
  assert.deepEqual(other.acquire('t'), { stolenFrom: undefined });
  assert.equal(lock.holder, process.ppid);
});

test('a lock held by a dead pid is taken over and reported', () => {
  const words = new Int32Array(1);
  const dead = deadPid();
  words[0] = dead;
  const lock = new ZoneLock(words, 0, 1000);
  const started = performance.now();
  assert.deepEqual(lock.acquire('t'), { stolenFrom: dead });
  assert.ok(performance.now() - started < 500);
  assert.equal(lock.holder, process.pid);
  lock.release();
});

test('a lock held by a live process times out with MOSN_ERR_SHM_LOCK_TIMEOUT naming it; release leaves it alone', () => {
  const words = new Int32Array(1);
  words[0] = process.ppid;
  const lock = new ZoneLock(words, 0, 50);
  const started = performance.now();
  assert.throws(() => lock.acquire('shm zone z'), (err) => err instanceof ShmZoneError && err.code === 'MOSN_ERR_SHM_LOCK_TIMEOUT' && err.pids[0] === process.ppid && err.message.includes(`live pid ${process.ppid}`));
  const waited = performance.now() - started;
  assert.ok(waited >= 45 && waited < 1000, `waited ${waited} ms`);
  lock.release();
  assert.equal(words[0], process.ppid);
});

test('our own pid left in the word (an earlier process with our pid) is taken over after the wait limit; garbage at once', () => {
  const words = new Int32Array(1);
  words[0] = process.pid;
  assert.deepEqual(new ZoneLock(words, 0, 30).acquire('t'), { stolenFrom: process.pid });
  words[0] = -5;
  assert.deepEqual(new ZoneLock(words, 0, 30).acquire('t'), { stolenFrom: -5 });
});

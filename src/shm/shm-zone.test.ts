import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, linkSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mmapFile, native, releaseMapping } from '../core/native.ts';
import { ShmZone, type ShmZoneOptions } from './shm-zone.ts';
import { ShmZoneError } from './shm-zone-error.ts';
import { MIN_ZONE_BYTES, PAGE_BYTES } from './zone-layout.ts';
import { processStartTicks } from './process-liveness.ts';

const skip = process.platform !== 'linux' || native === undefined ? 'needs the native addon (Linux)' : false;
const SIZE = 64 * 1024;
const ZONE_URL = new URL('./shm-zone.ts', import.meta.url).href;

let dir = '';
let serial = 0;
const children = new Set<ChildProcess>();

/** A child that opens the zone ('attach') and plays a role; see the switch. */
const CHILD_SCRIPT = `
import { ShmZone } from ${JSON.stringify(ZONE_URL)};
const [path, role, arg] = process.argv.slice(2) as [string, string, string];
const logger = { warn: (message: string) => process.stderr.write('warn: ' + message + '\\n') };
const zone = ShmZone.open(path, ${SIZE}, { mode: 'attach', logger });
if (role === 'count') {
  const barrier = zone.counter('test.barrier');
  const requests = zone.counter('test.requests');
  barrier.inc();
  // Start together, so the increments really overlap.
  const deadline = Date.now() + 20_000;
  while (barrier.value < Number(arg)) if (Date.now() > deadline) process.exit(2);
  for (let i = 0; i < 200_000; i++) requests.inc();
  zone.close();
} else {
  zone.gauge('test.active').update(Number(arg));
  process.stdout.write('ready ' + zone.slot + '\\n');
  process.stdin.resume();
  process.stdin.on('end', () => { zone.close(); process.exit(0); });
}
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mosnode-shm-'));
  writeFileSync(join(dir, 'child.ts'), CHILD_SCRIPT);
});

after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const zonePath = (): string => join(dir, `mosn_shm_z${++serial}`);

interface Warnings extends Array<string> {
  logger: { warn(message: string): void };
}

function warnings(): Warnings {
  const list = [] as unknown as Warnings;
  list.logger = { warn: (message) => list.push(message) };
  return list;
}

function open(path: string, mode: ShmZoneOptions['mode'], extra: Partial<ShmZoneOptions> = {}): ShmZone {
  return ShmZone.open(path, SIZE, { mode, logger: { warn: (m) => assert.fail(`unexpected warning: ${m}`) }, ...extra });
}

function spawnChild(path: string, role: string, arg: string): ChildProcess {
  const child = spawn(process.execPath, [join(dir, 'child.ts'), path, role, arg], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Resolves once the child printed its "ready" line. */
async function ready(child: ChildProcess): Promise<void> {
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) if (line.startsWith('ready')) return;
  throw new Error(`child ${child.pid} exited before it was ready`);
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
}

function writeInt32(path: string, offset: number, value: number): void {
  const fd = openSync(path, 'r+');
  const bytes = Buffer.alloc(4);
  bytes.writeInt32LE(value);
  writeSync(fd, bytes, 0, 4, offset);
  closeSync(fd);
}

test('4 processes x 200,000 concurrent increments of one counter: exactly 800,000', { skip, timeout: 60_000 }, async () => {
  const path = zonePath();
  const zone = open(path, 'fresh');
  try {
    const workers = Array.from({ length: 4 }, () => spawnChild(path, 'count', '4'));
    const exits = await Promise.all(workers.map((child) => once(child, 'exit')));
    assert.deepEqual(exits, Array(4).fill([0, null]));
    assert.equal(zone.counter('test.requests').value, 800_000);
    assert.equal(zone.counter('test.barrier').value, 4);
    assert.deepEqual(zone.attachedPids(), [process.pid], 'the workers released their slots');
  } finally {
    zone.close();
  }
});

test('gauges sum over processes; a SIGKILLed process\'s share leaves at reclaim, a closed one\'s at close', { skip, timeout: 30_000 }, async () => {
  const path = zonePath();
  const zone = open(path, 'fresh');
  try {
    const active = zone.gauge('test.active');
    active.update(5);
    const steady = spawnChild(path, 'gauge', '7');
    await ready(steady);
    const doomed = spawnChild(path, 'gauge', '3');
    await ready(doomed);
    assert.equal(active.value, 15);
    assert.equal(active.share, 5);
    assert.deepEqual(zone.reclaimDeadSlots(), [], 'live processes are left alone');

    await killed(doomed);
    assert.equal(active.value, 15, 'still counted until its slot is reclaimed');
    assert.deepEqual(zone.reclaimDeadSlots(), [doomed.pid]);
    assert.equal(active.value, 12);
    assert.ok(!zone.attachedPids().includes(doomed.pid!));

    const exited = once(steady, 'exit');
    steady.stdin!.end();
    assert.deepEqual(await exited, [0, null]);
    assert.equal(active.value, 5);
    assert.deepEqual(zone.attachedPids(), [process.pid]);
  } finally {
    zone.close();
  }
});

test('the heartbeat timer reclaims a dead process\'s slot by itself', { skip, timeout: 30_000 }, async () => {
  const path = zonePath();
  const zone = open(path, 'fresh', { heartbeatMs: 20 });
  try {
    const child = spawnChild(path, 'gauge', '9');
    await ready(child);
    assert.equal(zone.gauge('test.active').value, 9);
    await killed(child);
    const deadline = Date.now() + 5000;
    while (zone.gauge('test.active').value !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(zone.gauge('test.active').value, 0);
  } finally {
    zone.close();
  }
});

test('attach keeps the values (counters continue); fresh clears them', { skip }, () => {
  const path = zonePath();
  const first = open(path, 'fresh');
  assert.equal(first.outcome, 'created');
  first.counter('downstream.listener.x.request_total').inc(41);
  first.gauge('downstream.listener.x.connection_active').update(3);
  const successor = open(path, 'attach');
  assert.equal(successor.outcome, 'attached');
  const continued = successor.counter('downstream.listener.x.request_total');
  continued.inc();
  assert.equal(continued.value, 42);
  assert.equal(successor.gauge('downstream.listener.x.connection_active').value, 3, 'the predecessor is still attached');
  first.close();
  assert.equal(successor.gauge('downstream.listener.x.connection_active').value, 0, 'its share left with it');
  successor.close();

  const reattached = open(path, 'attach');
  assert.equal(reattached.counter('downstream.listener.x.request_total').value, 42);
  reattached.close();
  const restarted = open(path, 'fresh');
  assert.equal(restarted.outcome, 'cleared');
  assert.equal(restarted.counter('downstream.listener.x.request_total').value, 0);
  assert.equal(restarted.usage().cellsUsed, 1);
  restarted.close();
});

test('fresh is refused while another live process is attached (the error names it); attach is allowed', { skip, timeout: 30_000 }, async () => {
  const path = zonePath();
  open(path, 'fresh').close();
  const other = spawnChild(path, 'gauge', '1');
  await ready(other);
  assert.throws(() => open(path, 'fresh'), (err) => {
    assert.ok(err instanceof ShmZoneError);
    assert.equal(err.code, 'MOSN_ERR_SHM_ZONE_IN_USE');
    assert.deepEqual(err.pids, [other.pid]);
    assert.match(err.message, new RegExp(`in use by live pid ${other.pid}`));
    return true;
  });
  const successor = open(path, 'attach');
  assert.equal(successor.gauge('test.active').value, 1);
  successor.close();
  // Refused even when the other instance was configured with another size.
  assert.throws(() => ShmZone.open(path, 2 * SIZE, { mode: 'fresh' }), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_ZONE_IN_USE');
  await killed(other);
  const fresh = open(path, 'fresh');
  assert.equal(fresh.outcome, 'cleared');
  assert.equal(fresh.gauge('test.active').value, 0);
  fresh.close();
});

test('an unusable file is recreated with a reason, never read: version, magic, size, truncation, damage, half-initialized', { skip }, () => {
  const damage: [string, (path: string) => void, RegExp][] = [
    ['another layout version', (path) => writeInt32(path, 16, 2), /layout version 2, this mosnode writes version 1/],
    ['half-initialized', (path) => writeInt32(path, 4, 0), /initialization never finished/],
    ['damaged header', (path) => writeInt32(path, 36, 12345), /checksum/],
    ['truncated', (path) => truncateSync(path, 3 * PAGE_BYTES), /truncated/],
    ['truncated into the header', (path) => truncateSync(path, 30), /magic|truncated|never finished|checksum/],
    ['damaged table', (path) => writeInt32(path, 2 * PAGE_BYTES, 0x7fffffff), /damaged table/],
  ];
  for (const [what, spoil, reason] of damage) {
    const path = zonePath();
    const zone = open(path, 'fresh');
    zone.counter('kept.if.valid').inc(7);
    zone.close();
    spoil(path);
    const seen = warnings();
    const reopened = ShmZone.open(path, SIZE, { mode: 'attach', logger: seen.logger });
    assert.equal(reopened.outcome, 'recreated', what);
    assert.match(reopened.recreateReason ?? '', reason, what);
    assert.equal(seen.length, 1, what);
    assert.match(seen[0]!, /was recreated empty: /);
    assert.equal(reopened.counter('kept.if.valid').value, 0, what);
    assert.equal(statSync(path).size, SIZE);
    reopened.close();
    assert.equal(open(path, 'attach').outcome, 'attached', `${what}: the new file is valid`);
  }
});

test('a foreign file is replaced, not written: a process still mapping it keeps its bytes; a size change is a reason too', { skip }, () => {
  const path = zonePath();
  const foreign = Buffer.alloc(SIZE, 'not a zone ');
  writeFileSync(path, foreign);
  const keep = `${path}.old`;
  linkSync(path, keep);
  const seen = warnings();
  const zone = ShmZone.open(path, SIZE, { mode: 'fresh', logger: seen.logger });
  assert.equal(zone.outcome, 'recreated');
  assert.match(zone.recreateReason!, /zone magic/);
  assert.ok(readFileSync(keep).equals(foreign), 'the old inode was not touched');
  assert.equal((statSync(path).mode & 0o777).toString(8), '600');
  zone.counter('c').inc();
  zone.close();

  const resized = ShmZone.open(path, SIZE * 2, { mode: 'attach', logger: seen.logger });
  assert.equal(resized.outcome, 'recreated');
  assert.match(resized.recreateReason!, /made for 65536 bytes, the configured size is 131072/);
  assert.equal(resized.sizeBytes, SIZE * 2);
  resized.close();
  rmSync(keep);
});

test('the zone lock is taken over from a dead holder, at open and when allocating', { skip }, () => {
  const path = zonePath();
  open(path, 'fresh').close();
  const dead = deadPid();
  writeInt32(path, 0, dead);
  const seen = warnings();
  const zone = ShmZone.open(path, SIZE, { mode: 'attach', logger: seen.logger });
  assert.deepEqual([...seen], [`shm zone ${path}: took over the zone lock from pid ${dead}, which is gone`]);

  const raw = new Int32Array(mmapFile(path, SIZE));
  raw[0] = dead;
  const counter = zone.counter('after.steal');
  counter.inc();
  assert.equal(counter.inZone, true);
  assert.equal(seen.length, 2);
  assert.equal(raw[0], 0, 'released after use');
  releaseMapping(raw.buffer as ArrayBuffer);
  zone.close();
});

test('a lock kept by a live process: the new metric is process-local with a warning, never an exception', { skip }, () => {
  const path = zonePath();
  const seen = warnings();
  const zone = ShmZone.open(path, SIZE, { mode: 'fresh', logger: seen.logger, lockTimeoutMs: 30 });
  const raw = new Int32Array(mmapFile(path, SIZE));
  raw[0] = process.ppid;
  const counter = zone.counter('while.locked');
  counter.inc(2);
  assert.equal(counter.inZone, false);
  assert.equal(counter.value, 2);
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, new RegExp(`held by live pid ${process.ppid}`));
  raw[0] = 0;
  releaseMapping(raw.buffer as ArrayBuffer);
  zone.close();
});

test('names over 107 bytes: hash plus tail, two long names sharing a tail stay distinct, found again by name', { skip }, () => {
  const path = zonePath();
  const zone = open(path, 'fresh');
  const tail = `.host.10.0.0.1:8080.${'x'.repeat(100)}.request_total`;
  const a = zone.counter(`upstream.cluster.alpha${tail}`);
  const b = zone.counter(`upstream.cluster.bravo${tail}`);
  a.inc(1);
  b.inc(2);
  const other = open(path, 'attach');
  assert.equal(other.counter(`upstream.cluster.alpha${tail}`).value, 1);
  assert.equal(other.counter(`upstream.cluster.bravo${tail}`).value, 2);
  const cells = zone.snapshot();
  assert.equal(cells.length, 2);
  for (const cell of cells) {
    assert.equal(cell.shortened, true);
    assert.ok(Buffer.byteLength(cell.name) <= 107);
    assert.ok(cell.name.endsWith('.request_total'));
  }
  assert.notEqual(cells[0]!.name, cells[1]!.name);
  other.close();
  zone.close();
});

test('a full zone hands out process-local cells and warns once', { skip }, () => {
  const path = zonePath();
  const seen = warnings();
  const zone = ShmZone.open(path, MIN_ZONE_BYTES, { mode: 'fresh', logger: seen.logger });
  const { cells, gaugeColumns } = zone.usage();
  const gauges = Array.from({ length: gaugeColumns + 1 }, (_, i) => zone.gauge(`g${i}`));
  assert.equal(gauges.filter((g) => g.inZone).length, gaugeColumns);
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /is full .* raise shm_size/);
  const counters = Array.from({ length: cells }, (_, i) => zone.counter(`c${i}`));
  assert.equal(counters.filter((c) => c.inZone).length, cells - gaugeColumns);
  assert.equal(seen.length, 1, 'one warning only');
  const local = counters.at(-1)!;
  local.inc(3);
  assert.equal(local.value, 3);
  gauges.at(-1)!.update(4);
  assert.equal(gauges.at(-1)!.value, 4);
  assert.equal(zone.usage().cellsUsed, cells);
  zone.close();
});

test('all 64 slots held by live processes: MOSN_ERR_SHM_NO_SLOT', { skip }, () => {
  const path = zonePath();
  open(path, 'fresh').close();
  const raw = mmapFile(path, SIZE);
  const i32 = new Int32Array(raw);
  const u32 = new Uint32Array(raw);
  const f64 = new Float64Array(raw);
  const parentStart = processStartTicks(process.ppid) ?? 0;
  for (let slot = 0; slot < 64; slot++) {
    const base = PAGE_BYTES + slot * 64;
    i32[base / 4] = process.ppid;
    u32[base / 4 + 1] = Math.floor(Date.now() / 1000);
    f64[base / 8 + 1] = parentStart;
  }
  assert.throws(() => open(path, 'attach'), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_NO_SLOT' && (err as ShmZoneError).pids.length === 64);
  i32[PAGE_BYTES / 4] = 0;
  const zone = open(path, 'attach');
  assert.equal(zone.slot, 0);
  zone.close();
  releaseMapping(raw);
});

test('close: handed-out cells keep working process-locally, the slot is freed, later metrics are local with one warning', { skip }, () => {
  const path = zonePath();
  const seen = warnings();
  const zone = ShmZone.open(path, SIZE, { mode: 'fresh', logger: seen.logger });
  const counter = zone.counter('c');
  const gauge = zone.gauge('g');
  counter.inc(10);
  gauge.update(4);
  const watcher = open(path, 'attach');
  assert.equal(watcher.attachedPids().length, 2);
  zone.close();
  zone.close();
  assert.equal(zone.closed, true);
  assert.equal(watcher.attachedPids().length, 1);
  counter.inc();
  gauge.inc();
  assert.equal(counter.value, 11);
  assert.equal(gauge.value, 5);
  assert.equal(watcher.counter('c').value, 10, 'updates after close stay out of the zone');
  assert.equal(watcher.gauge('g').value, 0);
  assert.equal(zone.counter('late').inZone, false);
  zone.gauge('late.gauge');
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /is closed/);
  assert.deepEqual(zone.snapshot(), []);
  watcher.close();
});

test('kinds: one name is one kind; a clash across processes is local with a warning, within one a TypeError', { skip }, () => {
  const path = zonePath();
  const zone = open(path, 'fresh');
  zone.counter('k');
  assert.throws(() => zone.gauge('k'), TypeError);
  const seen = warnings();
  const other = ShmZone.open(path, SIZE, { mode: 'attach', logger: seen.logger });
  assert.equal(other.gauge('k').inZone, false);
  assert.match(seen[0]!, /k exists as a counter, not a gauge/);
  other.close();
  zone.close();
});

test('bad sizes and unmappable paths are clear errors', { skip }, () => {
  assert.throws(() => ShmZone.open(zonePath(), 100, { mode: 'fresh' }), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_SIZE');
  assert.throws(() => ShmZone.open(zonePath(), 2 ** 31, { mode: 'fresh' }), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_SIZE');
  assert.throws(() => ShmZone.open(join(dir, 'missing', 'zone'), SIZE, { mode: 'fresh' }), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_UNAVAILABLE' && /ENOENT/.test((err as Error).message));
  assert.throws(() => ShmZone.open(dir, SIZE, { mode: 'fresh' }), (err) => (err as ShmZoneError).code === 'MOSN_ERR_SHM_UNAVAILABLE');
  assert.throws(() => ShmZone.open(zonePath(), SIZE, { mode: 'hot' as 'fresh' }), TypeError);
  const zone = ShmZone.open(zonePath(), SIZE + 1, { mode: 'fresh' });
  assert.equal(zone.sizeBytes, SIZE + PAGE_BYTES);
  zone.close();
});

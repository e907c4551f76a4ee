import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCellName } from './cell-name.ts';
import { CELL_BYTES, computeGeometry, MAX_ZONE_BYTES, MIN_ZONE_BYTES, PAGE_BYTES, roundZoneSize, SLOT_COUNT, ZoneView } from './zone-layout.ts';

test('sizes round up to whole pages', () => {
  assert.equal(roundZoneSize(1), PAGE_BYTES);
  assert.equal(roundZoneSize(PAGE_BYTES), PAGE_BYTES);
  assert.equal(roundZoneSize(PAGE_BYTES + 1), 2 * PAGE_BYTES);
});

test('the geometry fits its size, keeps regions aligned and share rows on whole cache lines', () => {
  for (const size of [MIN_ZONE_BYTES, 64 * 1024, 1 << 20, 32 << 20, MAX_ZONE_BYTES]) {
    const g = computeGeometry(size);
    assert.ok(g.cellCount > 0, `${size}`);
    assert.equal(g.slotCount, SLOT_COUNT);
    assert.ok(g.gaugeColumnCount * 4 >= g.cellCount);
    assert.equal(g.gaugeColumnCount % 8, 0);
    assert.equal(g.cellsOffset % 64, 0);
    assert.equal(g.sharesOffset % 64, 0);
    assert.ok(g.cellsOffset >= g.bucketsOffset + g.bucketCount * 4);
    assert.equal(g.sharesOffset, g.cellsOffset + g.cellCount * CELL_BYTES);
    assert.ok(g.sharesOffset + g.slotCount * g.gaugeColumnCount * 8 <= size - 64, `${size}: overlaps the trailer`);
  }
  assert.equal(computeGeometry(MIN_ZONE_BYTES).cellCount, 30);
});

function freshView(size = MIN_ZONE_BYTES): ZoneView {
  const view = new ZoneView(new ArrayBuffer(size));
  view.initialize(size);
  return view;
}

test('an initialized zone validates; cells are found by name and keep kind and column', () => {
  const view = freshView();
  assert.equal(view.validate(MIN_ZONE_BYTES), undefined);
  const a = encodeCellName('a.counter');
  const g = encodeCellName('a.gauge');
  const ia = view.allocateCell(a.field, a.shortened, a.hash, 'counter');
  const ig = view.allocateCell(g.field, g.shortened, g.hash, 'gauge');
  assert.equal(view.findCell(a.field, a.shortened, a.hash), ia);
  assert.equal(view.findCell(g.field, g.shortened, g.hash), ig);
  assert.equal(view.cellKind(ig), 'gauge');
  assert.equal(view.gaugeColumn(ig), 0);
  const missing = encodeCellName('missing');
  assert.equal(view.findCell(missing.field, missing.shortened, missing.hash), -1);
  assert.deepEqual([...view.cells()].map((c) => [c.name, c.kind]), [['a.counter', 'counter'], ['a.gauge', 'gauge']]);
  assert.equal(view.validate(MIN_ZONE_BYTES), undefined);
});

test('validate names what is wrong: blank, magic, version, state, size, checksum, trailer, chains', () => {
  const size = MIN_ZONE_BYTES;
  assert.equal(new ZoneView(new ArrayBuffer(size)).isBlank(), true);
  const cases: [string, (v: ZoneView) => void, RegExp][] = [
    ['magic', (v) => { v.bytes[8] = 0x58; }, /magic/],
    ['version', (v) => { v.u32[4] = 9; }, /layout version 9/],
    ['state', (v) => { v.u32[1] = 0; }, /never finished/],
    ['checksum', (v) => { v.u32[9] = v.u32[9]! + 1; }, /checksum/],
    ['trailer', (v) => { v.bytes.fill(0, size - 64); }, /truncated/],
    ['chain', (v) => {
      const n = encodeCellName('x');
      const index = v.allocateCell(n.field, n.shortened, n.hash, 'counter');
      v.u32[(v.geometry.cellsOffset + index * CELL_BYTES + 12) / 4] = 10_000;
    }, /damaged table/],
    ['free list', (v) => { v.u32[16] = 10_000; }, /free list/],
  ];
  for (const [what, damage, expected] of cases) {
    const view = freshView(size);
    damage(view);
    assert.match(view.validate(size) ?? 'valid', expected, what);
    assert.equal(view.isBlank(), false);
  }
  assert.match(freshView(size).validate(2 * size) ?? '', /made for 16384 bytes, the configured size is 32768/);
});

test('allocation stops cleanly when cells or gauge columns run out', () => {
  const view = freshView();
  const { cellCount, gaugeColumnCount } = view.geometry;
  let gauges = 0;
  for (let i = 0; ; i++) {
    const n = encodeCellName(`g${i}`);
    if (view.allocateCell(n.field, n.shortened, n.hash, 'gauge') < 0) break;
    gauges++;
  }
  assert.equal(gauges, gaugeColumnCount);
  let counters = 0;
  for (let i = 0; ; i++) {
    const n = encodeCellName(`c${i}`);
    if (view.allocateCell(n.field, n.shortened, n.hash, 'counter') < 0) break;
    counters++;
  }
  assert.equal(gauges + counters, cellCount);
  assert.equal(view.validate(MIN_ZONE_BYTES), undefined);
});

/**
 * @module shm/zone-layout
 * The byte layout of a shared-memory zone file (layout version 1), the views over it, and
 * the checks that decide whether a mapped file can be trusted. All integers are in the
 * host's byte order: a zone is shared by processes of one machine, never copied elsewhere.
 *
 * ```
 * offset            size           what
 * 0                 4              lock word: pid of the holder of the structural lock, 0 = free.
 *                                  Every layout version keeps it here (see ZoneLock).
 * 4                 4              state: 0 = being initialized (a crash leaves it 0), 1 = ready
 * 8                 8              magic "MOSNSHM\0"
 * 16                4              layout version (1)
 * 20                4              reserved (0)
 * 24                8              zone size in bytes (u32 low, u32 high)
 * 32..59            7 x u32        geometry: slotCount, cellCount, bucketCount, gaugeColumnCount,
 *                                  bucketsOffset, cellsOffset, sharesOffset
 * 60                4              FNV-1a of bytes 8..59 (a damaged header is caught here)
 * 64                4              free list head (cell index + 1; 0 = no free cell)
 * 68                4              cells in use
 * 72                4              gauge columns in use (handed out in order, never freed)
 * 76                4              created at (unix seconds), for diagnostics
 * 4096              64 x 64        process slots, one cache line each:
 *                                    +0 i32 pid word: 0 free, > 0 owner pid, < 0 in transition
 *                                       (claiming, releasing or being reclaimed) by pid -value
 *                                    +4 u32 heartbeat (unix seconds), +8 f64 owner's start ticks,
 *                                    +16 u32 attached at (unix seconds)
 * bucketsOffset     4 x buckets    hash buckets: first cell index + 1 of each chain (0 = empty)
 * cellsOffset       128 x cells    cells (MOSN's 128-byte entry):
 *                                    +0 i64 value (a counter's count; a gauge's share column)
 *                                    +8 u32 kind (0 free, 1 counter, 2 gauge) | 0x100 if the
 *                                       name was shortened, +12 u32 next (chain or free list,
 *                                       index + 1), +16 u32 FNV-1a of the name field,
 *                                    +20 name[108], NUL-padded
 * sharesOffset      8 x slots x    gauge shares, slot-major: i64[slot][column]. A row is a
 *                   columns        whole number of cache lines, so processes never write
 *                                  the same line, and a dead slot's row is one fill.
 * size - 64         64             trailer: the magic again. A truncated file that was grown
 *                                  back with zeros has lost it.
 * ```
 * Gauge columns are a quarter of the cell count (MOSN's metric sets are mostly counters).
 * Depends only on shm/cell-name.
 */
import { CELL_NAME_FIELD_BYTES, decodeCellName, fnv1a32 } from './cell-name.ts';

export const PAGE_BYTES = 4096;
/** The smallest zone: the header page, the slot page, and room for a few cells. */
export const MIN_ZONE_BYTES = 4 * PAGE_BYTES;
/** The largest zone: offsets are u32, and no metric set needs more. */
export const MAX_ZONE_BYTES = 1024 * 1024 * 1024;
export const LAYOUT_VERSION = 1;
export const SLOT_COUNT = 64;

export const MAGIC = new TextEncoder().encode('MOSNSHM\0');

export const LOCK_WORD_INDEX = 0; // i32 index of byte 0
const MAGIC_OFFSET = 8;
const VERSION_INDEX = 16 / 4;
const STATE_INDEX = 4 / 4;
const SIZE_LOW_INDEX = 24 / 4;
const SIZE_HIGH_INDEX = 28 / 4;
const GEOMETRY_INDEX = 32 / 4;
const CHECKSUM_INDEX = 60 / 4;
const FREE_HEAD_INDEX = 64 / 4;
const CELLS_USED_INDEX = 68 / 4;
const COLUMNS_USED_INDEX = 72 / 4;
const CREATED_AT_INDEX = 76 / 4;
const CHECKED_HEADER_END = 60;

const STATE_READY = 1;

const SLOTS_OFFSET = PAGE_BYTES;
const SLOT_BYTES = 64;
const SLOT_HEARTBEAT = 4;
const SLOT_START_TICKS = 8;
const SLOT_ATTACHED_AT = 16;

export const CELL_BYTES = 128;
const CELL_KIND = 8;
const CELL_NEXT = 12;
const CELL_HASH = 16;
const CELL_NAME = 20;

const TRAILER_BYTES = 64;
const CACHE_LINE = 64;
/** 8 columns x 8 bytes = one cache line per share row step. */
const COLUMN_ALIGN = CACHE_LINE / 8;

export type CellKind = 'counter' | 'gauge';
const KIND_CODES = { counter: 1, gauge: 2 } as const;
const KIND_MASK = 0xff;
const SHORTENED_FLAG = 0x100;

export interface ZoneGeometry {
  readonly sizeBytes: number;
  readonly slotCount: number;
  readonly cellCount: number;
  readonly bucketCount: number;
  readonly gaugeColumnCount: number;
  readonly bucketsOffset: number;
  readonly cellsOffset: number;
  readonly sharesOffset: number;
}

const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Rounds a configured size up to whole pages (what the zone file's size will be). */
export function roundZoneSize(sizeBytes: number): number {
  return alignUp(sizeBytes, PAGE_BYTES);
}

/**
 * The geometry of a zone of `sizeBytes` (a multiple of PAGE_BYTES within
 * [MIN_ZONE_BYTES, MAX_ZONE_BYTES]): as many cells as fit with their buckets and a
 * quarter as many gauge columns.
 */
export function computeGeometry(sizeBytes: number): ZoneGeometry {
  const bucketsOffset = SLOTS_OFFSET + SLOT_COUNT * SLOT_BYTES;
  const layoutFor = (cellCount: number) => {
    const cellsOffset = bucketsOffset + alignUp(cellCount * 4, CACHE_LINE);
    const gaugeColumnCount = alignUp(Math.max(1, Math.ceil(cellCount / 4)), COLUMN_ALIGN);
    const sharesOffset = cellsOffset + cellCount * CELL_BYTES;
    const end = sharesOffset + SLOT_COUNT * gaugeColumnCount * 8;
    return { cellsOffset, gaugeColumnCount, sharesOffset, end };
  };
  const budget = sizeBytes - TRAILER_BYTES;
  // Per cell: 128 B + a 4 B bucket + a quarter of a 64-slot share column (128 B).
  let cellCount = Math.floor((budget - bucketsOffset) / (CELL_BYTES + 4 + (SLOT_COUNT * 8) / 4));
  while (cellCount > 0 && layoutFor(cellCount).end > budget) cellCount--;
  const layout = layoutFor(cellCount);
  return {
    sizeBytes,
    slotCount: SLOT_COUNT,
    cellCount,
    bucketCount: cellCount,
    gaugeColumnCount: layout.gaugeColumnCount,
    bucketsOffset,
    cellsOffset: layout.cellsOffset,
    sharesOffset: layout.sharesOffset,
  };
}

/** One cell as read from the table. */
export interface CellRecord {
  readonly index: number;
  readonly kind: CellKind;
  readonly name: string;
  readonly shortened: boolean;
}

/**
 * Typed views over one mapping, and the structural operations on it. Callers hold the
 * zone lock for everything that touches buckets, cells' kind/next/name or the free list;
 * counter values, gauge shares and slot words are only ever touched with Atomics.
 */
export class ZoneView {
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly i64: BigInt64Array;
  #geometry: ZoneGeometry | undefined;

  constructor(buffer: ArrayBuffer) {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.i64 = new BigInt64Array(buffer);
  }

  /** The geometry read from the header; only valid after validate() passed or initialize(). */
  get geometry(): ZoneGeometry {
    if (this.#geometry === undefined) throw new Error('zone geometry read before the header was validated');
    return this.#geometry;
  }

  /** True when the header page and the trailer are all zeros: a file nobody initialized yet. */
  isBlank(): boolean {
    const trailer = this.bytes.subarray(this.bytes.length - TRAILER_BYTES);
    return this.bytes.subarray(MAGIC_OFFSET, PAGE_BYTES).every((b) => b === 0) && trailer.every((b) => b === 0);
  }

  /** True when the magic and the layout version are this module's: only then is the lock word ours to use. */
  hasOwnFormat(): boolean {
    return this.#magicAt(MAGIC_OFFSET) && this.u32[VERSION_INDEX] === LAYOUT_VERSION;
  }

  /**
   * True when the header is one this module wrote and finished (magic, version, state,
   * checksum), even if it was made for another size: then the slot page can be read.
   */
  headerIntact(): boolean {
    return this.hasOwnFormat() && this.u32[STATE_INDEX] === STATE_READY && this.u32[CHECKSUM_INDEX] === fnv1a32(this.bytes, MAGIC_OFFSET, CHECKED_HEADER_END);
  }

  /**
   * Why this mapping cannot be used as a zone of `expectedBytes`, or undefined when it
   * can. Checks the header (magic, version, state, size, checksum, geometry), the
   * trailer, and walks every bucket chain and the free list, so a damaged table is caught
   * here and never followed later. Call with the lock held (after hasOwnFormat()).
   */
  validate(expectedBytes: number): string | undefined {
    if (!this.#magicAt(MAGIC_OFFSET)) return 'it does not start with the zone magic "MOSNSHM" (not a mosnode zone, or damaged)';
    const version = this.u32[VERSION_INDEX]!;
    if (version !== LAYOUT_VERSION) return `it has layout version ${version}, this mosnode writes version ${LAYOUT_VERSION}`;
    if (this.u32[STATE_INDEX] !== STATE_READY) return 'its initialization never finished (the process that created it stopped half-way)';
    const recordedBytes = this.u32[SIZE_LOW_INDEX]! + this.u32[SIZE_HIGH_INDEX]! * 2 ** 32;
    if (recordedBytes !== expectedBytes) return `it was made for ${recordedBytes} bytes, the configured size is ${expectedBytes}`;
    if (this.u32[CHECKSUM_INDEX] !== fnv1a32(this.bytes, MAGIC_OFFSET, CHECKED_HEADER_END)) return 'its header checksum does not match (damaged header)';
    const expected = computeGeometry(expectedBytes);
    const recorded = this.#readGeometry(expectedBytes);
    for (const key of Object.keys(expected) as (keyof ZoneGeometry)[]) {
      if (expected[key] !== recorded[key]) return `its ${key} is ${recorded[key]}, expected ${expected[key]} (damaged header)`;
    }
    if (!this.#magicAt(expectedBytes - TRAILER_BYTES)) return 'its trailer is missing (the file was truncated)';
    this.#geometry = recorded;
    const problem = this.#validateTable();
    if (problem !== undefined) this.#geometry = undefined;
    return problem;
  }

  /**
   * Writes an empty zone of `sizeBytes` over the mapping: state 0 first, so a crash
   * half-way is recognized, then everything else, then state 1. Call with the lock held
   * (or on a file nobody else can see yet); the lock word itself is left alone.
   */
  initialize(sizeBytes: number): void {
    const geometry = computeGeometry(sizeBytes);
    Atomics.store(this.u32, STATE_INDEX, 0);
    this.bytes.fill(0, 8);
    this.bytes.set(MAGIC, MAGIC_OFFSET);
    this.u32[VERSION_INDEX] = LAYOUT_VERSION;
    this.u32[SIZE_LOW_INDEX] = sizeBytes % 2 ** 32;
    this.u32[SIZE_HIGH_INDEX] = Math.floor(sizeBytes / 2 ** 32);
    const fields = [geometry.slotCount, geometry.cellCount, geometry.bucketCount, geometry.gaugeColumnCount, geometry.bucketsOffset, geometry.cellsOffset, geometry.sharesOffset];
    fields.forEach((value, i) => { this.u32[GEOMETRY_INDEX + i] = value; });
    this.u32[CHECKSUM_INDEX] = fnv1a32(this.bytes, MAGIC_OFFSET, CHECKED_HEADER_END);
    // Every cell starts on the free list, in index order.
    for (let index = 0; index < geometry.cellCount; index++) {
      this.u32[(geometry.cellsOffset + index * CELL_BYTES + CELL_NEXT) / 4] = index + 1 < geometry.cellCount ? index + 2 : 0;
    }
    this.u32[FREE_HEAD_INDEX] = geometry.cellCount > 0 ? 1 : 0;
    this.u32[CREATED_AT_INDEX] = Math.floor(Date.now() / 1000);
    this.bytes.set(MAGIC, sizeBytes - TRAILER_BYTES);
    this.#geometry = geometry;
    Atomics.store(this.u32, STATE_INDEX, STATE_READY);
  }

  // ---- cells (lock held) ----

  /** The index of the cell whose name field, shortened flag and hash match, or -1. */
  findCell(field: Uint8Array, shortened: boolean, hash: number): number {
    const { bucketsOffset, bucketCount } = this.geometry;
    let link = this.u32[bucketsOffset / 4 + (hash % bucketCount)]!;
    while (link !== 0) {
      const index = link - 1;
      const base = this.#cellBase(index);
      if (this.u32[(base + CELL_HASH) / 4] === hash && ((this.u32[(base + CELL_KIND) / 4]! & SHORTENED_FLAG) !== 0) === shortened && this.#nameEquals(base, field)) return index;
      link = this.u32[(base + CELL_NEXT) / 4]!;
    }
    return -1;
  }

  /** The kind of cell `index`. */
  cellKind(index: number): CellKind {
    return (this.u32[(this.#cellBase(index) + CELL_KIND) / 4]! & KIND_MASK) === KIND_CODES.gauge ? 'gauge' : 'counter';
  }

  /**
   * Takes a cell from the free list and links it into its bucket; for a gauge also takes
   * the next share column. Returns the new index, or -1 when no cell (or no column) is left.
   */
  allocateCell(field: Uint8Array, shortened: boolean, hash: number, kind: CellKind): number {
    const { bucketsOffset, bucketCount, gaugeColumnCount } = this.geometry;
    const head = this.u32[FREE_HEAD_INDEX]!;
    if (head === 0) return -1;
    const column = this.u32[COLUMNS_USED_INDEX]!;
    if (kind === 'gauge' && column >= gaugeColumnCount) return -1;
    const index = head - 1;
    const base = this.#cellBase(index);
    this.u32[FREE_HEAD_INDEX] = this.u32[(base + CELL_NEXT) / 4]!;
    Atomics.store(this.i64, base / 8, kind === 'gauge' ? BigInt(column) : 0n);
    if (kind === 'gauge') this.u32[COLUMNS_USED_INDEX] = column + 1;
    this.bytes.set(field, base + CELL_NAME);
    this.u32[(base + CELL_HASH) / 4] = hash;
    this.u32[(base + CELL_KIND) / 4] = KIND_CODES[kind] | (shortened ? SHORTENED_FLAG : 0);
    const bucket = bucketsOffset / 4 + (hash % bucketCount);
    this.u32[(base + CELL_NEXT) / 4] = this.u32[bucket]!;
    this.u32[bucket] = index + 1;
    this.u32[CELLS_USED_INDEX] = this.u32[CELLS_USED_INDEX]! + 1;
    return index;
  }

  /** The i64 index of a cell's value (a counter's count). */
  valueIndex(index: number): number {
    return this.#cellBase(index) / 8;
  }

  /** The share column of gauge cell `index`. */
  gaugeColumn(index: number): number {
    return Number(Atomics.load(this.i64, this.valueIndex(index)));
  }

  /** Every cell in use, in index order. */
  *cells(): IterableIterator<CellRecord> {
    const { cellCount } = this.geometry;
    for (let index = 0; index < cellCount; index++) {
      const base = this.#cellBase(index);
      const word = this.u32[(base + CELL_KIND) / 4]!;
      if ((word & KIND_MASK) === 0) continue;
      yield {
        index,
        kind: (word & KIND_MASK) === KIND_CODES.gauge ? 'gauge' : 'counter',
        name: decodeCellName(this.bytes.subarray(base + CELL_NAME, base + CELL_NAME + CELL_NAME_FIELD_BYTES)),
        shortened: (word & SHORTENED_FLAG) !== 0,
      };
    }
  }

  get cellsUsed(): number {
    return this.u32[CELLS_USED_INDEX]!;
  }

  get gaugeColumnsUsed(): number {
    return this.u32[COLUMNS_USED_INDEX]!;
  }

  // ---- slots and shares (Atomics; no lock) ----

  /** The i32 index of slot `slot`'s pid word. */
  slotPidIndex(slot: number): number {
    return (SLOTS_OFFSET + slot * SLOT_BYTES) / 4;
  }

  slotHeartbeatIndex(slot: number): number {
    return (SLOTS_OFFSET + slot * SLOT_BYTES + SLOT_HEARTBEAT) / 4;
  }

  slotStartTicksIndex(slot: number): number {
    return (SLOTS_OFFSET + slot * SLOT_BYTES + SLOT_START_TICKS) / 8;
  }

  slotAttachedAtIndex(slot: number): number {
    return (SLOTS_OFFSET + slot * SLOT_BYTES + SLOT_ATTACHED_AT) / 4;
  }

  /** The i64 index of slot `slot`'s share of gauge column `column`. */
  shareIndex(slot: number, column: number): number {
    const { sharesOffset, gaugeColumnCount } = this.geometry;
    return sharesOffset / 8 + slot * gaugeColumnCount + column;
  }

  /** Zeros every gauge share of `slot` (its owner is gone or leaving). */
  clearShares(slot: number): void {
    const start = this.shareIndex(slot, 0);
    const end = start + this.geometry.gaugeColumnCount;
    for (let i = start; i < end; i++) Atomics.store(this.i64, i, 0n);
  }

  // ---- private ----

  #magicAt(offset: number): boolean {
    if (offset < 0 || offset + MAGIC.length > this.bytes.length) return false;
    for (let i = 0; i < MAGIC.length; i++) if (this.bytes[offset + i] !== MAGIC[i]) return false;
    return true;
  }

  #readGeometry(sizeBytes: number): ZoneGeometry {
    const at = (i: number): number => this.u32[GEOMETRY_INDEX + i]!;
    return { sizeBytes, slotCount: at(0), cellCount: at(1), bucketCount: at(2), gaugeColumnCount: at(3), bucketsOffset: at(4), cellsOffset: at(5), sharesOffset: at(6) };
  }

  #cellBase(index: number): number {
    return this.geometry.cellsOffset + index * CELL_BYTES;
  }

  #nameEquals(base: number, field: Uint8Array): boolean {
    const start = base + CELL_NAME;
    for (let i = 0; i < CELL_NAME_FIELD_BYTES; i++) if (this.bytes[start + i] !== field[i]) return false;
    return true;
  }

  /** Walks every chain and the free list: indices in range, no cell twice, kinds and hashes consistent. */
  #validateTable(): string | undefined {
    const { cellCount, bucketCount, bucketsOffset, gaugeColumnCount } = this.geometry;
    const seen = new Uint8Array(cellCount);
    const columnsUsed = this.u32[COLUMNS_USED_INDEX]!;
    if (columnsUsed > gaugeColumnCount) return `${columnsUsed} gauge columns are marked used, the zone has ${gaugeColumnCount} (damaged table)`;
    let used = 0;
    const columns = new Set<number>();
    for (let bucket = 0; bucket < bucketCount; bucket++) {
      for (let link = this.u32[bucketsOffset / 4 + bucket]!; link !== 0;) {
        const index = link - 1;
        if (index >= cellCount || seen[index] !== 0) return `bucket ${bucket} links to cell ${index} out of range or twice (damaged table)`;
        seen[index] = 1;
        used++;
        const base = this.#cellBase(index);
        const kind = this.u32[(base + CELL_KIND) / 4]! & KIND_MASK;
        if (kind !== KIND_CODES.counter && kind !== KIND_CODES.gauge) return `cell ${index} is linked but has kind ${kind} (damaged table)`;
        if (this.u32[(base + CELL_HASH) / 4]! % bucketCount !== bucket) return `cell ${index} sits in the wrong bucket (damaged table)`;
        if (this.u32[(base + CELL_HASH) / 4] !== fnv1a32(this.bytes, base + CELL_NAME, base + CELL_NAME + CELL_NAME_FIELD_BYTES)) return `cell ${index}'s name does not match its hash (damaged table)`;
        if (kind === KIND_CODES.gauge) {
          const column = this.gaugeColumn(index);
          if (column >= columnsUsed || columns.has(column)) return `gauge cell ${index} has share column ${column}, invalid or shared (damaged table)`;
          columns.add(column);
        }
        link = this.u32[(base + CELL_NEXT) / 4]!;
      }
    }
    if (used !== this.u32[CELLS_USED_INDEX]) return `${this.u32[CELLS_USED_INDEX]} cells are marked used, ${used} are linked (damaged table)`;
    let free = 0;
    for (let link = this.u32[FREE_HEAD_INDEX]!; link !== 0;) {
      const index = link - 1;
      if (index >= cellCount || seen[index] !== 0) return `the free list links to cell ${index} out of range or twice (damaged table)`;
      seen[index] = 1;
      free++;
      if ((this.u32[(this.#cellBase(index) + CELL_KIND) / 4]! & KIND_MASK) !== 0) return `free cell ${index} is marked in use (damaged table)`;
      link = this.u32[(this.#cellBase(index) + CELL_NEXT) / 4]!;
    }
    if (used + free !== cellCount) return `${cellCount - used - free} cells are neither used nor free (damaged table)`;
    return undefined;
  }
}

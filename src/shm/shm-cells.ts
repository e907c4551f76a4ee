/**
 * @module shm/shm-cells
 * The objects callers hold for a zone's counters and gauges. Each keeps a typed array and
 * a precomputed index, so an update is one Atomics call on the mapping: no lookup, no
 * branch on where the value lives. A cell the zone could not provide (zone full, zone
 * closed) is the same class over a one-element process-local array, so the hot path stays
 * monomorphic whichever it got.
 *
 * Values are int64 in the zone and Numbers here: `n` is truncated to an integer, a
 * non-finite `n` is ignored (an update never throws), and a value above 2^53 loses
 * precision when read. Deltas 0..1023 use cached BigInts, so the common updates allocate
 * nothing; larger ones create one BigInt.
 * Depends on nothing.
 */

const CACHED_DELTAS = 1024;
const SMALL_DELTAS: readonly bigint[] = Array.from({ length: CACHED_DELTAS }, (_, i) => BigInt(i));
const ONE = 1n;

/** `n` as an int64 delta or value: truncated, 0n when not finite. */
export function toInt64(n: number): bigint {
  if (n >= 0 && n < CACHED_DELTAS && (n | 0) === n) return SMALL_DELTAS[n]!;
  if (Number.isSafeInteger(n)) return BigInt(n);
  return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
}

/** Sums a gauge's shares over the zone's live process slots. */
export interface GaugeShareSource {
  sum(column: number): number;
}

let moveCounterToLocal: (counter: ShmCounter) => void = () => undefined;
let moveGaugeToLocal: (gauge: ShmGauge) => void = () => undefined;

/**
 * A monotonic count shared by every process of the zone: `inc` is an atomic add on the
 * cell, `value` the cell's current total.
 */
export class ShmCounter {
  #cells: BigInt64Array;
  #index: number;
  #inZone: boolean;

  /** Made by ShmZone.counter(); a counter over `new BigInt64Array(1)` and index 0 is process-local. */
  constructor(cells: BigInt64Array, index: number, inZone: boolean) {
    this.#cells = cells;
    this.#index = index;
    this.#inZone = inZone;
  }

  static {
    moveCounterToLocal = (counter) => {
      counter.#cells = BigInt64Array.of(Atomics.load(counter.#cells, counter.#index));
      counter.#index = 0;
      counter.#inZone = false;
    };
  }

  /** The total over every process (a process-local count for a fallback cell). */
  get value(): number {
    return Number(Atomics.load(this.#cells, this.#index));
  }

  /** False for a fallback cell, and after the zone closed. */
  get inZone(): boolean {
    return this.#inZone;
  }

  /** Adds `n` (default 1). Called on the data path: one atomic add. */
  inc(n?: number): void {
    Atomics.add(this.#cells, this.#index, n === undefined || n === 1 ? ONE : toInt64(n));
  }
}

/**
 * A gauge summed over processes. Each process owns one share of it (a cell in its process
 * slot's row): `inc`, `dec` and `update` change only this process's share, and `value` is
 * the sum of the shares of every attached process. So two workers that each hold 3 active
 * connections read 6, and when a process exits (or is killed and its slot reclaimed) its
 * share leaves the sum. `update(v)` sets this process's share to v, not the total. A
 * process must decrement only what it incremented: when work moves to another process
 * (a hot upgrade hands over connections), the giver decrements and the taker increments.
 */
export class ShmGauge {
  #cells: BigInt64Array;
  #shareIndex: number;
  #column: number;
  #source: GaugeShareSource | undefined;

  /** Made by ShmZone.gauge(); without a source it is process-local (its share is its value). */
  constructor(cells: BigInt64Array, shareIndex: number, column: number, source: GaugeShareSource | undefined) {
    this.#cells = cells;
    this.#shareIndex = shareIndex;
    this.#column = column;
    this.#source = source;
  }

  static {
    moveGaugeToLocal = (gauge) => {
      gauge.#cells = BigInt64Array.of(Atomics.load(gauge.#cells, gauge.#shareIndex));
      gauge.#shareIndex = 0;
      gauge.#source = undefined;
    };
  }

  /** The sum of every attached process's share (this process's share for a fallback cell). */
  get value(): number {
    return this.#source === undefined ? this.share : this.#source.sum(this.#column);
  }

  /** This process's share. */
  get share(): number {
    return Number(Atomics.load(this.#cells, this.#shareIndex));
  }

  /** False for a fallback cell, and after the zone closed. */
  get inZone(): boolean {
    return this.#source !== undefined;
  }

  /** Adds `n` (default 1) to this process's share. */
  inc(n?: number): void {
    Atomics.add(this.#cells, this.#shareIndex, n === undefined || n === 1 ? ONE : toInt64(n));
  }

  /** Subtracts `n` (default 1) from this process's share. */
  dec(n?: number): void {
    Atomics.sub(this.#cells, this.#shareIndex, n === undefined || n === 1 ? ONE : toInt64(n));
  }

  /** Sets this process's share to `value`. */
  update(value: number): void {
    Atomics.store(this.#cells, this.#shareIndex, toInt64(value));
  }
}

/** A process-local counter: the zone's fallback when it has no cell to give. */
export function localCounter(): ShmCounter {
  return new ShmCounter(new BigInt64Array(1), 0, false);
}

/** A process-local gauge: the zone's fallback when it has no cell to give. */
export function localGauge(): ShmGauge {
  return new ShmGauge(new BigInt64Array(1), 0, 0, undefined);
}

/**
 * Zone-internal: moves a cell object off the mapping, keeping its value (a counter's
 * total, a gauge's own share), so it keeps working process-locally after the zone closed
 * and the mapping can be released.
 */
export function detachFromZone(cell: ShmCounter | ShmGauge): void {
  if (cell instanceof ShmCounter) moveCounterToLocal(cell);
  else moveGaugeToLocal(cell);
}

/**
 * @module buffer/byte-pool
 * A pool of byte buffers in size classes (powers of two from 512 B to 64 KiB), so the
 * data path reuses its buffers instead of allocating one per read and leaving the garbage
 * collector to free them. Requests above 64 KiB are plain allocations, never pooled.
 *
 * A buffer is handed out as a `PooledBytes` lease, reference-counted: `retain()` for
 * every extra holder, `release()` by each; the last release returns the buffer to its
 * class's free list. A give-back that is wrong is a use-after-free in disguise (the next
 * owner would share the memory with the one still holding it), so it never reaches a free
 * list: a second release of a lease, a release of a lease whose buffer moved on to another
 * owner (each hand-out bumps the buffer's generation; a lease remembers its own), and a
 * retain or `bytes` read after the last release. Strict pools (tests: node --test sets
 * NODE_TEST_CONTEXT; or MOSNODE_BYTE_POOL_STRICT=1; or setStrict(true)) throw; the others
 * count it (`stats.doubleRelease`, `stats.useAfterRelease`) and report it through
 * `onProblem` (default: process.emitWarning), at most once a second per pool.
 *
 * Memory an idle process keeps is bounded: each class keeps at most `maxFreeBytesPerClass`
 * (1 MiB by default: 2048 buffers of 512 B ... 16 of 64 KiB, so 8 MiB for all eight
 * classes), and `trim()` (every 30 s on the shared pool, on an unref'd timer) drops the
 * free buffers that nobody took since the last trim, so a burst's peak drains away.
 *
 * Fresh buffers (a pool miss) of classes below 64 KiB are carved from 64 KiB slabs
 * (Buffer.allocUnsafeSlow): about 2x cheaper than one allocUnsafeSlow per buffer for 4
 * and 16 KiB, about even for smaller ones (bench/buffer-pool.ts, table 1). A slab's memory
 * returns to the system only once none of its buffers is referenced any more. Contents
 * are never cleared: a buffer may hold a previous owner's bytes, so send only what you
 * wrote.
 */

export const MIN_CLASS_BYTES = 512;
export const MAX_CLASS_BYTES = 64 * 1024;
const MIN_CLASS_SHIFT = 9;
const CLASS_COUNT = 8;
const SLAB_BYTES = 64 * 1024;
const DEFAULT_MAX_FREE_BYTES_PER_CLASS = 1024 * 1024;
const DEFAULT_TRIM_INTERVAL_MS = 30_000;
const REPORT_INTERVAL_MS = 1000;

/** The class index of a request of `size` bytes, or -1 above the largest class. */
export function sizeClassOf(size: number): number {
  if (size <= MIN_CLASS_BYTES) return 0;
  if (size > MAX_CLASS_BYTES) return -1;
  return 32 - Math.clz32(size - 1) - MIN_CLASS_SHIFT;
}

/** The byte size of class `index`. */
export function classBytes(index: number): number {
  return MIN_CLASS_BYTES << index;
}

/** One pooled buffer; it outlives the leases that hand it out. */
interface Slot {
  readonly bytes: Buffer;
  readonly classIndex: number;
  /** Bumped at each hand-out: a lease of an older generation is stale. */
  generation: number;
  free: boolean;
}

export interface BytePoolStats {
  /** Buffers of pooled classes made from the system. */
  allocated: number;
  allocatedBytes: number;
  /** Acquires served from a free list. */
  reused: number;
  /** Acquires above the largest class: plain allocations, never pooled. */
  unpooled: number;
  /** Leases handed out and not released yet (pooled and unpooled). */
  inUse: number;
  /** Bytes of those. */
  inUseBytes: number;
  /** Bytes waiting in free lists. */
  freeBytes: number;
  /** Released buffers left to the garbage collector: their free list was full, or trim() dropped them. */
  dropped: number;
  /** Refused releases: a lease released twice, or after its buffer went to another owner. */
  doubleRelease: number;
  /** A lease retained, or its bytes read, after its last release. */
  useAfterRelease: number;
}

export interface SizeClassStats {
  bytes: number;
  free: number;
  maxFree: number;
  inUse: number;
  allocated: number;
  reused: number;
}

export type BytePoolProblem = 'doubleRelease' | 'useAfterRelease';

export type BytePoolProblemHandler = (problem: BytePoolProblem, message: string, stats: BytePoolStats) => void;

export interface BytePoolOptions {
  /** Name in problem reports. */
  name?: string;
  /** Misuse throws instead of being counted and reported. Default: under node --test, or MOSNODE_BYTE_POOL_STRICT=1. */
  strict?: boolean;
  /** Free bytes each class keeps at most (at least 2 buffers). Default 1 MiB. */
  maxFreeBytesPerClass?: number;
  /** How often trim() runs on its own (unref'd timer, started at the first give-back); 0 = never. Default 30 s. */
  trimIntervalMs?: number;
  /** Fresh buffers below 64 KiB are carved from 64 KiB slabs (default) or allocated one by one. */
  slabs?: boolean;
}

/** Strict by default where a failure should be loud: under the test runner, or when asked. */
export function defaultStrict(): boolean {
  const flag = process.env.MOSNODE_BYTE_POOL_STRICT;
  if (flag !== undefined && flag !== '') return flag !== '0';
  return process.env.NODE_TEST_CONTEXT !== undefined;
}

/**
 * A lease on one buffer. `bytes` is the whole buffer (its length is the size class, at
 * least what was asked for). Every holder calls release() once; retain() adds a holder.
 */
export class PooledBytes {
  readonly #pool: BytePool;
  readonly #slot: Slot | undefined;
  readonly #generation: number;
  readonly #bytes: Buffer;
  #refs = 1;

  /** @internal leases come from BytePool.acquire(). */
  constructor(pool: BytePool, bytes: Buffer, slot: Slot | undefined) {
    this.#pool = pool;
    this.#bytes = bytes;
    this.#slot = slot;
    this.#generation = slot === undefined ? 0 : slot.generation;
  }

  /** The buffer; reading it after the last release is reported (the memory is someone else's). */
  get bytes(): Buffer {
    if (this.#refs === 0) this.#pool.problem('useAfterRelease', `bytes of a released ${this.#bytes.length}-byte lease were used`);
    return this.#bytes;
  }

  get size(): number {
    return this.#bytes.length;
  }

  /** Holders that have not released yet; 0 once given back. */
  get refs(): number {
    return this.#refs;
  }

  /** Whether the buffer came from a size class (false above 64 KiB). */
  get pooled(): boolean {
    return this.#slot !== undefined;
  }

  /** One more holder, who must release() too. */
  retain(): this {
    if (this.#refs === 0) {
      this.#pool.problem('useAfterRelease', `a released ${this.#bytes.length}-byte lease was retained`);
      return this;
    }
    this.#refs++;
    return this;
  }

  /** This holder is done; the last one gives the buffer back. */
  release(): void {
    if (this.#refs === 0) {
      const slot = this.#slot;
      this.#pool.problem(
        'doubleRelease',
        slot !== undefined && slot.generation !== this.#generation
          ? `a stale ${this.#bytes.length}-byte lease was released (generation ${this.#generation}; the buffer went to another owner, now generation ${slot.generation})`
          : `a ${this.#bytes.length}-byte lease was released twice`,
      );
      return;
    }
    if (--this.#refs === 0) this.#pool.giveBack(this.#slot, this.#bytes.length);
  }
}

class SizeClass {
  readonly bytes: number;
  readonly maxFree: number;
  readonly free: Slot[] = [];
  /** Smallest free-list length since the last trim: that many buffers nobody needed. */
  lowWater = 0;
  inUse = 0;
  allocated = 0;
  reused = 0;
  slab: Buffer | undefined;
  slabOffset = 0;

  constructor(bytes: number, maxFree: number) {
    this.bytes = bytes;
    this.maxFree = maxFree;
  }
}

export class BytePool {
  readonly name: string;
  readonly #classes: SizeClass[] = [];
  readonly #slabs: boolean;
  readonly #trimIntervalMs: number;
  #strict: boolean;
  #trimTimer: NodeJS.Timeout | undefined;
  #handler: BytePoolProblemHandler = (_problem, message) => process.emitWarning(message, { code: 'MOSNODE_BYTE_POOL' });
  #lastReport = -Infinity;
  #unreported = 0;
  #unpooled = 0;
  #unpooledInUse = 0;
  #unpooledInUseBytes = 0;
  #dropped = 0;
  #doubleRelease = 0;
  #useAfterRelease = 0;

  constructor(options: BytePoolOptions = {}) {
    this.name = options.name ?? 'bytes';
    this.#strict = options.strict ?? defaultStrict();
    this.#slabs = options.slabs ?? true;
    this.#trimIntervalMs = options.trimIntervalMs ?? DEFAULT_TRIM_INTERVAL_MS;
    const maxFreeBytes = options.maxFreeBytesPerClass ?? DEFAULT_MAX_FREE_BYTES_PER_CLASS;
    for (let i = 0; i < CLASS_COUNT; i++) {
      const bytes = classBytes(i);
      this.#classes.push(new SizeClass(bytes, Math.max(2, Math.floor(maxFreeBytes / bytes))));
    }
  }

  get strict(): boolean {
    return this.#strict;
  }

  setStrict(strict: boolean): void {
    this.#strict = strict;
  }

  /** Replaces the default warning: the server logs problems through its logger. */
  onProblem(handler: BytePoolProblemHandler): void {
    this.#handler = handler;
  }

  /** A buffer of at least `size` bytes (the whole size class), for the caller alone until released. */
  acquire(size: number): PooledBytes {
    const index = sizeClassOf(size);
    if (index < 0) {
      this.#unpooled++;
      this.#unpooledInUse++;
      this.#unpooledInUseBytes += size;
      return new PooledBytes(this, Buffer.allocUnsafeSlow(size), undefined);
    }
    const cls = this.#classes[index]!;
    let slot = cls.free.pop();
    if (slot === undefined) {
      slot = { bytes: this.#allocate(cls), classIndex: index, generation: 0, free: false };
      cls.allocated++;
    } else {
      if (cls.free.length < cls.lowWater) cls.lowWater = cls.free.length;
      slot.free = false;
      cls.reused++;
    }
    slot.generation++;
    cls.inUse++;
    return new PooledBytes(this, slot.bytes, slot);
  }

  /** @internal the last holder of a lease gave it back. */
  giveBack(slot: Slot | undefined, size: number): void {
    if (slot === undefined) {
      this.#unpooledInUse--;
      this.#unpooledInUseBytes -= size;
      return;
    }
    const cls = this.#classes[slot.classIndex]!;
    if (slot.free) {
      // Unreachable through leases (each releases its generation once); kept as the last guard.
      this.problem('doubleRelease', `a ${cls.bytes}-byte buffer already in the free list was given back`);
      return;
    }
    cls.inUse--;
    if (cls.free.length >= cls.maxFree) {
      this.#dropped++;
      return;
    }
    slot.free = true;
    cls.free.push(slot);
    if (this.#trimTimer === undefined && this.#trimIntervalMs > 0) {
      this.#trimTimer = setInterval(() => this.trim(), this.#trimIntervalMs).unref();
    }
  }

  /**
   * Drops the free buffers nobody took since the last trim (each class's low-water mark),
   * so memory kept after a burst goes back to the garbage collector. Returns the bytes dropped.
   */
  trim(): number {
    let bytes = 0;
    for (const cls of this.#classes) {
      const drop = Math.min(cls.lowWater, cls.free.length);
      // The oldest free buffers sit at the bottom; the ones reused most recently stay.
      for (const slot of cls.free.splice(0, drop)) slot.free = false;
      this.#dropped += drop;
      bytes += drop * cls.bytes;
      cls.lowWater = cls.free.length;
    }
    return bytes;
  }

  /** Drops every free buffer and stops the trim timer (tests, shutdown). */
  clear(): void {
    for (const cls of this.#classes) {
      this.#dropped += cls.free.length;
      for (const slot of cls.free) slot.free = false;
      cls.free.length = 0;
      cls.lowWater = 0;
    }
    clearInterval(this.#trimTimer);
    this.#trimTimer = undefined;
  }

  get stats(): BytePoolStats {
    let allocated = 0;
    let allocatedBytes = 0;
    let reused = 0;
    let inUse = this.#unpooledInUse;
    let inUseBytes = this.#unpooledInUseBytes;
    let freeBytes = 0;
    for (const cls of this.#classes) {
      allocated += cls.allocated;
      allocatedBytes += cls.allocated * cls.bytes;
      reused += cls.reused;
      inUse += cls.inUse;
      inUseBytes += cls.inUse * cls.bytes;
      freeBytes += cls.free.length * cls.bytes;
    }
    return {
      allocated,
      allocatedBytes,
      reused,
      unpooled: this.#unpooled,
      inUse,
      inUseBytes,
      freeBytes,
      dropped: this.#dropped,
      doubleRelease: this.#doubleRelease,
      useAfterRelease: this.#useAfterRelease,
    };
  }

  classStats(): SizeClassStats[] {
    return this.#classes.map((cls) => ({
      bytes: cls.bytes,
      free: cls.free.length,
      maxFree: cls.maxFree,
      inUse: cls.inUse,
      allocated: cls.allocated,
      reused: cls.reused,
    }));
  }

  /** @internal a misuse: counted, then thrown when strict, else reported (at most once a second). */
  problem(kind: BytePoolProblem, what: string): void {
    const message = `byte pool "${this.name}": ${what}`;
    if (kind === 'doubleRelease') this.#doubleRelease++;
    else this.#useAfterRelease++;
    if (this.#strict) throw new Error(message);
    const now = Date.now();
    if (now - this.#lastReport < REPORT_INTERVAL_MS) {
      this.#unreported++;
      return;
    }
    const also = this.#unreported > 0 ? ` (and ${this.#unreported} more since the last report)` : '';
    this.#lastReport = now;
    this.#unreported = 0;
    this.#handler(kind, `${message}${also}; refused, nothing was given back`, this.stats);
  }

  #allocate(cls: SizeClass): Buffer {
    if (!this.#slabs || cls.bytes >= SLAB_BYTES) return Buffer.allocUnsafeSlow(cls.bytes);
    if (cls.slab === undefined || cls.slabOffset + cls.bytes > SLAB_BYTES) {
      cls.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      cls.slabOffset = 0;
    }
    const bytes = cls.slab.subarray(cls.slabOffset, cls.slabOffset + cls.bytes);
    cls.slabOffset += cls.bytes;
    return bytes;
  }
}

/** The process's pool: every data-path user shares it, so one burst's buffers serve the next. */
export const sharedBytePool = new BytePool({ name: 'shared' });

/**
 * @module buffer/io-buffer
 * A growable byte queue over pooled bytes (buffer/byte-pool): bytes are appended at the
 * write index and consumed at the read index, for codecs that collect a frame from
 * several reads. It starts with no memory at all, takes the smallest size class that fits
 * the first write, grows by taking a bigger class (copy, then the old one goes back), and
 * gives its memory back whenever it is empty and idle (`shrinkIfIdle`), so a connection
 * that waits holds no buffer: per-connection buffers start small and shrink back.
 *
 * Views (`peek`, `readable`, `reserve`) point into the pooled memory: they are valid
 * only until the next call that changes the buffer (write, reserve, commit, drain, take,
 * compact, shrinkIfIdle, release), which may move the bytes, reuse them, or give them to
 * another owner. Copy (`take`) anything that must live longer.
 */
import { BytePool, MAX_CLASS_BYTES, sharedBytePool, type PooledBytes } from './byte-pool.ts';

const EMPTY = Buffer.alloc(0);

export class IoBuffer {
  readonly #pool: BytePool;
  #lease: PooledBytes | undefined;
  #bytes: Buffer = EMPTY;
  #read = 0;
  #write = 0;

  constructor(pool: BytePool = sharedBytePool) {
    this.#pool = pool;
  }

  /** Readable bytes. */
  get length(): number {
    return this.#write - this.#read;
  }

  /** Bytes held (0 when idle). */
  get capacity(): number {
    return this.#bytes.length;
  }

  get readIndex(): number {
    return this.#read;
  }

  get writeIndex(): number {
    return this.#write;
  }

  /** Appends a copy of `chunk`. */
  write(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    this.#ensureWritable(n);
    this.#bytes.set(chunk, this.#write);
    this.#write += n;
  }

  /**
   * A writable view of at least `n` bytes after the readable ones, for reading straight
   * into the buffer (socket.read into it, onread); `commit` says how many were filled.
   */
  reserve(n: number): Buffer {
    this.#ensureWritable(n);
    return this.#bytes.subarray(this.#write);
  }

  /** `n` bytes of the last reserve() view are now readable. */
  commit(n: number): void {
    if (!Number.isInteger(n) || n < 0 || this.#write + n > this.#bytes.length) {
      throw new RangeError(`commit(${n}) with ${this.#bytes.length - this.#write} bytes reserved`);
    }
    this.#write += n;
  }

  /** A view of the first min(n, length) readable bytes, not consumed. See the module comment on validity. */
  peek(n: number): Buffer {
    return this.#bytes.subarray(this.#read, this.#read + Math.min(Math.max(0, n), this.length));
  }

  /** A view of every readable byte, not consumed. */
  readable(): Buffer {
    return this.#bytes.subarray(this.#read, this.#write);
  }

  /** Consumes `n` readable bytes. */
  drain(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.length) throw new RangeError(`drain(${n}) with ${this.length} bytes readable`);
    this.#read += n;
    // Empty: start over at 0, which is a free compaction.
    if (this.#read === this.#write) this.#read = this.#write = 0;
  }

  /** Consumes `n` readable bytes (default all) and returns a copy of them, owned by the caller. */
  take(n: number = this.length): Buffer {
    if (!Number.isInteger(n) || n < 0 || n > this.length) throw new RangeError(`take(${n}) with ${this.length} bytes readable`);
    const out = Buffer.allocUnsafe(n);
    this.#bytes.copy(out, 0, this.#read, this.#read + n);
    this.drain(n);
    return out;
  }

  /** Moves the readable bytes to the start, so the whole rest is writable. */
  compact(): void {
    if (this.#read === 0) return;
    this.#bytes.copyWithin(0, this.#read, this.#write);
    this.#write -= this.#read;
    this.#read = 0;
  }

  /**
   * When empty, gives the memory back: the buffer holds nothing until the next write,
   * which starts again from the smallest class that fits. Returns whether it did.
   */
  shrinkIfIdle(): boolean {
    if (this.length > 0 || this.#lease === undefined) return false;
    this.release();
    return true;
  }

  /** Drops any unread bytes and gives the memory back; the buffer stays usable (it starts empty). */
  release(): void {
    const lease = this.#lease;
    this.#lease = undefined;
    this.#bytes = EMPTY;
    this.#read = this.#write = 0;
    lease?.release();
  }

  #ensureWritable(n: number): void {
    if (this.#write + n <= this.#bytes.length) return;
    const needed = this.length + n;
    if (needed <= this.#bytes.length) {
      this.compact();
      return;
    }
    // Past the largest class the buffer is a plain allocation: double it, so a long
    // accumulation costs amortized O(1) copies per byte.
    const size = needed > MAX_CLASS_BYTES ? Math.max(needed, this.#bytes.length * 2) : needed;
    const lease = this.#pool.acquire(size);
    const bytes = lease.bytes;
    const length = this.length;
    if (length > 0) this.#bytes.copy(bytes, 0, this.#read, this.#write);
    const old = this.#lease;
    this.#lease = lease;
    this.#bytes = bytes;
    this.#read = 0;
    this.#write = length;
    old?.release();
  }
}

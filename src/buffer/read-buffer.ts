/**
 * @module buffer/read-buffer
 * Where a socket reads through net's `onread` option, so that reading allocates nothing
 * (Node's default path allocates 64 KiB per read and leaves it to the garbage collector),
 * while a socket that waits holds no buffer of its own.
 *
 * Node (24) asks `onread.buffer()` for the buffer when the socket's handle is set up and
 * again after every read callback; the next read lands in whatever it returned. So the
 * buffer can change between reads, and a socket is in one of two modes:
 * - quiet (the start, and after any read that did not fill its buffer, which means the
 *   kernel had no more bytes): it reads into one 64 KiB scratch buffer shared by every
 *   socket of the process, and `take()` copies the bytes out into a pooled buffer of
 *   their size. Reads are synchronous and the copy is made before anything else runs, so
 *   sharing is safe, and an idle connection costs no buffer at all.
 * - busy (after a read that filled its buffer: more bytes are waiting): it reads into a
 *   pooled 64 KiB buffer of its own, and `take()` hands a view of it on without copying.
 *   The first read that does not fill it returns the socket to quiet mode.
 *
 * Bytes handed to a write that did not finish at once are still referenced by it: the
 * caller says so (`settle(n, true)`) and that buffer is parked (the next read gets
 * another) until `releaseParked()`, once the writes are done. Nothing is overwritten.
 */
import { BytePool, MAX_CLASS_BYTES, sharedBytePool, type PooledBytes } from './byte-pool.ts';

/** The process's quiet-mode read target; its bytes never leave a read callback. */
let scratch: Buffer | undefined;

/**
 * The process's 64 KiB buffer for `onread` reads whose bytes are used, or copied out,
 * before the read callback returns (one socket reads at a time, so every such reader
 * can share it: SocketReadBuffer's quiet mode, the HTTP/1 pool's connections).
 */
export function readScratch(): Buffer {
  return (scratch ??= Buffer.allocUnsafeSlow(MAX_CLASS_BYTES));
}
/**
 * Set if a read ever lands somewhere other than the buffer `next()` returned last (a Node
 * that no longer honours the per-read buffer): from then on every socket stays in quiet
 * mode, which is correct whatever buffer the reads land in.
 */
let perReadBufferIgnored = false;

export class SocketReadBuffer {
  readonly #pool: BytePool;
  /** Busy mode: the socket's own buffer (undefined in quiet mode). */
  #own: PooledBytes | undefined;
  /** What the next read goes into: #own, or undefined for the scratch buffer. */
  #target: PooledBytes | undefined;
  /** The lease holding the bytes take() handed out, until settle(). */
  #taken: PooledBytes | undefined;
  #busy = false;
  #parked: PooledBytes[] = [];
  #asked = false;
  #closed = false;
  #copiedReads = 0;
  #directReads = 0;

  constructor(pool: BytePool = sharedBytePool) {
    this.#pool = pool;
  }

  /** For `onread.buffer`: the buffer the next read goes into. */
  readonly next = (): Buffer => {
    this.#asked = true;
    if (!this.#busy || this.#closed || perReadBufferIgnored) {
      this.#target = undefined;
      return readScratch();
    }
    this.#own ??= this.#pool.acquire(MAX_CLASS_BYTES);
    this.#target = this.#own;
    return this.#own.bytes;
  };

  /** True once a socket asked for a buffer (the onread option reached a socket). */
  get attached(): boolean {
    return this.#asked;
  }

  /** Busy mode: the socket holds a 64 KiB buffer of its own. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Buffers waiting for writes that reference them. */
  get parked(): number {
    return this.#parked.length;
  }

  /** Reads copied out of the scratch buffer, and reads handed on without a copy. */
  get reads(): { copied: number; direct: number } {
    return { copied: this.#copiedReads, direct: this.#directReads };
  }

  /**
   * The `nread` bytes the last read put in `landed` (the onread callback's buffer), in
   * pooled memory the caller may hand to a write; valid until settle(), or until
   * releaseParked() when settled as retained.
   */
  take(nread: number, landed: Uint8Array): Buffer {
    const target = this.#target;
    if (landed !== (target === undefined ? scratch : target.bytes)) {
      perReadBufferIgnored = true;
      const copy = this.#pool.acquire(nread);
      copy.bytes.set(landed.subarray(0, nread));
      this.#copiedReads++;
      this.#taken = copy;
      return copy.bytes.subarray(0, nread);
    }
    if (target !== undefined) {
      this.#directReads++;
      this.#taken = target;
      return target.bytes.subarray(0, nread);
    }
    const copy = this.#pool.acquire(nread);
    const bytes = copy.bytes;
    scratch!.copy(bytes, 0, 0, nread);
    this.#copiedReads++;
    this.#taken = copy;
    return bytes.subarray(0, nread);
  }

  /**
   * The bytes take() gave are handed on; `retained` when something (a pending write)
   * still references them. Picks the mode for the next read.
   */
  settle(nread: number, retained: boolean): void {
    const taken = this.#taken;
    if (taken === undefined) return;
    this.#taken = undefined;
    const own = this.#own;
    this.#busy = nread >= (taken === own ? own.size : MAX_CLASS_BYTES);
    if (retained) {
      this.#parked.push(taken);
      if (taken === own) this.#own = undefined;
    } else if (taken !== own) {
      taken.release();
    }
    if (!this.#busy && this.#own !== undefined) {
      this.#own.release();
      this.#own = undefined;
    }
  }

  /** The writes that referenced parked buffers are done (or will never run): give them back. */
  releaseParked(): void {
    const parked = this.#parked;
    if (parked.length === 0) return;
    this.#parked = [];
    for (const lease of parked) lease.release();
  }

  /** No read can come any more (the socket closed): gives its own buffer back. Parked ones wait for releaseParked(). */
  closeReads(): void {
    this.#closed = true;
    this.#busy = false;
    const own = this.#own;
    this.#own = undefined;
    this.#target = undefined;
    own?.release();
  }

  /** closeReads() and releaseParked(). */
  dispose(): void {
    this.closeReads();
    this.releaseParked();
  }
}

/**
 * @module network/turn-writes
 * Holds a socket's writes until the event loop has handled every I/O event of its turn,
 * then hands each socket's bytes to the kernel in one write. Why: on loopback and in
 * VMs, most of a small write's cost is waking the reader on its CPU. When a proxy writes
 * as each event is handled, the peer (client or upstream) is woken, handles one message
 * and sleeps again before the next write wakes it anew; when the writes of a turn go out
 * back to back, one wake-up serves them all. Measured on the HTTP/1.1 small-body bench:
 * about 2 us of proxy CPU per request less (docs/performance.md, session 8).
 *
 * A turn's writes are flushed from one setImmediate, right after the poll phase; bytes
 * wait there for the rest of the turn's events, never for a timer or a new poll. More
 * than EARLY_FLUSH_BYTES held for one socket go out at once, so big bodies stream as
 * before and memory held here stays bounded.
 *
 * The HTTP/2 server codec batches its frames on its own (protocol/http2/http2-server.ts).
 */
import type { Socket } from 'node:net';

/** Past this many bytes held for one socket, they are written at once. */
export const EARLY_FLUSH_BYTES = 64 * 1024;

/** Writers with bytes held, flushed in order at the end of the turn. */
let dirty: TurnWriter[] = [];
let spare: TurnWriter[] = [];
let scheduled = false;

function flushTurn(): void {
  // Flushing may hold new bytes (a finished exchange lets a pipelined request go on):
  // they go in a fresh list and get their own flush.
  const writers = dirty;
  dirty = spare;
  spare = writers;
  scheduled = false;
  let i = 0;
  try {
    for (; i < writers.length; i++) writers[i]!.flush();
  } finally {
    if (i < writers.length) {
      // A callback threw: the rest still go out, in the next turn's flush.
      for (let k = i + 1; k < writers.length; k++) hold(writers[k]!);
    }
    writers.length = 0;
  }
}

function hold(writer: TurnWriter): void {
  dirty.push(writer);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushTurn);
  }
}

type Chunk = Buffer | string;

/** Told when bytes it waited for are in the kernel; `err` when their write failed. */
export interface FlushListener {
  flushed(err?: Error | null): void;
}

/**
 * One socket's writes, held until the end of the turn. Strings are latin1 (HTTP heads).
 * Once anything went through a TurnWriter, every later write to the socket (and its
 * end()) must too, or flush() must come first: bytes must not overtake held ones.
 */
export class TurnWriter {
  readonly socket: Socket;
  /** The first chunk held; most turns hold one. */
  #first: Chunk | undefined;
  #more: Chunk[] | undefined;
  #bytes = 0;
  /** Told once the held bytes are all in the kernel. */
  #listener: FlushListener | undefined;
  #held = false;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Nothing held and nobody waiting for a flush. */
  get empty(): boolean {
    return this.#first === undefined && this.#listener === undefined;
  }

  /** Bytes held, not yet given to the socket. */
  get heldBytes(): number {
    return this.#bytes;
  }

  /**
   * Holds `chunk` for the end of the turn. Returns false when the caller should wait for
   * the socket's 'drain' (as socket.write does): the socket's own buffer is full, or
   * flushing early found it so.
   */
  write(chunk: Chunk): boolean {
    const socket = this.socket;
    if (socket.writableNeedDrain) {
      // Already behind: queue in the socket, in order, and tell the caller to wait.
      this.flush();
      return typeof chunk === 'string' ? socket.write(chunk, 'latin1') : socket.write(chunk);
    }
    if (chunk.length === 0) return true;
    if (this.#first === undefined) this.#first = chunk;
    else (this.#more ??= []).push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= EARLY_FLUSH_BYTES) {
      this.flush();
      return !socket.writableNeedDrain;
    }
    if (!this.#held) {
      this.#held = true;
      hold(this);
    }
    return true;
  }

  /**
   * Tells `listener` once the bytes held so far (and any before) are in the kernel: at
   * the end of the turn, or when the socket has sent what it had to queue.
   */
  whenFlushed(listener: FlushListener): void {
    this.#listener = listener;
    if (!this.#held) {
      this.#held = true;
      hold(this);
    }
  }

  /** Gives the held bytes to the socket now (also before end() or a hand-over). */
  flush(): void {
    const first = this.#first;
    const more = this.#more;
    const listener = this.#listener;
    this.#first = undefined;
    this.#more = undefined;
    this.#bytes = 0;
    this.#listener = undefined;
    // Stays in the turn's list until the flush reaches it; a later hold re-registers.
    this.#held = false;
    const socket = this.socket;
    if (socket.destroyed) return; // its 'close' ends whatever waited for these bytes
    if (first !== undefined) {
      if (more === undefined) writeChunk(socket, first);
      else {
        // One writev for the lot.
        socket.cork();
        writeChunk(socket, first);
        for (let i = 0; i < more.length; i++) writeChunk(socket, more[i]!);
        socket.uncork();
      }
    }
    if (listener === undefined) return;
    // Nothing queued in the socket and no error: every byte is in the kernel.
    if (socket.writableLength === 0 && socket.errored === null && !socket.destroyed) listener.flushed();
    // Otherwise an empty write calls back once the bytes queued before it are out.
    else socket.write(EMPTY, (err?: Error | null) => listener.flushed(err));
  }
}

const EMPTY = Buffer.alloc(0);

function writeChunk(socket: Socket, chunk: Chunk): void {
  if (typeof chunk === 'string') socket.write(chunk, 'latin1');
  else socket.write(chunk);
}

/**
 * @module network/native-relay
 * Moves the bytes between two connected sockets on the native relay thread
 * (native/tcp_relay.c) instead of through this event loop: tcp_proxy hands a session over
 * once it is established and no other filter needs to see its bytes. Per request that
 * saves the JavaScript of two reads and two writes (about 6 µs of CPU in bench/), which
 * is what a Node L4 proxy pays over HAProxy.
 *
 * While a pair is relayed neither socket reads or writes in Node: their handles are
 * read-stopped and their Node timers off. The relay passes half-closes through, keeps
 * backpressure (a full destination stops reading its source) and reports bytes: every
 * second while it runs (so long sessions move counters) and at the end. Whoever closes a
 * relayed socket calls stop() first, so the relay has forgotten the fd before it is
 * closed and its number reused.
 *
 * `MOSNODE_TCP_RELAY=0` turns it off (tcp_proxy then moves bytes in JavaScript); it is
 * read for each new pair, so tests of the JavaScript path set it.
 */
import type { Socket } from 'node:net';
import { native } from '../core/native.ts';
import { startReading, stopReading } from './migration.ts';

/** Why a relayed pair ended by itself. */
export type RelayEndReason = 'closed' | 'error' | 'idle';

export interface RelayCallbacks {
  /** Bytes moved since the last call: from socket a to b, and from b to a. */
  onBytes(aToB: number, bToA: number): void;
  /** Both sockets are still open (and forgotten by the relay): close them. */
  onEnd(reason: RelayEndReason, errno: number): void;
}

const REASONS: readonly RelayEndReason[] = ['closed', 'error', 'idle'];
const BYTES_REPORT_MS = 1000;

const active = new Map<number, RelayedPair>();
let started = 0;
let initialised = false;
let bytesTimer: NodeJS.Timeout | undefined;

/** Bytes the relay read from and wrote to each socket it ever relayed. */
const RELAYED_BYTES = new WeakMap<Socket, { read: number; written: number }>();

/**
 * What the relay moved through `socket` (Node's socket.bytesRead/bytesWritten do not see
 * it), for byte counters taken when a socket closes; zeros for a socket never relayed.
 */
export function relayedBytes(socket: Socket): { read: number; written: number } {
  return RELAYED_BYTES.get(socket) ?? { read: 0, written: 0 };
}

function addBytes(socket: Socket, read: number, written: number): void {
  const counts = RELAYED_BYTES.get(socket);
  if (counts === undefined) RELAYED_BYTES.set(socket, { read, written });
  else {
    counts.read += read;
    counts.written += written;
  }
}

/** Pairs relayed now, and since the process started (for tests and diagnostics). */
export function relayStats(): { active: number; started: number } {
  return { active: active.size, started };
}

/** True when pairs can be relayed here (the addon is built and the relay not turned off). */
export function relayAvailable(): boolean {
  return process.env['MOSNODE_TCP_RELAY'] !== '0' && native !== undefined && typeof native.relayInit === 'function';
}

type ReadableSocket = Socket & { _read: (size: number) => void };

/**
 * Node's Readable restarts libuv reading from `_read` (after a 'data' event it reads
 * ahead up to the high-water mark, on a later tick), and a Node read would race the relay
 * thread for the bytes. So while relayed a socket's `_read` does nothing.
 */
function holdNodeReads(socket: Socket): void {
  (socket as ReadableSocket)._read = holdRead;
}
function holdRead(): void {}

/** Undoes holdNodeReads: Node may read the socket again (the caller restarts reading). */
function releaseNodeReads(socket: Socket): void {
  if (Object.hasOwn(socket, '_read')) delete (socket as Partial<ReadableSocket>)._read;
}

function onRelayEnd(id: number, reason: number, errno: number, aToB: number, bToA: number): void {
  const pair = active.get(id);
  if (pair === undefined) return;
  pair.ended(aToB, bToA, REASONS[reason] ?? 'error', errno);
}

function reportBytes(): void {
  const deltas = native!.relayTakeByteDeltas();
  for (let i = 0; i + 2 < deltas.length; i += 3) {
    active.get(deltas[i]!)?.bytes(deltas[i + 1]!, deltas[i + 2]!);
  }
}

function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** A pair on the relay thread; see startRelay. */
export class RelayedPair {
  readonly #id: number;
  readonly #callbacks: RelayCallbacks;
  readonly #sockets: readonly [Socket, Socket];
  #running = true;

  constructor(id: number, sockets: readonly [Socket, Socket], callbacks: RelayCallbacks) {
    this.#id = id;
    this.#sockets = sockets;
    this.#callbacks = callbacks;
  }

  get running(): boolean {
    return this.#running;
  }

  /** The relay forgets both fds now (pending bytes are dropped): the sockets may be closed. */
  stop(): void {
    if (!this.#running) return;
    const deltas = native!.relayStop(this.#id);
    this.#forget();
    if (deltas !== null) this.bytes(deltas[0], deltas[1]);
  }

  /**
   * Takes the pair back when the relay holds nothing (no bytes waiting, no FIN seen), so
   * the kernel sockets carry the whole state; false when busy (it keeps relaying).
   */
  tryDetach(): boolean {
    if (!this.#running) return false;
    const deltas = native!.relayDetach(this.#id);
    if (deltas === null) return false;
    this.#forget();
    // Reading stays stopped; whoever takes the sockets on restarts it (or hands them over).
    releaseNodeReads(this.#sockets[0]);
    releaseNodeReads(this.#sockets[1]);
    this.bytes(deltas[0], deltas[1]);
    return true;
  }

  /** @internal from the relay */
  bytes(aToB: number, bToA: number): void {
    if (aToB === 0 && bToA === 0) return;
    addBytes(this.#sockets[0], aToB, bToA);
    addBytes(this.#sockets[1], bToA, aToB);
    this.#callbacks.onBytes(aToB, bToA);
  }

  /** @internal from the relay */
  ended(aToB: number, bToA: number, reason: RelayEndReason, errno: number): void {
    this.#forget();
    this.bytes(aToB, bToA);
    this.#callbacks.onEnd(reason, errno);
  }

  #forget(): void {
    this.#running = false;
    active.delete(this.#id);
    if (active.size === 0 && bytesTimer !== undefined) {
      clearInterval(bytesTimer);
      bytesTimer = undefined;
    }
  }
}

/**
 * Relays between `a` and `b` (connected, nothing buffered in Node: the caller checked)
 * until both sides closed, one failed, or nothing moved for `idleMs` (0 = no limit).
 * Stops reading both sockets in Node first. Returns undefined when the relay is not
 * available or a socket has no fd; then nothing changed.
 */
export function startRelay(a: Socket, b: Socket, idleMs: number, callbacks: RelayCallbacks): RelayedPair | undefined {
  if (!relayAvailable()) return undefined;
  const fdA = fdOf(a);
  const fdB = fdOf(b);
  if (fdA === undefined || fdB === undefined) return undefined;
  if (!initialised) {
    native!.relayInit(onRelayEnd);
    initialised = true;
  }
  stopReading(a);
  stopReading(b);
  holdNodeReads(a);
  holdNodeReads(b);
  let id: number;
  try {
    id = native!.relayStart(fdA, fdB, Math.max(0, Math.floor(idleMs)));
  } catch {
    // epoll refused the fds (out of memory, most likely): carry on in JavaScript.
    releaseNodeReads(a);
    releaseNodeReads(b);
    startReading(a);
    startReading(b);
    return undefined;
  }
  const pair = new RelayedPair(id, [a, b], callbacks);
  active.set(id, pair);
  started++;
  bytesTimer ??= setInterval(reportBytes, BYTES_REPORT_MS).unref();
  return pair;
}

/**
 * @module network/connection
 * A downstream connection: a net.Socket plus its network filter chain, byte counts,
 * read-disable counting (backpressure), idle timeout and one close event with a reason.
 * Depends on api/ types and network/filter-manager.
 */
import type { Socket } from 'node:net';
import type {
  Connection,
  ConnectionAddresses,
  ConnectionCloseType,
  ConnectionEvent,
  ReadFilter,
  WriteFilter,
} from '../api/network-filter.ts';
import { NetworkFilterManager, type FilterErrorSink } from './filter-manager.ts';
import { formatAddress, normalizeIp } from './address.ts';
import {
  MIGRATED_SOCKETS,
  MIGRATION_KEY,
  nothingBuffered,
  startReading,
  stopReading,
  type MigrationKind,
  type MigrationProvider,
} from './migration.ts';

/** A connection ready to go to a successor process (see network/migration.ts). */
export interface ConnectionMigration {
  kind: MigrationKind;
  /** The downstream socket first, then the filter's extra sockets; reading stopped on all. */
  sockets: Socket[];
  commit(): void;
  abort(): void;
}

let nextConnectionId = 1;

/** The connection of each detached socket: its addresses are the ones listener filters set. */
const DETACHED_FROM = new WeakMap<Socket, ConnectionAddresses>();

/**
 * The addresses of the connection `socket` was detached from (PROXY protocol and
 * original_dst overrides included), for codecs that own a detached socket; undefined for
 * any other socket (then its own addresses are the truth).
 */
export function connectionAddressesOf(socket: Socket): ConnectionAddresses | undefined {
  return DETACHED_FROM.get(socket);
}

export interface DownstreamConnectionOptions {
  listenerName: string;
  /** ms; undefined/0 = none */
  idleTimeoutMs?: number | undefined;
  /** Shared with listener filters. */
  state?: Map<string, unknown> | undefined;
  /** Overrides from listener filters (PROXY protocol, original_dst). */
  remote?: { ip: string; port: number } | undefined;
  originalDestination?: { ip: string; port: number } | undefined;
  /** Called when a filter throws: the connection is closed after it. */
  onFilterError: (err: unknown, connection: DownstreamConnection) => void;
  /**
   * Byte accounting as it happens (per chunk read, per write), so counters of long-lived
   * connections move before they close; bytes a detached owner moved are reported at close.
   */
  onBytes?: ((read: number, written: number) => void) | undefined;
  /** Called once when the connection has closed, before its onClose listeners. */
  onClosed?: ((connection: DownstreamConnection) => void) | undefined;
}

const OWNER = Symbol('mosnode.connection');
type OwnedSocket = Socket & { [OWNER]: DownstreamConnection };

// Socket listeners shared by every connection, instead of five closures each: `this` is the socket.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER].onSocketData(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[OWNER].onSocketEnd();
}
function onSocketDrain(this: OwnedSocket): void {
  this[OWNER].onSocketDrain();
}
function onSocketError(this: OwnedSocket): void {
  this[OWNER].onSocketError();
}
function onSocketClose(this: OwnedSocket): void {
  this[OWNER].onSocketClose();
}

export class DownstreamConnection implements Connection, FilterErrorSink {
  readonly id = nextConnectionId++;
  readonly listenerName: string;
  readonly state: Map<string, unknown>;
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly filterManager: NetworkFilterManager;
  readonly #socket: Socket;
  /** Bytes already reported through onBytes. */
  #reportedRead = 0;
  #reportedWritten = 0;
  readonly #onBytes: ((read: number, written: number) => void) | undefined;
  readonly #onClosed: ((connection: DownstreamConnection) => void) | undefined;
  readonly #reportFilterError: (err: unknown, connection: DownstreamConnection) => void;
  #closed = false;
  #detached = false;
  #readDisableCount = 0;
  #closeEvent: ConnectionEvent | undefined;
  #closeEmitted = false;
  // Made on first use: most connections never need some of them (10k idle ones add up).
  #closeListeners: Array<(event: ConnectionEvent) => void> | undefined;
  #writableListeners: Array<() => void> | undefined;
  #drainListeners: Array<() => void> | undefined;
  #draining = false;
  readonly #idleTimeoutMs: number;
  /** Set while the native relay moves this socket's bytes (network/native-relay). */
  #relay: { stop(): void } | undefined;
  #relayedRead = 0;
  #relayedWritten = 0;

  constructor(socket: Socket, options: DownstreamConnectionOptions) {
    this.#socket = socket;
    this.listenerName = options.listenerName;
    this.#onBytes = options.onBytes;
    this.#onClosed = options.onClosed;
    this.state = options.state ?? new Map();
    const remoteIp = options.remote?.ip ?? normalizeIp(socket.remoteAddress ?? '');
    this.remoteIp = remoteIp;
    this.remotePort = options.remote?.port ?? socket.remotePort ?? 0;
    this.localIp = options.originalDestination?.ip ?? normalizeIp(socket.localAddress ?? '');
    this.localPort = options.originalDestination?.port ?? socket.localPort ?? 0;
    this.remoteAddress = formatAddress(this.remoteIp, this.remotePort);
    this.localAddress = formatAddress(this.localIp, this.localPort);
    this.#reportFilterError = options.onFilterError;
    this.filterManager = new NetworkFilterManager(this, this);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 0;
    if (this.#idleTimeoutMs > 0) this.#armIdleTimer();
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** @internal FilterErrorSink: a filter threw; the listener reports it and the connection closes. */
  onFilterError(err: unknown): void {
    this.#reportFilterError(err, this);
    this.close('NoFlush', 'LocalClose');
  }

  get bytesRead(): number {
    return this.#socket.bytesRead + this.#relayedRead;
  }

  get bytesWritten(): number {
    return this.#socket.bytesWritten + this.#relayedWritten;
  }

  /** The connection's idle timeout in ms (0 = none), for a relay that takes over its timing. */
  get idleTimeoutMs(): number {
    return this.#idleTimeoutMs;
  }

  /**
   * The native relay moves this socket's bytes from now on (undefined: not any more).
   * Meanwhile the socket's idle timer is off (the relay keeps the time), readDisable does
   * nothing, and close() stops the relay before the socket closes.
   */
  setRelay(relay: { stop(): void } | undefined): void {
    this.#relay = relay;
    if (relay !== undefined) this.#socket.setTimeout(0);
    else if (this.#idleTimeoutMs > 0 && !this.#closed && !this.#detached) this.#armIdleTimer();
  }

  get relayed(): boolean {
    return this.#relay !== undefined;
  }

  /** Bytes the relay moved: read from this socket, and written to it. */
  addRelayedBytes(read: number, written: number): void {
    this.#relayedRead += read;
    this.#relayedWritten += written;
    this.#onBytes?.(read, written);
  }

  #armIdleTimer(): void {
    this.#socket.setTimeout(this.#idleTimeoutMs, () => this.close('NoFlush', 'IdleTimeout'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get readDisabled(): boolean {
    return this.#readDisableCount > 0;
  }

  get detached(): boolean {
    return this.#detached;
  }

  /** The socket, for the listener's bookkeeping; filters use detachSocket(). */
  get socket(): Socket {
    return this.#socket;
  }

  addReadFilter(filter: ReadFilter): void {
    this.filterManager.addReadFilter(filter);
  }

  addWriteFilter(filter: WriteFilter): void {
    this.filterManager.addWriteFilter(filter);
  }

  /**
   * Runs onNewConnection through the chain. `initialData` are bytes a listener filter read
   * that could not go back into the socket (the peer half-closed while they were peeked).
   */
  start(initialData?: Buffer, initialEnd = false): void {
    this.filterManager.initializeReadFilters();
    if (this.#closed) return;
    if (initialData !== undefined && initialData.length > 0) this.filterManager.onRead(initialData, false);
    if (initialEnd && !this.#closed) this.filterManager.onRead(Buffer.alloc(0), true);
  }

  write(data: Buffer, endStream = false): boolean {
    if (this.#closed || this.#detached) return false;
    if (this.filterManager.hasWriteFilters && !this.filterManager.onWrite(data, endStream)) {
      return !this.#socket.writableNeedDrain;
    }
    if (data.length > 0 && this.#onBytes !== undefined) {
      this.#reportedWritten += data.length;
      this.#onBytes(0, data.length);
    }
    const ok = data.length > 0 ? this.#socket.write(data) : !this.#socket.writableNeedDrain;
    if (endStream) this.#socket.end();
    return ok;
  }

  close(type: ConnectionCloseType = 'FlushWrite', event: ConnectionEvent = 'LocalClose'): void {
    if (this.#closed) return;
    // The relay must forget the fd before it is closed (its number could be reused).
    const relay = this.#relay;
    this.#relay = undefined;
    relay?.stop();
    this.#markClosed(event);
    if (type === 'FlushWrite' && !this.#socket.destroyed) {
      this.#socket.end();
      // A peer that never reads must not keep the socket forever.
      this.#socket.setTimeout(10_000, () => this.#socket.destroy());
    } else {
      this.#socket.destroy();
    }
  }

  readDisable(disable: boolean): void {
    // A detached socket belongs to its new owner, which paces its own reads; a relayed
    // one is read by the relay thread, and Node reading it too would reorder bytes.
    if (this.#detached || this.#relay !== undefined) return;
    if (disable) {
      if (this.#readDisableCount++ === 0) this.#socket.pause();
    } else if (this.#readDisableCount > 0 && --this.#readDisableCount === 0 && !this.#detached) {
      this.#socket.resume();
    }
  }

  onWritable(listener: () => void): void {
    (this.#writableListeners ??= []).push(listener);
  }

  onDrain(listener: () => void): void {
    if (this.#draining) queueMicrotask(listener);
    else (this.#drainListeners ??= []).push(listener);
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Readies this connection for migration, or undefined when it cannot move right now (no
   * provider, busy, bytes buffered, half-closed). On success reading is stopped until
   * abort() (which resumes) or commit() (which forgets the sockets without a FIN).
   */
  prepareMigration(): ConnectionMigration | undefined {
    const provider = this.state.get(MIGRATION_KEY) as MigrationProvider | undefined;
    const socket = this.#socket;
    if (provider === undefined || this.#closed || !socket.readable || !socket.writable) return undefined;
    stopReading(socket);
    const filterPart = nothingBuffered(socket) ? provider.prepareMigration() : undefined;
    if (filterPart === undefined) {
      if ((!this.readDisabled || this.#detached) && this.#relay === undefined) startReading(socket);
      return undefined;
    }
    return {
      kind: filterPart.kind,
      sockets: [socket, ...filterPart.extraSockets],
      commit: () => {
        MIGRATED_SOCKETS.add(socket);
        filterPart.commit();
        // destroy() closes our fd only; the successor holds the socket, so no FIN is sent.
        this.#markClosed('LocalClose');
        socket.destroy();
      },
      abort: () => {
        filterPart.abort();
        if ((!this.readDisabled || this.#detached) && this.#relay === undefined) startReading(socket);
      },
    };
  }

  /** Whether waiting for this connection to become migratable is worth it (see MigrationProvider). */
  migrationWorthWaiting(): boolean {
    return (this.state.get(MIGRATION_KEY) as MigrationProvider | undefined)?.worthWaiting() ?? false;
  }

  /** Starts draining: tells the filters once. */
  drain(): void {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    const listeners = this.#drainListeners;
    this.#drainListeners = undefined;
    for (const listener of listeners ?? []) listener();
  }

  onClose(listener: (event: ConnectionEvent) => void): void {
    if (this.#closeEmitted) {
      // Already closed: tell this late listener too, but never re-entrantly.
      queueMicrotask(() => listener(this.#closeEvent ?? 'RemoteClose'));
      return;
    }
    (this.#closeListeners ??= []).push(listener);
  }

  detachSocket(): Socket {
    this.#detached = true;
    const s = this.#socket;
    // Paused, so no byte flows before the new owner listens; it calls resume().
    s.pause();
    s.off('data', onSocketData);
    s.off('end', onSocketEnd);
    s.off('drain', onSocketDrain);
    s.setTimeout(0);
    DETACHED_FROM.set(s, this);
    return s;
  }

  // After close() (FlushWrite keeps reading until the peer's FIN) filters hear nothing more.
  /** Socket 'data' (through onSocketData). */
  onSocketData(chunk: Buffer): void {
    if (this.#onBytes !== undefined) {
      this.#reportedRead += chunk.length;
      this.#onBytes(chunk.length, 0);
    }
    if (!this.#closed) this.filterManager.onRead(chunk, false);
  }

  onSocketEnd(): void {
    if (!this.#closed) this.filterManager.onRead(Buffer.alloc(0), true);
  }

  onSocketDrain(): void {
    for (const listener of this.#writableListeners ?? []) listener();
  }

  onSocketError(): void {
    // 'close' follows every error; the reason is kept for the close event.
    if (!this.#closed) this.#markClosed('RemoteClose');
  }

  onSocketClose(): void {
    if (this.#onBytes !== undefined && !MIGRATED_SOCKETS.has(this.#socket)) {
      // What a detached owner, or a listener filter's peek, moved without us seeing it.
      const read = this.#socket.bytesRead - this.#reportedRead;
      const written = this.#socket.bytesWritten - this.#reportedWritten;
      if (read > 0 || written > 0) this.#onBytes(Math.max(0, read), Math.max(0, written));
    }
    if (!this.#closed) this.#markClosed('RemoteClose');
    this.#emitClose();
  }

  #markClosed(event: ConnectionEvent): void {
    this.#closed = true;
    this.#closeEvent = event;
    if (this.#socket.destroyed) this.#emitClose();
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#onClosed?.(this);
    const listeners = this.#closeListeners;
    this.#closeListeners = undefined;
    for (const listener of listeners ?? []) listener(this.#closeEvent ?? 'RemoteClose');
  }
}

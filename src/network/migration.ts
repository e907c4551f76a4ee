/**
 * @module network/migration
 * Connection migration (beyond MOSN, which migrates only RPC connections): after a hot
 * upgrade the old process hands live connections to the new one as fds instead of closing
 * them. A connection is migratable only at a moment when no byte sits in userland buffers,
 * so the kernel socket carries the whole state. The filter that owns a connection's
 * protocol state registers a MigrationProvider in `connection.state` under MIGRATION_KEY;
 * connections without one are drained as usual.
 */
import type { Socket } from 'node:net';

/** The `connection.state` key of a connection's MigrationProvider (built-in filters only). */
export const MIGRATION_KEY = 'mosnode.migration';
/** The `connection.state` key under which an adopted connection finds its migrated upstream socket. */
export const MIGRATED_UPSTREAM_KEY = 'mosnode.migrated-upstream';

export type MigrationKind = 'http1' | 'tcp_proxy';

/**
 * Sockets handed to a successor. Their 'close' here is not a connection ending (it goes on
 * in the successor), so counters of closes and bytes skip them; active gauges still drop.
 */
export const MIGRATED_SOCKETS = new WeakSet<Socket>();

/** What a filter hands over besides the downstream socket. */
export interface FilterMigration {
  kind: MigrationKind;
  /** Other sockets that go along (tcp_proxy: the upstream connection), already read-stopped. */
  extraSockets: Socket[];
  /** The successor adopted it: forget these sockets without closing them towards the peers. */
  commit(): void;
  /** It did not go: carry on as if nothing happened. */
  abort(): void;
}

export interface MigrationProvider {
  /**
   * Called when prepareMigration said "not now": is it worth trying again soon? True when
   * draining would cut the connection (tcp_proxy sessions) or it is about to be ready (an
   * HTTP/1 connection idle, but not for long enough yet); false when it is busy and
   * draining is graceful anyway (an HTTP/1 request in flight gets `Connection: close`).
   */
  worthWaiting(): boolean;
  /**
   * Called with reading already stopped on the downstream socket. Returns undefined when
   * the connection is busy right now (a request in flight, bytes buffered): try later.
   */
  prepareMigration(): FilterMigration | undefined;
}

/** Stops libuv reading at once (a paused stream would still read up to its high-water mark). */
export function stopReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
  if (handle?.readStop !== undefined) {
    handle.reading = false;
    handle.readStop();
  }
}

/** Undoes stopReading. */
export function startReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStart?: () => number } })._handle;
  if (handle?.readStart !== undefined && !socket.destroyed) {
    handle.reading = true;
    handle.readStart();
  }
}

/** True when nothing of this socket's stream sits in userland: the fd carries all of it. */
export function nothingBuffered(socket: Socket): boolean {
  return !socket.destroyed && socket.readableLength === 0 && socket.writableLength === 0 && !socket.connecting;
}

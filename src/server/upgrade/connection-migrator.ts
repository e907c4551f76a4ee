/**
 * @module server/upgrade/connection-migrator
 * The old process's half of connection migration: dials the successor's conn.sock and
 * sends it live connections, one MigrateConnection frame each with the sockets' fds
 * attached; the successor answers one byte per frame (1 = adopted). Frames and answers
 * are matched in order (one stream, FIFO), so several migrations may be in flight.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { connectUnix, type UnixMessageSocket } from '../../core/native.ts';
import type { ConnectionMigration } from '../../network/connection.ts';
import { encodeFrame, FrameType } from './frames.ts';
import type { ListenerIdentity } from './listener-identity.ts';
import type { UpgradeTimeouts } from './upgrade-paths.ts';

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no fd');
  return fd;
}

export class ConnectionMigrator {
  readonly #peer: UnixMessageSocket;
  readonly #logger: Logger;
  readonly #timeouts: UpgradeTimeouts;
  #broken = false;
  migrated = 0;
  refused = 0;

  private constructor(peer: UnixMessageSocket, logger: Logger, timeouts: UpgradeTimeouts) {
    this.#peer = peer;
    this.#logger = logger;
    this.#timeouts = timeouts;
  }

  /** Dials conn.sock (retrying briefly while the successor opens it); undefined if it never does. */
  static async connect(path: string, logger: Logger, timeouts: UpgradeTimeouts, withinMs = 2_000): Promise<ConnectionMigrator | undefined> {
    const deadline = Date.now() + withinMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        return new ConnectionMigrator(await connectUnix(path, Math.max(1, deadline - Date.now())), logger, timeouts);
      } catch (err) {
        if (Date.now() + delay >= deadline) {
          logger.warn({ err: describeError(err) }, 'connection migration: conn.sock not reachable; connections will be drained');
          return undefined;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * Sends one connection. Resolves true when the successor adopted it (the migration is
   * committed: our copies are gone without a FIN), false otherwise (it was aborted: the
   * connection goes on here and should be drained).
   */
  async migrate(listener: ListenerIdentity, migration: ConnectionMigration): Promise<boolean> {
    if (this.#broken) {
      migration.abort();
      return false;
    }
    try {
      const fds = migration.sockets.map(fdOf);
      await this.#peer.send(encodeFrame(FrameType.MigrateConnection, { listener, kind: migration.kind }), fds, this.#timeouts.frameMs);
      const answer = await this.#peer.receiveExactly(1, this.#timeouts.frameMs, 0);
      if (answer.bytes.length === 1 && answer.bytes[0] === 1) {
        migration.commit();
        this.migrated++;
        return true;
      }
      if (answer.bytes.length === 0) this.#broken = true;
      this.refused++;
    } catch (err) {
      // Whether the successor got the fds is unknown now: it closes what it cannot use,
      // and we keep serving our copy, so nothing is lost either way.
      this.#broken = true;
      this.#logger.warn({ err: describeError(err) }, 'connection migration: conn.sock failed; draining the rest');
    }
    migration.abort();
    return false;
  }

  close(): void {
    this.#peer.close();
  }
}

/**
 * @module server/upgrade/connection-migrator
 * The old process's half of connection migration, in two phases so that a connection is
 * never alive in both processes: (1) send MigrateConnection `{id}` with the sockets' fds;
 * the successor holds them without reading and answers `{id, ok}`; (2) on ok, send
 * MigrationCommit `{id}` and close our copies (close() only: no FIN, the socket lives on
 * there). Anything unexpected (a timeout, a wrong id, EOF) breaks the channel: the
 * connection in flight is aborted (the successor, never committed, drops its copies) and
 * every later one is drained here. Migrations run one at a time.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { connectUnix, type UnixMessageSocket } from '../../core/native.ts';
import type { ConnectionMigration } from '../../network/connection.ts';
import { encodeFrame, FrameType } from './frames.ts';
import type { ListenerIdentity } from './listener-identity.ts';
import { readMigrationFrame } from './migration-wire.ts';
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
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
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
   * Sends one connection. Resolves true when the successor took it (committed: our copies
   * are gone without a FIN), false when it goes on here (aborted: drain it).
   */
  migrate(listener: ListenerIdentity, migration: ConnectionMigration): Promise<boolean> {
    const run = this.#queue.then(() => this.#migrateOne(listener, migration));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #migrateOne(listener: ListenerIdentity, migration: ConnectionMigration): Promise<boolean> {
    if (this.#broken) {
      migration.abort();
      return false;
    }
    const id = this.#nextId++;
    try {
      const fds = migration.sockets.map(fdOf);
      await this.#peer.send(encodeFrame(FrameType.MigrateConnection, { id, listener, kind: migration.kind }), fds, this.#timeouts.frameMs);
      const answer = await readMigrationFrame(this.#peer, this.#timeouts.frameMs, 0);
      if (answer === undefined || answer.type !== FrameType.MigrationAnswer || answer.payload['id'] !== id) {
        throw new Error(answer === undefined ? 'the successor closed conn.sock' : 'an answer out of order');
      }
      if (answer.payload['ok'] !== true) {
        this.refused++;
        migration.abort();
        return false;
      }
      // From the moment the commit is on its way, the connection is the successor's.
      await this.#peer.send(encodeFrame(FrameType.MigrationCommit, { id }), [], this.#timeouts.frameMs);
      migration.commit();
      this.migrated++;
      return true;
    } catch (err) {
      this.#broken = true;
      this.#logger.warn({ err: describeError(err) }, 'connection migration: conn.sock failed; this connection and the rest are drained here');
      migration.abort();
      return false;
    }
  }

  close(): void {
    this.#peer.close();
  }
}

/**
 * @module server/upgrade/migration-receiver
 * The new process's half of connection migration (see connection-migrator.ts): listens on
 * conn.sock for the old process, for as long as it may drain. A MigrateConnection frame's
 * fds become sockets that do NOT read yet; if a listener can take them the answer is ok,
 * and only the old process's commit hands them to that listener. Sockets never committed
 * (a refusal, EOF, a broken channel) are closed here without a FIN: the old process still
 * holds them and serves on.
 */
import { Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { listenUnix, closeFdsQuietly, type UnixListener, type UnixMessageSocket } from '../../core/native.ts';
import type { MigrationKind } from '../../network/migration.ts';
import { encodeFrame, FrameType } from './frames.ts';
import type { ListenerIdentity } from './listener-identity.ts';
import { readMigrationFrame } from './migration-wire.ts';

/** The two phases the server offers: can a listener take this, and take it. */
export interface MigrationTarget {
  canAdopt(listener: ListenerIdentity, kind: MigrationKind): boolean;
  adopt(listener: ListenerIdentity, kind: MigrationKind, sockets: Socket[]): void;
}

const MAX_FDS_PER_CONNECTION = 2;

interface Held {
  listener: ListenerIdentity;
  kind: MigrationKind;
  sockets: Socket[];
}

export class MigrationReceiver {
  readonly #listener: UnixListener;
  readonly #target: MigrationTarget;
  readonly #logger: Logger;
  readonly #held = new Map<number, Held>();
  #closed = false;
  adopted = 0;

  private constructor(listener: UnixListener, target: MigrationTarget, logger: Logger) {
    this.#listener = listener;
    this.#target = target;
    this.#logger = logger;
  }

  /** Listens on conn.sock for `openForMs` (the old process's drain time and a margin). */
  static open(path: string, target: MigrationTarget, logger: Logger, openForMs: number, frameMs: number): MigrationReceiver {
    if (existsSync(path)) unlinkSync(path);
    const receiver = new MigrationReceiver(listenUnix(path), target, logger);
    void receiver.#serve(openForMs, frameMs);
    return receiver;
  }

  close(): void {
    this.#closed = true;
    this.#listener.close();
    this.#dropHeld();
  }

  async #serve(openForMs: number, frameMs: number): Promise<void> {
    const timer = setTimeout(() => this.close(), openForMs);
    timer.unref();
    try {
      const peer = await this.#listener.accept(openForMs);
      try {
        while (!this.#closed && (await this.#handleFrame(peer, frameMs)));
      } finally {
        peer.close();
      }
    } catch (err) {
      if (!this.#closed) this.#logger.debug({ err: describeError(err) }, 'connection migration: conn.sock closed');
    } finally {
      clearTimeout(timer);
      this.close();
      if (this.adopted > 0) this.#logger.info({ connections: this.adopted }, 'connection migration: connections adopted from the previous process');
    }
  }

  /** One frame: false at EOF. The old process paces frames, so each wait is one frame's. */
  async #handleFrame(peer: UnixMessageSocket, frameMs: number): Promise<boolean> {
    // Between two frames the old process may be waiting for connections to go idle.
    const frame = await readMigrationFrame(peer, Math.max(frameMs, 600_000), MAX_FDS_PER_CONNECTION);
    if (frame === undefined) return false;
    const id = frame.payload['id'];
    if (typeof id !== 'number') {
      closeFdsQuietly(frame.fds);
      throw new Error('a migration frame without an id');
    }
    if (frame.type === FrameType.MigrateConnection) {
      const listener = frame.payload['listener'] as ListenerIdentity | undefined;
      const kind = frame.payload['kind'] as MigrationKind | undefined;
      const expected = kind === 'tcp_proxy' ? 2 : kind === 'http1' ? 1 : -1;
      let ok = false;
      if (listener !== undefined && kind !== undefined && frame.fds.length === expected && this.#target.canAdopt(listener, kind)) {
        // Not reading until the commit: until then the old process owns every byte.
        const sockets = frame.fds.map((fd) => new Socket({ fd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true } as ConstructorParameters<typeof Socket>[0]));
        this.#held.set(id, { listener, kind, sockets });
        ok = true;
      } else {
        closeFdsQuietly(frame.fds);
      }
      await peer.send(encodeFrame(FrameType.MigrationAnswer, { id, ok }), [], frameMs);
      return true;
    }
    closeFdsQuietly(frame.fds);
    if (frame.type === FrameType.MigrationCommit) {
      const held = this.#held.get(id);
      this.#held.delete(id);
      if (held !== undefined) {
        this.#target.adopt(held.listener, held.kind, held.sockets);
        this.adopted++;
      }
      return true;
    }
    throw new Error(`unexpected frame type ${frame.type} on conn.sock`);
  }

  #dropHeld(): void {
    // destroy() closes our fds only; the old process still holds these sockets.
    for (const held of this.#held.values()) for (const s of held.sockets) s.destroy();
    this.#held.clear();
  }
}

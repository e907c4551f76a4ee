/**
 * @module server/upgrade/migration-receiver
 * The new process's half of connection migration: listens on conn.sock for the old
 * process (for as long as it may drain), turns each MigrateConnection frame's fds back
 * into sockets, hands them to the matching listener, and answers one byte (1 = adopted,
 * 0 = refused: the old process then drains that connection itself).
 */
import { Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { listenUnix, closeFdsQuietly, type UnixListener, type UnixMessageSocket } from '../../core/native.ts';
import type { MigrationKind } from '../../network/migration.ts';
import { decodeHeader, FrameType, HEADER_BYTES } from './frames.ts';
import type { ListenerIdentity } from './listener-identity.ts';

/** Adopts one migrated connection; false when no listener matches or the kind is unknown. */
export type AdoptConnection = (listener: ListenerIdentity, kind: MigrationKind, sockets: Socket[]) => boolean;

const MAX_FDS_PER_CONNECTION = 2;

export class MigrationReceiver {
  readonly #listener: UnixListener;
  readonly #adopt: AdoptConnection;
  readonly #logger: Logger;
  #closed = false;
  adopted = 0;

  private constructor(listener: UnixListener, adopt: AdoptConnection, logger: Logger) {
    this.#listener = listener;
    this.#adopt = adopt;
    this.#logger = logger;
  }

  /** Listens on conn.sock for `openForMs` (the old process's drain time and a margin). */
  static open(path: string, adopt: AdoptConnection, logger: Logger, openForMs: number): MigrationReceiver {
    if (existsSync(path)) unlinkSync(path);
    const receiver = new MigrationReceiver(listenUnix(path), adopt, logger);
    void receiver.#serve(openForMs);
    return receiver;
  }

  close(): void {
    this.#closed = true;
    this.#listener.close();
  }

  async #serve(openForMs: number): Promise<void> {
    const deadline = Date.now() + openForMs;
    const timer = setTimeout(() => this.close(), openForMs);
    timer.unref();
    try {
      const peer = await this.#listener.accept(openForMs);
      try {
        while (!this.#closed) {
          if (!(await this.#receiveOne(peer, Math.max(1, deadline - Date.now())))) break;
        }
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

  /** One frame: false at EOF. */
  async #receiveOne(peer: UnixMessageSocket, timeoutMs: number): Promise<boolean> {
    const head = await peer.receiveExactly(HEADER_BYTES, timeoutMs, MAX_FDS_PER_CONNECTION);
    if (head.bytes.length === 0) return false;
    let fds = head.fds;
    let ok = false;
    try {
      const header = decodeHeader(head.bytes);
      const body = await peer.receiveExactly(header.length, timeoutMs, MAX_FDS_PER_CONNECTION - fds.length);
      fds = [...fds, ...body.fds];
      const payload = JSON.parse(body.bytes.toString('utf8')) as { listener?: ListenerIdentity; kind?: MigrationKind };
      const expected = payload.kind === 'tcp_proxy' ? 2 : 1;
      if (header.type === FrameType.MigrateConnection && payload.listener !== undefined && fds.length === expected) {
        const sockets = fds.map((fd) => new Socket({ fd, allowHalfOpen: true, readable: true, writable: true }));
        fds = [];
        ok = this.#adopt(payload.listener, payload.kind!, sockets);
        if (ok) this.adopted++;
        else for (const s of sockets) s.destroy();
      }
    } catch (err) {
      this.#logger.warn({ err: describeError(err) }, 'connection migration: a connection could not be adopted');
    } finally {
      closeFdsQuietly(fds);
    }
    await peer.send(Buffer.from([ok ? 1 : 0]), [], timeoutMs);
    return true;
  }
}

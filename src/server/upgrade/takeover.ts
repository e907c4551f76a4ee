/**
 * @module server/upgrade/takeover
 * The new process's side of a hot upgrade. If a running mosnode answers on reconfig.sock,
 * listen on listen.sock, receive its listening sockets (fds over SCM_RIGHTS, described by
 * versioned frames), let the server start on them, then say "serving" (one byte) and wait
 * for the old process's acknowledgement. Every wait has a timeout; whatever goes wrong
 * before the old process has sent its sockets ends in a fresh start, and whatever goes
 * wrong after it leaves the old process serving (it rolls back on EOF).
 */
import { connect as netConnect } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { listenUnix, closeFdsQuietly, type UnixMessageSocket } from '../../core/native.ts';
import type { InheritedSockets } from '../server.ts';
import { decodeHeader, FrameType, HEADER_BYTES, MAX_FDS_PER_FRAME, reconfigHello } from './frames.ts';
import { sameListener, type ListenerIdentity } from './listener-identity.ts';
import type { UpgradePaths, UpgradeTimeouts } from './upgrade-paths.ts';

interface Inherited {
  identity: ListenerIdentity;
  fd: number;
}

/** A hand-over in progress, from the new process's side. */
export class Takeover implements InheritedSockets {
  readonly predecessorPid: number;
  readonly #socket: UnixMessageSocket;
  readonly #available: Inherited[];
  readonly #logger: Logger;
  readonly #timeouts: UpgradeTimeouts;

  constructor(socket: UnixMessageSocket, inherited: Inherited[], predecessorPid: number, logger: Logger, timeouts: UpgradeTimeouts) {
    this.#socket = socket;
    this.#available = inherited;
    this.predecessorPid = predecessorPid;
    this.#logger = logger;
    this.#timeouts = timeouts;
  }

  take(wanted: ListenerIdentity): number | undefined {
    const i = this.#available.findIndex((s) => sameListener(wanted, s.identity));
    if (i < 0) return undefined;
    const [found] = this.#available.splice(i, 1);
    return found!.fd;
  }

  /**
   * The server runs on the inherited sockets: close the ones no listener wanted (MOSN's
   * rule for listeners removed from the config), tell the old process we serve, and wait
   * for its acknowledgement. Resolves either way: a missing acknowledgement means the old
   * process died, and we are the only one left serving.
   */
  async confirm(): Promise<void> {
    for (const unused of this.#available) {
      this.#logger.info({ listener: unused.identity.name, address: unused.identity.address }, 'hot upgrade: closing an inherited socket no listener uses');
    }
    closeFdsQuietly(this.#available.map((s) => s.fd));
    this.#available.length = 0;
    try {
      await this.#socket.send(Buffer.from([0]), [], this.#timeouts.frameMs);
      const ack = await this.#socket.receiveExactly(1, this.#timeouts.ackMs, 0);
      if (ack.bytes.length !== 1) throw new Error('the old process closed the socket instead of acknowledging');
    } catch (err) {
      this.#logger.warn({ err: describeError(err) }, 'hot upgrade: no acknowledgement from the old process; serving anyway');
    } finally {
      this.#socket.close();
    }
  }

  /** Start failed: give every socket back (close ours) so the old process keeps serving. */
  abort(reason: string): void {
    this.#logger.error({ reason }, 'hot upgrade: start failed; the old process keeps serving');
    closeFdsQuietly(this.#available.map((s) => s.fd));
    this.#available.length = 0;
    this.#socket.close();
  }
}

/** Dials reconfig.sock; true when a running mosnode answered with its byte. */
function askForHandOver(path: string, timeoutMs: number): Promise<'accepted' | 'absent' | 'refused'> {
  return new Promise((resolve) => {
    const socket = netConnect({ path });
    const done = (result: 'accepted' | 'absent' | 'refused'): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('refused'), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'absent' : 'refused'));
    socket.once('connect', () => socket.write(reconfigHello()));
    socket.once('data', () => done('accepted'));
    socket.once('end', () => done('refused'));
  });
}

/**
 * Asks a running mosnode (same uds_dir) to hand over. Resolves undefined when there is
 * none (or it answered nothing usable: start fresh), or a Takeover with its sockets.
 */
export async function takeOverFromPredecessor(paths: UpgradePaths, logger: Logger, timeouts: UpgradeTimeouts): Promise<Takeover | undefined> {
  if (!existsSync(paths.reconfig)) return undefined;
  const started = Date.now();
  // Listen before asking, so the old process can dial as soon as it agrees.
  if (existsSync(paths.listen)) unlinkSync(paths.listen);
  const listener = listenUnix(paths.listen);
  try {
    const answer = await askForHandOver(paths.reconfig, timeouts.reconfigMs);
    if (answer === 'absent') {
      logger.info({ path: paths.reconfig }, 'hot upgrade: stale reconfig.sock (no process answers); starting fresh');
      return undefined;
    }
    if (answer === 'refused') {
      logger.warn({ path: paths.reconfig }, 'hot upgrade: the running process did not agree to hand over; starting fresh');
      return undefined;
    }
    logger.info({ ms: Date.now() - started }, 'hot upgrade: stage 1/3, the running process agreed to hand over');
    const socket = await listener.accept(timeouts.acceptMs);
    try {
      const { inherited, pid } = await receiveListeners(socket, timeouts.frameMs);
      logger.info({ ms: Date.now() - started, from: pid, sockets: inherited.length }, 'hot upgrade: stage 2/3, listening sockets received');
      return new Takeover(socket, inherited, pid, logger, timeouts);
    } catch (err) {
      socket.close();
      throw err;
    }
  } catch (err) {
    logger.warn({ err: describeError(err) }, 'hot upgrade: hand-over failed before any socket was taken; starting fresh');
    return undefined;
  } finally {
    listener.close();
  }
}

async function readFrame(socket: UnixMessageSocket, timeoutMs: number): Promise<{ type: FrameType; payload: unknown; fds: number[] }> {
  const head = await socket.receiveExactly(HEADER_BYTES, timeoutMs, MAX_FDS_PER_FRAME);
  if (head.bytes.length === 0) throw new Error('the old process closed listen.sock mid hand-over');
  let header;
  try {
    header = decodeHeader(head.bytes);
  } catch (err) {
    closeFdsQuietly(head.fds);
    throw err;
  }
  let body: { bytes: Buffer; fds: number[] };
  try {
    body = header.length === 0 ? { bytes: Buffer.alloc(0), fds: [] } : await socket.receiveExactly(header.length, timeoutMs, MAX_FDS_PER_FRAME);
  } catch (err) {
    closeFdsQuietly(head.fds);
    throw err;
  }
  const fds = [...head.fds, ...body.fds];
  try {
    return { type: header.type, payload: JSON.parse(body.bytes.toString('utf8')), fds };
  } catch (err) {
    closeFdsQuietly(fds);
    throw new Error(`unreadable upgrade frame: ${(err as Error).message}`);
  }
}

async function receiveListeners(socket: UnixMessageSocket, timeoutMs: number): Promise<{ inherited: Inherited[]; pid: number }> {
  const inherited: Inherited[] = [];
  try {
    const hello = await readFrame(socket, timeoutMs);
    const h = hello.payload as { pid?: unknown; sockets?: unknown };
    if (hello.type !== FrameType.Hello || typeof h.pid !== 'number' || typeof h.sockets !== 'number') throw new Error('expected a Hello frame');
    for (;;) {
      const frame = await readFrame(socket, timeoutMs);
      if (frame.type === FrameType.Done) {
        closeFdsQuietly(frame.fds);
        break;
      }
      const identities = (frame.payload as { listeners?: unknown }).listeners;
      if (frame.type !== FrameType.Listeners || !Array.isArray(identities) || identities.length !== frame.fds.length) {
        closeFdsQuietly(frame.fds);
        throw new Error(`a Listeners frame described ${Array.isArray(identities) ? identities.length : '?'} sockets but carried ${frame.fds.length} fds`);
      }
      identities.forEach((identity, i) => inherited.push({ identity: identity as ListenerIdentity, fd: frame.fds[i]! }));
    }
    if (inherited.length !== h.sockets) throw new Error(`expected ${h.sockets} sockets, received ${inherited.length}`);
    return { inherited, pid: h.pid };
  } catch (err) {
    closeFdsQuietly(inherited.map((s) => s.fd));
    throw err;
  }
}

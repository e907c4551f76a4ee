/**
 * @module server/upgrade/reconfig-server
 * The running process's side of a hot upgrade. It listens on reconfig.sock; when a new
 * process dials it, it answers one byte, reports Upgrading, dials the new process's
 * listen.sock, sends every listening socket (fds over SCM_RIGHTS, in batches that stay
 * under the kernel's per-message limit), and waits for the new process's "serving" byte.
 * Then it acknowledges and drains. Anything that fails before that byte arrives (the new
 * process exits, times out, sends garbage) rolls back: the old process never stopped
 * accepting, so it simply goes on serving, and says why in its log.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { connectUnix, type UnixMessageSocket } from '../../core/native.ts';
import { isUnixSocketLive } from '../../network/listener.ts';
import type { ListeningSocket } from '../server.ts';
import { encodeFrame, FrameType, MAX_FDS_PER_FRAME, RECONFIG_HELLO_BYTES, reconfigHello } from './frames.ts';
import { ConfigServer } from './inherit-config.ts';
import type { UpgradePaths, UpgradeTimeouts } from './upgrade-paths.ts';

/** What the reconfig server needs from the server it hands over. */
export interface HandOverTarget {
  listeningSockets(): ListeningSocket[];
  setUpgrading(upgrading: boolean): void;
}

export interface ReconfigServerOptions {
  paths: UpgradePaths;
  target: HandOverTarget;
  logger: Logger;
  timeouts: UpgradeTimeouts;
  /** The successor serves: drain and exit. Called once. */
  onHandedOver(): void;
  /** The effective config, served on mosnconfig.sock for a successor with inherit_old_mosnconfig. */
  document(): Record<string, unknown>;
}

export class ReconfigServer {
  readonly #options: ReconfigServerOptions;
  readonly #server: Server;
  #busy = false;
  #handedOver = false;
  #configServer: ConfigServer | undefined;
  #requests = 0;

  constructor(options: ReconfigServerOptions) {
    this.#options = options;
    this.#server = createServer((socket) => this.#onRequest(socket));
    this.#server.on('error', (err) => options.logger.error({ err: describeError(err) }, 'reconfig server error'));
  }

  /** Listens on reconfig.sock, replacing a stale file a crashed process left behind. */
  async listen(): Promise<void> {
    const path = this.#options.paths.reconfig;
    if (existsSync(path)) {
      if (await isUnixSocketLive(path)) throw new Error(`${path}: another mosnode is listening here (same uds_dir)`);
      unlinkSync(path);
      this.#options.logger.warn({ path }, 'replaced a stale reconfig.sock');
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ path }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#configServer = await ConfigServer.listen(this.#options.paths.mosnconfig, this.#options.document, this.#options.logger);
    this.#options.logger.info({ path }, 'hot upgrade: listening for a successor');
  }

  /** How many hand-overs were asked for since start. */
  get requests(): number {
    return this.#requests;
  }

  /**
   * Stops listening and removes reconfig.sock. Safe before a successor creates its own:
   * the hand-over closes this before acknowledging, and the successor listens only after.
   */
  close(): Promise<void> {
    this.#removeSocketFile();
    this.#configServer?.close();
    this.#configServer = undefined;
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** For process exit: remove reconfig.sock now, unless a successor owns it already. */
  closeSync(): void {
    if (this.#handedOver) return;
    this.#removeSocketFile();
    this.#configServer?.close();
  }

  #removeSocketFile(): void {
    try {
      if (this.#server.listening) unlinkSync(this.#options.paths.reconfig);
    } catch {
      // already gone
    }
  }

  /** True once a successor serves: this process only drains from here on. */
  get handedOver(): boolean {
    return this.#handedOver;
  }

  /** True while a hand-over is under way. */
  get busy(): boolean {
    return this.#busy;
  }

  #onRequest(socket: Socket): void {
    socket.on('error', () => {});
    // Only a peer that says the protocol's hello within a second starts anything.
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), 1_000);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length < RECONFIG_HELLO_BYTES) return;
      clearTimeout(timer);
      socket.off('data', onData);
      if (!received.subarray(0, RECONFIG_HELLO_BYTES).equals(reconfigHello())) {
        this.#options.logger.warn('hot upgrade: a peer on reconfig.sock did not speak this protocol version; ignored');
        socket.destroy();
        return;
      }
      if (this.#busy || this.#handedOver) {
        // One hand-over at a time: a second asker gets no byte and starts on its own.
        socket.destroy();
        return;
      }
      this.#busy = true;
      this.#requests++;
      socket.end(Buffer.from([0]));
      void this.#handOver().finally(() => {
        this.#busy = false;
      });
    };
    socket.on('data', onData);
  }

  async #handOver(): Promise<void> {
    const { target, logger, timeouts, paths } = this.#options;
    const started = Date.now();
    target.setUpgrading(true);
    logger.info('hot upgrade: stage 1/3, a new process asked to take over');
    let peer: UnixMessageSocket | undefined;
    try {
      peer = await dialWithRetry(paths.listen, timeouts.dialMs);
      const sockets = target.listeningSockets();
      await peer.send(encodeFrame(FrameType.Hello, { pid: process.pid, sockets: sockets.length }), [], timeouts.frameMs);
      for (let i = 0; i < sockets.length; i += MAX_FDS_PER_FRAME) {
        const batch = sockets.slice(i, i + MAX_FDS_PER_FRAME);
        await peer.send(encodeFrame(FrameType.Listeners, { listeners: batch.map((s) => s.identity) }), batch.map((s) => s.fd), timeouts.frameMs);
      }
      await peer.send(encodeFrame(FrameType.Done, {}), [], timeouts.frameMs);
      logger.info({ ms: Date.now() - started, sockets: sockets.length }, 'hot upgrade: stage 2/3, listening sockets sent');
      const serving = await peer.receiveExactly(1, timeouts.servingMs, 0);
      if (serving.bytes.length !== 1) throw new Error('the new process closed the socket before it served (see its log)');
      // From here on the successor serves: free reconfig.sock for it, then acknowledge.
      this.#handedOver = true;
      // Not awaiting the close callback: it waits for every client of reconfig.sock, and a
      // lingering one must not hold the hand-over. The name is free at once.
      void this.close();
      await peer.send(Buffer.from([0]), [], timeouts.frameMs).catch(() => {});
      peer.close();
      logger.info({ ms: Date.now() - started }, 'hot upgrade: stage 3/3, the new process serves; draining');
      this.#options.onHandedOver();
    } catch (err) {
      peer?.close();
      target.setUpgrading(false);
      logger.error({ err: describeError(err), ms: Date.now() - started }, 'hot upgrade: rolled back; this process keeps serving');
    }
  }
}

async function dialWithRetry(path: string, withinMs: number): Promise<UnixMessageSocket> {
  const deadline = Date.now() + withinMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await connectUnix(path, Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (Date.now() + delay >= deadline) throw new Error(`could not dial ${path}: ${describeError(err)}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

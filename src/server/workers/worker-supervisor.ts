/**
 * @module server/workers/worker-supervisor
 * The primary's side of `servers[0].processor` > 1: starts that many worker processes on
 * the listening sockets the primary holds, restarts a worker that dies (counted in
 * `workers.restart_total`, with a growing delay while it keeps dying young), and drains
 * or stops them all.
 *
 * Every worker inherits the same listening sockets (spawn's stdio fds) and accepts on
 * them; the kernel gives each connection to one of them. A worker that dies loses its own
 * connections only: the sockets stay open in the primary and the other workers, so no
 * connection is refused, and its replacement accepts on the very same sockets. (One
 * SO_REUSEPORT socket per worker was measured against this: same balance and throughput
 * here, but a dead worker's socket queues connections nobody accepts until the
 * replacement is up, and a hot upgrade to another worker count must re-home its sockets:
 * see docs/performance.md.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/logger.ts';
import { MosnError } from '../../core/errors.ts';
import type { Counter, Gauge } from '../../metrics/metrics-registry.ts';
import { isWorkerMessage, type PrimaryMessage, type WorkerInit } from './worker-messages.ts';

/** The first fd a worker's listening sockets get (0-2 stdio, 3 the IPC channel). */
const FIRST_SOCKET_FD = 4;
/** A worker that dies sooner than this after starting is restarted after a growing delay. */
const YOUNG_DEATH_MS = 5_000;
const MAX_RESTART_DELAY_MS = 5_000;
/** After drain time, how long workers get to exit before SIGKILL. */
const EXIT_GRACE_MS = 5_000;

/** `servers[0].processor` as a worker count: "auto" = one per core. */
export function workerCount(processor: number | 'auto'): number {
  return processor === 'auto' ? availableParallelism() : processor;
}

export interface SupervisedSocket {
  name: string;
  address: string;
  /** The primary's fd; workers get a copy. */
  fd: number;
}

export interface WorkerSupervisorOptions {
  count: number;
  sockets: readonly SupervisedSocket[];
  init: Omit<WorkerInit, 'type' | 'index' | 'listenerFds'>;
  logger: Logger;
  metrics: { restarts: Counter; active: Gauge };
  /** A worker that has not said "ready" by then failed to start. Default 60 s (plugins may load slowly). */
  startTimeoutMs?: number;
}

/** One worker, for /api/v1/workers and logs. */
export interface WorkerStatus {
  index: number;
  pid: number | undefined;
  restarts: number;
  startedAt: number;
}

interface WorkerSlot {
  index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  restartDelayMs: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/** The worker program next to this module (.ts when running from sources, .js from dist/). */
const WORKER_ENTRY = fileURLToPath(new URL(`./worker-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export class WorkerSupervisor {
  readonly #options: WorkerSupervisorOptions;
  readonly #slots: WorkerSlot[];
  /** Draining or stopping: exits are expected, nothing is restarted. */
  #stopping = false;
  readonly #exited = new Map<ChildProcess, Promise<void>>();

  constructor(options: WorkerSupervisorOptions) {
    this.#options = options;
    this.#slots = Array.from({ length: options.count }, (_, index) => ({
      index,
      child: undefined,
      startedAt: 0,
      restarts: 0,
      restartDelayMs: 0,
      restartTimer: undefined,
    }));
  }

  get workers(): WorkerStatus[] {
    return this.#slots.map((s) => ({ index: s.index, pid: s.child?.pid, restarts: s.restarts, startedAt: s.startedAt }));
  }

  /** Starts every worker; resolves when all listen. Rejects (all stopped) if one cannot start. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.#slots.map((slot) => this.#spawn(slot)));
    } catch (err) {
      await this.stopNow();
      throw err;
    }
    this.#options.logger.info({ workers: this.#slots.map((s) => s.child?.pid) }, 'worker processes started');
  }

  /** Sends `message` to every live worker (log level, log reopen). */
  broadcast(message: PrimaryMessage): void {
    for (const slot of this.#slots) {
      if (slot.child?.connected) slot.child.send(message, () => { /* a dying worker misses it */ });
    }
  }

  /** Graceful: every worker stops accepting and drains; SIGKILL for those still there after drain time + grace. */
  drain(drainTimeMs: number): Promise<void> {
    return this.#stopAll({ type: 'drain' }, drainTimeMs + EXIT_GRACE_MS);
  }

  /** Immediate: every worker closes its connections and exits; SIGKILL after the grace. */
  stopNow(): Promise<void> {
    return this.#stopAll({ type: 'stop' }, EXIT_GRACE_MS);
  }

  async #stopAll(message: PrimaryMessage, killAfterMs: number): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    this.broadcast(message);
    const exits = [...this.#exited.values()];
    const timer = setTimeout(() => {
      for (const child of this.#exited.keys()) {
        this.#options.logger.warn({ pid: child.pid }, 'worker did not exit in time; killing it');
        child.kill('SIGKILL');
      }
    }, killAfterMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }

  /** Starts the worker of `slot`; resolves when it listens, rejects if it fails first. */
  #spawn(slot: WorkerSlot): Promise<void> {
    const { sockets, init, logger, startTimeoutMs = 60_000 } = this.#options;
    // The config path in argv only names the worker in `ps` (and lets tools find it); the
    // worker takes its config from the init message.
    const child = spawn(process.execPath, [...process.execArgv, WORKER_ENTRY, '--config', init.configPath ?? '(built-in default)', '--worker', String(slot.index)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...sockets.map((s) => s.fd)],
      env: process.env,
    });
    slot.child = child;
    slot.startedAt = Date.now();
    this.#options.metrics.active.inc();
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exited.delete(child);
        this.#options.metrics.active.dec();
        if (slot.child === child) slot.child = undefined;
        resolve();
        this.#onExit(slot, code, signal);
      });
    });
    this.#exited.set(child, exited);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.off('message', onMessage);
        if (err === undefined) resolve();
        else reject(err);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(new MosnError('MOSN_ERR_WORKER_START', `worker ${slot.index} did not start within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      const onMessage = (message: unknown): void => {
        if (!isWorkerMessage(message)) return;
        if (message.type === 'ready') {
          logger.info({ worker: slot.index, pid: child.pid }, 'worker ready');
          settle();
        } else {
          settle(new MosnError('MOSN_ERR_WORKER_START', `worker ${slot.index} could not start: ${message.message}`));
        }
      };
      child.on('message', onMessage);
      child.once('error', (err) => settle(new MosnError('MOSN_ERR_WORKER_START', `worker ${slot.index} could not be spawned: ${err.message}`, { cause: err })));
      void exited.then(() => settle(new MosnError('MOSN_ERR_WORKER_START', `worker ${slot.index} exited while starting`)));
      const message: WorkerInit = {
        ...init,
        type: 'init',
        index: slot.index,
        listenerFds: sockets.map((s, i) => ({ name: s.name, address: s.address, fd: FIRST_SOCKET_FD + i })),
      };
      child.send(message);
    });
  }

  #onExit(slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping) return;
    const lived = Date.now() - slot.startedAt;
    slot.restarts++;
    this.#options.metrics.restarts.inc();
    slot.restartDelayMs = lived < YOUNG_DEATH_MS ? Math.min(Math.max(slot.restartDelayMs * 2, 100), MAX_RESTART_DELAY_MS) : 0;
    this.#options.logger.error(
      { worker: slot.index, code, signal, livedMs: lived, restarts: slot.restarts, restartInMs: slot.restartDelayMs },
      'worker process died; its connections are lost; starting a new one on the same sockets',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#stopping) return;
      this.#spawn(slot).catch((err: unknown) => {
        this.#options.logger.error({ worker: slot.index, err: (err as Error).message }, 'replacement worker failed to start');
      });
    }, slot.restartDelayMs);
  }
}

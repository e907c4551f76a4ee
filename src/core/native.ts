/**
 * @module core/native
 * The native addon (native/*.c, built by node-gyp into build/Release/mosnode_native.node)
 * and a small API over it: unix stream sockets that carry file descriptors (SCM_RIGHTS),
 * for hot upgrade, shared file mappings (`mmapFile`), for the shared-memory metrics
 * zone (shm/), and the TCP socket options of the original_dst listener filter
 * (`getOriginalDst`, `setIpTransparent`). The C side never blocks; this module polls
 * the sockets with short timers (1 ms, doubling up to 20 ms) until a deadline, so the
 * event loop never stalls.
 *
 * When the addon cannot load, `native` is undefined and `nativeLoadError` says why;
 * mosnode still proxies, and callers log "hot upgrade is off: <nativeLoadError>" (or
 * "shared-memory metrics are off: ..."). The socket and mapping functions then throw or
 * reject with code `ENOSYS`.
 *
 * Errors carry Node's shape: `code` is an errno name ("ENOENT", "EADDRINUSE"), plus
 * `errno` and `syscall` when a system call failed. Codes added here: `ETIMEDOUT` (a
 * deadline passed), `ECANCELED` (the socket was closed while waiting), `ECONNRESET` (the
 * peer closed in the middle of `receiveExactly`), `EMSGSIZE` (more fds arrived than
 * allowed; they were closed), `ENOSYS` (no addon).
 *
 * File descriptors are plain numbers and the caller owns every fd it receives: give it
 * to Node (`net.createServer().listen({ fd })`, `new net.Socket({ fd })`), which then
 * closes it, or call `closeFd`. Received fds are close-on-exec.
 *
 * Depends only on node: built-ins and core/units; must not import any other layer.
 */
import { createRequire } from 'node:module';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MAX_TIMER_MS } from './units.ts';

/** What one receive delivered: the bytes, and the fds that arrived with them. */
export interface ReceivedMessage {
  /** Empty means the peer closed the connection (EOF). */
  bytes: Buffer;
  /** Fds now open in this process, close-on-exec, owned by the caller. */
  fds: number[];
}

/** An Error with Node's system-error fields. */
export type SystemError = Error & { code: string; errno?: number; syscall?: string };

/**
 * The raw addon. Every call returns at once: -1 or null means "would block, try again".
 * Prefer the promise API below, which adds timeouts, partial writes and cancellation.
 */
export interface NativeAddon {
  /** Changes whenever an export changes shape; see EXPECTED_ADDON_VERSION. */
  readonly ADDON_VERSION: number;
  /** Most fds one message can carry (the kernel's SCM_MAX_FD, 253). */
  readonly SCM_MAX_FD: number;
  /** Largest `maxBytes` recvMsg accepts (64 MiB). */
  readonly MAX_RECV_BYTES: number;
  /** Binds and listens on a new non-blocking unix stream socket; returns its fd. Throws EADDRINUSE if the path exists. */
  unixListen(path: string, backlog: number): number;
  /** Returns a new non-blocking fd, or -1 when no connection is waiting. */
  unixAccept(listenerFd: number): number;
  /** Returns a connected non-blocking fd, or -1 when the listener's backlog is full. Throws ENOENT, ECONNREFUSED... */
  unixConnect(path: string): number;
  /**
   * Sends data, with `fds` (at most SCM_MAX_FD; needs data.length >= 1) attached to its
   * first byte. Returns the bytes sent (possibly fewer than data.length: the fds went,
   * resend the rest without them) or -1 when the socket buffer is full (nothing went).
   */
  sendMsg(fd: number, data: Uint8Array, fds: readonly number[]): number;
  /**
   * Reads up to maxBytes (>= 1) and up to maxFds fds (<= SCM_MAX_FD). Returns null when
   * nothing is waiting; empty bytes on EOF. Throws EMSGSIZE (after closing the fds that
   * came) when the peer sent more fds than maxFds in one message.
   */
  recvMsg(fd: number, maxBytes: number, maxFds: number): ReceivedMessage | null;
  /** Closes an fd. Throws EBADF if it is not open. */
  closeFd(fd: number): void;
  /** Largest `sizeBytes` mmapFile accepts (1 TiB). */
  readonly MAX_MAPPING_BYTES: number;
  /** See the exported mmapFile. */
  mmapFile(path: string, sizeBytes: number): ArrayBuffer;
  /** See the exported releaseMapping. */
  releaseMapping(buffer: ArrayBuffer): void;
  /** See the exported getOriginalDst. */
  getOriginalDst(fd: number): OriginalDestination;
  /** See the exported setIpTransparent. */
  setIpTransparent(fd: number): void;
  /** See the exported tcpListen. */
  tcpListen(ip: string, port: number, backlog: number, reusePort: boolean): number;
  /** See the exported localPort. */
  localPort(fd: number): number;
  /** The TCP relay (native/tcp_relay.c); network/native-relay.ts is its only user. */
  relayInit(onEnd: (id: number, reason: number, errno: number, aToB: number, bToA: number) => void): void;
  relayStart(fdA: number, fdB: number, idleMs: number): number;
  relayDetach(id: number): [number, number] | null;
  relayStop(id: number): [number, number] | null;
  relayTakeByteDeltas(): number[];
}

/** A connection's destination before NAT, as SO_ORIGINAL_DST reports it. */
export interface OriginalDestination {
  /** "10.0.0.1" or "2001:db8::1" (an IPv4 client of a dual-stack socket gives IPv4). */
  address: string;
  port: number;
  family: 4 | 6;
}

/** The addon version this module was written for; another version is refused. */
export const EXPECTED_ADDON_VERSION = 5;

/** Largest `sizeBytes` of one mapping (1 TiB): a guard against typos, far above any zone. */
export const MAX_MAPPING_BYTES = 2 ** 40;

/**
 * Most fds one message can carry: the kernel's SCM_MAX_FD. There is no limit on a whole
 * hand-over, but a larger set must be split across several messages (each with at least
 * one byte of data), and the receiver must allow as many fds per receive.
 */
export const SCM_MAX_FD = 253;

/** Largest `maxBytes` of one `receive`. */
export const MAX_RECV_BYTES = 64 * 1024 * 1024;

/** The default backlog of `listenUnix`. */
export const DEFAULT_BACKLOG = 16;

/**
 * Where the addon is looked for: build/Release/ in the package root, which is two levels
 * above this file both as src/core/native.ts (tests) and dist/core/native.js (the bin).
 */
export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/mosnode_native.node', import.meta.url));

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function loadAddon(): { addon: NativeAddon; error: undefined } | { addon: undefined; error: string } {
  const fail = (error: string) => ({ addon: undefined, error });
  if (process.env['MOSNODE_DISABLE_NATIVE'] === '1') return fail('the native addon is disabled by MOSNODE_DISABLE_NATIVE=1');
  if (process.platform !== 'linux') return fail(`the native addon supports Linux only, not ${process.platform}`);
  const rebuild = `rebuild it with "npm run install" in ${PACKAGE_ROOT} (needs python3, make and a C compiler)`;
  if (!existsSync(ADDON_PATH)) return fail(`the native addon is not built (${ADDON_PATH} is missing); ${rebuild}`);
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH);
  } catch (err) {
    return fail(`cannot load ${ADDON_PATH}: ${err instanceof Error ? err.message : String(err)}; ${rebuild}`);
  }
  const version = (loaded as { ADDON_VERSION?: unknown } | null)?.ADDON_VERSION;
  if (version !== EXPECTED_ADDON_VERSION) {
    return fail(`${ADDON_PATH} is addon version ${String(version)} but this mosnode needs ${EXPECTED_ADDON_VERSION}; ${rebuild}`);
  }
  return { addon: loaded as NativeAddon, error: undefined };
}

const loaded = loadAddon();

/** The raw addon, or undefined when it could not load (then see nativeLoadError). */
export const native: NativeAddon | undefined = loaded.addon;

/** Why the addon could not load (one sentence, for "hot upgrade is off: ..."), or undefined when it loaded. */
export const nativeLoadError: string | undefined = loaded.error;

function systemError(code: string, message: string, extra?: Record<string, unknown>): SystemError {
  return Object.assign(new Error(message), { code }, extra);
}

function addon(): NativeAddon {
  if (native === undefined) throw systemError('ENOSYS', `native addon unavailable: ${nativeLoadError ?? 'unknown reason'}`);
  return native;
}

/** Closes an fd (one received, or taken from a socket). Throws EBADF if it is not open, ENOSYS without the addon. */
export function closeFd(fd: number): void {
  addon().closeFd(fd);
}

/** Closes every fd, ignoring errors: for cleanup paths. */
export function closeFdsQuietly(fds: Iterable<number>): void {
  for (const fd of fds) {
    try {
      native?.closeFd(fd);
    } catch {
      // already closed: nothing left to release
    }
  }
}

function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= MAX_TIMER_MS)) {
    throw Object.assign(new RangeError(`timeoutMs must be a number in [0, ${MAX_TIMER_MS}], got ${String(timeoutMs)}`), { code: 'ERR_OUT_OF_RANGE' });
  }
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw Object.assign(new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`), { code: 'ERR_OUT_OF_RANGE' });
  }
}

/** The most bytes receiveExactly asks for in one system call. */
const RECEIVE_CHUNK_BYTES = 1024 * 1024;

const POLL_FIRST_MS = 1;
const POLL_MAX_MS = 20;

/** One try of a polled operation: done with a value, nothing yet, or some progress (resets the back-off). */
type Attempt<T> = { done: T } | 'again' | 'progress';

/** Cancels a waiting operation (rejects it with the given error). */
type Cancel = (err: SystemError) => void;

/**
 * Calls `attempt` now and then on timers (back-off 1 ms .. 20 ms, reset on progress) until
 * it is done, throws, or `deadline` (performance.now() time) passes: then rejects with
 * ETIMEDOUT and `describeTimeout()` as the message. At least one attempt is always made.
 * The cancel function is added to `waiting` while the operation waits.
 */
function poll<T>(attempt: () => Attempt<T>, deadline: number, describeTimeout: () => string, waiting?: Set<Cancel>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let delay = POLL_FIRST_MS;
    const cancel: Cancel = (err) => {
      clearTimeout(timer);
      waiting?.delete(cancel);
      reject(err);
    };
    const step = (): void => {
      let result: Attempt<T>;
      try {
        result = attempt();
      } catch (err) {
        waiting?.delete(cancel);
        reject(err);
        return;
      }
      if (typeof result === 'object') {
        waiting?.delete(cancel);
        resolve(result.done);
        return;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        waiting?.delete(cancel);
        reject(systemError('ETIMEDOUT', describeTimeout()));
        return;
      }
      if (result === 'progress') delay = POLL_FIRST_MS;
      timer = setTimeout(step, Math.min(delay, Math.ceil(left)));
      delay = Math.min(delay * 2, POLL_MAX_MS);
    };
    waiting?.add(cancel);
    step();
  });
}

function cancelAll(waiting: Set<Cancel>, message: string): void {
  for (const cancel of [...waiting]) cancel(systemError('ECANCELED', message));
}

/**
 * A connected unix stream socket that carries fds. It owns its fd: `close()` releases it.
 *
 * Sends are queued and go out in call order, never interleaved; receives likewise. Each
 * `timeoutMs` counts from the call, including time spent waiting in the queue. After a
 * send or receive rejects (timeout, EMSGSIZE, ECONNRESET...) part of a message may have
 * been written or consumed, so the byte stream is out of step: close the socket.
 */
export class UnixMessageSocket {
  readonly #fd: number;
  #closed = false;
  readonly #waiting = new Set<Cancel>();
  #sendTail: Promise<unknown> = Promise.resolve();
  #receiveTail: Promise<unknown> = Promise.resolve();

  /** Takes ownership of `fd`, a connected, non-blocking unix stream socket. */
  constructor(fd: number) {
    checkInteger('fd', fd, 0, 2 ** 31 - 1);
    this.#fd = fd;
  }

  /** The fd number (still valid only until close()). */
  get fd(): number {
    return this.#fd;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends all of `data`, with `fds` (at most SCM_MAX_FD; pass [] for none) attached to its
   * first byte, resending after partial writes. Resolves when every byte is in the kernel's
   * buffer. Rejects with ETIMEDOUT after timeoutMs (the error's `bytesSent` tells how far it
   * got; if it is > 0 the fds were delivered), ECANCELED if the socket is closed meanwhile,
   * EINVAL for fds with empty data or more than SCM_MAX_FD fds, EPIPE/ECONNRESET if the
   * peer is gone. The fds stay open here: close them when no longer needed.
   */
  send(data: Uint8Array, fds: readonly number[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    return this.#enqueue('send', () => {
      checkTimeout(timeoutMs);
      if (fds.length > SCM_MAX_FD) {
        throw systemError('EINVAL', `send: ${fds.length} fds exceed SCM_MAX_FD (${SCM_MAX_FD} per message); split them across messages`);
      }
      if (fds.length > 0 && data.length === 0) throw systemError('EINVAL', 'send: fds need at least one byte of data to travel with');
      const raw = addon();
      let offset = 0;
      let pendingFds = fds;
      return poll<void>(
        () => {
          if (offset === data.length && pendingFds.length === 0) return { done: undefined };
          const sent = raw.sendMsg(this.#fd, offset === 0 ? data : data.subarray(offset), pendingFds);
          if (sent <= 0) return 'again';
          offset += sent;
          pendingFds = [];
          return offset === data.length ? { done: undefined } : 'progress';
        },
        deadline,
        () => `send timed out after ${timeoutMs} ms having sent ${offset} of ${data.length} bytes`,
        this.#waiting,
      ).catch((err: unknown) => {
        if (err instanceof Error) Object.assign(err, { bytesSent: offset });
        throw err;
      });
    });
  }

  /**
   * Resolves with whatever arrives first: 1 to maxBytes bytes with up to maxFds fds
   * (0..SCM_MAX_FD; a message may bring fds with any of its bytes), or empty bytes and no
   * fds when the peer closed (EOF). Rejects with ETIMEDOUT after timeoutMs, ECANCELED if
   * the socket is closed meanwhile, EMSGSIZE if a message brought more than maxFds fds
   * (those that arrived are closed first).
   */
  receive(maxBytes: number, maxFds: number, timeoutMs: number): Promise<ReceivedMessage> {
    const deadline = performance.now() + timeoutMs;
    return this.#enqueue('receive', () => {
      checkTimeout(timeoutMs);
      checkInteger('maxBytes', maxBytes, 1, MAX_RECV_BYTES);
      checkInteger('maxFds', maxFds, 0, SCM_MAX_FD);
      const raw = addon();
      return poll<ReceivedMessage>(
        () => {
          const message = raw.recvMsg(this.#fd, maxBytes, maxFds);
          return message === null ? 'again' : { done: message };
        },
        deadline,
        () => `receive timed out after ${timeoutMs} ms with nothing received`,
        this.#waiting,
      );
    });
  }

  /**
   * Reads exactly `n` bytes (n >= 1), collecting every fd that arrives with them, up to
   * `maxFds` in all (default SCM_MAX_FD; raise it for a larger set sent as several
   * messages). Never reads past the n-th byte, so a frame header can be read first and
   * its body next. Resolves with empty bytes and no fds if the peer closed before the
   * first byte. Rejects with ECONNRESET if the peer closed after some bytes, ETIMEDOUT,
   * ECANCELED or EMSGSIZE (more fds than maxFds); on every rejection the fds collected so
   * far are closed.
   */
  receiveExactly(n: number, timeoutMs: number, maxFds: number = SCM_MAX_FD): Promise<ReceivedMessage> {
    const deadline = performance.now() + timeoutMs;
    return this.#enqueue('receive', () => {
      checkTimeout(timeoutMs);
      checkInteger('n', n, 1, 2 ** 32);
      checkInteger('maxFds', maxFds, 0, 2 ** 31 - 1);
      const raw = addon();
      const chunks: Buffer[] = [];
      const fds: number[] = [];
      let got = 0;
      return poll<ReceivedMessage>(
        () => {
          const message = raw.recvMsg(this.#fd, Math.min(n - got, RECEIVE_CHUNK_BYTES), Math.min(maxFds - fds.length, SCM_MAX_FD));
          if (message === null) return 'again';
          fds.push(...message.fds);
          if (message.bytes.length === 0) {
            if (got === 0) return { done: { bytes: message.bytes, fds } };
            throw systemError('ECONNRESET', `receive: the peer closed the connection after ${got} of ${n} bytes`);
          }
          chunks.push(message.bytes);
          got += message.bytes.length;
          return got === n ? { done: { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, got), fds } } : 'progress';
        },
        deadline,
        () => `receive timed out after ${timeoutMs} ms having received ${got} of ${n} bytes`,
        this.#waiting,
      ).catch((err: unknown) => {
        closeFdsQuietly(fds);
        throw err;
      });
    });
  }

  /**
   * Closes the socket (idempotent, never throws). Operations still waiting or queued
   * reject with ECANCELED; fds already delivered by a receive stay open.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    cancelAll(this.#waiting, 'the unix socket was closed while an operation was waiting');
    closeFdsQuietly([this.#fd]);
  }

  #enqueue<T>(queue: 'send' | 'receive', start: () => Promise<T>): Promise<T> {
    const run = (): Promise<T> => {
      if (this.#closed) return Promise.reject(systemError('ECANCELED', `${queue}: the unix socket is closed`));
      try {
        return start();
      } catch (err) {
        return Promise.reject(err);
      }
    };
    const tail = queue === 'send' ? this.#sendTail : this.#receiveTail;
    const result = tail.then(run, run);
    const settled = result.catch(() => undefined);
    if (queue === 'send') this.#sendTail = settled;
    else this.#receiveTail = settled;
    return result;
  }
}

/**
 * A listening unix stream socket made by listenUnix. It owns its fd and the socket file.
 */
export class UnixListener {
  /** The socket file's path. */
  readonly path: string;
  readonly #fd: number;
  #closed = false;
  readonly #waiting = new Set<Cancel>();
  readonly #identity: { dev: bigint; ino: bigint } | undefined;

  /** Use listenUnix. */
  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
    try {
      const stat = lstatSync(path, { bigint: true });
      this.#identity = { dev: stat.dev, ino: stat.ino };
    } catch {
      this.#identity = undefined;
    }
  }

  /** The listening fd (valid until close()); this is what a hand-over would pass on. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Resolves with the next connection. Rejects with ETIMEDOUT after timeoutMs, ECANCELED
   * if the listener is closed meanwhile. Several accepts may wait at once.
   */
  accept(timeoutMs: number): Promise<UnixMessageSocket> {
    try {
      checkTimeout(timeoutMs);
      if (this.#closed) throw systemError('ECANCELED', 'accept: the unix listener is closed');
      const raw = addon();
      return poll<UnixMessageSocket>(
        () => {
          const fd = raw.unixAccept(this.#fd);
          return fd < 0 ? 'again' : { done: new UnixMessageSocket(fd) };
        },
        performance.now() + timeoutMs,
        () => `accept on ${this.path} timed out after ${timeoutMs} ms`,
        this.#waiting,
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Closes the listening fd (idempotent, never throws) and removes the socket file if it
   * is still the one listenUnix created (a successor may have replaced it already: that
   * one is left alone). Waiting accepts reject with ECANCELED.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    cancelAll(this.#waiting, 'the unix listener was closed while accept was waiting');
    closeFdsQuietly([this.#fd]);
    try {
      const stat = lstatSync(this.path, { bigint: true });
      if (this.#identity !== undefined && stat.dev === this.#identity.dev && stat.ino === this.#identity.ino) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/**
 * Creates the socket file `path` and listens on it (non-blocking, close-on-exec). Throws
 * EADDRINUSE if the path exists, even a stale socket file left by a crashed process: to
 * tell, connectUnix to it first (ECONNREFUSED = nobody listens), then unlink it and call
 * again. ENAMETOOLONG for paths over 107 bytes, ENOSYS without the addon.
 */
export function listenUnix(path: string, backlog: number = DEFAULT_BACKLOG): UnixListener {
  const fd = addon().unixListen(path, backlog);
  return new UnixListener(path, fd);
}

/**
 * Connects to the socket file `path`. Retries only while the listener's backlog is full;
 * rejects at once with ENOENT (no such file), ECONNREFUSED (a file nobody listens on, or
 * not a socket), EACCES..., and with ETIMEDOUT when the backlog stays full past timeoutMs.
 */
export function connectUnix(path: string, timeoutMs: number): Promise<UnixMessageSocket> {
  try {
    checkTimeout(timeoutMs);
    const raw = addon();
    return poll<UnixMessageSocket>(
      () => {
        const fd = raw.unixConnect(path);
        return fd < 0 ? 'again' : { done: new UnixMessageSocket(fd) };
      },
      performance.now() + timeoutMs,
      () => `connect to ${path} timed out after ${timeoutMs} ms (its backlog stayed full)`,
    );
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Maps the file `path` read/write and shared: every process that maps the same file sees
 * the same bytes, and Atomics on typed arrays over the returned buffer are atomic across
 * those processes. The file is created (mode 0600) if missing and grown to `sizeBytes`
 * (zero-filled, its blocks reserved so a full disk is ENOSPC here, not a crash later) if
 * smaller; a larger file keeps its size and only its first `sizeBytes` are mapped. It must
 * be a regular file (EINVAL otherwise).
 *
 * The mapping lives as long as the returned ArrayBuffer (and any view over it); it is
 * unmapped when that is garbage-collected, or soon after releaseMapping. Throws Node-style
 * system errors (ENOENT for a missing folder, EACCES, ENOSPC...), ERR_OUT_OF_RANGE for a
 * size outside [1, MAX_MAPPING_BYTES], ENOTSUP on a runtime that forbids external
 * ArrayBuffers, ENOSYS without the addon.
 */
export function mmapFile(path: string, sizeBytes: number): ArrayBuffer {
  checkInteger('sizeBytes', sizeBytes, 1, MAX_MAPPING_BYTES);
  return addon().mmapFile(path, sizeBytes);
}

/**
 * Detaches a buffer returned by mmapFile: every view over it becomes empty (reads give
 * undefined, Atomics throw), so no code can reach the memory any more, and the mapping is
 * unmapped as soon as Node frees the buffer's storage (at once or on the next turn of the
 * event loop). Idempotent. Call it once nothing should use the mapping; there is
 * deliberately no direct munmap, which would leave live views over unmapped memory.
 */
export function releaseMapping(buffer: ArrayBuffer): void {
  if (buffer.detached) return;
  addon().releaseMapping(buffer);
}

/**
 * The destination a TCP connection had before an iptables/nftables REDIRECT or DNAT rule
 * rewrote it, read from conntrack (SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for
 * IPv6) on the connected socket `fd`. Throws Node-style system errors: ENOENT when
 * conntrack has no entry for the connection (it was not NATed, or nothing tracks
 * connections in this network namespace), ENOPROTOOPT when the kernel has no conntrack,
 * EAFNOSUPPORT for a socket that is not IPv4/IPv6, EBADF/ENOTSOCK for a bad fd, ENOSYS
 * without the addon.
 */
export function getOriginalDst(fd: number): OriginalDestination {
  checkInteger('fd', fd, 0, 2 ** 31 - 1);
  return addon().getOriginalDst(fd);
}

/**
 * Sets IP_TRANSPARENT (IPv6 sockets: IPV6_TRANSPARENT) on the listening socket `fd`, so
 * connections a TPROXY rule steers to it are accepted with their original destination as
 * their local address. Throws EPERM without CAP_NET_ADMIN, EAFNOSUPPORT for a socket that
 * is not IPv4/IPv6, ENOSYS without the addon.
 */
export function setIpTransparent(fd: number): void {
  checkInteger('fd', fd, 0, 2 ** 31 - 1);
  addon().setIpTransparent(fd);
}

/**
 * A listening TCP socket this process holds without accepting on it (the primary of
 * worker processes keeps one per listener for its workers and for a hot upgrade):
 * SO_REUSEADDR, SO_REUSEPORT when asked, non-blocking, close-on-exec. `ip` must be a
 * numeric IPv4 or IPv6 address (EINVAL otherwise); EADDRINUSE, EACCES as from bind.
 */
export function tcpListen(ip: string, port: number, backlog: number = DEFAULT_BACKLOG, reusePort = false): number {
  checkInteger('port', port, 0, 65535);
  checkInteger('backlog', backlog, 1, 2 ** 31 - 1);
  return addon().tcpListen(ip, port, backlog, reusePort);
}

/** The local port of the bound socket `fd` (the kernel's choice after binding port 0). */
export function localPort(fd: number): number {
  checkInteger('fd', fd, 0, 2 ** 31 - 1);
  return addon().localPort(fd);
}

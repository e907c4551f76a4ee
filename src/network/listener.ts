/**
 * @module network/listener
 * A listener: binds a TCP (IPv4/IPv6) or unix address, or adopts an inherited listening
 * handle, and for each accepted socket runs the listener filters, creates the
 * DownstreamConnection and lets the network filter chain install itself. It keeps the
 * set of live connections so the server can drain them.
 *
 * A virtual listener (`bind_port: false`) binds nothing: it only takes connections handed
 * over by a `use_original_dst` listener whose original destination it stands for (see
 * network/listener-directory.ts). The accepting listener runs its own listener filters,
 * then the taking one runs its filters and owns (and counts) the connection.
 * Depends on api/ types, config/types, core/, network/.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { unlinkSync, existsSync, statSync } from 'node:fs';
import { native, nativeLoadError, setIpTransparent, tcpListen, localPort } from '../core/native.ts';
import { MIGRATED_SOCKETS } from './migration.ts';
import type { ListenerConfig } from '../config/types.ts';
import type { ListenerFilter } from '../api/listener-filter.ts';
import type { Logger } from '../core/logger.ts';
import { MosnError, describeError } from '../core/errors.ts';
import { DownstreamConnection } from './connection.ts';
import { runListenerFilters, type ListenerFilterResult } from './listener-filter-runner.ts';
import { ORIGINAL_DST_STATE_KEY, type ListenerDirectory, type OriginalDstRecord } from './listener-directory.ts';
import { parseAddress, formatAddress, type ParsedAddress } from './address.ts';

/** Pending connections the kernel queues per listener (net.core.somaxconn caps it). */
const LISTEN_BACKLOG = 1024;

/** Counters a listener updates; the metrics layer provides them. */
export interface ListenerStats {
  /** `adopted`: migrated from the previous process, which counted it already. */
  onConnectionOpen(adopted: boolean): void;
  /** Per chunk read or written (and a remainder at close). */
  onBytes(read: number, written: number): void;
  /** `migrated`: it went on in the successor; not a connection that ended. */
  onConnectionClose(migrated: boolean): void;
}

export interface ListenerHandlers {
  /** Fresh listener filters for one accepted socket (may be empty). */
  createListenerFilters(): ListenerFilter[];
  /** Installs the network filters on a new connection (throws = connection closed). */
  installNetworkFilters(connection: DownstreamConnection): void;
}

/** Something Node's server.listen() accepts as an already-bound listening socket. */
export type InheritedHandle = { fd: number } | object;

export class Listener {
  readonly config: ListenerConfig;
  readonly name: string;
  readonly #server: Server;
  readonly #handlers: ListenerHandlers;
  readonly #logger: Logger;
  readonly #stats: ListenerStats | undefined;
  readonly #connections = new Set<DownstreamConnection>();
  /** Accepted sockets whose listener filters have not finished yet. */
  readonly #filtering = new Set<Socket>();
  readonly #address: ParsedAddress;
  #accepting = false;
  /**
   * Primary of worker processes: the listening socket this process holds without accepting
   * on it (workers accept on copies); kept for restarted workers and the hot-upgrade hand-over.
   */
  #heldFd: number | undefined;
  /** The inode of the unix socket file we bound, to remove only our own file later. */
  #boundInode: number | undefined;
  /** The server's listeners, for handing a use_original_dst connection to another one. */
  readonly #directory: ListenerDirectory<Listener> | undefined;

  /** `directory`: joined at once; where use_original_dst connections are looked up. */
  constructor(config: ListenerConfig, handlers: ListenerHandlers, logger: Logger, stats?: ListenerStats, directory?: ListenerDirectory<Listener>) {
    const address = parseAddress(config.address, config.network);
    if (address === undefined) {
      throw new MosnError('MOSN_ERR_CONFIG_INVALID', `listener "${config.name}": address "${config.address}" is not "ip:port" or a unix path`);
    }
    this.#address = address;
    this.config = config;
    this.name = config.name;
    this.#handlers = handlers;
    this.#logger = logger.child({ listener: config.name });
    this.#stats = stats;
    this.#onBytes = stats && ((read, written) => stats.onBytes(read, written));
    this.#directory = directory;
    directory?.add(this);
    // pauseOnConnect: no byte is read before the filters are in place.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
      this.#onSocket(socket);
    });
    this.#server.on('error', (err) => this.#logger.error({ err }, 'listener error'));
  }

  /** Live downstream connections (closed ones leave the set). */
  get connections(): ReadonlySet<DownstreamConnection> {
    return this.#connections;
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /** True for `bind_port: false`: binds nothing, takes connections handed over by original destination. */
  get virtual(): boolean {
    return !this.config.bind_port;
  }

  /** The bound address: "ip:port" (the real port when configured with 0) or the unix path. */
  get boundAddress(): string {
    if (this.#heldFd !== undefined) {
      const parsed = this.#address;
      return parsed.kind === 'unix' ? this.config.address : formatAddress(parsed.host, localPort(this.#heldFd));
    }
    const a = this.#server.address();
    if (a === null) return this.config.address;
    if (typeof a === 'string') return a.startsWith('\0') ? `@${a.slice(1)}` : a;
    return formatAddress(a.address, a.port);
  }

  /** The listening socket's fd (for handing it to a successor), or undefined. */
  get fd(): number | undefined {
    if (this.#heldFd !== undefined) return this.#heldFd;
    const handle = (this.#server as unknown as { _handle?: { fd?: number } })._handle;
    return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
  }

  /** Binds the configured address, or adopts `inherited` (a listening fd or handle). */
  async listen(inherited?: InheritedHandle): Promise<void> {
    const a = this.#address;
    if (this.virtual) {
      this.#accepting = true;
      this.#logger.info({ address: this.config.address }, 'virtual listener ready (bind_port is false: reached through use_original_dst listeners)');
      return;
    }
    try {
      if (inherited !== undefined) {
        // listen() again on an inherited socket would reset its backlog to Node's 511.
        await this.#listenOnce({ ...inherited, backlog: LISTEN_BACKLOG });
      } else if (a.kind === 'unix') {
        await this.#listenUnix(a.path, true);
      } else {
        await this.#listenOnce({ host: a.host, port: a.port, reusePort: this.config.reuseport, backlog: LISTEN_BACKLOG });
      }
      if (this.config.use_original_dst === 'tproxy' && a.kind === 'tcp') this.#makeTransparent();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new MosnError(
        'MOSN_ERR_LISTENER_BIND',
        `listener "${this.name}" could not listen on ${this.config.address}: ${code === 'EADDRINUSE' ? 'address already in use (EADDRINUSE)' : describeError(err)}`,
        { cause: err },
      );
    }
    this.#accepting = true;
    this.#logger.info({ address: this.boundAddress }, 'listener started');
  }

  /**
   * The primary of worker processes: creates the listening socket (or keeps `inheritedFd`)
   * without accepting on it; workers accept on copies of `fd`. Errors as listen().
   */
  async hold(inheritedFd?: number): Promise<void> {
    const a = this.#address;
    if (this.virtual) {
      this.#accepting = true;
      return;
    }
    try {
      if (native === undefined) throw new Error(`worker processes need the native addon: ${nativeLoadError ?? 'unknown reason'}`);
      if (inheritedFd !== undefined) this.#heldFd = inheritedFd;
      else if (a.kind === 'unix') this.#heldFd = await this.#listenUnix(a.path, false);
      else this.#heldFd = tcpListen(a.host, a.port, LISTEN_BACKLOG, this.config.reuseport);
      if (this.config.use_original_dst === 'tproxy' && a.kind === 'tcp') this.#makeTransparent();
    } catch (err) {
      if (this.#heldFd !== undefined && inheritedFd === undefined) native?.closeFd(this.#heldFd);
      this.#heldFd = undefined;
      const code = (err as NodeJS.ErrnoException).code;
      throw new MosnError(
        'MOSN_ERR_LISTENER_BIND',
        `listener "${this.name}" could not listen on ${this.config.address}: ${code === 'EADDRINUSE' ? 'address already in use (EADDRINUSE)' : describeError(err)}`,
        { cause: err },
      );
    }
    this.#accepting = true;
    this.#logger.info({ address: this.boundAddress, fd: this.#heldFd }, 'listening socket held for the workers');
  }

  /**
   * TPROXY delivers connections for foreign addresses only to a transparent socket (MOSN
   * sets IP_TRANSPARENT on such listeners too); without it they would never arrive, so a
   * failure is a failure to listen.
   */
  #makeTransparent(): void {
    const fd = this.fd;
    try {
      if (native === undefined) throw new Error(`the native addon is unavailable: ${nativeLoadError ?? 'unknown reason'}`);
      if (fd === undefined) throw new Error('the listening socket has no fd');
      setIpTransparent(fd);
    } catch (err) {
      if (this.#heldFd === undefined) this.#server.close();
      throw new Error(`use_original_dst "tproxy" needs IP_TRANSPARENT on the listening socket (root or CAP_NET_ADMIN): ${describeError(err)}`, { cause: err });
    }
  }

  /** Stops accepting; live connections go on. Resolves once the listening socket is closed. */
  stopAccepting(): Promise<void> {
    if (!this.#accepting) return Promise.resolve();
    this.#accepting = false;
    if (this.virtual) return Promise.resolve();
    if (this.#heldFd !== undefined) {
      native?.closeFd(this.#heldFd);
      this.#heldFd = undefined;
      return Promise.resolve();
    }
    // close() shuts the listening socket at once, but its callback waits for every socket the
    // server accepted (connections, sockets still in listener filters): we only want the
    // listening socket gone.
    this.#server.close();
    return Promise.resolve();
  }

  /**
   * Adopts a connection migrated from the previous process: the listener filters ran
   * there, so it goes straight to the network filters; `state` carries what they need.
   */
  adopt(socket: Socket, state: Map<string, unknown>): void {
    socket.on('error', () => { /* reported by the connection */ });
    this.#createConnection(
      socket,
      { proceed: true, state, remote: undefined, originalDestination: undefined, pendingData: undefined, pendingEnd: false },
      true,
    );
  }

  /** Closes every live connection, and every socket still in listener filters, at once. */
  closeAllConnections(): void {
    for (const socket of this.#filtering) socket.destroy();
    for (const connection of this.#connections) connection.close('NoFlush', 'LocalClose');
  }

  #listenOnce(options: object): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(options, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  /** Binds `path`; `accept`: Node accepts on it, else the fd is returned unaccepted (hold()). */
  async #listenUnix(path: string, accept: boolean): Promise<number | undefined> {
    try {
      return await this.#bindUnix(path, accept);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || path.startsWith('\0')) throw err;
      // A socket file left by a crashed process: replace it only if nobody answers on it.
      if (await isUnixSocketLive(path)) throw err;
      if (existsSync(path)) unlinkSync(path);
      this.#logger.warn({ path }, 'replaced a stale unix socket file');
      return await this.#bindUnix(path, accept);
    }
  }

  /**
   * Binds through the native addon and adopts the fd where possible: libuv unlinks the
   * path of a pipe it bound itself when the server closes, which after a hot upgrade would
   * delete the file the successor serves on. We remove our file ourselves (removeSocketFile).
   */
  async #bindUnix(path: string, accept: boolean): Promise<number | undefined> {
    if (native === undefined || path.startsWith('\0')) {
      if (!accept) throw new Error('abstract unix sockets cannot be shared with worker processes');
      await this.#listenOnce({ path });
      return undefined;
    }
    let fd: number;
    try {
      fd = native.unixListen(path, LISTEN_BACKLOG);
    } catch (err) {
      throw Object.assign(new Error((err as Error).message), { code: (err as NodeJS.ErrnoException).code });
    }
    this.#boundInode = statSync(path).ino;
    if (!accept) return fd;
    await this.#listenOnce({ fd, backlog: LISTEN_BACKLOG });
    return undefined;
  }

  /**
   * Removes the unix socket file this listener bound, if it is still ours. Called on a
   * final stop; never after a hand-over, when the successor serves on the same file.
   */
  removeSocketFile(): void {
    if (this.#address.kind !== 'unix' || this.#boundInode === undefined) return;
    try {
      if (statSync(this.#address.path).ino === this.#boundInode) unlinkSync(this.#address.path);
    } catch {
      // already gone
    }
  }

  #onSocket(socket: Socket): void {
    this.#runFilters(socket, undefined);
  }

  /**
   * Runs this listener's filters on `socket`, then creates the connection here or hands it
   * to the listener of its original destination. `handedOver`: what the filters of the
   * listener that accepted it found (addresses, state, bytes); such a socket is never
   * handed on again.
   */
  #runFilters(socket: Socket, handedOver: ListenerFilterResult | undefined): void {
    const filters = this.#handlers.createListenerFilters();
    if (filters.length === 0) {
      this.#createConnection(socket, handedOver);
      return;
    }
    socket.on('error', () => { /* reported by the connection or the filter runner */ });
    this.#filtering.add(socket);
    runListenerFilters(socket, filters, (err) => {
      this.#logger.warn({ err: describeError(err) }, 'listener filter failed; socket closed');
    }, handedOver).then(
      (result) => {
        this.#filtering.delete(socket);
        if (result.proceed && !socket.destroyed) {
          const target = handedOver === undefined ? this.#originalDstListener(result) : undefined;
          if (target !== undefined) target.#runFilters(socket, result);
          else this.#createConnection(socket, result);
        }
        // 'Stop' without close(): no filter can take the socket, so nobody else would close it.
        else socket.destroy();
      },
      (err) => {
        this.#filtering.delete(socket);
        this.#logger.error({ err }, 'listener filter runner failed');
        socket.destroy();
      },
    );
  }

  /**
   * The other listener that should own a connection whose original destination the
   * original_dst filter found, on a `use_original_dst` listener; undefined = keep it here.
   */
  #originalDstListener(result: ListenerFilterResult): Listener | undefined {
    if (this.config.use_original_dst === false || this.#directory === undefined) return undefined;
    const record = result.state.get(ORIGINAL_DST_STATE_KEY) as OriginalDstRecord | undefined;
    if (record === undefined) return undefined;
    const target = this.#directory.find(record.ip, record.port, record.fallbackIp);
    if (target === undefined || target === this) {
      this.#logger.debug({ destination: formatAddress(record.ip, record.port) }, 'use_original_dst: no other listener for the original destination; kept here');
      return undefined;
    }
    this.#logger.debug({ destination: formatAddress(record.ip, record.port), to: target.name }, 'use_original_dst: connection handed over');
    return target;
  }

  // One of each per listener, not per connection (10k idle connections add up).
  readonly #onBytes: ((read: number, written: number) => void) | undefined;
  readonly #onFilterError = (err: unknown, conn: DownstreamConnection): void => {
    this.#logger.error({ err: describeError(err), connection: conn.id }, 'network filter threw; connection closed');
  };
  readonly #onConnectionClosed = (connection: DownstreamConnection): void => {
    this.#connections.delete(connection);
    this.#stats?.onConnectionClose(MIGRATED_SOCKETS.has(connection.socket));
  };

  #createConnection(socket: Socket, filtered: ListenerFilterResult | undefined, adopted = false): void {
    const connection = new DownstreamConnection(socket, {
      listenerName: this.name,
      idleTimeoutMs: this.config.connection_idle_timeout,
      state: filtered?.state,
      remote: filtered?.remote,
      originalDestination: filtered?.originalDestination,
      onBytes: this.#onBytes,
      onFilterError: this.#onFilterError,
      onClosed: this.#onConnectionClosed,
    });
    this.#connections.add(connection);
    this.#stats?.onConnectionOpen(adopted);
    try {
      this.#handlers.installNetworkFilters(connection);
    } catch (err) {
      this.#logger.error({ err: describeError(err) }, 'installing network filters failed; connection closed');
      connection.close('NoFlush');
      return;
    }
    connection.start(filtered?.pendingData, filtered?.pendingEnd ?? false);
    if (!connection.closed && !connection.detached && !connection.readDisabled) socket.resume();
  }
}

/** True when something accepts connections on the unix socket at `path`. */
export function isUnixSocketLive(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

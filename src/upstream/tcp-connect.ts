/**
 * @module upstream/tcp-connect
 * Opens a TCP connection to an upstream host with a connect timeout, an optional abort
 * signal, and the host's connection counter kept right: the attempt counts as open from
 * the moment the socket exists (so circuit breakers see connections being opened) and
 * closes exactly once, when the socket emits 'close'. A caller may have the socket read
 * into its own buffers (net's `onread`: no 'data' events, no allocation per read).
 * Depends only on node:net, core/ and ./host.ts.
 */
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { MosnError } from '../core/errors.ts';
import type { Host } from './host.ts';

export interface ConnectTcpOptions {
  /** Give up (and destroy the socket) after this long; the cluster's connect_timeout. Infinity = never. */
  timeoutMs: number;
  /** Aborting gives up the same way; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Reads go into the caller's buffer instead of 'data' events (net.connect's `onread`):
   * `buffer()` is asked once when the socket is created and again after every read.
   */
  onread?: OnReadOpts;
}

/**
 * Connects to `host` (IPv4, IPv6, or a name the OS resolves). Resolves with the connected
 * socket (`allowHalfOpen: true`, Nagle off); from then on the caller owns it and must
 * listen for 'error'. Rejects, after the socket has closed, with MosnError
 * MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT, MOSN_ERR_UPSTREAM_CONNECT (the socket error as
 * `cause`), or the abort reason.
 */
export function connectTcp(host: Host, options: ConnectTcpOptions): Promise<Socket> {
  const { timeoutMs, signal } = options;
  return new Promise<Socket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onread = options.onread;
    const socket = connect({
      host: host.ip,
      port: host.port,
      ...(host.family !== 0 && { family: host.family }),
      ...(onread !== undefined && { onread }),
      allowHalfOpen: true,
      noDelay: true,
    });
    host.onConnectionOpen();

    let failure: unknown;
    let connected = false;
    const fail = (reason: unknown): void => {
      failure ??= reason;
      socket.destroy();
    };
    const onAbort = (): void => fail(signal?.reason);
    const onError = (err: Error): void => {
      fail(new MosnError('MOSN_ERR_UPSTREAM_CONNECT', `connecting to ${host.address} failed: ${err.message}`, { cause: err }));
    };
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          fail(new MosnError('MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT', `connecting to ${host.address} timed out after ${timeoutMs} ms`));
        }, timeoutMs)
      : undefined;
    const stopWatching = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', onError);
    socket.once('connect', () => {
      // A timeout or abort may have won the race in the same turn: the socket is already going.
      if (failure !== undefined) return;
      connected = true;
      stopWatching();
      resolve(socket);
    });
    socket.once('close', () => {
      host.onConnectionClose();
      if (connected) return;
      stopWatching();
      // Rejecting on 'close' rather than on 'error' means the counter is already right
      // when the caller sees the failure.
      reject(failure ?? new MosnError('MOSN_ERR_UPSTREAM_CONNECT', `connection to ${host.address} closed while connecting`));
    });
  });
}

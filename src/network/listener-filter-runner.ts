/**
 * @module network/listener-filter-runner
 * Runs a listener's filters on an accepted socket before any connection exists. Filters
 * may peek at the first bytes without consuming them: bytes are read in paused mode and
 * put back into the socket (unshift) when the filters are done, so the codec sees them.
 * A throwing or rejecting filter closes the socket; it never reaches the process.
 * Address overrides take effect at once: a later filter sees the remote address an
 * earlier one (PROXY protocol) set.
 */
import type { Socket } from 'node:net';
import type { ListenerFilter, ListenerFilterCallbacks } from '../api/listener-filter.ts';
import { formatAddress, normalizeIp } from './address.ts';

export interface ListenerFilterResult {
  /** False when a filter stopped or closed the socket. */
  proceed: boolean;
  state: Map<string, unknown>;
  remote: { ip: string; port: number } | undefined;
  originalDestination: { ip: string; port: number } | undefined;
  /** Bytes that could not be put back (the peer half-closed while peeking). */
  pendingData: Buffer | undefined;
  pendingEnd: boolean;
}

/**
 * Where a second run starts from: the result of the listener that accepted the socket and
 * handed it over (use_original_dst), so its overrides, state and any bytes it could not
 * put back carry on.
 */
export type ListenerFilterStart = Pick<ListenerFilterResult, 'state' | 'remote' | 'originalDestination' | 'pendingData' | 'pendingEnd'>;

const DEFAULT_PEEK_TIMEOUT_MS = 3000;

/**
 * The accepted sockets behind listener filter callbacks, for built-in filters that need a
 * socket option (original_dst reads SO_ORIGINAL_DST). Not in api/ yet: see acceptedSocketFd.
 */
const SOCKETS = new WeakMap<ListenerFilterCallbacks, Socket>();

/**
 * The fd of the socket a listener filter runs on, or undefined (no such callbacks, or the
 * socket has no fd: closed, or not a kernel socket). The fd stays owned by the socket:
 * use it for a system call now, never keep or close it.
 */
export function acceptedSocketFd(callbacks: ListenerFilterCallbacks): number | undefined {
  const handle = (SOCKETS.get(callbacks) as unknown as { _handle?: { fd?: number } } | undefined)?._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

export async function runListenerFilters(
  socket: Socket,
  filters: readonly ListenerFilter[],
  onError: (err: unknown) => void,
  start?: ListenerFilterStart,
): Promise<ListenerFilterResult> {
  const result: ListenerFilterResult = {
    proceed: true,
    state: start?.state ?? new Map(),
    remote: start?.remote,
    originalDestination: start?.originalDestination,
    pendingData: undefined,
    pendingEnd: false,
  };
  if (filters.length === 0) {
    result.pendingData = start?.pendingData;
    result.pendingEnd = start?.pendingEnd ?? false;
    return result;
  }

  let peeked: Buffer = start?.pendingData ?? Buffer.alloc(0);
  let ended = start?.pendingEnd ?? false;
  let closedByFilter = false;

  const readMore = (minBytes: number, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const take = (): void => {
        let chunk: Buffer | null;
        while (peeked.length < minBytes && (chunk = socket.read() as Buffer | null) !== null) {
          peeked = peeked.length === 0 ? chunk : Buffer.concat([peeked, chunk]);
        }
        if (peeked.length >= minBytes || ended) finish();
      };
      const onEnd = (): void => { ended = true; finish(); };
      const onClose = (): void => { ended = true; finish(); };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`listener filter peek timed out after ${timeoutMs} ms with ${peeked.length} of ${minBytes} bytes`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('readable', take);
        socket.off('end', onEnd);
        socket.off('close', onClose);
      };
      function finish(): void {
        cleanup();
        resolve();
      }
      socket.on('readable', take);
      socket.on('end', onEnd);
      socket.on('close', onClose);
      take();
    });

  // What filters see; updated by the setters so a later filter sees an earlier override.
  const seen = {
    remoteIp: result.remote?.ip ?? normalizeIp(socket.remoteAddress ?? ''),
    remotePort: result.remote?.port ?? socket.remotePort ?? 0,
    localIp: result.originalDestination?.ip ?? normalizeIp(socket.localAddress ?? ''),
    localPort: result.originalDestination?.port ?? socket.localPort ?? 0,
  };

  const callbacks: ListenerFilterCallbacks = {
    get remoteIp() { return seen.remoteIp; },
    get remotePort() { return seen.remotePort; },
    get localIp() { return seen.localIp; },
    get localPort() { return seen.localPort; },
    get remoteAddress() { return formatAddress(seen.remoteIp, seen.remotePort); },
    get localAddress() { return formatAddress(seen.localIp, seen.localPort); },
    state: result.state,
    async peek(minBytes: number, timeoutMs = DEFAULT_PEEK_TIMEOUT_MS): Promise<Buffer> {
      if (peeked.length < minBytes && !ended) await readMore(minBytes, timeoutMs);
      return peeked;
    },
    consume(n: number): void {
      peeked = peeked.subarray(Math.min(n, peeked.length));
    },
    setRemoteAddress(ip: string, port: number): void {
      const plain = normalizeIp(ip);
      result.remote = { ip: plain, port };
      seen.remoteIp = plain;
      seen.remotePort = port;
    },
    setOriginalDestination(ip: string, port: number): void {
      const plain = normalizeIp(ip);
      result.originalDestination = { ip: plain, port };
      seen.localIp = plain;
      seen.localPort = port;
    },
    close(): void {
      closedByFilter = true;
      socket.destroy();
    },
  };
  SOCKETS.set(callbacks, socket);

  try {
    for (const filter of filters) {
      const status = await filter.onAccept(callbacks);
      if (status === 'Stop' || closedByFilter || socket.destroyed) {
        result.proceed = false;
        break;
      }
    }
  } catch (err) {
    onError(err);
    socket.destroy();
    result.proceed = false;
  }
  SOCKETS.delete(callbacks);

  if (result.proceed && peeked.length > 0) {
    if (ended) {
      result.pendingData = peeked;
    } else {
      socket.unshift(peeked);
    }
  }
  result.pendingEnd = ended;
  return result;
}

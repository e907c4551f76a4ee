/**
 * @module network/listener-filter-runner
 * Runs a listener's filters on an accepted socket before any connection exists. Filters
 * may peek at the first bytes without consuming them: bytes are read in paused mode and
 * put back into the socket (unshift) when the filters are done, so the codec sees them.
 * A throwing or rejecting filter closes the socket; it never reaches the process.
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

const DEFAULT_PEEK_TIMEOUT_MS = 3000;

export async function runListenerFilters(
  socket: Socket,
  filters: readonly ListenerFilter[],
  onError: (err: unknown) => void,
): Promise<ListenerFilterResult> {
  const result: ListenerFilterResult = {
    proceed: true,
    state: new Map(),
    remote: undefined,
    originalDestination: undefined,
    pendingData: undefined,
    pendingEnd: false,
  };
  if (filters.length === 0) return result;

  let peeked: Buffer = Buffer.alloc(0);
  let ended = false;
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

  const callbacks: ListenerFilterCallbacks = {
    remoteIp: normalizeIp(socket.remoteAddress ?? ''),
    remotePort: socket.remotePort ?? 0,
    localIp: normalizeIp(socket.localAddress ?? ''),
    localPort: socket.localPort ?? 0,
    get remoteAddress() { return formatAddress(this.remoteIp, this.remotePort); },
    get localAddress() { return formatAddress(this.localIp, this.localPort); },
    state: result.state,
    async peek(minBytes: number, timeoutMs = DEFAULT_PEEK_TIMEOUT_MS): Promise<Buffer> {
      if (peeked.length < minBytes && !ended) await readMore(minBytes, timeoutMs);
      return peeked;
    },
    consume(n: number): void {
      peeked = peeked.subarray(Math.min(n, peeked.length));
    },
    setRemoteAddress(ip: string, port: number): void {
      result.remote = { ip, port };
    },
    setOriginalDestination(ip: string, port: number): void {
      result.originalDestination = { ip, port };
    },
    close(): void {
      closedByFilter = true;
      socket.destroy();
    },
  };

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

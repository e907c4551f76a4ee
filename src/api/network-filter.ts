/**
 * @module api/network-filter
 * Network (L4) filters: the read and write filters of a connection's filter chain, and
 * the connection they see. The built-in `tcp_proxy` and `proxy` are network filters; a
 * plugin's filter has exactly the same powers. Public API: imports nothing from mosnode's
 * internals.
 */
import type { Socket } from 'node:net';

/**
 * What a read filter tells the chain after seeing an event.
 * - `Continue`: pass the event to the next filter.
 * - `Stop`: stop here; the filter calls `continueReading()` later to resume the chain
 *   (for example once an upstream connection is ready).
 */
export type FilterStatus = 'Continue' | 'Stop';
export const FilterStatus = { Continue: 'Continue', Stop: 'Stop' } as const;

/** How `close()` treats bytes not yet written. */
export type ConnectionCloseType = 'FlushWrite' | 'NoFlush';

/** Connection events, as MOSN names them. */
export type ConnectionEvent =
  | 'RemoteClose'  // the peer closed or reset
  | 'LocalClose'   // mosnode closed it
  | 'OnReadErrClose'
  | 'OnWriteErrClose'
  | 'IdleTimeout';

/** Addresses of a connection: "ip:port" (IPv6 as "[::1]:port") or a unix path. */
export interface ConnectionAddresses {
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** The remote IP alone ('' for unix sockets). */
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly localIp: string;
  readonly localPort: number;
}

/** The downstream connection as filters see it. */
export interface Connection extends ConnectionAddresses {
  /** Unique within the process, increasing. */
  readonly id: number;
  /** The listener's name. */
  readonly listenerName: string;
  /** Bytes read from / written to the downstream socket so far. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** True once closed (for any reason). */
  readonly closed: boolean;
  /**
   * Writes bytes towards the downstream peer through the write filters. `endStream`
   * half-closes our side after the bytes. Returns false when the socket's buffer is over
   * its limit: stop producing until `onWritable`.
   */
  write(data: Buffer, endStream?: boolean): boolean;
  /** Closes the connection; `FlushWrite` (default) lets pending bytes go first. */
  close(type?: ConnectionCloseType, event?: ConnectionEvent): void;
  /** Stops (true) or resumes (false) reading from the peer: backpressure towards it. */
  readDisable(disable: boolean): void;
  /** Called once the write buffer has drained after `write` returned false. */
  onWritable(listener: () => void): void;
  /**
   * Called once when the server starts draining (graceful stop, hot upgrade): finish what
   * is in flight and close when idle. Connections still open at the drain deadline are
   * closed by the server.
   */
  onDrain(listener: () => void): void;
  /** Called once when the connection closes, with why. */
  onClose(listener: (event: ConnectionEvent) => void): void;
  /**
   * Hands the raw socket to a terminal filter that runs its own codec (the built-in
   * `proxy` feeds it to an HTTP server). After this no more `onData` calls are made and
   * `readDisable` does nothing; the socket is returned paused with any peeked bytes
   * back in it: the new owner attaches its listeners, then calls `resume()`.
   */
  detachSocket(): Socket;
  /** Values shared between the filters of this connection (for example the original destination). */
  readonly state: Map<string, unknown>;
}

/** Given to a read filter once, before any event. */
export interface ReadFilterCallbacks {
  readonly connection: Connection;
  /** Resumes the chain after this filter returned `Stop`, from the next filter on. */
  continueReading(): void;
  /**
   * Passes `data` (and the peer's half-close when `endStream`) to the read filters after
   * this one, as if it had just arrived and this filter had returned `Continue`: how a
   * filter that held bytes back (returned `Stop` from `onData`) releases them, in order,
   * possibly changed. Does nothing once the connection is closed.
   */
  injectReadData(data: Buffer, endStream: boolean): void;
}

/** A read filter sees every byte the peer sends, in order. One instance per connection. */
export interface ReadFilter {
  /** Receives the callbacks before `onNewConnection`. */
  initializeReadFilterCallbacks?(callbacks: ReadFilterCallbacks): void;
  /** The connection is set up; default `Continue`. */
  onNewConnection?(): FilterStatus;
  /**
   * Bytes from the peer. `endStream` = the peer half-closed (no more bytes follow).
   * Return `Stop` to keep later filters from seeing these bytes.
   */
  onData(data: Buffer, endStream: boolean): FilterStatus;
}

/** A write filter sees every byte written towards the peer. */
export interface WriteFilter {
  /** Return `Stop` to drop these bytes (the filter may write replacements itself). */
  onWrite(data: Buffer, endStream: boolean): FilterStatus;
}

/** What a network filter factory installs on a new connection. */
export interface NetworkFilterChainBuilder {
  addReadFilter(filter: ReadFilter): void;
  addWriteFilter(filter: WriteFilter): void;
}

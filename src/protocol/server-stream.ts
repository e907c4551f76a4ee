/**
 * @module protocol/server-stream
 * One downstream request/response exchange, the same for every codec: what the proxy
 * reads (a request head, a body stream, trailers) and how it answers (headers, body
 * chunks with backpressure, trailers, or a reset). HTTP/1.1 and HTTP/2 server codecs
 * produce these; the proxy never sees node:http or node:http2 objects.
 */
import type { Readable } from 'node:stream';
import type { HeaderMap } from '../api/headers.ts';
import type { RequestHead } from '../api/stream-filter.ts';

export type HttpProtocolName = 'HTTP/1.1' | 'HTTP/2';

export interface ServerStream {
  readonly protocol: HttpProtocolName;
  readonly head: RequestHead;
  /** The request body, or undefined when the request has none (ended with its headers). */
  readonly body: Readable | undefined;
  /** Declared request body length, or -1 when unknown (chunked, or HTTP/2 without content-length). */
  readonly contentLength: number;
  /** "ip:port" of the client. */
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** Request trailers, once the body has ended (undefined if none). */
  requestTrailers(): HeaderMap | undefined;

  /** True once response headers went out (or a reset happened). */
  readonly headersSent: boolean;
  /**
   * Sends the response head. `endStream` = no body follows. `trailersFollow` = the
   * response will end with trailers (HTTP/2 must know at this point).
   */
  sendHeaders(status: number, headers: HeaderMap, endStream: boolean, trailersFollow: boolean): void;
  /** Writes a body chunk; false = the client's buffer is full, wait for `onDrain`. */
  write(chunk: Buffer): boolean;
  /** Calls `fn` once when the buffer drained after write() returned false. */
  onceDrain(fn: () => void): void;
  /** Ends the response, with trailers when given (and the protocol can carry them). */
  end(trailers?: HeaderMap): void;
  /** Aborts the exchange: HTTP/1 closes the connection, HTTP/2 resets the stream. */
  reset(): void;
  /**
   * Calls `fn` once when the exchange is over: `completed` is true if the whole response
   * was handed to the kernel, false on a reset or a client that left.
   */
  onClose(fn: (completed: boolean) => void): void;
  /** Response body bytes written so far. */
  readonly bytesSent: number;
}

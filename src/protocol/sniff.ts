/**
 * @module protocol/sniff
 * `downstream_protocol: "Auto"`: tells HTTP/2 prior knowledge from HTTP/1.x by the first
 * bytes (the 24-byte HTTP/2 client preface; no HTTP/1 request starts with it). Reads only
 * as many bytes as it takes to decide, then puts them back, so the codec sees them again.
 */
import type { Socket } from 'node:net';
import { HTTP2_PREFACE } from './http-semantics.ts';
import type { HttpProtocolName } from './server-stream.ts';

/**
 * Calls `done` with the protocol once decided, or with undefined when the peer closed or
 * sent nothing in `timeoutMs` (the socket is then destroyed).
 */
export function sniffHttpProtocol(socket: Socket, timeoutMs: number, done: (protocol: HttpProtocolName | undefined) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const finish = (protocol: HttpProtocolName | undefined): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    if (protocol === undefined) {
      socket.destroy();
    } else {
      socket.pause();
      if (seen.length > 0) socket.unshift(seen);
    }
    done(protocol);
  };
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, HTTP2_PREFACE.length);
    if (seen.compare(HTTP2_PREFACE, 0, n, 0, n) !== 0) return finish('HTTP/1.1');
    if (n === HTTP2_PREFACE.length) finish('HTTP/2');
  };
  const onEnd = (): void => finish(undefined);
  const timer = setTimeout(onEnd, timeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  socket.resume();
}

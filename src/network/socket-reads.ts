/**
 * @module network/socket-reads
 * Lets a socket we accepted read into a buffer of ours, as net.connect's `onread` option
 * does for sockets we open: no 64 KiB allocation and ArrayBuffer per read (whose sweep
 * was a third of every scavenge on the HTTP/1.1 bench), no Readable push and 'data' emit.
 *
 * Node has no public way to do this for server sockets. net keeps a socket's `onread`
 * setup in three fields keyed by private symbols and switches the handle with
 * `useUserBuffer()`; readInto() finds those symbols once, on a probe socket built with
 * `onread` (checking they hold what was passed), and sets them the same way. From then
 * on net itself runs the socket as an `onread` socket: pause() and resume() stop and
 * start reading, EOF, errors and close are as before. If this Node lays the fields out
 * differently, readInto() returns undefined and the caller keeps 'data' events.
 */
import { Socket } from 'node:net';

export type ReadCallback = (nread: number, buffer: Buffer) => boolean;

interface OnreadKeys {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

type Fields = Record<symbol, unknown> & {
  _handle?: { reading?: boolean; readStop?(): number; useUserBuffer?(buffer: Buffer): void } | null;
  encrypted?: boolean;
};

const keys = findOnreadKeys();

function findOnreadKeys(): OnreadKeys | undefined {
  const buffer = Buffer.alloc(1);
  const callback: ReadCallback = () => true;
  const probe = new Socket({ onread: { buffer, callback } });
  const fields = probe as unknown as Fields;
  const byName = new Map<string | undefined, symbol>();
  for (const key of Object.getOwnPropertySymbols(probe)) byName.set(key.description, key);
  probe.destroy();
  const found = { buffer: byName.get('kBuffer'), callback: byName.get('kBufferCb'), generator: byName.get('kBufferGen') };
  if (found.buffer === undefined || found.callback === undefined || found.generator === undefined) return undefined;
  if (fields[found.buffer] !== buffer || fields[found.callback] !== callback || fields[found.generator] !== null) return undefined;
  return found as OnreadKeys;
}

/** Whether readInto() works on this Node. */
export const canReadInto = keys !== undefined;

/**
 * Makes every later read of `socket` land in `buffer` and call `callback(nread, buffer)`
 * (return false to stop reading; resume() starts again). Returns the bytes the socket had
 * already buffered (a listener filter's peek, say), oldest first, for the caller to use
 * before any read; or undefined, with nothing changed, when the socket cannot be switched
 * (a TLS socket, no handle, already switched, or a Node without the fields).
 */
export function readInto(socket: Socket, buffer: Buffer, callback: ReadCallback): Buffer[] | undefined {
  const fields = socket as unknown as Fields;
  const handle = fields._handle;
  if (keys === undefined || handle == null || typeof handle.useUserBuffer !== 'function' || typeof handle.readStop !== 'function') return undefined;
  if (fields.encrypted === true || fields[keys.buffer] != null) return undefined;
  // Stop the handle reading in the old mode first (pause() alone leaves it reading).
  if (handle.reading === true) {
    handle.reading = false;
    handle.readStop();
  }
  fields[keys.buffer] = buffer;
  fields[keys.callback] = callback;
  fields[keys.generator] = null;
  handle.useUserBuffer(buffer);
  const buffered: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) buffered.push(chunk);
  return buffered;
}

/**
 * Gives a socket switched by readInto() to code that reads it as a stream ('data',
 * pipe): from now on each read is copied and pushed into the socket's Readable side,
 * which stops reading while its buffer is full.
 */
export function readAsStream(socket: Socket): void {
  if (keys === undefined) return;
  const fields = socket as unknown as Fields;
  if (fields[keys.buffer] == null) return;
  fields[keys.callback] = (nread: number, buffer: Buffer): boolean => socket.push(Buffer.from(buffer.subarray(0, nread)));
}

/**
 * Small socket helpers shared by tests that talk to real sockets.
 */
import { connect, createServer, type ServerOpts, type Socket } from 'node:net';
import { once } from 'node:events';

export interface SocketPair {
  /** The end we connected. */
  client: Socket;
  /** The server's end of the same connection, as 'connection' gave it. */
  accepted: Socket;
  /** Destroys both ends and closes the listener. */
  close(): Promise<void>;
}

/** One loopback TCP connection on port 0, with both of its ends. */
export async function socketPair(serverOptions: ServerOpts = {}): Promise<SocketPair> {
  const listener = createServer(serverOptions);
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as { port: number }).port;
  const connection = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = await connection;
  return {
    client,
    accepted,
    close: async () => {
      client.destroy();
      accepted.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
}

/** Resolves with the first `n` bytes (or more) the socket receives; rejects if it closes or fails first. */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => { if (got < n) reject(new Error(`closed after ${got} of ${n} bytes`)); });
  });
}

/** Resolves when the peer's FIN or a reset reached `socket` (errors are expected, not thrown). */
export function endedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => {});
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
    socket.resume();
  });
}

/** Polls until `predicate` holds; fails after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Real upstream servers for integration tests, all on 127.0.0.1 port 0.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

export interface TcpTestServer {
  server: Server;
  port: number;
  /** The live sockets, so tests can inspect or cut them. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A TCP server that hands each connection to `onConnection` and tracks it for close(). */
export async function startTcpServer(onConnection: (socket: Socket) => void, options: { allowHalfOpen?: boolean } = {}): Promise<TcpTestServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  const port = await listen(server);
  return {
    server,
    port,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}

/** A TCP echo server. */
export function startEchoServer(options: { allowHalfOpen?: boolean } = {}): Promise<TcpTestServer> {
  return startTcpServer((socket) => socket.pipe(socket), options);
}

export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  server.close();
  await once(server, 'close');
  return port;
}

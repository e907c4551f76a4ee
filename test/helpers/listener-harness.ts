/**
 * A real network/Listener on 127.0.0.1 (or ::1) port 0 with hand-made handlers, for unit
 * tests of listener and network filters over real sockets without a whole server: each
 * accepted socket runs `listenerFilters()`, each connection gets `install(connection)`.
 * `closeAll()` closes every listener, connection and client socket the harness made.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ListenerFilter } from '../../src/api/listener-filter.ts';
import type { ListenerConfig } from '../../src/config/types.ts';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import { Listener } from '../../src/network/listener.ts';
import type { ListenerDirectory } from '../../src/network/listener-directory.ts';
import type { DownstreamConnection } from '../../src/network/connection.ts';
import { parseAddress } from '../../src/network/address.ts';

export function listenerConfig(address: string, overrides: Partial<ListenerConfig> = {}): ListenerConfig {
  return {
    name: 'test',
    address,
    network: 'tcp',
    bind_port: true,
    reuseport: false,
    use_original_dst: false,
    inspector: false,
    access_logs: [],
    listener_filters: [],
    filter_chains: [],
    stream_filters: [],
    connection_idle_timeout: undefined,
    per_connection_buffer_limit_bytes: 16384,
    ...overrides,
  };
}

export interface TestListener {
  listener: Listener;
  /** Every connection the listener created, in order. */
  connections: DownstreamConnection[];
  /** The bound port (0 for a virtual listener). */
  port: number;
  /** Connects a client (errors are swallowed: tests assert on data and close). */
  dial(options?: { allowHalfOpen?: boolean }): Promise<Socket>;
}

export class ListenerHarness {
  readonly #listeners: Listener[] = [];
  readonly #clients: Socket[] = [];

  async start(options: {
    address?: string;
    config?: Partial<ListenerConfig>;
    listenerFilters?: () => ListenerFilter[];
    install?: (connection: DownstreamConnection) => void;
    directory?: ListenerDirectory<Listener>;
    logger?: Logger;
  } = {}): Promise<TestListener> {
    const connections: DownstreamConnection[] = [];
    const listener = new Listener(
      listenerConfig(options.address ?? '127.0.0.1:0', options.config),
      {
        createListenerFilters: () => options.listenerFilters?.() ?? [],
        installNetworkFilters: (connection) => {
          connections.push(connection);
          options.install?.(connection);
        },
      },
      options.logger ?? silentLogger(),
      undefined,
      options.directory,
    );
    this.#listeners.push(listener);
    await listener.listen();
    const parsed = parseAddress(listener.boundAddress);
    const port = parsed?.kind === 'tcp' ? parsed.port : 0;
    const host = parsed?.kind === 'tcp' ? parsed.host : '127.0.0.1';
    return {
      listener,
      connections,
      port,
      dial: async (dialOptions = {}) => {
        const socket = connect({ host, port, allowHalfOpen: dialOptions.allowHalfOpen ?? false });
        this.#clients.push(socket);
        socket.on('error', () => { /* resets are expected in some tests; they assert on close */ });
        await once(socket, 'connect');
        return socket;
      },
    };
  }

  async closeAll(): Promise<void> {
    for (const client of this.#clients.splice(0)) client.destroy();
    for (const listener of this.#listeners.splice(0)) {
      listener.closeAllConnections();
      await listener.stopAccepting();
    }
  }
}

/** A read filter echoing every byte (and the half-close) back to the peer. */
export function echo(connection: DownstreamConnection): void {
  connection.addReadFilter({
    onData(data, endStream) {
      connection.write(data, endStream);
      return 'Continue';
    },
  });
}

/** Resolves with everything the socket receives until it closes, and how long that took. */
export function readUntilClose(socket: Socket): Promise<{ data: Buffer; ms: number }> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    socket.once('close', () => resolve({ data: Buffer.concat(chunks), ms: performance.now() - started }));
  });
}

/**
 * connectTcp's `onread`: the socket reads into the caller's buffer (no 'data' events),
 * given directly or through Cluster.connectTcp (the path tcp_proxy takes); sockets opened
 * without it emit 'data' as usual. Real sockets on 127.0.0.1.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type OnReadOpts, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ClusterConfig } from '../config/types.ts';
import { Host } from './host.ts';
import { Cluster } from './cluster.ts';
import { connectTcp } from './tcp-connect.ts';

const servers = new Set<Server>();
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([...servers].map((s) => new Promise((r) => s.close(r))));
});

/** A server that sends `greeting` to every client and closes. */
async function greeter(greeting: string): Promise<number> {
  const server = createServer((s) => {
    sockets.add(s);
    s.end(greeting);
  });
  servers.add(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** An onread option that collects what is read, and counts the buffers asked for. */
function collector(): { onread: OnReadOpts; text: () => string; asked: () => number } {
  const buffer = Buffer.alloc(1024);
  let text = '';
  let asked = 0;
  return {
    onread: {
      buffer: () => {
        asked++;
        return buffer;
      },
      callback: (n, buf) => {
        text += Buffer.from(buf.buffer, buf.byteOffset, n).toString();
        return true;
      },
    },
    text: () => text,
    asked: () => asked,
  };
}

/** Resolves with what arrived as 'data' events (or '' when none) once the socket ended. */
async function finish(socket: Socket): Promise<string> {
  sockets.add(socket);
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
  await once(socket, 'end');
  socket.destroy();
  return data;
}

function hostAt(port: number): Host {
  return new Host({ address: `127.0.0.1:${port}`, hostname: undefined, weight: 1, metadata: {} });
}

test('options.onread: bytes go to the callback, not to data events', async () => {
  const port = await greeter('hello onread');
  const c = collector();
  const socket = await connectTcp(hostAt(port), { timeoutMs: 2000, onread: c.onread });
  assert.equal(await finish(socket), '');
  assert.equal(c.text(), 'hello onread');
  assert.ok(c.asked() >= 1);
});

test('a socket opened without onread emits data events', async () => {
  const port = await greeter('hi');
  assert.equal(await finish(await connectTcp(hostAt(port), { timeoutMs: 2000 })), 'hi');
});

test('onread reaches the socket through Cluster.connectTcp', async () => {
  const port = await greeter('through the cluster');
  const config: ClusterConfig = {
    name: 'c',
    type: 'SIMPLE',
    lb_type: 'LB_ROUNDROBIN',
    lbconfig: { choice_count: 2 },
    max_request_per_conn: 1024,
    conn_buffer_limit_bytes: 16384,
    connect_timeout: 2000,
    idle_timeout: undefined,
    circuit_breakers: [],
    hosts: [{ address: `127.0.0.1:${port}`, hostname: undefined, weight: 1, metadata: {} }],
    tls_context: undefined,
    health_check: undefined,
  };
  const cluster = new Cluster(config);
  const c = collector();
  const connecting = cluster.connectTcp(cluster.chooseHost()!, { session: true, onread: c.onread });
  assert.equal(await finish(await connecting), '');
  assert.equal(c.text(), 'through the cluster');
});

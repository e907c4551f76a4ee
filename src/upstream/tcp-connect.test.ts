/**
 * connectTcp and Cluster.connectTcp against real sockets on loopback only (127.0.0.1, ::1).
 * A connect that hangs is made without leaving the machine: a listener in a worker thread
 * whose event loop is blocked never accepts, so its accept queue fills and the kernel
 * drops further SYNs.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { isMosnError } from '../core/errors.ts';
import type { ClusterConfig } from '../config/types.ts';
import { Host } from './host.ts';
import { Cluster } from './cluster.ts';
import { connectTcp } from './tcp-connect.ts';

const openServers = new Set<Server>();
const openSockets = new Set<Socket>();

after(async () => {
  for (const socket of openSockets) socket.destroy();
  await Promise.all([...openServers].map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(host = '127.0.0.1'): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    openSockets.add(socket);
  });
  openServers.add(server);
  server.listen({ port: 0, host });
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port, accepted };
}

async function closeServer(server: Server): Promise<void> {
  openServers.delete(server);
  await new Promise((resolve) => server.close(resolve));
}

function hostAt(address: string): Host {
  return new Host({ address, hostname: undefined, weight: 1, metadata: {} });
}

async function freePort(): Promise<number> {
  const { server, port } = await listen();
  await closeServer(server);
  return port;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

function track(socket: Socket): Socket {
  openSockets.add(socket);
  return socket;
}

/**
 * Runs `body` with the port of a listener that accepts nothing and whose accept queue is
 * full, so a new connect attempt hangs in SYN-SENT until given up.
 */
async function withStalledListener(body: (port: number) => Promise<void>): Promise<void> {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      // Block this thread's event loop: nothing is ever accepted, the kernel queue fills.
      Atomics.wait(workerData, 0, 0);
      server.close();
    });
    `,
    { eval: true, workerData: wake },
  );
  const fillers: Socket[] = [];
  try {
    const [port] = (await once(worker, 'message')) as [number];
    // Connect until one attempt stays unanswered: the queue is then full.
    let stalled = false;
    for (let attempt = 0; attempt < 16 && !stalled; attempt++) {
      const filler = track(connect({ port, host: '127.0.0.1' }));
      filler.on('error', () => {});
      fillers.push(filler);
      const connected = await Promise.race([
        once(filler, 'connect').then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100)),
      ]);
      stalled = !connected;
    }
    assert.ok(stalled, 'the accept queue of the blocked listener never filled');
    await body(port);
  } finally {
    for (const filler of fillers) filler.destroy();
    Atomics.store(wake, 0, 1);
    Atomics.notify(wake, 0);
    await worker.terminate();
  }
}

describe('connectTcp', () => {
  test('connects over IPv4, half-open allowed, and counts the connection until it closes', async () => {
    const { port, accepted } = await listen();
    const host = hostAt(`127.0.0.1:${port}`);
    const socket = track(await connectTcp(host, { timeoutMs: 2000 }));
    assert.equal(socket.remotePort, port);
    assert.equal(socket.allowHalfOpen, true);
    assert.equal(host.activeConnections, 1);

    // Half-open: the server ends its side and the client may still write.
    await until(() => accepted.length === 1);
    const serverSide = accepted[0] as Socket;
    serverSide.end();
    await once(socket, 'end');
    assert.equal(socket.writable, true);
    socket.write('after end');
    const [chunk] = (await once(serverSide, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'after end');

    socket.destroy();
    await once(socket, 'close');
    assert.equal(host.activeConnections, 0);
  });

  test('connects over IPv6 loopback', async (t) => {
    let port: number;
    try {
      ({ port } = await listen('::1'));
    } catch {
      t.skip('no IPv6 loopback on this machine');
      return;
    }
    const host = hostAt(`[::1]:${port}`);
    const socket = track(await connectTcp(host, { timeoutMs: 2000 }));
    assert.equal(socket.remoteAddress, '::1');
    assert.equal(socket.remoteFamily, 'IPv6');
    socket.destroy();
    await once(socket, 'close');
    assert.equal(host.activeConnections, 0);
  });

  test('a closed port rejects with MOSN_ERR_UPSTREAM_CONNECT, the socket error as cause, counter back to 0', async () => {
    const host = hostAt(`127.0.0.1:${await freePort()}`);
    await assert.rejects(connectTcp(host, { timeoutMs: 2000 }), (err) => {
      assert.ok(isMosnError(err, 'MOSN_ERR_UPSTREAM_CONNECT'));
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      assert.ok(err.message.includes(host.address));
      return true;
    });
    assert.equal(host.activeConnections, 0);
  });

  test('a connect that hangs rejects with MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT after timeoutMs', async () => {
    await withStalledListener(async (port) => {
      const host = hostAt(`127.0.0.1:${port}`);
      const started = performance.now();
      const attempt = connectTcp(host, { timeoutMs: 150 });
      assert.equal(host.activeConnections, 1, 'a connection being opened counts');
      await assert.rejects(attempt, (err) => isMosnError(err, 'MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT'));
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 140, `gave up after ${elapsed} ms`);
      assert.equal(host.activeConnections, 0);
    });
  });

  test('aborting a hanging connect rejects with the abort reason', async () => {
    await withStalledListener(async (port) => {
      const host = hostAt(`127.0.0.1:${port}`);
      const controller = new AbortController();
      const attempt = connectTcp(host, { timeoutMs: 10_000, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('client went away')), 50);
      await assert.rejects(attempt, { message: 'client went away' });
      assert.equal(host.activeConnections, 0);
    });
  });

  test('an already aborted signal rejects without opening a socket', async () => {
    const host = hostAt(`127.0.0.1:${await freePort()}`);
    await assert.rejects(connectTcp(host, { timeoutMs: 1000, signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(host.activeConnections, 0);
  });

  test('aborting after the connect does nothing to the socket', async () => {
    const { port } = await listen();
    const host = hostAt(`127.0.0.1:${port}`);
    const controller = new AbortController();
    const socket = track(await connectTcp(host, { timeoutMs: 1000, signal: controller.signal }));
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(socket.destroyed, false);
    socket.destroy();
    await once(socket, 'close');
    assert.equal(host.activeConnections, 0);
  });

  test('every closing path counts the close exactly once', async () => {
    const { port, accepted } = await listen();
    const host = hostAt(`127.0.0.1:${port}`);
    const sockets = await Promise.all(Array.from({ length: 3 }, () => connectTcp(host, { timeoutMs: 2000 }).then(track)));
    assert.equal(host.activeConnections, 3);
    await until(() => accepted.length === 3);
    for (const serverSide of accepted) {
      serverSide.on('error', () => {});
      serverSide.on('end', () => serverSide.end());
    }
    const [byDestroy, byEnd, byPeer] = sockets as [Socket, Socket, Socket];
    byPeer.on('error', () => {});
    byPeer.on('end', () => byPeer.end());
    byDestroy.destroy();
    byEnd.end();
    (accepted.find((serverSide) => serverSide.remotePort === byPeer.localPort) as Socket).destroy();
    await Promise.all(sockets.map((socket) => (socket.closed ? undefined : once(socket, 'close'))));
    assert.equal(host.activeConnections, 0);
  });
});

describe('Cluster.connectTcp', () => {
  function clusterFor(address: string, connectTimeoutMs: number): Cluster {
    const config: ClusterConfig = {
      name: 'c',
      type: 'SIMPLE',
      lb_type: 'LB_ROUNDROBIN',
      lbconfig: { choice_count: 2 },
      max_request_per_conn: 1024,
      conn_buffer_limit_bytes: 16384,
      connect_timeout: connectTimeoutMs,
      idle_timeout: undefined,
      circuit_breakers: [],
      hosts: [{ address, hostname: undefined, weight: 1, metadata: {} }],
      tls_context: undefined,
      health_check: undefined,
    };
    return new Cluster(config);
  }

  test('counts the connection on the host and the cluster until it closes', async () => {
    const { port } = await listen();
    const cluster = clusterFor(`127.0.0.1:${port}`, 2000);
    const host = cluster.chooseHost() as Host;
    const socket = track(await cluster.connectTcp(host));
    assert.equal(cluster.activeConnections, 1);
    assert.equal(host.activeConnections, 1);
    socket.destroy();
    await once(socket, 'close');
    assert.equal(cluster.activeConnections, 0);
    assert.equal(host.activeConnections, 0);
  });

  test('uses the cluster connect timeout and uncounts a failed attempt', async () => {
    await withStalledListener(async (port) => {
      const cluster = clusterFor(`127.0.0.1:${port}`, 100);
      await assert.rejects(cluster.connectTcp(cluster.chooseHost() as Host), (err) => isMosnError(err, 'MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT'));
      assert.equal(cluster.activeConnections, 0);
    });
    const refused = clusterFor(`127.0.0.1:${await freePort()}`, 2000);
    await assert.rejects(refused.connectTcp(refused.chooseHost() as Host), (err) => isMosnError(err, 'MOSN_ERR_UPSTREAM_CONNECT'));
    assert.equal(refused.activeConnections, 0);
  });

  test('rejects a host object that is not a mosnode Host', async () => {
    const cluster = clusterFor('127.0.0.1:1', 100);
    const impostor = { address: '127.0.0.1:1', hostname: undefined, weight: 1, metadata: {}, healthy: true, activeRequests: 0, activeConnections: 0 };
    await assert.rejects(cluster.connectTcp(impostor), (err) => isMosnError(err, 'MOSN_ERR_UPSTREAM_CONNECT'));
  });
});

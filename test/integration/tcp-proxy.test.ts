/**
 * The tcp_proxy network filter through a real mosnode process: round trips (small and
 * 10 MB), half-close both ways, backpressure both ways, an upstream that is down, idle
 * timeout, connect retries over hosts, and address-based routes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { startEchoServer, closedPort, listen } from '../helpers/servers.ts';
import { readBytes, endedOrClosed } from '../helpers/sockets.ts';

function tcpConfig(hosts: string[], proxyConfig: Record<string, unknown> = {}, clusterExtra: Record<string, unknown> = {}) {
  return {
    servers: [{
      default_log_path: 'stdout',
      listeners: [{
        name: 'tcpListener',
        address: '127.0.0.1:0',
        bind_port: true,
        filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up', ...proxyConfig } }] }],
      }],
    }],
    cluster_manager: {
      clusters: [{ name: 'up', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', connect_timeout: '1s', hosts: hosts.map((address) => ({ address })), ...clusterExtra }],
    },
  };
}

async function dial(proc: MosnodeProcess): Promise<Socket> {
  const { port } = proc.listenerAddress('tcpListener');
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

describe('tcp_proxy', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let proc: MosnodeProcess;

  before(async () => {
    echo = await startEchoServer({ allowHalfOpen: true });
    proc = await startMosnode(tcpConfig([`127.0.0.1:${echo.port}`]));
  });
  after(async () => {
    await proc.cleanup();
    await echo.close();
  });

  test('relays a small message both ways', async () => {
    const socket = await dial(proc);
    socket.write('hello mosnode');
    const reply = await readBytes(socket, 13);
    assert.equal(reply.toString(), 'hello mosnode');
    socket.destroy();
  });

  test('relays 10 MB intact', async () => {
    const payload = randomBytes(10 * 1024 * 1024);
    const socket = await dial(proc);
    const received = readBytes(socket, payload.length);
    socket.end(payload);
    const got = await received;
    assert.equal(got.length, payload.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(payload).digest('hex'));
    socket.destroy();
  });

  test('passes a client half-close on and still delivers the reply', async () => {
    // The upstream answers only after it sees the client's FIN.
    const server = createServer({ allowHalfOpen: true }, (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => s.end(`got ${Buffer.concat(chunks).length} bytes then FIN`));
    });
    const port = await listen(server);
    const p = await startMosnode(tcpConfig([`127.0.0.1:${port}`]));
    try {
      const socket = await dial(p);
      const all = readAll(socket);
      socket.end('abcdef');
      assert.equal((await all).toString(), 'got 6 bytes then FIN');
    } finally {
      await p.cleanup();
      server.close();
    }
  });

  test('passes a server half-close on while the client keeps sending', async () => {
    let serverGot!: (text: string) => void;
    const serverDone = new Promise<string>((resolve) => (serverGot = resolve));
    const server = createServer({ allowHalfOpen: true }, (s) => {
      s.end('bye'); // the server is done writing at once
      const received: Buffer[] = [];
      s.on('data', (c: Buffer) => received.push(c));
      s.on('end', () => serverGot(Buffer.concat(received).toString()));
    });
    const port = await listen(server);
    const p = await startMosnode(tcpConfig([`127.0.0.1:${port}`]));
    try {
      const socket = await dial(p);
      assert.equal((await readAll(socket)).toString(), 'bye');
      // Our write side is still open after the server's FIN.
      socket.end('still here');
      assert.equal(await serverDone, 'still here');
    } finally {
      await p.cleanup();
      server.close();
    }
  });

  test('applies backpressure when the upstream does not read', async () => {
    const paused = new Set<Socket>();
    const server = createServer((s) => { s.pause(); paused.add(s); });
    const port = await listen(server);
    const p = await startMosnode(tcpConfig([`127.0.0.1:${port}`]));
    try {
      const socket = await dial(p);
      const chunk = Buffer.alloc(1024 * 1024, 7);
      let written = 0;
      // Write until the client's own socket stays blocked for 1 s (or give up at 512 MB).
      for (;;) {
        const ok = socket.write(chunk);
        written += chunk.length;
        if (written >= 512 * 1024 * 1024) break;
        if (!ok) {
          const drained = await Promise.race([once(socket, 'drain').then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
          if (!drained) break;
        }
      }
      const accepted = written - socket.writableLength;
      assert.ok(accepted < 64 * 1024 * 1024, `the proxy accepted ${accepted} bytes from a client whose server reads nothing`);
      socket.destroy();
    } finally {
      await p.cleanup();
      for (const s of paused) s.destroy();
      server.close();
    }
  });

  test('applies backpressure when the client does not read', async () => {
    let serverWritten = 0;
    let stalled!: () => void;
    const stalledPromise = new Promise<void>((r) => (stalled = r));
    const server = createServer(async (s) => {
      s.on('error', () => {});
      const chunk = Buffer.alloc(1024 * 1024, 9);
      while (!s.destroyed && serverWritten < 512 * 1024 * 1024) {
        serverWritten += chunk.length;
        if (!s.write(chunk)) {
          const drained = await Promise.race([once(s, 'drain').then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
          if (!drained) break;
        }
      }
      stalled();
    });
    const port = await listen(server);
    const p = await startMosnode(tcpConfig([`127.0.0.1:${port}`]));
    try {
      const socket = await dial(p);
      socket.pause(); // a client that never reads
      await stalledPromise;
      assert.ok(serverWritten < 64 * 1024 * 1024, `the upstream could push ${serverWritten} bytes towards a client that reads nothing`);
      socket.destroy();
    } finally {
      await p.cleanup();
      server.close();
    }
  });

  test('closes the client promptly when the upstream is down', async () => {
    const port = await closedPort();
    const p = await startMosnode(tcpConfig([`127.0.0.1:${port}`]));
    try {
      const socket = await dial(p);
      const started = Date.now();
      const ended = endedOrClosed(socket);
      socket.write('anyone there?');
      await ended;
      assert.ok(Date.now() - started < 2000, 'closed within 2 s');
      await p.waitForLog((l) => l.msg === 'tcp_proxy: closing downstream connection' && l.failure === 'UpstreamConnectionFailure');
    } finally {
      await p.cleanup();
    }
  });

  test('closes both sides after idle_timeout without traffic', async () => {
    const e = await startEchoServer();
    const p = await startMosnode(tcpConfig([`127.0.0.1:${e.port}`], { idle_timeout: '300ms' }));
    try {
      const socket = await dial(p);
      socket.write('x');
      await readBytes(socket, 1);
      const [upstream] = e.sockets;
      assert.ok(upstream, 'the proxy connected upstream');
      const upstreamClosed = new Promise<void>((resolve) => upstream.once('close', () => resolve()));
      const started = Date.now();
      await endedOrClosed(socket);
      const idle = Date.now() - started;
      assert.ok(idle >= 250 && idle < 3000, `closed after ${idle} ms of idleness`);
      await upstreamClosed;
    } finally {
      await p.cleanup();
      await e.close();
    }
  });

  test('tries the next host when one refuses (max_connect_attempts)', async () => {
    const dead = await closedPort();
    const e = await startEchoServer();
    const p = await startMosnode(tcpConfig([`127.0.0.1:${dead}`, `127.0.0.1:${e.port}`], { max_connect_attempts: 2 }));
    try {
      for (let i = 0; i < 4; i++) {
        const socket = await dial(p);
        socket.write(`ping ${i}`);
        assert.equal((await readBytes(socket, 6)).toString(), `ping ${i}`);
        socket.destroy();
      }
    } finally {
      await p.cleanup();
      await e.close();
    }
  });

  test('routes by source address when no cluster is set', async () => {
    const a = await startEchoServer();
    const b = createServer((s) => s.end('from b'));
    const bPort = await listen(b);
    const config = tcpConfig([`127.0.0.1:${a.port}`], { cluster: '', routes: [
      { cluster: 'other', source_addrs: [{ address: '10.0.0.0', length: 8 }] },
      { cluster: 'b', source_addrs: [{ address: '127.0.0.0', length: 8 }], destination_port: '1-65535' },
    ] });
    config.cluster_manager.clusters.push(
      { name: 'other', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', connect_timeout: '1s', hosts: [{ address: `127.0.0.1:${a.port}` }] },
      { name: 'b', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', connect_timeout: '1s', hosts: [{ address: `127.0.0.1:${bPort}` }] },
    );
    const p = await startMosnode(config);
    try {
      const socket = await dial(p);
      assert.equal((await readAll(socket)).toString(), 'from b');
    } finally {
      await p.cleanup();
      await a.close();
      b.close();
    }
  });

  test("MOSN's tcpproxy sample config proxies bytes, unchanged but for its ports", async () => {
    const e = await startEchoServer();
    const sample = JSON.parse(readFileSync(fileURLToPath(new URL('../../../shared/mosn-examples/examples__codes__tcpproxy-sample__config.json', import.meta.url)), 'utf8'));
    sample.servers[0].listeners[0].address = '127.0.0.1:0';
    sample.cluster_manager.clusters[0].hosts[0].address = `127.0.0.1:${e.port}`;
    const p = await startMosnode(sample);
    try {
      const { port } = p.listenerAddress('proxyListener');
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('through MOSN config');
      assert.equal((await readBytes(socket, 19)).toString(), 'through MOSN config');
      socket.destroy();
    } finally {
      await p.cleanup();
      await e.close();
    }
  });
});

/**
 * tcp_proxy's upstream reads into pooled buffers (onread), through a real MosnServer in
 * this process (so the shared byte pool is visible, and strict: a wrong give-back throws).
 * What is proven: under backpressure (a client that reads slowly, so downstream writes
 * queue and read buffers are parked behind them) no byte is overwritten: 32 MiB of random
 * bytes come back with the same hash; a write filter that keeps every chunk it saw keeps
 * intact bytes (they are copied for it); a server that sends and closes, and a client
 * that leaves mid-stream, both leave every buffer back in the pool.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { sharedBytePool } from '../../../buffer/byte-pool.ts';
import type { NetworkFilterFactory } from '../../../api/filter-factory.ts';
import { startInProcess, type InProcessServer } from '../../../../test/helpers/in-process.ts';
import { startEchoServer, startTcpServer, type TcpTestServer } from '../../../../test/helpers/servers.ts';
import { until } from '../../../../test/helpers/sockets.ts';
import { relayAvailable, relayStats } from '../../../network/native-relay.ts';

const MiB = 1024 * 1024;

function tcpConfig(upstreamPort: number, filters: Array<{ type: string; config?: unknown }> = []) {
  return {
    servers: [{
      default_log_path: 'stdout',
      listeners: [{
        name: 'tcp',
        address: '127.0.0.1:0',
        bind_port: true,
        filter_chains: [{ filters: [...filters, { type: 'tcp_proxy', config: { cluster: 'up' } }] }],
      }],
    }],
    cluster_manager: {
      clusters: [{ name: 'up', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', connect_timeout: '1s', hosts: [{ address: `127.0.0.1:${upstreamPort}` }] }],
    },
  };
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Reads `total` bytes into `hash` slowly: a pause of 1 to `pauseMs` ms after every
 * `every` bytes (and one at the start), so the proxy's writes to this client queue up
 * again and again.
 */
function readSlowly(socket: Socket, total: number, hash: Hash, every = 128 * 1024, pauseMs = 5): Promise<void> {
  const pause = (): void => {
    socket.pause();
    setTimeout(() => socket.resume(), 1 + Math.floor(Math.random() * pauseMs));
  };
  return new Promise((resolve, reject) => {
    let got = 0;
    let sincePause = 0;
    pause();
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
      sincePause += chunk.length;
      if (got >= total) {
        resolve();
        return;
      }
      if (sincePause >= every) {
        sincePause = 0;
        pause();
      }
    });
    socket.once('error', reject);
    socket.once('close', () => (got < total ? reject(new Error(`closed after ${got} of ${total} bytes`)) : resolve()));
  });
}

/** Writes `payload` in 64 KiB chunks, honouring backpressure. */
async function writeAll(socket: Socket, payload: Buffer): Promise<void> {
  for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
    if (!socket.write(payload.subarray(offset, offset + 64 * 1024))) await once(socket, 'drain');
  }
}

/** Samples the pool's leases in use every ms; returns the highest seen so far. */
function watchInUse(): { max(): number; stop(): void } {
  let max = 0;
  const timer = setInterval(() => (max = Math.max(max, sharedBytePool.stats.inUse)), 1);
  return { max: () => max, stop: () => clearInterval(timer) };
}

describe('tcp_proxy upstream reads into pooled buffers', () => {
  let echo: TcpTestServer;
  let proxy: InProcessServer;
  /** Every chunk the retaining write filter saw, in order, kept as given. */
  const keptByWriteFilter: Buffer[] = [];
  let keeping: InProcessServer;

  before(async () => {
    // The JavaScript path: sessions handed to the native relay never read into the pool.
    process.env['MOSNODE_TCP_RELAY'] = '0';
    echo = await startEchoServer();
    proxy = await startInProcess(tcpConfig(echo.port));
    const keepWrites: NetworkFilterFactory<unknown> = {
      type: 'test_keep_writes',
      parseConfig: (raw) => raw,
      createFilters: (_config, chain) => chain.addWriteFilter({
        onWrite: (data) => {
          keptByWriteFilter.push(data);
          return 'Continue';
        },
      }),
    };
    keeping = await startInProcess(tcpConfig(echo.port, [{ type: 'test_keep_writes' }]), (registry) => registry.registerNetworkFilter(keepWrites));
  });
  after(async () => {
    delete process.env['MOSNODE_TCP_RELAY'];
    await proxy.stop();
    await keeping.stop();
    await echo.close();
  });

  test('32 MiB of random bytes echo back intact to a client that reads slowly', async () => {
    const payload = randomBytes(32 * MiB);
    const before = sharedBytePool.stats;
    const inUse = watchInUse();
    const socket = await dial(proxy.port);
    try {
      const hash = createHash('sha256');
      const reading = readSlowly(socket, payload.length, hash);
      await writeAll(socket, payload);
      await reading;
      assert.equal(hash.digest('hex'), sha256(payload));
      const after = sharedBytePool.stats;
      const leases = after.allocated + after.reused - before.allocated - before.reused;
      assert.ok(leases > 0, 'the upstream socket read into pooled buffers');
      // Two at once on one session: a buffer was parked behind a queued write while the next read went on.
      assert.ok(inUse.max() >= 2, `buffers were parked behind queued writes (max in use ${inUse.max()})`);
    } finally {
      inUse.stop();
      socket.destroy();
    }
    await until(() => sharedBytePool.stats.inUse === 0, 'every buffer back in the pool after the session closed');
    assert.equal(sharedBytePool.stats.doubleRelease, 0);
  });

  test('small reads (a server writing 3000 B at a time) to a slow client: 24 MiB arrive intact', async () => {
    // Small reads are the dangerous case: a queued write of a few KiB leaves the client
    // socket under its high-water mark, so reading goes on while the write still holds
    // the bytes. Without parking, the next read would overwrite them. 24 MiB: more than
    // loopback's autotuned kernel buffers hold, so writes surely queue in the proxy.
    const payload = randomBytes(24 * MiB);
    const server = await startTcpServer((s) => {
      let offset = 0;
      const next = (): void => {
        if (s.destroyed) return;
        if (offset >= payload.length) {
          s.end();
          return;
        }
        const ok = s.write(payload.subarray(offset, offset + 3000));
        offset += 3000;
        if (ok) setImmediate(next);
        else s.once('drain', next);
      };
      next();
    });
    const p = await startInProcess(tcpConfig(server.port));
    const inUse = watchInUse();
    try {
      const socket = await dial(p.port);
      const hash = createHash('sha256');
      await readSlowly(socket, payload.length, hash, MiB, 100);
      assert.equal(hash.digest('hex'), sha256(payload));
      assert.ok(inUse.max() >= 3, `several small buffers were parked at once (max in use ${inUse.max()})`);
      socket.destroy();
      await until(() => sharedBytePool.stats.inUse === 0, 'every buffer back in the pool');
    } finally {
      inUse.stop();
      await p.stop();
      await server.close();
    }
  });

  test('a write filter that keeps what it sees gets copies: its chunks stay intact', async () => {
    keptByWriteFilter.length = 0;
    const payload = randomBytes(8 * MiB);
    const socket = await dial(keeping.port);
    try {
      const hash = createHash('sha256');
      const reading = readSlowly(socket, payload.length, hash);
      await writeAll(socket, payload);
      await reading;
      assert.equal(hash.digest('hex'), sha256(payload));
      // Were the filter handed the pooled buffer, later reads would have overwritten what it kept.
      assert.equal(sha256(Buffer.concat(keptByWriteFilter)), sha256(payload));
    } finally {
      socket.destroy();
    }
    await until(() => sharedBytePool.stats.inUse === 0, 'every buffer back in the pool');
  });

  test('a server that sends 4 MiB and closes: the client gets all of it, then the FIN; every buffer goes back', async () => {
    const payload = randomBytes(4 * MiB);
    const server = await startTcpServer((s) => s.end(payload));
    const p = await startInProcess(tcpConfig(server.port));
    try {
      const socket = await dial(p.port);
      const hash = createHash('sha256');
      const reading = readSlowly(socket, payload.length, hash);
      const ended = once(socket, 'end');
      await reading;
      await ended;
      assert.equal(hash.digest('hex'), sha256(payload));
      socket.destroy();
      await until(() => sharedBytePool.stats.inUse === 0, 'every buffer back in the pool');
    } finally {
      await p.stop();
      await server.close();
    }
  });

  test('a client that leaves mid-stream: parked buffers go back at once, the read buffer when the upstream closes', async () => {
    const chunk = randomBytes(3000);
    let stop = false;
    const server = await startTcpServer((s) => {
      s.on('end', () => s.destroy());
      s.resume();
      // Small writes, so the proxy reads small and parks several buffers behind the queue.
      const pump = (): void => {
        while (!stop && !s.destroyed && s.write(chunk));
        if (!stop && !s.destroyed) s.once('drain', pump);
      };
      pump();
    });
    const p = await startInProcess(tcpConfig(server.port));
    try {
      const socket = await dial(p.port);
      // Read a little, then stop reading: the proxy's writes to us queue up until it pauses the upstream.
      let got = 0;
      await new Promise<void>((resolve) => socket.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 2 * MiB) {
          socket.pause();
          resolve();
        }
      }));
      await until(() => sharedBytePool.stats.inUse >= 2, 'buffers parked behind the queued writes');
      socket.destroy();
      await until(() => sharedBytePool.stats.inUse <= 1, 'parked buffers back as soon as the client socket closed', 1000);
      // The upstream, paused by the backpressure, closes at tcp_proxy's 5 s close timer at the latest.
      await until(() => sharedBytePool.stats.inUse === 0, 'the read buffer back when the upstream closed', 8000);
    } finally {
      stop = true;
      await p.stop();
      await server.close();
    }
  });
});

/**
 * The same sessions handed to the native relay (network/native-relay): established, with
 * tcp_proxy the only filter. Proven here through the whole proxy: the relay is used only
 * then, bytes arrive intact under backpressure, byte counters of the listener and the
 * cluster are exact, idle_timeout still applies, and stopping the server ends relayed
 * sessions.
 */
describe('tcp_proxy on the native relay', { skip: relayAvailable() ? false : 'the native addon is not built' }, () => {
  let echo: TcpTestServer;
  before(async () => {
    echo = await startEchoServer();
  });
  after(async () => {
    await echo.close();
  });

  test('an established session is relayed: 32 MiB to a slow reader intact, byte counters exact', async () => {
    const p = await startInProcess(tcpConfig(echo.port));
    const startedBefore = relayStats().started;
    const payload = randomBytes(32 * MiB);
    const socket = await dial(p.port);
    try {
      const hash = createHash('sha256');
      const reading = readSlowly(socket, payload.length, hash);
      await writeAll(socket, payload);
      await reading;
      assert.equal(hash.digest('hex'), sha256(payload));
      assert.equal(relayStats().started, startedBefore + 1, 'the session went to the relay');
      socket.end();
      await once(socket, 'close');
      await until(() => p.stats()['downstream']?.['listener.tcp']?.['bytes_read_total'] === String(payload.length), 'listener bytes read');
      const listener = p.stats()['downstream']!['listener.tcp']!;
      assert.equal(listener['bytes_write_total'], String(payload.length));
      // The upstream connection's bytes are counted when it closes (MOSN's names).
      await until(() => p.stats()['upstream']?.['cluster.up']?.['connection_bytes_write'] === String(payload.length), 'cluster bytes written');
      assert.equal(p.stats()['upstream']!['cluster.up']!['connection_bytes_read_total'], String(payload.length));
    } finally {
      socket.destroy();
      await p.stop();
    }
  });

  test('another filter in the chain keeps the session in JavaScript', async () => {
    const countBytes: NetworkFilterFactory<unknown> = {
      type: 'test_count_bytes',
      parseConfig: (raw) => raw,
      createFilters: (_config, chain) => chain.addReadFilter({ onData: () => 'Continue', onNewConnection: () => 'Continue' }),
    };
    const p = await startInProcess(tcpConfig(echo.port, [{ type: 'test_count_bytes' }]), (registry) => registry.registerNetworkFilter(countBytes));
    const startedBefore = relayStats().started;
    const socket = await dial(p.port);
    try {
      socket.write('ping');
      const [reply] = (await once(socket, 'data')) as [Buffer];
      assert.equal(reply.toString(), 'ping');
      assert.equal(relayStats().started, startedBefore, 'not relayed');
    } finally {
      socket.destroy();
      await p.stop();
    }
  });

  test('idle_timeout closes a relayed session that moves nothing', async () => {
    const config = tcpConfig(echo.port);
    (config.servers[0]!.listeners[0]!.filter_chains[0]!.filters[0]!.config as Record<string, unknown>)['idle_timeout'] = '300ms';
    const p = await startInProcess(config);
    const startedBefore = relayStats().started;
    const socket = await dial(p.port);
    try {
      socket.write('ping');
      await once(socket, 'data');
      await until(() => relayStats().started === startedBefore + 1, 'relayed');
      const opened = Date.now();
      await once(socket, 'close');
      const lasted = Date.now() - opened;
      assert.ok(lasted >= 200 && lasted < 3000, `closed after ${lasted} ms of idleness (idle_timeout 300ms)`);
    } finally {
      socket.destroy();
      await p.stop();
    }
  });

  test('stopping the server ends relayed sessions; the relay forgets them', async () => {
    const p = await startInProcess(tcpConfig(echo.port));
    const socket = await dial(p.port);
    const activeBefore = relayStats().active;
    socket.write('ping');
    await once(socket, 'data');
    await until(() => relayStats().active === activeBefore + 1, 'relayed');
    const closed = once(socket, 'close');
    await p.stop();
    await closed;
    assert.equal(relayStats().active, activeBefore);
  });
});

/**
 * Metrics in the shared-memory zone, seen from real processes: counters continue across a
 * hot upgrade (the successor re-attaches), a plain restart starts from zero, a second
 * instance configured with the same zone is refused before it binds anything, and after
 * a connection migrated the active-connections gauge counts it once (the old process's
 * share is gone with it).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosnode, runMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { closedPort, startEchoServer } from '../helpers/servers.ts';

function config(tcpPort: number, adminPort: number, echoPort: number, extra: object = {}) {
  return {
    ...extra,
    servers: [{
      default_log_path: 'stdout', graceful_timeout: '5s',
      listeners: [{ name: 'tcp', address: `127.0.0.1:${tcpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }] }],
    }],
    cluster_manager: { clusters: [{ name: 'echo', hosts: [{ address: `127.0.0.1:${echoPort}` }] }] },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    metrics: { shm_zone: 'test', shm_size: '1MB' },
  };
}

async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('x');
  await once(s, 'data');
  return s;
}

async function closeSocket(s: Socket): Promise<void> {
  s.destroy();
  await once(s, 'close');
}

type Stats = Record<string, Record<string, Record<string, string>>>;

async function listenerStat(adminPort: number, key: string): Promise<number> {
  const stats = (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/stats`)).json()) as Stats;
  return Number(stats.downstream?.['listener.tcp']?.[key] ?? NaN);
}

async function eventually(read: () => Promise<number>, expected: number): Promise<number> {
  let value = NaN;
  for (let i = 0; i < 100; i++) {
    value = await read();
    if (value === expected) return value;
    await new Promise((r) => setTimeout(r, 30));
  }
  return value;
}

describe('shared-memory metrics', () => {
  test('counters continue across a hot upgrade; a plain restart starts from zero', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-shm-'));
    const procs: MosnodeProcess[] = [];
    try {
      procs.push(await startMosnode(config(tcpPort, adminPort, echo.port), { dir }));
      assert.ok(existsSync(join(dir, 'mosn_shm_test')), 'the zone file is beside the config');
      for (let i = 0; i < 3; i++) await closeSocket(await open(tcpPort));
      assert.equal(await eventually(() => listenerStat(adminPort, 'connection_total'), 3), 3);

      const next = await startMosnode(config(tcpPort, adminPort, echo.port), { dir });
      procs.push(next);
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      assert.ok(next.logs.some((l) => l.msg === 'shared-memory metrics zone open' && l.outcome === 'attached'));
      await procs[0]!.exited;
      // The successor's own registry reads the same cells: 3 from before, +2 now.
      for (let i = 0; i < 2; i++) await closeSocket(await open(tcpPort));
      assert.equal(await eventually(() => listenerStat(adminPort, 'connection_total'), 5), 5);

      next.signal('SIGTERM');
      await next.exited;
      const restarted = await startMosnode(config(tcpPort, adminPort, echo.port), { dir });
      procs.push(restarted);
      assert.ok(restarted.logs.some((l) => l.msg === 'shared-memory metrics zone open' && l.outcome === 'cleared'));
      assert.equal(await listenerStat(adminPort, 'connection_total'), 0);
    } finally {
      for (const p of procs) await p.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a second instance configured with the same zone is refused before it binds', async () => {
    const echo = await startEchoServer();
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-shm-'));
    const [tcpPort, adminPort, otherTcp, otherAdmin] = [await closedPort(), await closedPort(), await closedPort(), await closedPort()];
    let first: MosnodeProcess | undefined;
    try {
      first = await startMosnode(config(tcpPort, adminPort, echo.port, { disable_upgrade: true }), { dir });
      // Same folder (same zone file), upgrade off: not a successor, so it would clear live metrics.
      const second = join(dir, 'second.json');
      writeFileSync(second, JSON.stringify(config(otherTcp, otherAdmin, echo.port, { disable_upgrade: true })));
      const r = await runMosnode(['start', '-c', second]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`${first.child.pid}`), 'names the process holding the zone');
      await assert.rejects(open(otherTcp), 'the refused instance bound nothing');
      assert.equal(await listenerStat(adminPort, 'connection_total'), 0);
    } finally {
      await first?.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('after a connection migrated, the active-connections gauge counts it once', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-shm-'));
    const procs: MosnodeProcess[] = [];
    try {
      procs.push(await startMosnode(config(tcpPort, adminPort, echo.port), { dir }));
      const held = await open(tcpPort);
      assert.equal(await eventually(() => listenerStat(adminPort, 'connection_active'), 1), 1);
      const next = await startMosnode(config(tcpPort, adminPort, echo.port), { dir });
      procs.push(next);
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      await procs[0]!.exited;
      await procs[0]!.waitForLog((l) => l.msg === 'connection migration: done' && l.migrated === 1);
      assert.equal(await eventually(() => listenerStat(adminPort, 'connection_active'), 1), 1);
      // Moved, not ended and begun again: the totals did not change.
      assert.equal(await listenerStat(adminPort, 'connection_total'), 1);
      assert.equal(await listenerStat(adminPort, 'connection_destroy'), 0);
      assert.equal(await listenerStat(adminPort, 'request_total'), 1);
      const upstream = async (key: string): Promise<number> =>
        Number(((await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/stats`)).json()) as Stats).upstream?.['cluster.echo']?.[key] ?? NaN);
      assert.equal(await upstream('connection_total'), 1);
      assert.equal(await upstream('connection_active'), 1);
      assert.equal(await upstream('connection_close'), 0);
      await closeSocket(held);
      assert.equal(await eventually(() => listenerStat(adminPort, 'connection_active'), 0), 0);
      assert.equal(await eventually(() => upstream('connection_active'), 0), 0);
    } finally {
      for (const p of procs) await p.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a zone path that is a symlink is refused, and the file it points to is left alone', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-shm-'));
    try {
      const victim = join(dir, 'victim.txt');
      writeFileSync(victim, 'precious');
      (await import('node:fs')).symlinkSync(victim, join(dir, 'mosn_shm_test'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config(tcpPort, adminPort, echo.port)));
      const r = await runMosnode(['start', '-c', join(dir, 'config.json')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ELOOP|symbolic link|symlink/i);
      assert.equal((await import('node:fs')).readFileSync(victim, 'utf8'), 'precious');
    } finally {
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

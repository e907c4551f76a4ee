/**
 * Hot upgrade between real mosnode processes: a second `start` on the same config folder
 * (uds_dir) takes over the listening sockets (TCP, unix and admin) over SCM_RIGHTS, with a
 * changed config; SIGHUP does the same with a successor the process starts itself; a
 * successor that fails to start leaves the old process serving; stale socket files are
 * replaced; requests keep succeeding across upgrades.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { request, Agent } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosnode, runMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { closedPort, startEchoServer } from '../helpers/servers.ts';

async function exchange(port: number | string, text: string): Promise<string> {
  const socket: Socket = typeof port === 'number' ? connect(port, '127.0.0.1') : connect({ path: port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(text);
  const [data] = await once(socket, 'data');
  socket.destroy();
  return String(data);
}

function respond(tag: string) {
  return createNetServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write(`${tag}:${d}`)); });
}

async function listen(server: ReturnType<typeof createNetServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

function config(opts: { tcpPort: number; unixPath: string; adminPort: number; upstream: number; extra?: object[] }) {
  const chain = { filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up' } }] }] };
  return {
    servers: [{
      default_log_path: 'stdout',
      graceful_timeout: '2s',
      listeners: [
        { name: 'tcp', address: `127.0.0.1:${opts.tcpPort}`, bind_port: true, ...chain },
        { name: 'unix', address: opts.unixPath, network: 'unix', bind_port: true, ...chain },
        ...(opts.extra ?? []),
      ],
    }],
    cluster_manager: { clusters: [{ name: 'up', hosts: [{ address: `127.0.0.1:${opts.upstream}` }] }] },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: opts.adminPort } } },
  };
}

async function states(adminPort: number): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/states`)).text()).trim();
}

describe('hot upgrade', () => {
  test('a second start takes over TCP, unix and admin sockets with a changed config; the old process drains and exits 0', async () => {
    const v1 = respond('v1');
    const v2 = respond('v2');
    const [up1, up2] = [await listen(v1), await listen(v2)];
    const [tcpPort, adminPort, addedPort] = [await closedPort(), await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const unixPath = join(dir, 'proxy.sock');
    let old: MosnodeProcess | undefined;
    let successor: MosnodeProcess | undefined;
    try {
      old = await startMosnode(config({ tcpPort, unixPath, adminPort, upstream: up1 }), { dir });
      assert.equal(await exchange(tcpPort, 'a'), 'v1:a');
      assert.equal(await exchange(unixPath, 'b'), 'v1:b');
      // A connection open through the old process keeps working while it drains.
      const held = connect(tcpPort, '127.0.0.1');
      held.on('error', () => {});
      await once(held, 'connect');

      const added = { name: 'added', address: `127.0.0.1:${addedPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up' } }] }] };
      successor = await startMosnode(config({ tcpPort, unixPath, adminPort, upstream: up2, extra: [added] }), { dir });
      await successor.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      assert.ok(successor.logs.some((l) => l.msg === 'listener inherited from the previous process' && l.listener === 'tcp'));
      assert.ok(successor.logs.some((l) => l.msg === 'listener inherited from the previous process' && l.listener === 'unix'));
      assert.ok(successor.logs.some((l) => l.msg === 'admin API started' && l.inherited === true));

      assert.equal(await exchange(tcpPort, 'c'), 'v2:c');
      assert.equal(await exchange(unixPath, 'd'), 'v2:d');
      assert.equal(await exchange(addedPort, 'e'), 'v2:e', 'a listener new in the config is bound');
      assert.equal(await states(adminPort), `pid=${successor.child.pid}&state=6`);
      held.write('still');
      assert.equal(String((await once(held, 'data'))[0]), 'v1:still');
      assert.deepEqual(await old.exited, { code: 0, signal: null });
      await old.waitForLog((l) => l.msg === 'hot upgrade: stage 3/3, the new process serves; draining');
      assert.equal(readFileSync(join(dir, 'mosnode.pid'), 'utf8').trim(), String(successor.child.pid));
      held.destroy();
    } finally {
      await old?.cleanup();
      await successor?.cleanup();
      v1.close();
      v2.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a listener removed from the config stops accepting after the hand-over', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort, removedPort] = [await closedPort(), await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const unixPath = join(dir, 'proxy.sock');
    const removed = { name: 'removed', address: `127.0.0.1:${removedPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up' } }] }] };
    let old: MosnodeProcess | undefined;
    let successor: MosnodeProcess | undefined;
    try {
      old = await startMosnode(config({ tcpPort, unixPath, adminPort, upstream: echo.port, extra: [removed] }), { dir });
      assert.equal(await exchange(removedPort, 'x'), 'x');
      successor = await startMosnode(config({ tcpPort, unixPath, adminPort, upstream: echo.port }), { dir });
      await successor.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      assert.ok(successor.logs.some((l) => l.msg === 'hot upgrade: closing an inherited socket no listener uses'));
      await old.exited;
      await assert.rejects(exchange(removedPort, 'y'), /ECONNREFUSED|connect/);
    } finally {
      await old?.cleanup();
      await successor?.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGHUP starts a successor that takes over; the old process exits 0', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    let old: MosnodeProcess | undefined;
    try {
      old = await startMosnode(config({ tcpPort, unixPath: join(dir, 'p.sock'), adminPort, upstream: echo.port }), { dir });
      old.signal('SIGHUP');
      assert.deepEqual(await old.exited, { code: 0, signal: null });
      const successorPid = Number(readFileSync(join(dir, 'mosnode.pid'), 'utf8').trim());
      assert.notEqual(successorPid, old.child.pid);
      assert.equal(await states(adminPort), `pid=${successorPid}&state=6`);
      assert.equal(await exchange(tcpPort, 'after HUP'), 'after HUP');
    } finally {
      await old?.cleanup(); // also kills the successor named in the pid file
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rollback: a successor that fails to start leaves the old process serving', async () => {
    const echo = await startEchoServer();
    const blocker = createNetServer();
    const busyPort = await listen(blocker);
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const unixPath = join(dir, 'p.sock');
    let old: MosnodeProcess | undefined;
    try {
      old = await startMosnode(config({ tcpPort, unixPath, adminPort, upstream: echo.port }), { dir });
      // The successor's config is valid, but one of its new listeners cannot bind.
      const bad = { name: 'busy', address: `127.0.0.1:${busyPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up' } }] }] };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config({ tcpPort, unixPath, adminPort, upstream: echo.port, extra: [bad] })));
      const r = await runMosnode(['start', '-c', join(dir, 'config.json')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /address already in use/);
      await old.waitForLog((l) => l.msg === 'hot upgrade: rolled back; this process keeps serving');
      assert.equal(await exchange(tcpPort, 'still old'), 'still old');
      assert.equal(await exchange(unixPath, 'unix too'), 'unix too');
      assert.equal(await states(adminPort), `pid=${old.child.pid}&state=6`);
      assert.equal(old.child.exitCode, null, 'the old process is still running');
      // ...and can still be upgraded afterwards.
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config({ tcpPort, unixPath, adminPort, upstream: echo.port })));
      const next = await startMosnode(readFileSync(join(dir, 'config.json'), 'utf8'), { dir });
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      await old.exited;
      await next.cleanup();
    } finally {
      await old?.cleanup();
      blocker.close();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stale reconfig.sock and listen.sock from a killed process are replaced', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    let crashed: MosnodeProcess | undefined;
    let fresh: MosnodeProcess | undefined;
    try {
      crashed = await startMosnode(config({ tcpPort, unixPath: join(dir, 'p.sock'), adminPort, upstream: echo.port }), { dir });
      crashed.signal('SIGKILL');
      await crashed.exited;
      assert.ok(existsSync(join(dir, 'reconfig.sock')), 'SIGKILL leaves reconfig.sock behind');
      writeFileSync(join(dir, 'listen.sock'), 'not a socket');
      fresh = await startMosnode(readFileSync(join(dir, 'config.json'), 'utf8'), { dir });
      assert.ok(fresh.logs.some((l) => l.msg === 'hot upgrade: stale reconfig.sock (no process answers); starting fresh'));
      assert.equal(await exchange(tcpPort, 'fresh'), 'fresh');
      // The fresh process can itself be upgraded: its reconfig.sock is live.
      const next = await startMosnode(readFileSync(join(dir, 'config.json'), 'utf8'), { dir });
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      await fresh.exited;
      await next.cleanup();
    } finally {
      await crashed?.cleanup();
      await fresh?.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('disable_upgrade: a second start does not take over and fails to bind', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const c = { ...config({ tcpPort, unixPath: join(dir, 'p.sock'), adminPort, upstream: echo.port }), disable_upgrade: true };
    let first: MosnodeProcess | undefined;
    try {
      first = await startMosnode(c, { dir });
      assert.equal(existsSync(join(dir, 'reconfig.sock')), false);
      const r = await runMosnode(['start', '-c', join(dir, 'config.json')]);
      assert.equal(r.code, 1);
      assert.equal(await exchange(tcpPort, 'first'), 'first');
    } finally {
      await first?.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('HTTP keep-alive and new-connection requests all succeed across two upgrades', async () => {
    const origin = (await import('node:http')).createServer((_req, res) => res.end('ok'));
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const originPort = (origin.address() as { port: number }).port;
    const [httpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const c = {
      servers: [{
        default_log_path: 'stdout', graceful_timeout: '2s',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
        listeners: [{ name: 'http', address: `127.0.0.1:${httpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] }],
      }],
      cluster_manager: { clusters: [{ name: 'origin', hosts: [{ address: `127.0.0.1:${originPort}` }] }] },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    };
    const procs: MosnodeProcess[] = [];
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const get = (a: Agent | false): Promise<void> => new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: httpPort, path: '/', agent: a }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => { if (res.statusCode === 200 && body === 'ok') ok++; else failures.push(`status ${res.statusCode}`); resolve(); });
      });
      req.on('error', (err: NodeJS.ErrnoException) => { failures.push(err.code ?? err.message); resolve(); });
      req.end();
    });
    try {
      procs.push(await startMosnode(c, { dir }));
      const loops = [agent, agent, agent, agent, false as const].map(async (a) => { while (running) await get(a); });
      for (let i = 0; i < 2; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const next = await startMosnode(c, { dir });
        await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
        await procs.at(-1)!.exited;
        procs.push(next);
      }
      await new Promise((r) => setTimeout(r, 300));
      running = false;
      await Promise.all(loops);
      assert.deepEqual(failures, []);
      assert.ok(ok > 100, `only ${ok} requests went through`);
    } finally {
      running = false;
      agent.destroy();
      for (const p of procs) await p.cleanup();
      origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('migration: an idle HTTP/1 keep-alive connection and a TCP-proxy session survive the old process, same sockets', async () => {
    const origin = (await import('node:http')).createServer((_req, res) => res.end(`ok from ${res.req.url}`));
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const upstreamConnections = new Set<Socket>();
    const echo = createNetServer((s) => { upstreamConnections.add(s); s.on('error', () => {}); s.pipe(s); });
    const echoPort = await listen(echo);
    const [httpPort, tcpPort, adminPort] = [await closedPort(), await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const c = {
      servers: [{
        default_log_path: 'stdout', graceful_timeout: '20s',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
        listeners: [
          { name: 'http', address: `127.0.0.1:${httpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] },
          { name: 'tcp', address: `127.0.0.1:${tcpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }] },
        ],
      }],
      cluster_manager: { clusters: [
        { name: 'origin', hosts: [{ address: `127.0.0.1:${(origin.address() as { port: number }).port}` }] },
        { name: 'echo', hosts: [{ address: `127.0.0.1:${echoPort}` }] },
      ] },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    };
    const procs: MosnodeProcess[] = [];
    try {
      procs.push(await startMosnode(c, { dir }));
      const http = connect(httpPort, '127.0.0.1');
      const tcp = connect(tcpPort, '127.0.0.1');
      for (const s of [http, tcp]) { s.on('error', () => {}); await once(s, 'connect'); }
      const httpClosed = once(http, 'close');
      const tcpClosed = once(tcp, 'close');
      const ask = async (path: string): Promise<string> => {
        http.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        return String((await once(http, 'data'))[0]);
      };
      const echoOnce = async (text: string): Promise<string> => {
        tcp.write(text);
        return String((await once(tcp, 'data'))[0]);
      };
      assert.match(await ask('/before'), /ok from \/before$/);
      assert.equal(await echoOnce('before'), 'before');

      const next = await startMosnode(c, { dir });
      procs.push(next);
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      // With a 20 s drain, the old process exits soon only because nothing was left to drain.
      const started = Date.now();
      assert.deepEqual(await procs[0]!.exited, { code: 0, signal: null });
      assert.ok(Date.now() - started < 5000, `old process took ${Date.now() - started} ms to exit`);
      await procs[0]!.waitForLog((l) => l.msg === 'connection migration: done' && l.migrated === 2);
      await next.waitForLog((l) => l.msg === 'connection migration: connections adopted from the previous process' && l.connections === 2);

      // The very same client sockets go on, now served by the new process.
      const afterHttp = await ask('/after');
      assert.match(afterHttp, /^HTTP\/1\.1 200/);
      assert.match(afterHttp, /ok from \/after$/);
      assert.doesNotMatch(afterHttp, /connection: close/i);
      assert.equal(await echoOnce('after'), 'after');
      assert.equal(upstreamConnections.size, 1, 'the upstream TCP connection migrated too: no reconnect');
      assert.equal(http.destroyed || tcp.destroyed, false);
      http.destroy();
      tcp.destroy();
      await Promise.all([httpClosed, tcpClosed]);
    } finally {
      for (const p of procs) await p.cleanup();
      origin.closeAllConnections();
      origin.close();
      for (const s of upstreamConnections) s.destroy();
      echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('inherit_old_mosnconfig: the successor takes the running process\'s config instead of its file', async () => {
    const [httpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const withBody = (body: string, inherit: boolean) => ({
      ...(inherit && { inherit_old_mosnconfig: true }),
      servers: [{
        default_log_path: 'stdout', graceful_timeout: '2s',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, direct_response: { status: 200, body } }] }] }],
        listeners: [{ name: 'http', address: `127.0.0.1:${httpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] }],
      }],
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    });
    let old: MosnodeProcess | undefined;
    let next: MosnodeProcess | undefined;
    try {
      old = await startMosnode(withBody('A', false), { dir });
      const mode = (await import('node:fs')).statSync(join(dir, 'mosnconfig.sock')).mode & 0o777;
      assert.equal(mode, 0o600, 'the config (with its secrets) is readable by its owner only');
      next = await startMosnode(withBody('B', true), { dir });
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      assert.ok(next.logs.some((l) => l.msg === "inherit_old_mosnconfig: using the running process's config"));
      assert.equal(await (await fetch(`http://127.0.0.1:${httpPort}/`)).text(), 'A');
      await old.exited;
    } finally {
      await old?.cleanup();
      await next?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a SIGHUP right after a takeover upgrades again instead of killing the new process; SIGHUP to the draining one is ignored', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const procs: MosnodeProcess[] = [];
    try {
      procs.push(await startMosnode(config({ tcpPort, unixPath: join(dir, 'p.sock'), adminPort, upstream: echo.port }), { dir }));
      const next = await startMosnode(readFileSync(join(dir, 'config.json'), 'utf8'), { dir, waitRunning: false });
      procs.push(next);
      // As early as the new process has a pid file: the old one is draining by then.
      await next.waitForLog((l) => l.msg === 'mosnode is running');
      next.signal('SIGHUP');
      procs[0]!.signal('SIGHUP');
      await procs[0]!.exited;
      const exitedNext = await next.exited;
      assert.deepEqual(exitedNext, { code: 0, signal: null }, 'the new process was not killed by the signal');
      // The old process, handing over or draining, must not start a successor of its own
      // (it may also be exiting when the signal lands, so its log line is not waited for).
      assert.ok(!procs[0]!.logs.some((l) => l.msg === 'SIGHUP: started a successor for a hot upgrade'));
      // The third process writes its pid file once acknowledged; poll for it.
      let third = 0;
      for (let i = 0; i < 200 && (third === 0 || third === next.child.pid); i++) {
        try { third = Number(readFileSync(join(dir, 'mosnode.pid'), 'utf8').trim()); } catch { third = 0; }
        if (third === 0 || third === next.child.pid) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(third > 0 && third !== next.child.pid, `a third process took over (pid file: ${third})`);
      assert.equal(await states(adminPort), `pid=${third}&state=6`);
      assert.equal(await exchange(tcpPort, 'third'), 'third');
    } finally {
      for (const p of procs) await p.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bare or silent client on reconfig.sock starts no hand-over and does not hold a real one', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const procs: MosnodeProcess[] = [];
    const lingering: Socket[] = [];
    try {
      procs.push(await startMosnode(config({ tcpPort, unixPath: join(dir, 'p.sock'), adminPort, upstream: echo.port }), { dir }));
      for (let i = 0; i < 2; i++) {
        const s = connect({ path: join(dir, 'reconfig.sock'), allowHalfOpen: true });
        s.on('error', () => {});
        lingering.push(s);
      }
      lingering[1]!.write('GET / HTTP/1.1\r\n\r\n');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await states(adminPort), `pid=${procs[0]!.child.pid}&state=6`, 'still Running, not Upgrading');
      const next = await startMosnode(readFileSync(join(dir, 'config.json'), 'utf8'), { dir });
      procs.push(next);
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      assert.ok(!next.logs.some((l) => /no acknowledgement/.test(String(l.msg))));
      assert.deepEqual(await procs[0]!.exited, { code: 0, signal: null });
    } finally {
      for (const s of lingering) s.destroy();
      for (const p of procs) await p.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a migrated TCP session is refused by a listener that now runs another protocol, and drained by the old process', async () => {
    const upstreamConnections = new Set<Socket>();
    const echo = createNetServer((s) => { upstreamConnections.add(s); s.on('close', () => upstreamConnections.delete(s)); s.on('error', () => {}); s.pipe(s); });
    const echoPort = await listen(echo);
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const tcpChain = { filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up' } }] }] };
    const httpChain = { filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] };
    const make = (chain: object) => ({
      servers: [{
        default_log_path: 'stdout', graceful_timeout: '1s',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'http now' } }] }] }],
        listeners: [{ name: 'l', address: `127.0.0.1:${tcpPort}`, bind_port: true, ...chain }],
      }],
      cluster_manager: { clusters: [{ name: 'up', hosts: [{ address: `127.0.0.1:${echoPort}` }] }] },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    });
    const procs: MosnodeProcess[] = [];
    try {
      procs.push(await startMosnode(make(tcpChain), { dir }));
      const held = connect(tcpPort, '127.0.0.1');
      held.on('error', () => {});
      await once(held, 'connect');
      held.write('x');
      await once(held, 'data');
      const heldClosed = once(held, 'close');
      procs.push(await startMosnode(make(httpChain), { dir }));
      await procs[1]!.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      await procs[0]!.waitForLog((l) => l.msg === 'connection migration: done' && l.refused === 1);
      await heldClosed; // drained by the old process at its 1 s deadline
      assert.equal(await (await fetch(`http://127.0.0.1:${tcpPort}/`)).text(), 'http now');
      await procs[0]!.exited;
      for (let i = 0; i < 50 && upstreamConnections.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(upstreamConnections.size, 0, 'no upstream connection leaked');
    } finally {
      for (const p of procs) await p.cleanup();
      echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('admin scrapes on keep-alive connections do not fail across a hand-over', async () => {
    const echo = await startEchoServer();
    const [tcpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-'));
    const procs: MosnodeProcess[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    let running = true;
    const failures: string[] = [];
    let ok = 0;
    try {
      procs.push(await startMosnode(config({ tcpPort, unixPath: join(dir, 'p.sock'), adminPort, upstream: echo.port }), { dir }));
      const scrape = (): Promise<void> => new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port: adminPort, path: '/api/v1/stats', agent }, (res) => {
          res.resume();
          res.on('end', () => { if (res.statusCode === 200) ok++; else failures.push(String(res.statusCode)); resolve(); });
        });
        req.on('error', (err: NodeJS.ErrnoException) => { failures.push(err.code ?? err.message); resolve(); });
        req.end();
      });
      const loops = [0, 1].map(async () => { while (running) await scrape(); });
      await new Promise((r) => setTimeout(r, 200));
      procs.push(await startMosnode(readFileSync(join(dir, 'config.json'), 'utf8'), { dir }));
      await procs[1]!.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      await procs[0]!.exited;
      await new Promise((r) => setTimeout(r, 200));
      running = false;
      await Promise.all(loops);
      assert.deepEqual(failures, []);
      assert.ok(ok > 20);
    } finally {
      running = false;
      agent.destroy();
      for (const p of procs) await p.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

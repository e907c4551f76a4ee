/**
 * servers[0].processor > 1: a primary that holds the listening sockets and serves admin,
 * and worker processes that accept on them. Real processes, real sockets: which worker
 * gets a connection is steered by stopping the other one (SIGSTOP), so each assertion
 * knows where its connections live.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createServer, request } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { closedPort } from '../helpers/servers.ts';
import { sleep } from '../helpers/sockets.ts';

/** Polls `predicate` (sync or async) until true; fails after `timeoutMs`. */
async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${predicate.toString().slice(0, 200)}`);
    await sleep(25);
  }
}

interface WorkersReply {
  processor: number;
  workers: Array<{ index: number; pid: number | null; restarts: number; started_at: string }>;
}

async function workers(adminPort: number): Promise<WorkersReply> {
  return (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/workers`)).json()) as WorkersReply;
}

async function stats(adminPort: number): Promise<Record<string, Record<string, Record<string, string>>>> {
  return (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/stats`)).json()) as Record<string, Record<string, Record<string, string>>>;
}

/** One request on a new connection: status and body, or the error code. */
function getFresh(port: number, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** A raw keep-alive HTTP/1.1 connection, to know exactly which socket a request uses. */
class KeepAlive {
  readonly socket: Socket;
  #buffered = '';
  closed = false;
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.socket.on('data', (d) => (this.#buffered += d));
    this.socket.on('close', () => (this.closed = true));
  }
  /** Sends a GET and resolves with the status line, or 'closed'. */
  async get(): Promise<string> {
    this.#buffered = '';
    this.socket.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
    for (let i = 0; i < 200; i++) {
      const end = this.#buffered.indexOf('\r\n\r\n');
      if (end >= 0) return this.#buffered.slice(0, this.#buffered.indexOf('\r\n'));
      if (this.closed) return 'closed';
      await sleep(10);
    }
    return 'timeout';
  }
}

function directConfig(opts: { processor: number | 'auto'; adminPort: number; gracefulTimeout?: string; cluster?: number }) {
  const route = opts.cluster === undefined
    ? { match: { prefix: '/' }, direct_response: { status: 200, body: 'hi' } }
    : { match: { prefix: '/' }, route: { cluster_name: 'origin' } };
  return {
    servers: [{
      default_log_path: 'stdout',
      graceful_timeout: opts.gracefulTimeout ?? '5s',
      processor: opts.processor,
      routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [route] }] }],
      listeners: [{
        name: 'http', address: '127.0.0.1:0', bind_port: true,
        filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }],
      }],
    }],
    ...(opts.cluster !== undefined && { cluster_manager: { clusters: [{ name: 'origin', hosts: [{ address: `127.0.0.1:${opts.cluster}` }] }] } }),
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: opts.adminPort } } },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The port the primary holds for `listener` (from its log line). */
function heldPort(proc: MosnodeProcess, listener: string): number {
  const line = proc.logs.find((l) => l.msg === 'listening socket held for the workers' && l.listener === listener);
  assert.ok(line, 'the primary logs the socket it holds');
  return Number(String(line.address).split(':').at(-1));
}

/** Runs `body` with worker `pid` stopped (SIGSTOP), so the other worker accepts every connection. */
async function withStopped<T>(pid: number, body: () => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGSTOP');
  try {
    return await body();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('worker processes (servers[0].processor)', () => {
  test('processor 2: two workers accept on the one socket the primary holds; metrics are summed', async () => {
    const adminPort = await closedPort();
    const proc = await startMosnode(directConfig({ processor: 2, adminPort }));
    try {
      const port = heldPort(proc, 'http');
      const list = await workers(adminPort);
      assert.equal(list.processor, 2);
      const pids = list.workers.map((w) => w.pid!);
      assert.equal(pids.length, 2);
      for (const pid of pids) assert.ok(alive(pid) && pid !== proc.child.pid);
      // Each worker serves alone while the other one is stopped: both accept on the socket.
      for (const stopped of pids) {
        const results = await withStopped(stopped, () => Promise.all(Array.from({ length: 10 }, () => getFresh(port))));
        assert.deepEqual(results, Array(10).fill('200 hi'));
      }
      // Counted by two processes into the shared zone, shown by the primary's admin API.
      // (request_200_total moves when a response has finished, a moment after the client has it.)
      await until(async () => {
        const listener = (await stats(adminPort))['downstream']?.['listener.http'];
        return listener?.['request_total'] === '20' && listener['request_200_total'] === '20';
      });
      const s = await stats(adminPort);
      assert.equal(s['workers']?.['server.0']?.['active'], '2');
      assert.equal(s['workers']?.['server.0']?.['restart_total'], '0');
    } finally {
      await proc.cleanup();
    }
  });

  test('a killed worker loses only its own connections; new connections never fail; it is replaced and counted', async () => {
    const adminPort = await closedPort();
    const proc = await startMosnode(directConfig({ processor: 2, adminPort }));
    const conns: KeepAlive[] = [];
    try {
      const port = heldPort(proc, 'http');
      const [w0, w1] = (await workers(adminPort)).workers.map((w) => w.pid!) as [number, number];
      // Three keep-alive connections on each worker, steered by stopping the other one.
      const onW0 = await withStopped(w1, async () => {
        const c = [new KeepAlive(port), new KeepAlive(port), new KeepAlive(port)];
        for (const k of c) assert.equal(await k.get(), 'HTTP/1.1 200 OK');
        return c;
      });
      const onW1 = await withStopped(w0, async () => {
        const c = [new KeepAlive(port), new KeepAlive(port), new KeepAlive(port)];
        for (const k of c) assert.equal(await k.get(), 'HTTP/1.1 200 OK');
        return c;
      });
      conns.push(...onW0, ...onW1);

      process.kill(w0, 'SIGKILL');
      // New connections keep working at once, before the replacement is up.
      const during = await Promise.all(Array.from({ length: 20 }, () => getFresh(port)));
      assert.deepEqual(during, Array(20).fill('200 hi'));
      await until(() => onW0.every((k) => k.closed));
      for (const k of onW1) assert.equal(await k.get(), 'HTTP/1.1 200 OK', 'connections of the other worker go on');

      await until(async () => {
        const w = (await workers(adminPort)).workers[0]!;
        return w.restarts === 1 && w.pid !== null && w.pid !== w0;
      });
      const replacement = (await workers(adminPort)).workers[0]!.pid!;
      assert.equal((await stats(adminPort))['workers']?.['server.0']?.['restart_total'], '1');
      await proc.waitForLog((l) => l.msg === 'worker process died; its connections are lost; starting a new one on the same sockets' && l.signal === 'SIGKILL');
      // The replacement accepts on the same socket.
      const served = await withStopped(w1, () => getFresh(port));
      assert.equal(served, '200 hi');
      assert.ok(alive(replacement));
    } finally {
      for (const k of conns) k.socket.destroy();
      await proc.cleanup();
    }
  });

  test('SIGTERM: a request in flight in a worker completes, then every process exits 0', async () => {
    const origin = createServer((_req, res) => setTimeout(() => res.end('slow'), 600));
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const adminPort = await closedPort();
    const proc = await startMosnode(directConfig({ processor: 2, adminPort, cluster: (origin.address() as { port: number }).port }));
    try {
      const port = heldPort(proc, 'http');
      const pids = (await workers(adminPort)).workers.map((w) => w.pid!);
      const inFlight = getFresh(port);
      await sleep(150);
      proc.signal('SIGTERM');
      assert.equal(await inFlight, '200 slow');
      const { code } = await proc.exited;
      assert.equal(code, 0);
      await until(() => pids.every((pid) => !alive(pid)));
    } finally {
      await proc.cleanup();
      origin.close();
    }
  });

  test('the primary killed outright: its workers notice and exit', async () => {
    const adminPort = await closedPort();
    const proc = await startMosnode(directConfig({ processor: 2, adminPort }));
    try {
      const pids = (await workers(adminPort)).workers.map((w) => w.pid!);
      proc.signal('SIGKILL');
      await proc.exited;
      await until(() => pids.every((pid) => !alive(pid)), 10_000);
    } finally {
      await proc.cleanup();
    }
  });

  test('hot upgrade from 2 workers to 3 under load: no request fails; the old workers leave', async () => {
    const origin = createServer((_req, res) => res.end('ok'));
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const originPort = (origin.address() as { port: number }).port;
    const [httpPort, adminPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-workers-'));
    const config = (processor: number) => {
      const c = directConfig({ processor, adminPort, gracefulTimeout: '3s', cluster: originPort });
      c.servers[0]!.listeners[0]!.address = `127.0.0.1:${httpPort}`;
      return c;
    };
    const procs: MosnodeProcess[] = [];
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    try {
      procs.push(await startMosnode(config(2), { dir }));
      const oldWorkers = (await workers(adminPort)).workers.map((w) => w.pid!);
      const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 4 });
      const get = (a: typeof agent | false): Promise<void> => new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port: httpPort, path: '/', agent: a }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => { if (res.statusCode === 200 && body === 'ok') ok++; else failures.push(`status ${res.statusCode}`); resolve(); });
        });
        req.on('error', (err: NodeJS.ErrnoException) => { failures.push(err.code ?? err.message); resolve(); });
        req.end();
      });
      const loops = [agent, agent, agent, false as const].map(async (a) => { while (running) await get(a); });
      await sleep(300);
      const next = await startMosnode(config(3), { dir });
      procs.push(next);
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      await procs[0]!.exited;
      await until(() => oldWorkers.every((pid) => !alive(pid)), 15_000);
      const now = await workers(adminPort);
      assert.equal(now.workers.length, 3);
      for (const w of now.workers) assert.ok(w.pid !== null && alive(w.pid) && !oldWorkers.includes(w.pid));
      await sleep(300);
      running = false;
      await Promise.all(loops);
      agent.destroy();
      assert.deepEqual(failures, []);
      assert.ok(ok > 100, `only ${ok} requests went through`);
    } finally {
      running = false;
      for (const p of procs) await p.cleanup();
      origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * How should worker processes share a listener? One listening socket that every worker
 * accepts on (what mosnode does), or one SO_REUSEPORT socket per worker (the kernel
 * hashes each connection to one)? Measured with two plain node:http workers (the sharing
 * is the same whatever the worker runs), each limited to QUOTA of a core through a cgroup
 * when run as root (so wrk on cpu 0 is not the limit), for keep-alive load and for one
 * connection per request.
 *
 *   node bench/worker-sockets.ts
 *   QUOTA=0.3 DURATION=6 ROUNDS=3 node bench/worker-sockets.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './lib/proc.ts';
import { tcpListen, closeFd } from '../src/core/native.ts';

const DURATION_S = Number(process.env.DURATION ?? 6);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const QUOTA = Number(process.env.QUOTA ?? 0.3);
const CGROUP_CPU = '/sys/fs/cgroup/cpu';

if (process.argv[2] === 'worker') {
  // A worker: serves on fd 4, reports its request and connection counts when asked.
  let requests = 0;
  let connections = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.end('hello, world\n');
  });
  server.on('connection', () => connections++);
  server.keepAliveTimeout = 60_000;
  server.listen({ fd: 4 });
  process.on('message', () => {
    process.send!({ requests, connections });
    process.exit(0);
  });
} else {
  await main();
}

function throttle(pid: number, name: string): string | undefined {
  if (process.getuid?.() !== 0 || !existsSync(join(CGROUP_CPU, 'cpu.cfs_quota_us'))) return undefined;
  const dir = join(CGROUP_CPU, `mosnode-bench-${name}`);
  try {
    if (!existsSync(dir)) mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round(QUOTA * 100000)));
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    return dir;
  } catch {
    return undefined;
  }
}

function release(dir: string | undefined): void {
  if (dir === undefined) return;
  try {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) writeFileSync(join(CGROUP_CPU, 'cgroup.procs'), pid);
    rmdirSync(dir);
  } catch { /* gone */ }
}

interface Result { rps: number; requests: number[]; connections: number[] }

async function run(mode: 'shared' | 'reuseport', close: boolean): Promise<Result> {
  const port = await freePort();
  const fds = mode === 'shared'
    ? [tcpListen('127.0.0.1', port, 1024, false)]
    : [tcpListen('127.0.0.1', port, 1024, true), tcpListen('127.0.0.1', port, 1024, true)];
  const workers: ChildProcess[] = [0, 1].map((i) => spawn(process.execPath, [import.meta.filename, 'worker'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', fds[mode === 'shared' ? 0 : i]!],
  }));
  // The workers hold their copies; ours can go.
  for (const fd of fds) closeFd(fd);
  const groups = workers.map((w, i) => throttle(w.pid!, `sock${i}`));
  try {
    await new Promise((r) => setTimeout(r, 500));
    const wrk = spawn('taskset', ['-c', '0', 'wrk', '-t1', '-c50', `-d${DURATION_S}s`, ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    wrk.stdout!.on('data', (d) => (out += d));
    await once(wrk, 'exit');
    const counts = await Promise.all(workers.map((w) => new Promise<{ requests: number; connections: number }>((resolve) => {
      w.once('message', (m) => resolve(m as { requests: number; connections: number }));
      w.send('count');
    })));
    return {
      rps: Number(/Requests\/sec:\s+(\S+)/.exec(out)?.[1] ?? NaN),
      requests: counts.map((c) => c.requests),
      connections: counts.map((c) => c.connections),
    };
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill();
    await new Promise((r) => setTimeout(r, 200));
    for (const g of groups) release(g);
  }
}

async function main(): Promise<void> {
  console.log(`2 node:http workers, wrk -c50 on cpu 0, ${DURATION_S} s x ${ROUNDS} rounds (interleaved); worker quota ${process.getuid?.() === 0 ? `${QUOTA} core each` : 'none (not root)'}`);
  console.log('\n| load | sharing | req/s (each round) | requests per worker, % on the busier (each round) | connections per worker (each round) |');
  console.log('|---|---|---|---|---|');
  for (const close of [false, true]) {
    const results: Record<string, Result[]> = { shared: [], reuseport: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['shared', 'reuseport'] as const) results[mode]!.push(await run(mode, close));
    }
    for (const mode of ['shared', 'reuseport'] as const) {
      const rs = results[mode]!;
      const share = (r: Result): string => `${(100 * Math.max(...r.requests) / r.requests.reduce((a, b) => a + b, 0)).toFixed(0)}%`;
      console.log(`| ${close ? 'new connection per request' : 'keep-alive'} | ${mode} | ${rs.map((r) => r.rps.toFixed(0)).join(', ')} | ${rs.map(share).join(', ')} | ${rs.map((r) => r.connections.join('/')).join(', ')} |`);
    }
  }
}

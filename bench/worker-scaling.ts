/**
 * Worker processes (servers[0].processor): does throughput scale with workers, and how do
 * connections spread over them? Two questions, two tables.
 *
 *   node bench/worker-scaling.ts            (root: uses cgroup v1 cpu quotas; see below)
 *   QUOTA=0.25 DURATION=8 ROUNDS=3 node bench/worker-scaling.ts
 *
 * 1. Scaling. This machine has 2 cores, and the load generator and the origin need CPU
 *    too, so "2 workers on 2 cores" would measure the machine, not mosnode. Instead each
 *    mosnode worker gets the same CPU budget, QUOTA of a core, through its own cgroup
 *    (cpu.cfs_quota_us), so 1 worker uses QUOTA and 2 workers use 2 x QUOTA, and the
 *    load side (wrk + origin) keeps more than a core to itself: it is never the limit,
 *    which the table shows (load-side CPU stays below 100%). Perfect scaling is 2.0x.
 *    processor 1 is the single-process mode (one process does everything), the baseline
 *    a user would compare against. Without root / cgroups: an unthrottled run, marked.
 * 2. Spread. wrk opens 50 keep-alive connections at once: how many does each worker get?
 *    (each worker's socket inodes in /proc/<pid>/fd, matched against /proc/net/tcp
 *    entries on the listener's port.)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort, pin, waitPort } from './lib/proc.ts';

const DURATION_S = Number(process.env.DURATION ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const QUOTA = Number(process.env.QUOTA ?? 0.3);
const CONNS = Number(process.env.CONNS ?? 50);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CGROUP_CPU = '/sys/fs/cgroup/cpu';

function haveCgroups(): boolean {
  if (process.getuid?.() !== 0 || !existsSync(join(CGROUP_CPU, 'cpu.cfs_quota_us'))) return false;
  try {
    mkdirSync(join(CGROUP_CPU, 'mosnode-bench-probe'));
    rmdirSync(join(CGROUP_CPU, 'mosnode-bench-probe'));
    return true;
  } catch {
    return false;
  }
}

/** Puts `pid` (all its threads) in a fresh cgroup limited to `quota` of a core. */
function throttle(pid: number, name: string, quota: number): string {
  const dir = join(CGROUP_CPU, `mosnode-bench-${name}`);
  if (!existsSync(dir)) mkdirSync(dir);
  writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
  writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round(quota * 100000)));
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  return dir;
}

function releaseCgroup(dir: string): void {
  // Processes must leave before the group can go: back to the root group.
  try {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try { writeFileSync(join(CGROUP_CPU, 'cgroup.procs'), pid); } catch { /* gone */ }
    }
    rmdirSync(dir);
  } catch { /* already gone */ }
}

function config(port: number, originPort: number, processor: number, adminPort: number, dir: string): string {
  const path = join(dir, `config-${processor}.json`);
  writeFileSync(path, JSON.stringify({
    servers: [{
      default_log_path: join(dir, 'mosnode.log'), default_log_level: 'WARN', processor,
      routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
      listeners: [{ name: 'bench', address: `127.0.0.1:${port}`, bind_port: true,
        filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: 'r' } }] }] }],
    }],
    cluster_manager: { clusters: [{ name: 'origin', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${originPort}` }] }] },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    disable_upgrade: true,
  }));
  return path;
}

/** The pids that carry traffic: the workers, or the single process. */
async function servingPids(proc: ChildProcess, adminPort: number): Promise<number[]> {
  const reply = (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/workers`)).json()) as { workers: Array<{ pid: number }> };
  return reply.workers.length === 0 ? [proc.pid!] : reply.workers.map((w) => w.pid);
}

/** Established TCP connections of `pid` whose local port is `port`. */
function connectionsOn(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch { /* closed meanwhile */ }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (f[1]!.endsWith(`:${hexPort}`) && f[3] === '01' && inodes.has(f[9]!)) n++;
  }
  return n;
}

interface Run { processor: number; rps: number; workersCpu: number; loadCpu: number; spread: number[] }

async function runOnce(processor: number, originPid: number, originPort: number, dir: string, quota: number | undefined): Promise<Run> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mosnode.js'), 'start', '-c', config(port, originPort, processor, adminPort, dir)], { stdio: 'ignore' });
  const groups: string[] = [];
  try {
    await waitPort(adminPort, proc);
    await waitPort(port, proc);
    const pids = await servingPids(proc, adminPort);
    if (quota !== undefined) pids.forEach((pid, i) => groups.push(throttle(pid, `w${i}`, quota)));
    // Warm-up, then the measured window.
    execFileSync('wrk', ['-t1', `-c${CONNS}`, '-d2s', `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
    const cpu0 = pids.map(cpuSeconds);
    const load0 = cpuSeconds(originPid);
    const t0 = Date.now();
    const wrk = spawn('taskset', ['-c', '0', 'wrk', '-t1', `-c${CONNS}`, `-d${DURATION_S}s`, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    wrk.stdout.on('data', (d) => (out += d));
    // Halfway through, count each worker's connections.
    await new Promise((r) => setTimeout(r, (DURATION_S * 1000) / 2));
    const spread = pids.map((pid) => connectionsOn(pid, port));
    await once(wrk, 'exit');
    const seconds = (Date.now() - t0) / 1000;
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const workersCpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpu0[i]!, 0) / seconds;
    return { processor, rps: requests / seconds, workersCpu, loadCpu: (cpuSeconds(originPid) - load0) / seconds, spread };
  } finally {
    proc.kill('SIGINT');
    await once(proc, 'exit').catch(() => {});
    // Workers exit when their primary does.
    await new Promise((r) => setTimeout(r, 300));
    for (const g of groups) releaseCgroup(g);
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-scaling-'));
  // The origin: a Node server in a child process on cpu 0 with wrk (its CPU is the "load side").
  const originPort = await freePort();
  const origin = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('hello, world\\n')).listen(${originPort}, '127.0.0.1')`], { stdio: 'ignore' });
  try {
    await waitPort(originPort, origin);
    pin(origin.pid!, '0');
    const cgroups = haveCgroups();
    const quota = cgroups ? QUOTA : undefined;
    console.log(cgroups
      ? `Each serving process limited to ${QUOTA} of a core (cgroup cpu quota); wrk and the origin on cpu 0. ${ROUNDS} rounds x ${DURATION_S} s, median.`
      : 'NOT THROTTLED (needs root and cgroup v1 cpu): workers compete with wrk and the origin for 2 cores; the ratio shows this machine, not mosnode.');
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const processor of [1, 2]) runs.push(await runOnce(processor, origin.pid!, originPort, dir, quota));
    }
    const rows = [1, 2].map((processor) => {
      const mine = runs.filter((r) => r.processor === processor);
      return {
        processor,
        rps: median(mine.map((r) => r.rps)),
        cpu: median(mine.map((r) => r.workersCpu)),
        load: median(mine.map((r) => r.loadCpu)),
        spread: mine.map((r) => r.spread.join('/')).join(', '),
      };
    });
    if (process.env.RESULT_JSON) writeFileSync(process.env.RESULT_JSON, JSON.stringify({ throttled: cgroups, quota: QUOTA, rows }));
    const base = rows[0]!.rps;
    console.log('\n| processor | req/s | x processor 1 | serving CPU (cores) | origin CPU (cores) | connections per serving process (each round) |');
    console.log('|---:|---:|---:|---:|---:|---|');
    for (const r of rows) {
      console.log(`| ${r.processor} | ${r.rps.toFixed(0)} | ${(r.rps / base).toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.load.toFixed(2)} | ${r.spread} |`);
    }
  } finally {
    origin.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

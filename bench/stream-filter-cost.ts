/**
 * What a stream filter costs per request: mosnode's HTTP/1.1 proxy with no stream filter,
 * then with 1 and 10 empty filters answering synchronously ('Continue') and with a promise
 * (an async function), loaded as a plugin (bench/plugins/empty-filters.mjs). Each variant
 * is a fresh mosnode process pinned to SUT_CPU; the load (undici, CONNS keep-alive
 * connections, one request in flight each) and the upstream run on LOAD_CPU. Variants are
 * interleaved over ROUNDS rounds and the median is kept, since this machine is shared.
 *
 *   npm run build && node bench/stream-filter-cost.ts
 *   DURATION=5 ROUNDS=3 CONNS=32 node bench/stream-filter-cost.ts
 *
 * Prints proxy CPU microseconds per request and the difference per filter from "none".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { cpuSeconds, freePort, percentile, pin, waitPort } from './lib/proc.ts';

const DURATION_S = Number(process.env.DURATION ?? 5);
const WARMUP_S = Number(process.env.WARMUP ?? 1);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONNS = Number(process.env.CONNS ?? 32);
const LOAD_CPU = process.env.LOAD_CPU ?? '0';
const SUT_CPU = process.env.SUT_CPU ?? '1';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PLUGIN = join(ROOT, 'bench/plugins/empty-filters.mjs');

const VARIANTS: ReadonlyArray<{ name: string; filters: string[] }> = [
  { name: 'none', filters: [] },
  { name: '1 sync', filters: ['bench_sync'] },
  { name: '10 sync', filters: Array(10).fill('bench_sync') },
  { name: '1 async', filters: ['bench_async'] },
  { name: '10 async', filters: Array(10).fill('bench_async') },
];

function config(port: number, upstreamPort: number, filters: string[]): object {
  return {
    plugins: [PLUGIN],
    servers: [
      {
        default_log_level: 'ERROR',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
        listeners: [
          {
            name: 'bench',
            address: `127.0.0.1:${port}`,
            bind_port: true,
            filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: 'r' } }] }],
            stream_filters: filters.map((type) => ({ type })),
          },
        ],
      },
    ],
    cluster_manager: { clusters: [{ name: 'origin', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${upstreamPort}` }] }] },
    disable_upgrade: true,
  };
}

/** Requests completed by CONNS loops during `seconds`. */
async function load(port: number, seconds: number): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNS, pipelining: 1 });
  let done = 0;
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      const res = await pool.request({ path: '/', method: 'GET' });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      done++;
    }
  };
  const loops = Array.from({ length: CONNS }, loop);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  await Promise.all(loops);
  await pool.close();
  return done;
}

async function measure(upstreamPort: number, filters: string[]): Promise<{ rps: number; usPerReq: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-bench-filters-'));
  const port = await freePort();
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config(port, upstreamPort, filters)));
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/mosnode.js'), 'start', '-c', file], { stdio: 'ignore' });
  try {
    await waitPort(port, child);
    pin(child.pid!, SUT_CPU);
    await load(port, WARMUP_S);
    const cpu0 = cpuSeconds(child.pid!);
    const started = performance.now();
    const requests = await load(port, DURATION_S);
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(child.pid!) - cpu0;
    return { rps: requests / seconds, usPerReq: (cpu * 1e6) / requests };
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  pin(process.pid, LOAD_CPU);
  const upstreamPort = await freePort();
  const upstream = spawn(
    process.execPath,
    ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${upstreamPort}, '127.0.0.1')`],
    { stdio: 'ignore' },
  );
  try {
    await waitPort(upstreamPort, upstream);
    pin(upstream.pid!, LOAD_CPU);
    const results = new Map<string, Array<{ rps: number; usPerReq: number }>>(VARIANTS.map((v) => [v.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of VARIANTS) {
        const r = await measure(upstreamPort, v.filters);
        results.get(v.name)!.push(r);
        process.stderr.write(`round ${round + 1}/${ROUNDS} ${v.name}: ${r.rps.toFixed(0)} req/s, ${r.usPerReq.toFixed(1)} us/req\n`);
      }
    }
    const median = (name: string, key: 'rps' | 'usPerReq'): number => percentile(results.get(name)!.map((r) => r[key]).sort((a, b) => a - b), 0.5);
    const base = median('none', 'usPerReq');
    console.log(`\nHTTP/1.1 through mosnode, ${CONNS} connections, ${DURATION_S} s x ${ROUNDS} rounds (median)\n`);
    console.log('| stream filters | req/s | proxy CPU us/req | added us/req | per filter us |');
    console.log('|---|---:|---:|---:|---:|');
    for (const v of VARIANTS) {
      const us = median(v.name, 'usPerReq');
      const added = us - base;
      const per = v.filters.length === 0 ? '' : (added / v.filters.length).toFixed(2);
      console.log(`| ${v.name} | ${median(v.name, 'rps').toFixed(0)} | ${us.toFixed(1)} | ${v.filters.length === 0 ? '' : added.toFixed(1)} | ${per} |`);
    }
  } finally {
    upstream.kill('SIGKILL');
  }
}

await main();

/**
 * Do per-request object pools (src/buffer/object-pool.ts) pay for themselves? The same
 * HTTP/1.1 load (POST, BODY bytes, CONNS keep-alive connections) goes through mosnode
 * with MOSNODE_OBJECT_POOLS=0 (plain allocation) and with the pools on, interleaved over
 * ROUNDS rounds in a new random order each round (the machine is shared: medians and
 * per-round ratios, not single runs). With no pool registered (today, see
 * object-pool.ts) both variants run the same code, which shows the noise; register a
 * pool, then run this to judge it.
 *
 * Each run is a fresh mosnode, from src/ (no build needed), pinned to SUT_CPU; the load
 * (wrk when installed, else an undici loop) and the origin (in this process) run on
 * LOAD_CPU. The listener has an access log to /dev/null, so that path runs too.
 *
 * Allocation and GC are measured inside mosnode by a probe this script loads with it: a
 * v8.GCProfiler runs during the measured window. Bytes allocated = the sum over GCs of
 * (heap used before it - heap used after the previous one), plus the growth since the
 * last one; this matched --trace-gc-nvp's `allocated=` totals within 1%. "young-gen" counts
 * new space only, which shrinks only in a GC, so it is exact. GC time = the sum of the
 * pauses the profiler reports: per request, and as a share of the window's wall time.
 *
 *   node bench/object-pools.ts
 *   VARIANTS="0 1 proxy.request-info,proxy.upstream-request" ROUNDS=6 DURATION=4 node bench/object-pools.ts
 *   VARIANTS="0 0@--max-semi-space-size=4" node bench/object-pools.ts
 *
 * VARIANTS (space-separated) are MOSNODE_OBJECT_POOLS values ("0" = none, "1" = all, or
 * pool names, comma-separated), each optionally followed by node flags for mosnode after
 * "@" (several: "@--a@--b"). The first variant is the base of the per-round ratios.
 * DURATION and WARMUP are whole seconds when wrk runs the load; LOAD=undici uses the
 * undici loop even when wrk is there. Two variants with the defaults take about 70 s.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { cpuSeconds, freePort, percentile, pin, waitPort } from './lib/proc.ts';

const DURATION_S = Number(process.env.DURATION ?? 5);
const WARMUP_S = Number(process.env.WARMUP ?? 2);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const CONNS = Number(process.env.CONNS ?? 50);
const BODY_BYTES = Number(process.env.BODY ?? 128);
const LOAD_CPU = process.env.LOAD_CPU ?? '0';
const SUT_CPU = process.env.SUT_CPU ?? '1';
const VARIANTS = (process.env.VARIANTS ?? '0 1').split(/\s+/).filter((v) => v !== '');
const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Probe {
  allocated: number;
  young: number;
  gcCount: number;
  gcMs: number;
  byType: Record<string, { count: number; ms: number }>;
  wallMs: number;
  pools: Array<{ name: string; created: number; reused: number; inUse: number; transmitted: number; dropped: number; doubleGives: number }>;
}

interface Run {
  rps: number;
  usPerReq: number;
  bytesPerReq: number;
  youngPerReq: number;
  gcPerKReq: number;
  gcUsPerReq: number;
  gcShare: number;
  p50: number;
  p99: number;
  probe: Probe;
}

/**
 * Runs mosnode's CLI in a process that also answers "start"/"stop" over IPC with what a
 * GCProfiler saw in between. Only this benchmark loads it.
 */
const PROBE = `
import { GCProfiler, getHeapStatistics, getHeapSpaceStatistics } from 'node:v8';
const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/cli/main.ts')).href)});
// The pool registry's counters, when there is one.
const objectPools = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/buffer/object-pool.ts')).href)}).then((m) => m.objectPools, () => undefined);
let profiler, used0, young0, t0;
// New space only grows between GCs, so its growth is exact; other spaces shrink while
// a mark-compact's sweeping goes on, which the total (all spaces) may undercount a little.
const YOUNG = new Set(['new_space', 'new_large_object_space']);
const youngOf = (spaces) => spaces.reduce((n, s) => (YOUNG.has(s.spaceName) ? n + s.spaceUsedSize : n), 0);
const youngNow = () => getHeapSpaceStatistics().reduce((n, s) => (YOUNG.has(s.space_name) ? n + s.space_used_size : n), 0);
process.on('message', (m) => {
  if (m === 'start') {
    profiler = new GCProfiler();
    used0 = getHeapStatistics().used_heap_size;
    young0 = youngNow();
    t0 = performance.now();
    profiler.start();
    process.send('started');
  } else if (m === 'stop') {
    const data = profiler.stop();
    const wallMs = performance.now() - t0;
    let prev = used0, allocated = 0, gcMs = 0;
    let youngPrev = young0, young = 0;
    const byType = {};
    for (const s of data.statistics) {
      allocated += s.beforeGC.heapStatistics.usedHeapSize - prev;
      prev = s.afterGC.heapStatistics.usedHeapSize;
      young += youngOf(s.beforeGC.heapSpaceStatistics) - youngPrev;
      youngPrev = youngOf(s.afterGC.heapSpaceStatistics);
      gcMs += s.cost / 1000;
      const t = (byType[s.gcType] ??= { count: 0, ms: 0 });
      t.count++;
      t.ms += s.cost / 1000;
    }
    allocated += getHeapStatistics().used_heap_size - prev;
    young += youngNow() - youngPrev;
    process.send({ allocated, young, gcCount: data.statistics.length, gcMs, byType, wallMs, pools: objectPools?.stats() ?? [] });
  }
});
process.channel.unref();
const code = await main(process.argv.slice(1));
if (code !== undefined) process.exitCode = code;
`;

function config(port: number, upstreamPort: number): object {
  return {
    servers: [
      {
        default_log_level: 'ERROR',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
        listeners: [
          {
            name: 'bench',
            address: `127.0.0.1:${port}`,
            bind_port: true,
            access_logs: [{ log_path: '/dev/null' }],
            filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: 'r' } }] }],
          },
        ],
      },
    ],
    cluster_manager: { clusters: [{ name: 'origin', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${upstreamPort}` }] }] },
    disable_upgrade: true,
  };
}

function hasWrk(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Load {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** wrk's "50%  1.23ms" lines, in ms. */
function wrkLatency(out: string, label: string): number {
  const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function wrkLoad(port: number, seconds: number, script: string): Promise<Load> {
  const child = spawn('taskset', ['-c', LOAD_CPU, 'wrk', '-t1', `-c${CONNS}`, `-d${Math.max(1, Math.round(seconds))}s`, '--latency', '-s', script, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${out}`);
  const m = /(\d+) requests in ([\d.]+)(ms|s)/.exec(out);
  if (m === null) throw new Error(`unexpected wrk output:\n${out}`);
  if (/Non-2xx/.test(out) || /Socket errors/.test(out) || Number(m[1]) === 0) throw new Error(`wrk saw errors:\n${out}`);
  return { requests: Number(m[1]), seconds: m[3] === 'ms' ? Number(m[2]) / 1000 : Number(m[2]), p50: wrkLatency(out, '50'), p99: wrkLatency(out, '99') };
}

/** Without wrk: CONNS keep-alive loops, one request in flight each. */
async function undiciLoad(port: number, seconds: number): Promise<Load> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNS, pipelining: 1 });
  const body = Buffer.alloc(BODY_BYTES, 'x');
  const latencies: number[] = [];
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      const t = performance.now();
      const res = await pool.request({ path: '/', method: 'POST', body, headers: { 'content-type': 'text/plain' } });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      latencies.push(performance.now() - t);
    }
  };
  const started = performance.now();
  const loops = Array.from({ length: CONNS }, loop);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  await Promise.all(loops);
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, seconds: elapsed, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function ask(child: ChildProcess, message: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (): void => reject(new Error('mosnode exited'));
    child.once('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

async function measure(dir: string, upstreamPort: number, variant: string, load: (port: number, seconds: number) => Promise<Load>): Promise<Run> {
  const [pools = '', ...flags] = variant.split('@');
  const port = await freePort();
  const file = join(dir, `config-${port}.json`);
  writeFileSync(file, JSON.stringify(config(port, upstreamPort)));
  const logFile = join(dir, `mosnode-${port}.log`);
  const log = openSync(logFile, 'w');
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', PROBE, 'start', '-c', file], {
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, MOSNODE_OBJECT_POOLS: pools },
  });
  closeSync(log);
  try {
    await waitPort(port, child);
    pin(child.pid!, SUT_CPU);
    await load(port, WARMUP_S);
    await ask(child, 'start');
    const cpu0 = cpuSeconds(child.pid!);
    const l = await load(port, DURATION_S);
    const cpu = cpuSeconds(child.pid!) - cpu0;
    const probe = (await ask(child, 'stop')) as Probe;
    return {
      rps: l.requests / l.seconds,
      usPerReq: (cpu * 1e6) / l.requests,
      bytesPerReq: probe.allocated / l.requests,
      youngPerReq: probe.young / l.requests,
      gcPerKReq: (probe.gcCount * 1000) / l.requests,
      gcUsPerReq: (probe.gcMs * 1000) / l.requests,
      gcShare: probe.gcMs / probe.wallMs,
      p50: l.p50,
      p99: l.p99,
      probe,
    };
  } catch (err) {
    process.stderr.write(`mosnode (${variant}) output:\n${readFileSync(logFile, 'utf8').slice(-4000)}\n`);
    throw err;
  } finally {
    child.kill('SIGKILL');
    rmSync(file, { force: true });
    rmSync(logFile, { force: true });
  }
}

async function main(): Promise<void> {
  pin(process.pid, LOAD_CPU);
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-bench-pools-'));
  const origin = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const upstreamPort = (origin.address() as { port: number }).port;
  const wrk = process.env.LOAD !== 'undici' && hasWrk();
  let load = (port: number, seconds: number): Promise<Load> => undiciLoad(port, seconds);
  if (wrk) {
    const script = join(dir, 'post.lua');
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = string.rep("x", ${BODY_BYTES})\nwrk.headers["Content-Type"] = "text/plain"\n`);
    load = (port, seconds) => wrkLoad(port, seconds, script);
  }
  const results = new Map<string, Run[]>(VARIANTS.map((v) => [v, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // A new random order each round: whatever else runs on the machine favours no variant.
      const order = shuffled(VARIANTS);
      for (const v of order) {
        const r = await measure(dir, upstreamPort, v, load);
        results.get(v)!.push(r);
        process.stderr.write(
          `round ${round + 1}/${ROUNDS} ${v}: ${r.rps.toFixed(0)} req/s, ${r.usPerReq.toFixed(1)} us/req, ${r.bytesPerReq.toFixed(0)} B/req (young ${r.youngPerReq.toFixed(0)}), ` +
            `GC ${(r.gcShare * 100).toFixed(2)}% (${Object.entries(r.probe.byType).map(([t, g]) => `${t} ${g.count}x ${(g.ms / g.count).toFixed(1)} ms`).join(', ')}), p99 ${r.p99.toFixed(2)} ms` +
            ` | ${r.probe.pools.filter((p) => p.reused > 0 || p.doubleGives > 0).map((p) => `${p.name} reused ${p.reused} created ${p.created}${p.doubleGives > 0 ? ` DOUBLE ${p.doubleGives}` : ''}`).join(', ')}\n`,
        );
      }
    }
  } finally {
    origin.close();
    origin.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (v: string, key: Exclude<keyof Run, 'probe'>): number => percentile(results.get(v)!.map((r) => r[key]).sort((a, b) => a - b), 0.5);
  const name = (v: string): string => {
    const [pools = '', ...flags] = v.split('@');
    const label = pools === '0' || pools === 'off' ? 'pools off' : pools === '1' || pools === 'on' ? 'pools on (all)' : `pools on: ${pools}`;
    return flags.length === 0 ? label : `${label}, ${flags.join(' ')}`;
  };
  console.log(`\nHTTP/1.1 POST ${BODY_BYTES} B through mosnode, ${CONNS} connections (${wrk ? 'wrk' : 'undici'}), ${DURATION_S} s x ${ROUNDS} rounds, median\n`);
  console.log('| variant | req/s | proxy CPU us/req | allocated B/req | young-gen B/req | GCs per 1k req | GC us/req | GC time share | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const v of VARIANTS) {
    console.log(
      `| ${name(v)} | ${med(v, 'rps').toFixed(0)} | ${med(v, 'usPerReq').toFixed(1)} | ${med(v, 'bytesPerReq').toFixed(0)} | ${med(v, 'youngPerReq').toFixed(0)} | ${med(v, 'gcPerKReq').toFixed(2)} | ${med(v, 'gcUsPerReq').toFixed(2)} | ` +
        `${(med(v, 'gcShare') * 100).toFixed(2)}% | ${med(v, 'p50').toFixed(2)} | ${med(v, 'p99').toFixed(2)} |`,
    );
  }
  // Paired by round against the first variant: the rounds share the machine's mood.
  const base = VARIANTS[0]!;
  if (VARIANTS.length > 1) {
    console.log(`\nPer-round ratio to "${name(base)}", median (min..max):\n`);
    console.log('| variant | req/s | CPU us/req | B/req | young B/req | GC us/req | p99 |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const v of VARIANTS.slice(1)) {
      const cell = (key: Exclude<keyof Run, 'probe'>): string => {
        const ratios = results.get(v)!.map((r, i) => r[key] / results.get(base)![i]![key]).sort((a, b) => a - b);
        return `${percentile(ratios, 0.5).toFixed(3)} (${ratios[0]!.toFixed(3)}..${ratios[ratios.length - 1]!.toFixed(3)})`;
      };
      console.log(`| ${name(v)} | ${cell('rps')} | ${cell('usPerReq')} | ${cell('bytesPerReq')} | ${cell('youngPerReq')} | ${cell('gcUsPerReq')} | ${cell('p99')} |`);
    }
  }
}

await main();

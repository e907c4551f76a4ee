/**
 * Does the byte pool (src/buffer/) pay for itself? Three tables, variants side by side:
 *
 * 1. Per size class, ns per buffer: pooled acquire+release (reuse) vs Buffer.allocUnsafe
 *    vs Buffer.alloc, each touching the buffer like a read would (first and last byte),
 *    with the GC time the loop caused; and, for a pool miss, a fresh buffer carved from a
 *    64 KiB slab vs one Buffer.allocUnsafeSlow each (why the pool uses slabs).
 * 2. Collecting a connection's first bytes (protocol sniffing, listener filters peeking):
 *    Buffer.concat as src/protocol/sniff.ts and src/network/listener-filter-runner.ts do,
 *    vs an IoBuffer, for 1, 2 and 4 chunks (why those two files keep Buffer.concat).
 * 3. tcp_proxy with the upstream socket reading into pooled buffers (onread) vs plain
 *    'data' events (MOSNODE_TCP_ONREAD=0): two proxy processes from src/ (this file run
 *    with --proxy), pinned to SUT_CPU, measured in interleaved rounds: a bulk download
 *    (upstream -> client, the direction onread reads) in MB/s, proxy CPU ms per GB, GC
 *    count and ms in the proxy per GB; ping-pong round trips (64 B and 16 KiB answers)
 *    with p50/p99 and proxy CPU us per trip; and the memory of IDLE_CONNS idle sessions
 *    (RSS growth, and the pooled bytes they hold: an idle session should hold none).
 *
 *   node bench/buffer-pool.ts                 (about 1 minute)
 *   PART=micro node bench/buffer-pool.ts      (tables 1 and 2 only; PART=proxy for 3)
 *   ROUNDS=5 BULK_MB=1024 PING_S=3 IDLE_CONNS=2000 node bench/buffer-pool.ts
 *
 * The proxy under test runs alone on SUT_CPU (default 1); the load generator and the
 * upstream servers run here, on LOAD_CPU (default 0). Medians of ROUNDS rounds are
 * printed; ratios between the two rows are what to compare on a shared machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort, percentile, pin, rssMb, vmRssKb, waitPort } from './lib/proc.ts';
import { pingPong as runPingPong } from './lib/ping-pong.ts';
import { BytePool, sharedBytePool, type BytePoolStats } from '../src/buffer/byte-pool.ts';
import { IoBuffer } from '../src/buffer/io-buffer.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BULK_MB = Number(process.env.BULK_MB ?? 512);
const PING_S = Number(process.env.PING_S ?? 2);
const CONNS = Number(process.env.CONNS ?? 50);
const IDLE_CONNS = Number(process.env.IDLE_CONNS ?? 2000);
const LOAD_CPU = process.env.LOAD_CPU ?? '0';
const SUT_CPU = process.env.SUT_CPU ?? '1';
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------
// GC accounting (this process, and the proxy processes through IPC)

interface GcTotals { count: number; ms: number }

function watchGc(): GcTotals {
  const totals: GcTotals = { count: 0, ms: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as PerformanceEntry[]) {
      totals.count++;
      totals.ms += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  return totals;
}

// ---------------------------------------------------------------------------------------
// 1 and 2: micro-benchmarks in this process

let sink = 0;

/** Median ns per op of `rounds` rounds of `ops` ops, and GC ms per 1000 ops over all rounds. */
async function time(op: () => number, ops: number, rounds = 7): Promise<{ ns: number; gcMsPerKop: number }> {
  for (let i = 0; i < ops; i++) sink += op(); // warm-up
  // Let the GC entries of the warm-up arrive before counting.
  await new Promise((r) => setImmediate(r));
  const gc0 = { ...gcHere };
  const perOp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) sink += op();
    perOp.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  await new Promise((r) => setImmediate(r));
  perOp.sort((a, b) => a - b);
  return { ns: perOp[perOp.length >> 1]!, gcMsPerKop: ((gcHere.ms - gc0.ms) * 1000) / (ops * rounds) };
}

const gcHere = watchGc();

async function microTables(): Promise<string> {
  const out: string[] = [];
  out.push('## 1. A buffer per read: pooled vs allocated (ns per buffer, median; GC ms per 1000 buffers)\n');
  out.push('| size | pool acquire+release | Buffer.allocUnsafe | Buffer.alloc | pool miss: slab carve | pool miss: allocUnsafeSlow each |');
  out.push('|---:|---:|---:|---:|---:|---:|');
  const pool = new BytePool({ strict: false, trimIntervalMs: 0 });
  for (const size of [512, 1024, 4096, 16384, 65536]) {
    const ops = size >= 16384 ? 20_000 : 100_000;
    const pooled = await time(() => {
      const lease = pool.acquire(size);
      const b = lease.bytes;
      b[0] = 1;
      b[size - 1] = 2;
      const v = b[0]! + b[size - 1]!;
      lease.release();
      return v;
    }, ops);
    const unsafe = await time(() => {
      const b = Buffer.allocUnsafe(size);
      b[0] = 1;
      b[size - 1] = 2;
      return b[0] + b[size - 1]!;
    }, ops);
    const zeroed = await time(() => {
      const b = Buffer.alloc(size);
      b[0] = 1;
      return b[0] + b[size - 1]!;
    }, ops);
    // A pool miss: a pool whose free lists never fill, so every acquire makes a buffer.
    const missOps = Math.min(ops, 10_000);
    const slab = size >= 65536 ? { ns: NaN, gcMsPerKop: NaN } : await time(() => {
      const p = new BytePool({ strict: false, trimIntervalMs: 0 });
      let v = 0;
      for (let i = 0; i < 16; i++) v += p.acquire(size).size;
      return v;
    }, missOps / 16, 5);
    const each = await time(() => {
      const p = new BytePool({ strict: false, trimIntervalMs: 0, slabs: false });
      let v = 0;
      for (let i = 0; i < 16; i++) v += p.acquire(size).size;
      return v;
    }, missOps / 16, 5);
    const cell = (r: { ns: number; gcMsPerKop: number }, per = 1): string => `${(r.ns / per).toFixed(0)} (${(r.gcMsPerKop / per).toFixed(3)})`;
    // 64 KiB buffers are never carved from slabs: both columns would measure the same thing.
    out.push(`| ${size} | ${cell(pooled)} | ${cell(unsafe)} | ${cell(zeroed)} | ${size < 65536 ? cell(slab, 16) : 'n/a'} | ${cell(each, 16)} |`);
  }

  out.push('\n## 2. Collecting the first bytes of a connection (ns per connection, median)\n');
  out.push('Bytes handed on afterwards (unshift into the socket) must be a Buffer nobody reuses: the IoBuffer variant takes a copy out.\n');
  out.push('| chunks (24 B in all) | Buffer.concat, as the code is (starts from Buffer.alloc(0)) | Buffer.concat from a shared empty Buffer | IoBuffer write + take + release |');
  out.push('|---:|---:|---:|---:|');
  const EMPTY = Buffer.alloc(0);
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  for (const parts of [1, 2, 4]) {
    const chunks = Array.from({ length: parts }, (_, i) => preface.subarray((i * 24) / parts, ((i + 1) * 24) / parts));
    const concat = await time(() => {
      let seen: Buffer = Buffer.alloc(0);
      for (const c of chunks) seen = seen.length === 0 ? c : Buffer.concat([seen, c]);
      return seen.length;
    }, 200_000);
    const shared = await time(() => {
      let seen: Buffer = EMPTY;
      for (const c of chunks) seen = seen.length === 0 ? c : Buffer.concat([seen, c]);
      return seen.length;
    }, 200_000);
    const io = new IoBuffer(sharedBytePool);
    const pooled = await time(() => {
      for (const c of chunks) io.write(c);
      const out = io.take();
      io.release();
      return out.length;
    }, 200_000);
    out.push(`| ${parts} | ${concat.ns.toFixed(0)} | ${shared.ns.toFixed(0)} | ${pooled.ns.toFixed(0)} |`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------
// 3: tcp_proxy, onread off vs on

interface ProxyReport { gc: GcTotals; pool: BytePoolStats }

/** The proxy process: a MosnServer from src/ with one tcp_proxy listener; reports over IPC. */
async function runProxy(listenPort: number, upPort: number): Promise<void> {
  const gc = watchGc();
  const { parseConfigText } = await import('../src/config/load.ts');
  const { MosnServer } = await import('../src/server/server.ts');
  const { default: pino } = await import('pino');
  const config = {
    servers: [{ default_log_level: 'WARN', listeners: [{
      name: 'bench', address: `127.0.0.1:${listenPort}`, bind_port: true,
      filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'up' } }] }],
    }] }],
    cluster_manager: { clusters: [{ name: 'up', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${upPort}` }] }] },
  };
  const logger = pino({ level: 'warn' });
  const server = new MosnServer(parseConfigText(JSON.stringify(config)), {
    logging: { logger, flush() {}, flushThen: (done: () => void) => done(), reopen() {} },
  });
  await server.start();
  process.on('message', (m) => {
    // 'gc' (memory measurements): a full collection first, so RSS shows what is live.
    if (m === 'gc') (globalThis as { gc?: () => void }).gc?.();
    const report: ProxyReport = { gc: { ...gc }, pool: sharedBytePool.stats };
    process.send!(report);
  });
}

function ask(child: ChildProcess, what: 'report' | 'gc' = 'report'): Promise<ProxyReport> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as ProxyReport));
    child.send(what);
  });
}

interface Variant { name: string; env: Record<string, string> }

interface Sample { mbs: number; cpuMsPerGb: number; gcPerGb: number; gcMsPerGb: number; poolAllocated: number; poolReused: number }

/** Upstream `download` server: each connection's first byte says how much to send back. */
function startSources(): Promise<{ source: Server; echo: Server; sourcePort: number; echoPort: number }> {
  const chunk = Buffer.alloc(64 * 1024, 5);
  const source = createServer({ noDelay: true }, (s) => {
    s.on('error', () => {});
    let left = BULK_MB * 1024 * 1024;
    const pump = (): void => {
      while (left > 0) {
        left -= chunk.length;
        if (!s.write(chunk)) {
          s.once('drain', pump);
          return;
        }
      }
    };
    s.once('data', pump);
  });
  // Echo that answers a 1-byte request with ANSWER bytes (ping-pong of a small request and a bigger answer).
  const echo = createServer({ noDelay: true }, (s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      for (let i = 0; i < d.length; i++) s.write(answers[d[i]!]!);
    });
  });
  source.listen(0, '127.0.0.1');
  echo.listen(0, '127.0.0.1');
  return Promise.all([once(source, 'listening'), once(echo, 'listening')]).then(() => ({
    source,
    echo,
    sourcePort: (source.address() as { port: number }).port,
    echoPort: (echo.address() as { port: number }).port,
  }));
}

/** Request byte -> answer: 0 = 64 B, 1 = 16 KiB. */
const answers = [Buffer.alloc(64, 1), Buffer.alloc(16 * 1024, 2)];

async function download(port: number): Promise<number> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const total = BULK_MB * 1024 * 1024;
  let received = 0;
  const started = process.hrtime.bigint();
  const done = new Promise<void>((resolve) => s.on('data', (d: Buffer) => {
    received += d.length;
    if (received >= total) resolve();
  }));
  s.write('go');
  await done;
  s.destroy();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Ping-pong through the proxy: a 1-byte request asking for answer `kind`. */
function pingPong(port: number, seconds: number, kind: 0 | 1): Promise<{ trips: number; lat: number[] }> {
  return runPingPong(port, seconds, CONNS, Buffer.from([kind]), answers[kind]!.length);
}

/** RSS once it stops moving (6 samples 200 ms apart within 256 KB), at most 5 s. */
async function settledRssKb(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 25; i++) {
    samples.push(vmRssKb(pid));
    const last = samples.slice(-6);
    if (last.length === 6 && Math.max(...last) - Math.min(...last) < 256) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return samples[samples.length - 1]!;
}

/**
 * Opens IDLE_CONNS sessions through the proxy, one request each (answer `kind`), and
 * keeps them open: the proxy's RSS growth and the pooled bytes its sessions hold.
 */
async function idleSessions(child: ChildProcess, port: number, kind: 0 | 1): Promise<{ rssKb: number; poolKb: number }> {
  const open = (n: number): Promise<Socket[]> => openAnswered(port, kind, n);
  // Warm-up (code, heap, pool), then the baseline with no session open.
  for (const s of await open(200)) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const pool0 = (await ask(child, 'gc')).pool.inUseBytes;
  const rss0 = await settledRssKb(child.pid!);
  const sockets = await open(IDLE_CONNS);
  const pool1 = (await ask(child, 'gc')).pool.inUseBytes;
  const rss1 = await settledRssKb(child.pid!);
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  return { rssKb: rss1 - rss0, poolKb: (pool1 - pool0) / 1024 };
}

/** `n` sessions through the proxy at `port`, each after one request answered with `kind`. */
async function openAnswered(port: number, kind: 0 | 1, n: number): Promise<Socket[]> {
  const size = answers[kind]!.length;
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, n - i) }, async () => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      sockets.push(s);
      await once(s, 'connect');
      let got = 0;
      const answered = new Promise<void>((resolve) => s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= size) resolve();
      }));
      s.write(Buffer.from([kind]));
      await answered;
    }));
  }
  return sockets;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function proxyTables(): Promise<string> {
  pin(process.pid, LOAD_CPU);
  const { source, echo, sourcePort, echoPort } = await startSources();
  const variants: Variant[] = [
    { name: 'onread off (data events)', env: { MOSNODE_TCP_ONREAD: '0' } },
    { name: 'onread on (pooled)', env: { MOSNODE_TCP_ONREAD: '1' } },
  ];
  const bulk = new Map<Variant, Sample[]>();
  const pings = new Map<string, Array<{ tps: number; p50: number; p99: number; cpuUs: number }>>();
  // One proxy per variant and upstream (download source, ping echo), all started up
  // front, so the rounds can interleave the variants.
  const procs: Array<{ v: Variant; up: 'source' | 'echo' | 'idle'; child: ChildProcess; port: number }> = [];
  try {
    for (const v of variants) {
      // 'idle' is an echo proxy used for nothing but the idle-memory measurement.
      for (const up of ['source', 'echo', 'idle'] as const) {
        const port = await freePort();
        const child = spawn(process.execPath, ['--expose-gc', SELF, '--proxy', String(port), String(up === 'source' ? sourcePort : echoPort)], {
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
          env: { ...process.env, ...v.env },
        });
        await waitPort(port, child);
        pin(child.pid!, SUT_CPU);
        procs.push({ v, up, child, port });
      }
      bulk.set(v, []);
    }
    const proxyOf = (v: Variant, up: 'source' | 'echo' | 'idle') => procs.find((p) => p.v === v && p.up === up)!;
    // Warm-up: JIT and pool.
    for (const v of variants) {
      await download(proxyOf(v, 'source').port);
      await pingPong(proxyOf(v, 'echo').port, 0.5, 0);
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which variant goes first, so drift in machine load hits both alike.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const { child, port } = proxyOf(v, 'source');
        const r0 = await ask(child);
        const cpu0 = cpuSeconds(child.pid!);
        const seconds = await download(port);
        const cpu = cpuSeconds(child.pid!) - cpu0;
        const r1 = await ask(child);
        const gb = BULK_MB / 1024;
        bulk.get(v)!.push({
          mbs: BULK_MB / seconds,
          cpuMsPerGb: (cpu * 1000) / gb,
          gcPerGb: (r1.gc.count - r0.gc.count) / gb,
          gcMsPerGb: (r1.gc.ms - r0.gc.ms) / gb,
          poolAllocated: r1.pool.allocated - r0.pool.allocated,
          poolReused: r1.pool.reused - r0.pool.reused,
        });
        for (const kind of [0, 1] as const) {
          const e = proxyOf(v, 'echo');
          const c0 = cpuSeconds(e.child.pid!);
          const t0 = process.hrtime.bigint();
          const { trips, lat } = await pingPong(e.port, PING_S, kind);
          const wall = Number(process.hrtime.bigint() - t0) / 1e9;
          const c = cpuSeconds(e.child.pid!) - c0;
          lat.sort((a, b) => a - b);
          const key = `${v.name}|${kind}`;
          if (!pings.has(key)) pings.set(key, []);
          pings.get(key)!.push({ tps: trips / wall, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), cpuUs: (c * 1e6) / trips });
        }
      }
    }
    const idle = new Map<string, { rssKb: number; poolKb: number }>();
    for (const v of variants) {
      for (const kind of [0, 1] as const) {
        idle.set(`${v.name}|${kind}`, await idleSessions(proxyOf(v, 'idle').child, proxyOf(v, 'idle').port, kind));
      }
    }
    const out: string[] = [];
    out.push(`\n## 3a. tcp_proxy bulk download ${BULK_MB} MB upstream -> client (median of ${ROUNDS} interleaved rounds; proxy pinned to cpu ${SUT_CPU})\n`);
    out.push('| variant | MB/s | proxy CPU ms/GB | proxy GCs/GB | proxy GC ms/GB | pool: buffers allocated / leases reused per run | peak RSS MB |');
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const v of variants) {
      const s = bulk.get(v)!;
      const m = (f: (x: Sample) => number): number => median(s.map(f));
      out.push(`| ${v.name} | ${m((x) => x.mbs).toFixed(0)} | ${m((x) => x.cpuMsPerGb).toFixed(0)} | ${m((x) => x.gcPerGb).toFixed(1)} | ${m((x) => x.gcMsPerGb).toFixed(1)} | ${m((x) => x.poolAllocated)} / ${m((x) => x.poolReused)} | ${rssMb(proxyOf(v, 'source').child.pid!).toFixed(1)} |`);
    }
    out.push(`\n## 3b. tcp_proxy ping-pong, ${CONNS} connections, 1-byte request (median of ${ROUNDS} rounds of ${PING_S} s)\n`);
    out.push('| variant | answer | trips/s | p50 ms | p99 ms | proxy CPU us/trip |');
    out.push('|---|---:|---:|---:|---:|---:|');
    for (const v of variants) {
      for (const kind of [0, 1] as const) {
        const s = pings.get(`${v.name}|${kind}`)!;
        out.push(`| ${v.name} | ${answers[kind]!.length} B | ${median(s.map((x) => x.tps)).toFixed(0)} | ${median(s.map((x) => x.p50)).toFixed(3)} | ${median(s.map((x) => x.p99)).toFixed(3)} | ${median(s.map((x) => x.cpuUs)).toFixed(1)} |`);
      }
    }
    out.push(`\n## 3c. Memory of ${IDLE_CONNS} idle tcp_proxy sessions, each after one answer (proxy RSS growth after a full GC, settled; pooled bytes the sessions hold)\n`);
    out.push('| variant | answer | RSS KB per session | pooled read buffers KB per session |');
    out.push('|---|---:|---:|---:|');
    for (const v of variants) {
      for (const kind of [0, 1] as const) {
        const m = idle.get(`${v.name}|${kind}`)!;
        out.push(`| ${v.name} | ${answers[kind]!.length} B | ${(m.rssKb / IDLE_CONNS).toFixed(1)} | ${(m.poolKb / IDLE_CONNS).toFixed(1)} |`);
      }
    }
    return out.join('\n');
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    source.close();
    echo.close();
  }
}

if (process.argv[2] === '--proxy') {
  await runProxy(Number(process.argv[3]), Number(process.argv[4]));
} else {
  const which = process.env.PART ?? 'all';
  if (which === 'all' || which === 'micro') process.stdout.write(`${await microTables()}\n`);
  if (which === 'all' || which === 'proxy') process.stdout.write(`${await proxyTables()}\n`);
  if (sink === 0.5) console.log(sink);
}

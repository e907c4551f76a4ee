/**
 * TCP proxy benchmark: mosnode's tcp_proxy next to a plain Node net+pipe proxy, measured
 * side by side in one run. The proxy under test runs alone on SUT_CPU (default 1); this
 * program (load generator + echo upstream) runs on LOAD_CPU (default 0).
 *
 *   node bench/tcp-proxy.ts                 (after npm install, which builds dist/)
 *   DURATION=10 CONNS=50 node bench/tcp-proxy.ts
 *
 * Two loads per target:
 *   - ping-pong: CONNS connections, each sends a 64-byte message and waits for the echo
 *     (like a request/response protocol): round trips/s, p50/p99, proxy CPU us per trip;
 *   - bulk: one connection streams BULK_MB through the proxy and back: MB/s, proxy CPU
 *     ms per GB.
 * Prints a markdown table. Ratios between rows are what to compare: absolute numbers move
 * with this shared machine's load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort, percentile, pin, rssMb, waitPort } from './lib/proc.ts';
import { pingPong as runPingPong } from './lib/ping-pong.ts';

const DURATION_S = Number(process.env.DURATION ?? 8);
const WARMUP_S = Number(process.env.WARMUP ?? 2);
const CONNS = Number(process.env.CONNS ?? 50);
const BULK_MB = Number(process.env.BULK_MB ?? 1024);
const LOAD_CPU = process.env.LOAD_CPU ?? '0';
const SUT_CPU = process.env.SUT_CPU ?? '1';
const ROOT = fileURLToPath(new URL('../', import.meta.url));


interface Target { name: string; start(listenPort: number, upPort: number, dir: string): ChildProcess }

const targets: Target[] = [
  {
    name: 'node-pipe',
    start: (listenPort, upPort) => spawn(process.execPath, [join(ROOT, 'bench/pipe-proxy.ts'), String(listenPort), String(upPort)], { stdio: 'ignore' }),
  },
  {
    name: 'mosnode',
    start: (listenPort, upPort, dir) => {
      const config = {
        servers: [{ default_log_path: join(dir, 'mosnode.log'), default_log_level: 'WARN', listeners: [{
          name: 'bench', address: `127.0.0.1:${listenPort}`, bind_port: true,
          filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }],
        }] }],
        cluster_manager: { clusters: [{ name: 'echo', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${upPort}` }] }] },
      };
      const path = join(dir, 'bench.json');
      writeFileSync(path, JSON.stringify(config));
      return spawn(process.execPath, [join(ROOT, 'bin/mosnode.js'), 'start', '-c', path], { stdio: 'ignore' });
    },
  },
];

const PING_MESSAGE = Buffer.alloc(64, 1);

/** Ping-pong through the proxy to the echo origin: 64-byte messages. */
function pingPong(port: number, seconds: number): Promise<{ trips: number; lat: number[] }> {
  return runPingPong(port, seconds, CONNS, PING_MESSAGE, PING_MESSAGE.length);
}

async function bulk(port: number): Promise<number> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const chunk = Buffer.alloc(64 * 1024, 3);
  const total = BULK_MB * 1024 * 1024;
  let received = 0;
  const started = process.hrtime.bigint();
  const done = new Promise<void>((resolve) => s.on('data', (d: Buffer) => { received += d.length; if (received >= total) resolve(); }));
  let sent = 0;
  while (sent < total) {
    sent += chunk.length;
    if (!s.write(chunk)) await once(s, 'drain');
  }
  await done;
  s.destroy();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main(): Promise<void> {
  pin(process.pid, LOAD_CPU);
  const echo = createServer({ noDelay: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const upPort = (echo.address() as { port: number }).port;
  const rows: string[] = [];
  for (const target of targets) {
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-bench-'));
    const port = await freePort();
    const child = target.start(port, upPort, dir);
    try {
      await waitPort(port, child);
      pin(child.pid!, SUT_CPU);
      await pingPong(port, WARMUP_S);
      const cpu0 = cpuSeconds(child.pid!);
      const t0 = process.hrtime.bigint();
      const { trips, lat } = await pingPong(port, DURATION_S);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = cpuSeconds(child.pid!) - cpu0;
      lat.sort((a, b) => a - b);
      const bcpu0 = cpuSeconds(child.pid!);
      const bulkSeconds = await bulk(port);
      const bcpu = cpuSeconds(child.pid!) - bcpu0;
      rows.push(`| ${target.name} | ${Math.round(trips / wall)} | ${percentile(lat, 0.5).toFixed(3)} | ${percentile(lat, 0.99).toFixed(3)} | ${Math.round((100 * cpu) / wall)} | ${((cpu * 1e6) / trips).toFixed(1)} | ${(BULK_MB / bulkSeconds).toFixed(0)} | ${((bcpu * 1000) / (BULK_MB / 1024)).toFixed(0)} | ${rssMb(child.pid!).toFixed(1)} |`);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }
  echo.close();
  process.stdout.write(`## TCP proxy: mosnode vs node net+pipe (${CONNS} conns ping-pong 64 B for ${DURATION_S}s; bulk ${BULK_MB} MB; proxy pinned to cpu ${SUT_CPU})\n\n`);
  process.stdout.write('| target | trips/s | p50 ms | p99 ms | proxy CPU % | proxy CPU us/trip | bulk MB/s | proxy CPU ms/GB | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n');
  process.stdout.write(`${rows.join('\n')}\n`);
}

await main();

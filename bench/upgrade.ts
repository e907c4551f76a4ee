/**
 * Hot-upgrade benchmark: keeps mosnode under sustained load on 127.0.0.1 and upgrades it
 * UPGRADES times in a row (alternating a second `mosnode start -c` and SIGHUP), then
 * prints what every client saw. The target is zero failed requests and zero connection
 * errors. Loads, all at once:
 *   - http-keepalive: HTTP/1.1 keep-alive clients sending back to back;
 *   - http-new-conn:  a new TCP connection for every HTTP request;
 *   - tcp-short:      tcp_proxy sessions of one echo exchange each;
 *   - tcp-stream:     long-lived tcp_proxy echo streams (a message every 20 ms). They
 *                     migrate to the new process (client and upstream sockets both); one
 *                     that could not would be cut at the old process's drain deadline:
 *                     counted as "cut", and the client reconnects.
 *
 *   npx node bench/upgrade.ts            (after npm install; UPGRADES=20 DRAIN_S=2 by default)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, request, Agent } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/proc.ts';

const UPGRADES = Number(process.env.UPGRADES ?? 20);
const DRAIN_S = Number(process.env.DRAIN_S ?? 2);
const KEEPALIVE_CLIENTS = 16;
const NEWCONN_CLIENTS = 4;
const TCP_SHORT_CLIENTS = 4;
const TCP_STREAMS = 4;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/mosnode.js');

interface Sample { at: number; ms: number; ok: boolean; error?: string }
const samples: Record<string, Sample[]> = { 'http-keepalive': [], 'http-new-conn': [], 'tcp-short': [], 'tcp-stream': [] };
let streamCuts = 0;
let running = true;

function record(kind: string, started: number, ok: boolean, error?: string): void {
  samples[kind]!.push({ at: started, ms: performance.now() - started, ok, ...(error !== undefined && { error }) });
}

function httpOnce(port: number, agent: Agent | false, kind: string): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/x', agent, headers: agent === false ? { connection: 'close' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ok = res.statusCode === 200 && Buffer.concat(chunks).toString() === 'ok';
        record(kind, started, ok, ok ? undefined : `status ${res.statusCode}`);
        resolve();
      });
      res.on('error', (err: NodeJS.ErrnoException) => { record(kind, started, false, err.code ?? err.message); resolve(); });
    });
    req.on('error', (err: NodeJS.ErrnoException) => { record(kind, started, false, err.code ?? err.message); resolve(); });
    req.end();
  });
}

function tcpShortOnce(port: number): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const done = (ok: boolean, error?: string): void => { s.destroy(); record('tcp-short', started, ok, error); resolve(); };
    s.on('connect', () => s.write('ping-0123456789'));
    s.on('data', (d) => { got += d; if (got.length >= 15) done(got === 'ping-0123456789'); });
    s.on('error', (err: NodeJS.ErrnoException) => done(false, err.code));
    s.on('close', () => { if (got.length < 15) done(false, 'closed early'); });
  });
}

async function tcpStream(port: number): Promise<void> {
  while (running) {
    const s: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => {
      let pending: { text: string; started: number } | undefined;
      let buffered = '';
      let n = 0;
      const timer = setInterval(() => {
        if (!running) { clearInterval(timer); s.end(); return; }
        if (pending !== undefined) return;
        pending = { text: `m${n++}`.padEnd(12, '.'), started: performance.now() };
        s.write(pending.text);
      }, 20);
      s.on('data', (d) => {
        buffered += d;
        if (pending && buffered.length >= pending.text.length) {
          record('tcp-stream', pending.started, buffered === pending.text, buffered === pending.text ? undefined : 'bad echo');
          buffered = '';
          pending = undefined;
        }
      });
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(timer);
        if (running) streamCuts++;
        if (pending !== undefined) record('tcp-stream', pending.started, false, 'cut mid-exchange');
        resolve();
      });
    });
  }
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitFor(test: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-upgrade-bench-'));
  const origin = createHttpServer((_req, res) => res.end('ok')).listen(0, '127.0.0.1');
  const echo = createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(0, '127.0.0.1');
  await Promise.all([once(origin, 'listening'), once(echo, 'listening')]);
  const [httpPort, tcpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    servers: [{
      default_log_path: join(dir, 'mosnode.log'), graceful_timeout: `${DRAIN_S}s`,
      routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
      listeners: [
        { name: 'http', address: `127.0.0.1:${httpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] },
        { name: 'tcp', address: `127.0.0.1:${tcpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }] },
      ],
    }],
    cluster_manager: { clusters: [
      { name: 'origin', hosts: [{ address: `127.0.0.1:${(origin.address() as { port: number }).port}` }] },
      { name: 'echo', hosts: [{ address: `127.0.0.1:${(echo.address() as { port: number }).port}` }] },
    ] },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  const pidFile = join(dir, 'mosnode.pid');
  const readPid = (): number => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0);
  const children: ChildProcess[] = [];
  const startProcess = (): ChildProcess => {
    const out = openSync(join(dir, 'stdout.log'), 'a');
    const child = spawn(process.execPath, [BIN, 'start', '-c', configPath], { stdio: ['ignore', out, out] });
    children.push(child);
    return child;
  };
  const seenPids = new Set<number>();
  try {
    startProcess();
    await waitFor(() => readPid() > 0, 10_000, 'the first process');
    seenPids.add(readPid());

    const agent = new Agent({ keepAlive: true, maxSockets: KEEPALIVE_CLIENTS });
    const loops: Promise<void>[] = [];
    const loop = (fn: () => Promise<void>): void => { loops.push((async () => { while (running) await fn(); })()); };
    for (let i = 0; i < KEEPALIVE_CLIENTS; i++) loop(() => httpOnce(httpPort, agent, 'http-keepalive'));
    for (let i = 0; i < NEWCONN_CLIENTS; i++) loop(() => httpOnce(httpPort, false, 'http-new-conn'));
    for (let i = 0; i < TCP_SHORT_CLIENTS; i++) loop(() => tcpShortOnce(tcpPort));
    for (let i = 0; i < TCP_STREAMS; i++) loops.push(tcpStream(tcpPort));

    await new Promise((r) => setTimeout(r, 2000)); // steady state first
    const windows: Array<[number, number]> = [];
    const handoverMs: number[] = [];
    for (let i = 0; i < UPGRADES; i++) {
      const oldPid = readPid();
      const t0 = performance.now();
      const how = i % 2 === 0 ? 'start' : 'SIGHUP';
      if (how === 'start') startProcess();
      else process.kill(oldPid, 'SIGHUP');
      await waitFor(() => readPid() !== oldPid && readPid() > 0, 15_000, `upgrade ${i + 1} (${how})`);
      const newPid = readPid();
      seenPids.add(newPid);
      handoverMs.push(performance.now() - t0);
      await waitFor(() => !alive(oldPid), (DRAIN_S + 10) * 1000, `pid ${oldPid} to exit after upgrade ${i + 1}`);
      windows.push([t0, performance.now()]);
      process.stdout.write(`upgrade ${i + 1}/${UPGRADES} by ${how}: pid ${oldPid} -> ${newPid}, new process serving after ${handoverMs.at(-1)!.toFixed(0)} ms, old one gone after ${(performance.now() - t0).toFixed(0)} ms\n`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
    agent.destroy();

    const during = (s: Sample): boolean => windows.some(([a, b]) => s.at >= a && s.at <= b);
    process.stdout.write(`\n## Hot upgrade under load: ${UPGRADES} upgrades (alternating second start / SIGHUP), drain ${DRAIN_S}s\n\n`);
    process.stdout.write('| load | requests | ok | failed | errors (kind: count) | p99 steady ms | p99 during upgrades ms |\n|---|---:|---:|---:|---|---:|---:|\n');
    for (const [kind, list] of Object.entries(samples)) {
      const failed = list.filter((s) => !s.ok);
      const kinds = new Map<string, number>();
      for (const f of failed) kinds.set(f.error ?? '?', (kinds.get(f.error ?? '?') ?? 0) + 1);
      const steady = list.filter((s) => s.ok && !during(s)).map((s) => s.ms);
      const upgrading = list.filter((s) => s.ok && during(s)).map((s) => s.ms);
      process.stdout.write(`| ${kind} | ${list.length} | ${list.length - failed.length} | ${failed.length} | ${[...kinds].map(([k, v]) => `${k}: ${v}`).join(', ') || '-'} | ${pct(steady, 0.99).toFixed(2)} | ${pct(upgrading, 0.99).toFixed(2)} |\n`);
    }
    process.stdout.write(`\ntcp-stream connections cut (not migrated before a drain deadline): ${streamCuts}\n`);
    const sorted = [...handoverMs].sort((a, b) => a - b);
    process.stdout.write(`time from trigger to the new process serving (ms): min ${sorted[0]!.toFixed(0)}, median ${pct(sorted, 0.5).toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)} (includes starting Node and loading the config)\n`);
  } finally {
    running = false;
    for (const pid of [...seenPids, readPid()]) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    for (const c of children) c.kill('SIGKILL');
    origin.closeAllConnections();
    origin.close();
    echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

await main();

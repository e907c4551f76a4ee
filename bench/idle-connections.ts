/**
 * Memory of idle keep-alive connections: how much a proxy's RSS grows while it holds
 * CONNS (10,000) client connections that each carried one request and now sit idle.
 * mosnode (the HTTP proxy config of bench/l7-target.sh, built from dist/) next to nginx
 * (a single-process reverse proxy like the harness's), over HTTP/1.1 and h2c.
 *
 *   node bench/idle-connections.ts                      (after npm run build; ~1.5 min)
 *   CONNS=2000 IDLE_PROTOCOLS=h1 IDLE_TARGETS=mosnode node bench/idle-connections.ts
 *   RESULT_JSON=out.json ...                            also write the rows as JSON
 *   IDLE_NODE_ARGS="--max-semi-space-size=4" ...        node flags for mosnode (investigations)
 *
 * Wiring: the proxy alone on SUT_CPU (1); this program (a node:http origin) and a client
 * process on LOAD_CPU (0). Per target and protocol, a fresh proxy process:
 *   1. warm-up: 5 rounds of 200 connections, one request each, closed again;
 *   2. baseline = settled RSS (VmRSS sampled every 0.5 s until 6 samples agree within
 *      1 % / 256 KB, at most SETTLE_MAX_S), with no client connection open;
 *   3. the client opens CONNS connections (200 at a time), one GET /small on each
 *      (HTTP/1.1 keep-alive, or h2c prior knowledge with one stream), keeps them open;
 *   4. settled RSS again; delta = (3) - (2), per connection in KB; the proxy's open file
 *      descriptors confirm it still holds the connections, and the client counts any
 *      that the proxy closed.
 * The client speaks raw HTTP/1.1 and raw HTTP/2 frames on net sockets, so its own memory
 * stays small and nothing in it depends on the proxy under test. Each process's
 * open-file limit is raised to the hard limit (`ulimit -n`); with a hard limit below
 * CONNS + 500 the run uses fewer connections and says so.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fdCount, freePort, openFileLimit, pin, vmRssKb, waitPort } from './lib/proc.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const QUICK = process.env.QUICK === '1';
const LOAD_CPU = process.env.LOAD_CPU ?? '0';
const SUT_CPU = process.env.SUT_CPU ?? '1';
const WANTED_CONNS = Number(process.env.CONNS ?? 10_000);
const TARGETS = (process.env.IDLE_TARGETS ?? 'mosnode nginx').split(/\s+/).filter(Boolean);
const PROTOCOLS = (process.env.IDLE_PROTOCOLS ?? 'h1 h2').split(/\s+/).filter(Boolean) as Protocol[];
const SETTLE_MAX_S = Number(process.env.SETTLE_MAX_S ?? (QUICK ? 10 : 20));
/** Extra node flags for mosnode (e.g. "--heap-prof --heap-prof-dir=/tmp/h", "--max-semi-space-size=4"), to investigate. */
const MOSNODE_NODE_ARGS = (process.env.IDLE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const OPEN_CONCURRENCY = 200;
const WARMUP_ROUNDS = 5;
const BODY = 'hello, world\n';

type Protocol = 'h1' | 'h2';

// ----------------------------------------------------------------------------- client
// Runs in its own process (`--client`), driven over IPC by the main process.

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_DATA = 0;
const FRAME_HEADERS = 1;
const FRAME_RST_STREAM = 3;
const FRAME_SETTINGS = 4;
const FRAME_PING = 6;
const FRAME_GOAWAY = 7;
const FLAG_END_STREAM = 1;
const FLAG_ACK = 1;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK string literal, no Huffman (lengths here are < 127). */
const hpackString = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);

/** Preface, empty SETTINGS, and GET `path` on stream 1 (HPACK: static :method GET, :scheme http, literal :path and :authority). */
function h2Request(authority: string, path: string): Buffer {
  const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x04]), hpackString(path), Buffer.from([0x01]), hpackString(authority)]);
  return Buffer.concat([H2_PREFACE, frame(FRAME_SETTINGS, 0, 0), frame(FRAME_HEADERS, FLAG_END_STREAM | 4 /* END_HEADERS */, 1, block)]);
}

/** Resolves when the response to the one request on `socket` is complete; rejects on anything else. */
function awaitResponse(socket: Socket, protocol: Protocol): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      socket.removeListener('data', onData);
      // Later bytes (an h2 PING, a SETTINGS) still get answered; nothing else is expected.
      if (protocol === 'h2' && err === undefined) socket.on('data', (d: Buffer) => h2Housekeeping(socket, d));
      if (err === undefined) resolve();
      else reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (protocol === 'h1') {
        const text = buf.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = Number(text.slice(9, 12));
        if (status !== 200) return finish(new Error(`status ${status}`));
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
        if (cl !== null) {
          if (buf.length >= end + 4 + Number(cl[1])) finish();
        } else if (/\r\ntransfer-encoding:\s*chunked/i.test(text.slice(0, end))) {
          if (text.endsWith('\r\n0\r\n\r\n')) finish();
        } else {
          finish(new Error('response without length'));
        }
        return;
      }
      // h2: walk complete frames.
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) return;
        const type = buf[3]!;
        const flags = buf[4]!;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        if (type === FRAME_SETTINGS && (flags & FLAG_ACK) === 0) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0));
        else if (type === FRAME_PING && (flags & FLAG_ACK) === 0) socket.write(frame(FRAME_PING, FLAG_ACK, 0, Buffer.from(payload)));
        else if (type === FRAME_GOAWAY) return finish(new Error('GOAWAY'));
        else if (type === FRAME_RST_STREAM && stream === 1) return finish(new Error('RST_STREAM'));
        else if ((type === FRAME_HEADERS || type === FRAME_DATA) && stream === 1 && (flags & FLAG_END_STREAM) !== 0) return finish();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => finish(new Error('closed before the response')));
    socket.once('error', (err) => finish(err));
    setTimeout(() => finish(new Error('no response within 10 s')), 10_000).unref();
  });
}

/** After the response: answer SETTINGS and PING so the server never sees a stalled peer. */
function h2Housekeeping(socket: Socket, chunk: Buffer): void {
  for (let off = 0; off + 9 <= chunk.length; ) {
    const length = chunk.readUIntBE(off, 3);
    const type = chunk[off + 3]!;
    const flags = chunk[off + 4]!;
    if (type === FRAME_SETTINGS && (flags & FLAG_ACK) === 0) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0));
    if (type === FRAME_PING && (flags & FLAG_ACK) === 0) socket.write(frame(FRAME_PING, FLAG_ACK, 0, Buffer.from(chunk.subarray(off + 9, off + 9 + length))));
    off += 9 + length;
  }
}

async function runClient(): Promise<void> {
  let held = new Set<Socket>();
  let closedByPeer = 0;

  async function openOne(port: number, protocol: Protocol): Promise<Socket> {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    socket.on('error', () => {});
    await once(socket, 'connect');
    const response = awaitResponse(socket, protocol);
    socket.write(protocol === 'h1' ? `GET /small HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n` : h2Request(`127.0.0.1:${port}`, '/small'));
    await response;
    return socket;
  }

  async function openMany(port: number, protocol: Protocol, count: number): Promise<{ opened: number; failed: number; firstError: string | undefined }> {
    let next = 0;
    let failed = 0;
    let firstError: string | undefined;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next++;
        try {
          const socket = await openOne(port, protocol);
          held.add(socket);
          socket.once('close', () => {
            if (held.delete(socket)) closedByPeer++;
          });
        } catch (err) {
          failed++;
          firstError ??= (err as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
    return { opened: count - failed, failed, firstError };
  }

  function closeAll(): number {
    const n = held.size;
    const sockets = held;
    held = new Set();
    for (const s of sockets) s.destroy();
    return n;
  }

  process.on('message', (msg: { id: number; op: string; port?: number; protocol?: Protocol; count?: number }) => {
    void (async () => {
      let reply: object;
      if (msg.op === 'open') {
        closedByPeer = 0;
        reply = await openMany(msg.port!, msg.protocol!, msg.count!);
      } else if (msg.op === 'status') {
        reply = { held: held.size, closedByPeer };
      } else if (msg.op === 'close') {
        reply = { closed: closeAll() };
        await new Promise((r) => setTimeout(r, 200));
      } else {
        closeAll();
        process.disconnect?.();
        return;
      }
      process.send!({ id: msg.id, ...reply });
    })();
  });
}

// ----------------------------------------------------------------------------- main

interface Row {
  target: string;
  protocol: Protocol;
  conns: number;
  baselineMb: number;
  idleMb: number;
  deltaMb: number;
  kbPerConn: number;
  fdDelta: number;
  settled: boolean;
  failed: number;
  closedByPeer: number;
  note: string;
}

const started: ChildProcess[] = [];

/** Spawns `argv` pinned to `cpu` with the open-file soft limit raised to `nofile` (bash `ulimit -n`, then exec: same pid). */
function spawnPinned(cpu: string, nofile: number, argv: string[], extra: { ipc?: boolean; log?: string } = {}): ChildProcess {
  const hasTaskset = (() => {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const cmd = hasTaskset ? ['taskset', '-c', cpu, ...argv] : argv;
  const out = extra.log === undefined ? 'ignore' : 'pipe';
  const child = spawn('bash', ['-c', 'ulimit -n "$0" && exec "$@"', String(nofile), ...cmd], {
    stdio: extra.ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', out, out],
  });
  if (extra.log !== undefined) {
    const log = extra.log;
    const append = (d: Buffer): void => writeFileSync(log, d, { flag: 'a' });
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
  }
  started.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS (KB) once it stops moving: 6 samples 0.5 s apart within 1 % / 256 KB, at least 3 s, at most SETTLE_MAX_S. */
async function settledRssKb(pid: number): Promise<{ kb: number; settled: boolean }> {
  const samples: number[] = [];
  const deadline = Date.now() + SETTLE_MAX_S * 1000;
  for (;;) {
    await sleep(500);
    samples.push(vmRssKb(pid));
    const window = samples.slice(-6);
    const hi = Math.max(...window);
    const lo = Math.min(...window);
    const median = [...window].sort((a, b) => a - b)[window.length >> 1]!;
    if (window.length === 6 && hi - lo <= Math.max(256, hi * 0.01)) return { kb: median, settled: true };
    if (Date.now() > deadline) return { kb: median, settled: false };
  }
}

interface Target {
  name: string;
  start(dir: string, upPort: number, nofile: number): Promise<{ child: ChildProcess; ports: Record<Protocol, number> }>;
}

const targets: Record<string, Target> = {
  mosnode: {
    name: 'mosnode',
    async start(dir, upPort, nofile) {
      const port = await freePort();
      const config = {
        servers: [{
          default_log_path: join(dir, 'mosnode.log'),
          default_log_level: 'WARN',
          routers: [{ router_config_name: 'bench', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'origin' } }] }] }],
          listeners: [{
            name: 'bench', address: `127.0.0.1:${port}`, bind_port: true,
            filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Auto', upstream_protocol: 'Http1', router_config_name: 'bench' } }] }],
          }],
        }],
        cluster_manager: { clusters: [{ name: 'origin', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${upPort}` }] }] },
        disable_upgrade: true,
      };
      writeFileSync(join(dir, 'mosnode.json'), JSON.stringify(config));
      const child = spawnPinned(SUT_CPU, nofile, [process.execPath, ...MOSNODE_NODE_ARGS, join(ROOT, 'bin/mosnode.js'), 'start', '-c', join(dir, 'mosnode.json')], { log: join(dir, 'mosnode.out') });
      await waitPort(port, child);
      return { child, ports: { h1: port, h2: port } };
    },
  },
  nginx: {
    name: 'nginx',
    async start(dir, upPort, nofile) {
      const h1 = await freePort();
      const h2 = await freePort();
      mkdirSync(join(dir, 'tmp'), { recursive: true });
      // The harness's nginx-proxy.conf (../shared/bench/conf), with room for the connections.
      writeFileSync(join(dir, 'nginx.conf'), `daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections ${nofile}; }
http {
    access_log off;
    server_tokens off;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    http2_max_concurrent_streams 256;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    upstream up { server 127.0.0.1:${upPort}; keepalive 128; keepalive_requests 100000000; keepalive_timeout 60s; }
    server {
        listen 127.0.0.1:${h1} backlog=4096;
        listen 127.0.0.1:${h2} http2 backlog=4096;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
`);
      const child = spawnPinned(SUT_CPU, nofile, ['nginx', '-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { log: join(dir, 'nginx.out') });
      await waitPort(h1, child);
      await waitPort(h2, child);
      return { child, ports: { h1, h2 } };
    },
  },
};

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  pin(process.pid, LOAD_CPU);
  const limit = openFileLimit();
  const nofile = Number.isFinite(limit.hard) ? Math.min(limit.hard, 1 << 20) : 1 << 20;
  const conns = Math.max(1, Math.min(WANTED_CONNS, nofile - 500));
  const notes: string[] = [];
  if (conns < WANTED_CONNS) notes.push(`open-file hard limit ${limit.hard}: ${conns} connections instead of ${WANTED_CONNS} (raise it with ulimit -Hn / limits.conf as root)`);

  const origin = createHttpServer({ keepAliveTimeout: 65_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const upPort = (origin.address() as { port: number }).port;

  const client = spawnPinned(LOAD_CPU, nofile, [process.execPath, fileURLToPath(import.meta.url), '--client'], { ipc: true });
  let nextId = 0;
  const call = <T>(msg: object): Promise<T> =>
    new Promise((resolve) => {
      const id = ++nextId;
      const onMessage = (reply: { id: number }): void => {
        if (reply.id !== id) return;
        client.off('message', onMessage);
        resolve(reply as T);
      };
      client.on('message', onMessage);
      client.send({ id, ...msg });
    });

  const rows: Row[] = [];
  const base = mkdtempSync(join(tmpdir(), 'mosnode-idle-'));
  try {
    for (const protocol of PROTOCOLS) {
      for (const name of TARGETS) {
        const target = targets[name];
        if (target === undefined) throw new Error(`unknown target ${name} (mosnode, nginx)`);
        if (name === 'nginx' && !hasCommand('nginx')) {
          notes.push('nginx not installed: no nginx rows (bench/suite.sh installs it)');
          continue;
        }
        const dir = join(base, `${name}-${protocol}`);
        mkdirSync(dir);
        process.stderr.write(`[idle] ${name} ${protocol}: starting\n`);
        const { child, ports } = await target.start(dir, upPort, nofile);
        const pid = child.pid!;
        try {
          const port = ports[protocol];
          for (let r = 0; r < WARMUP_ROUNDS; r++) {
            await call({ op: 'open', port, protocol, count: 200 });
            await call({ op: 'close' });
          }
          const fd0 = fdCount(pid);
          const baseline = await settledRssKb(pid);
          process.stderr.write(`[idle] ${name} ${protocol}: baseline ${(baseline.kb / 1024).toFixed(1)} MB; opening ${conns} connections\n`);
          const t0 = Date.now();
          const opened = await call<{ opened: number; failed: number; firstError?: string }>({ op: 'open', port, protocol, count: conns });
          process.stderr.write(`[idle] ${name} ${protocol}: ${opened.opened} open in ${((Date.now() - t0) / 1000).toFixed(1)} s${opened.failed ? `, ${opened.failed} failed (${opened.firstError})` : ''}\n`);
          const idle = await settledRssKb(pid);
          const fd1 = fdCount(pid);
          const status = await call<{ held: number; closedByPeer: number }>({ op: 'status' });
          await call({ op: 'close' });
          const deltaKb = idle.kb - baseline.kb;
          const held = Math.max(1, status.held);
          const rowNotes: string[] = [];
          if (!baseline.settled || !idle.settled) rowNotes.push(`RSS still moving after ${SETTLE_MAX_S}s`);
          if (opened.failed > 0) rowNotes.push(`${opened.failed} failed: ${opened.firstError}`);
          if (child.exitCode !== null) rowNotes.push(`proxy exited (${child.exitCode}); see ${dir}`);
          rows.push({
            target: name,
            protocol,
            conns: status.held,
            baselineMb: baseline.kb / 1024,
            idleMb: idle.kb / 1024,
            deltaMb: deltaKb / 1024,
            kbPerConn: deltaKb / held,
            fdDelta: fd1 - fd0,
            settled: baseline.settled && idle.settled,
            failed: opened.failed,
            closedByPeer: status.closedByPeer,
            note: rowNotes.join('; '),
          });
        } finally {
          await stop(child);
        }
        if (process.env.KEEP_IDLE_DIR === undefined) rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    client.send({ id: 0, op: 'exit' });
    await Promise.race([once(client, 'exit'), sleep(3000)]);
    await stop(client);
    origin.close();
    origin.closeAllConnections();
    if (process.env.KEEP_IDLE_DIR === undefined) rmSync(base, { recursive: true, force: true });
  }

  const out: string[] = [];
  out.push(`## Idle keep-alive connections: RSS of the proxy process (${conns} connections, one request each, then idle)`);
  out.push('');
  out.push(`proxy pinned to cpu ${SUT_CPU}; client and origin on cpu ${LOAD_CPU}; node ${process.version}; RSS = VmRSS settled (6 samples 0.5 s apart within 1 %/256 KB).`);
  out.push('');
  out.push('| target | protocol | connections held | RSS baseline MB | RSS with connections MB | delta MB | KB per connection | proxy fds delta | closed by proxy | note |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    out.push(`| ${r.target} | ${r.protocol} | ${r.conns} | ${r.baselineMb.toFixed(1)} | ${r.idleMb.toFixed(1)} | ${r.deltaMb.toFixed(1)} | ${r.kbPerConn.toFixed(2)} | ${r.fdDelta} | ${r.closedByPeer} | ${r.note} |`);
  }
  for (const n of notes) out.push(`\nNote: ${n}`);
  console.log(out.join('\n'));
  if (process.env.RESULT_JSON) writeFileSync(process.env.RESULT_JSON, JSON.stringify({ conns, wantedConns: WANTED_CONNS, rows, notes }, null, 2));
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(130);
  });
}

if (process.argv[2] === '--client') {
  await runClient();
} else {
  try {
    await main();
  } finally {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

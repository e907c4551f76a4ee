import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, readlinkSync, readFileSync, openSync, closeSync, writeFileSync, existsSync, lstatSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import {
  native, nativeLoadError, listenUnix, connectUnix, closeFd, closeFdsQuietly, SCM_MAX_FD, MAX_RECV_BYTES,
  UnixMessageSocket, type UnixListener, type SystemError, mmapFile, releaseMapping, MAX_MAPPING_BYTES,
} from './native.ts';

const NATIVE_URL = new URL('./native.ts', import.meta.url).href;
const platformSkip = process.platform !== 'linux' ? 'the native addon is Linux only'
  : process.env['MOSNODE_DISABLE_NATIVE'] === '1' ? 'MOSNODE_DISABLE_NATIVE=1' : false;
// Without the addon, one test fails with the reason and the others are skipped.
const skip = platformSkip || (native === undefined ? 'the addon did not load' : false);

let dir = '';
let counter = 0;
before(() => { dir = mkdtempSync(join(tmpdir(), 'mosnode-native-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

const sockPath = (): string => join(dir, `s${++counter}.sock`);
const openFds = (): number => readdirSync('/proc/self/fd').length;
const code = (err: unknown): unknown => (err as SystemError).code;

/** A connected pair over a fresh listener; the listener is closed (its file removed). */
async function pair(): Promise<[UnixMessageSocket, UnixMessageSocket]> {
  const listener = listenUnix(sockPath());
  try {
    const [client, server] = await Promise.all([connectUnix(listener.path, 1000), listener.accept(1000)]);
    return [client, server];
  } finally {
    listener.close();
  }
}

function listeningFd(server: net.Server): number {
  return (server as unknown as { _handle: { fd: number } })._handle.fd;
}

async function tcpServer(reply: string, fd?: number): Promise<net.Server> {
  const server = net.createServer((c) => c.end(reply));
  server.listen(fd === undefined ? { host: '127.0.0.1', port: 0 } : { fd });
  await once(server, 'listening');
  return server;
}

async function ask(port: number): Promise<string> {
  const client = net.connect({ host: '127.0.0.1', port });
  client.setEncoding('utf8');
  let text = '';
  for await (const chunk of client) text += chunk as string;
  return text;
}

test('the addon loads on Linux', { skip: platformSkip }, () => {
  assert.ok(native, nativeLoadError);
  assert.equal(native.SCM_MAX_FD, SCM_MAX_FD);
  assert.equal(native.MAX_RECV_BYTES, MAX_RECV_BYTES);
  assert.equal(native.MAX_MAPPING_BYTES, MAX_MAPPING_BYTES);
});

test('bytes arrive whole and in order, across partial writes; queued sends never interleave', { skip }, async () => {
  const [a, b] = await pair();
  try {
    await a.send(Buffer.from('hello'), [], 1000);
    const small = await b.receiveExactly(5, 1000);
    assert.equal(small.bytes.toString(), 'hello');
    assert.deepEqual(small.fds, []);

    // 4 MiB each: far more than a unix socket buffer, so both sends are written in parts.
    const first = Buffer.alloc(4 << 20, 1);
    const second = Buffer.alloc(4 << 20, 2);
    const sends = Promise.all([a.send(first, [], 10_000), a.send(second, [], 10_000)]);
    const got = await b.receiveExactly(first.length + second.length, 10_000);
    await sends;
    assert.ok(got.bytes.equals(Buffer.concat([first, second])));

    await b.send(Buffer.from('xyz'), [], 1000);
    const some = await a.receive(100, 0, 1000);
    assert.equal(some.bytes.toString(), 'xyz');
  } finally {
    a.close();
    b.close();
  }
});

test('raw sendMsg reports a partial write, then -1 when the buffer is full; recvMsg null when empty', { skip }, async () => {
  const [a, b] = await pair();
  try {
    const big = Buffer.alloc(16 << 20);
    const sent = native!.sendMsg(a.fd, big, []);
    assert.ok(sent > 0 && sent < big.length, `sent ${sent}`);
    assert.equal(native!.sendMsg(a.fd, big, []), -1);
    assert.equal(native!.recvMsg(a.fd, 10, 0), null);
  } finally {
    a.close();
    b.close();
  }
});

test('a listening TCP socket passed within the process is served by the receiver', { skip }, async () => {
  const [a, b] = await pair();
  const original = await tcpServer('original');
  let successor: net.Server | undefined;
  try {
    const { port } = original.address() as net.AddressInfo;
    await a.send(Buffer.from([0]), [listeningFd(original)], 1000);
    const { bytes, fds } = await b.receiveExactly(1, 1000);
    assert.deepEqual([...bytes], [0]);
    assert.equal(fds.length, 1);
    assert.notEqual(fds[0], listeningFd(original));
    successor = await tcpServer('successor', fds[0]);
    await new Promise((resolve) => original.close(resolve));
    assert.equal(await ask(port), 'successor');
    assert.equal(await ask(port), 'successor');
  } finally {
    a.close();
    b.close();
    original.close();
    successor?.close();
  }
});

const CHILD = `
import net from 'node:net';
const { connectUnix } = await import(process.argv[2]);
const sock = await connectUnix(process.argv[1], 2000);
const { fds } = await sock.receiveExactly(1, 5000);
const server = net.createServer((c) => c.end('child ' + process.pid));
server.listen({ fd: fds[0] }, () => { sock.send(Buffer.from('R'), [], 2000); });
await sock.receive(1, 0, 20000);
server.close();
sock.close();
`;

test('a listening TCP socket passed to another process is served by that process', { skip }, async () => {
  const listener = listenUnix(sockPath());
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, listener.path, NATIVE_URL], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = once(child, 'exit');
  const original = await tcpServer('parent');
  let sock: UnixMessageSocket | undefined;
  try {
    const { port } = original.address() as net.AddressInfo;
    sock = await listener.accept(5000);
    await sock.send(Buffer.from([0]), [listeningFd(original)], 1000);
    assert.equal((await sock.receiveExactly(1, 5000)).bytes.toString(), 'R');
    await new Promise((resolve) => original.close(resolve));
    assert.equal(await ask(port), `child ${child.pid}`);
    await sock.send(Buffer.from('!'), [], 1000);
    assert.deepEqual(await exited, [0, null]);
  } finally {
    sock?.close();
    listener.close();
    original.close();
    if (child.exitCode === null) child.kill();
  }
});

test('300 fds (more than SCM_MAX_FD) cross in several messages: all arrive, close-on-exec, none leak', { skip }, async () => {
  const fdsBefore = openFds();
  const [a, b] = await pair();
  const sources = Array.from({ length: 300 }, () => openSync('/dev/null', 'r'));
  let received: number[] = [];
  try {
    for (let i = 0; i < sources.length; i += SCM_MAX_FD) {
      await a.send(Buffer.from([i / SCM_MAX_FD]), sources.slice(i, i + SCM_MAX_FD), 1000);
    }
    const messages = Math.ceil(sources.length / SCM_MAX_FD);
    const got = await b.receiveExactly(messages, 2000, sources.length);
    received = got.fds;
    assert.deepEqual([...got.bytes], [0, 1]);
    assert.equal(received.length, 300);
    assert.equal(new Set(received).size, 300);
    for (const fd of received) {
      assert.ok(!sources.includes(fd));
      assert.equal(readlinkSync(`/proc/self/fd/${fd}`), '/dev/null');
      const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
      assert.ok(flags & 0o2000000, `fd ${fd} is not close-on-exec`);
    }
  } finally {
    closeFdsQuietly(received);
    sources.forEach((fd) => closeSync(fd));
    a.close();
    b.close();
  }
  assert.equal(openFds(), fdsBefore);
});

test('more fds than maxFds: EMSGSIZE, and the fds that arrived are closed', { skip }, async () => {
  const fdsBefore = openFds();
  const [a, b] = await pair();
  const sources = Array.from({ length: 5 }, () => openSync('/dev/null', 'r'));
  try {
    await a.send(Buffer.from('x'), sources, 1000);
    await assert.rejects(b.receive(10, 2, 1000), (err) => code(err) === 'EMSGSIZE' && /MSG_CTRUNC/.test((err as Error).message));
    // Across several messages, receiveExactly closes what it collected before the excess.
    await a.send(Buffer.from('y'), sources.slice(0, 3), 1000);
    await a.send(Buffer.from('z'), sources.slice(0, 3), 1000);
    await assert.rejects(b.receiveExactly(2, 1000, 4), (err) => code(err) === 'EMSGSIZE');
  } finally {
    sources.forEach((fd) => closeSync(fd));
    a.close();
    b.close();
  }
  assert.equal(openFds(), fdsBefore);
});

test('waits past their deadline reject with ETIMEDOUT', { skip }, async () => {
  const listener = listenUnix(sockPath());
  const [a, b] = await pair();
  try {
    const started = performance.now();
    await assert.rejects(b.receive(10, 0, 50), (err) => code(err) === 'ETIMEDOUT');
    assert.ok(performance.now() - started >= 45);
    await assert.rejects(listener.accept(30), (err) => code(err) === 'ETIMEDOUT' && (err as Error).message.includes(listener.path));
    await a.send(Buffer.from('ab'), [], 1000);
    await assert.rejects(b.receiveExactly(5, 30), (err) => code(err) === 'ETIMEDOUT' && /2 of 5 bytes/.test((err as Error).message));
    await assert.rejects(b.receive(1, 0, 0), (err) => code(err) === 'ETIMEDOUT'); // 0: one try, no wait
    const big = Buffer.alloc(16 << 20);
    await assert.rejects(a.send(big, [], 50), (err) => {
      const sent = (err as { bytesSent?: number }).bytesSent ?? -1;
      return code(err) === 'ETIMEDOUT' && sent > 0 && sent < big.length;
    });
  } finally {
    a.close();
    b.close();
    listener.close();
  }
});

test('EOF: receive resolves with empty bytes; receiveExactly rejects ECONNRESET mid-message', { skip }, async () => {
  const [a, b] = await pair();
  a.close();
  const eof = await b.receive(10, 4, 1000);
  assert.equal(eof.bytes.length, 0);
  assert.deepEqual(eof.fds, []);
  assert.equal((await b.receiveExactly(4, 1000)).bytes.length, 0);
  b.close();

  const [c, d] = await pair();
  const source = openSync('/dev/null', 'r');
  const fdsBefore = openFds();
  await c.send(Buffer.from('ab'), [source], 1000);
  c.close();
  await assert.rejects(d.receiveExactly(4, 1000), (err) => code(err) === 'ECONNRESET' && /2 of 4 bytes/.test((err as Error).message));
  assert.equal(openFds(), fdsBefore - 1, 'the received fd was closed');
  d.close();
  closeSync(source);
});

test('connect and listen errors carry errno names', { skip }, async () => {
  await assert.rejects(connectUnix(join(dir, 'missing.sock'), 100), (err) => code(err) === 'ENOENT' && (err as SystemError).syscall === 'connect');
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'not a socket');
  await assert.rejects(connectUnix(file, 100), (err) => code(err) === 'ECONNREFUSED' && (err as Error).message.includes(file));
  assert.throws(() => listenUnix(file), (err) => code(err) === 'EADDRINUSE');

  // A stale socket file: its listener is gone (here: closed without removing the file).
  const stale = sockPath();
  native!.closeFd(native!.unixListen(stale, 1));
  await assert.rejects(connectUnix(stale, 100), (err) => code(err) === 'ECONNREFUSED');
  assert.throws(() => listenUnix(stale), (err) => code(err) === 'EADDRINUSE');

  assert.throws(() => listenUnix(join(dir, 'x'.repeat(120))), (err) => code(err) === 'ENAMETOOLONG');
  assert.throws(() => listenUnix(join(dir, 'nul\0name')), (err) => code(err) === 'ERR_INVALID_ARG_VALUE');
  await assert.rejects(connectUnix(stale, -1), (err) => code(err) === 'ERR_OUT_OF_RANGE');
});

test('raw calls validate their arguments', { skip }, async () => {
  const [a, b] = await pair();
  try {
    const source = openSync('/dev/null', 'r');
    assert.throws(() => native!.sendMsg(a.fd, Buffer.alloc(1), Array(254).fill(source)), (err) => code(err) === 'EINVAL' && /SCM_MAX_FD/.test((err as Error).message));
    assert.throws(() => native!.sendMsg(a.fd, Buffer.alloc(0), [source]), (err) => code(err) === 'EINVAL');
    await assert.rejects(a.send(Buffer.alloc(0), [source], 100), (err) => code(err) === 'EINVAL');
    closeSync(source);
    assert.throws(() => native!.sendMsg(a.fd, 'text' as unknown as Buffer, []), TypeError);
    assert.throws(() => native!.sendMsg(a.fd, Buffer.alloc(1), [-1]), RangeError);
    assert.throws(() => native!.recvMsg(b.fd, 0, 0), RangeError);
    assert.throws(() => native!.recvMsg(b.fd, 1, SCM_MAX_FD + 1), RangeError);
    assert.throws(() => native!.recvMsg(b.fd, 1.5, 0), RangeError);
    assert.throws(() => native!.unixAccept('3' as unknown as number), TypeError);
    await assert.rejects(b.receive(0, 0, 100), RangeError);
    assert.throws(() => native!.sendMsg(2 ** 30, Buffer.alloc(1), []), (err) => code(err) === 'EBADF');
  } finally {
    a.close();
    b.close();
  }
});

test('close() cancels waiting operations with ECANCELED, closes the fd, and removes only its own socket file', { skip }, async () => {
  const [a, b] = await pair();
  const waiting = b.receive(10, 0, 5000);
  const queued = b.receiveExactly(3, 5000);
  const fd = b.fd;
  const link = readlinkSync(`/proc/self/fd/${fd}`);
  b.close();
  b.close();
  await assert.rejects(waiting, (err) => code(err) === 'ECANCELED');
  await assert.rejects(queued, (err) => code(err) === 'ECANCELED');
  await assert.rejects(b.send(Buffer.from('x'), [], 100), (err) => code(err) === 'ECANCELED');
  assert.equal(b.closed, true);
  assert.ok(!existsSync(`/proc/self/fd/${fd}`) || readlinkSync(`/proc/self/fd/${fd}`) !== link);
  a.close();
  assert.throws(() => closeFd(fd), (err) => code(err) === 'EBADF');

  const listener: UnixListener = listenUnix(sockPath());
  const accepting = listener.accept(5000);
  assert.ok(lstatSync(listener.path).isSocket());
  listener.close();
  await assert.rejects(accepting, (err) => code(err) === 'ECANCELED');
  assert.equal(existsSync(listener.path), false);

  // A successor replaced the socket file: closing the old listener leaves it alone.
  const old = listenUnix(sockPath());
  rmSync(old.path);
  const successor = listenUnix(old.path);
  old.close();
  assert.ok(existsSync(successor.path));
  const client = await connectUnix(successor.path, 1000);
  client.close();
  successor.close();
});

test('without the addon, native is undefined and the reason is given', async () => {
  const script = `const m = await import(process.argv[1]);
    console.log(JSON.stringify({ native: m.native === undefined, error: m.nativeLoadError }));
    try { m.listenUnix('/nonexistent/x.sock'); } catch (err) { console.log(err.code); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, NATIVE_URL], {
    env: { ...process.env, MOSNODE_DISABLE_NATIVE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  assert.deepEqual(await once(child, 'exit'), [0, null]);
  const [first, second] = out.trim().split('\n');
  assert.deepEqual(JSON.parse(first!), { native: true, error: 'the native addon is disabled by MOSNODE_DISABLE_NATIVE=1' });
  assert.equal(second, 'ENOSYS');
});

const mappedRegions = (path: string): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.endsWith(path)).length;

test('mmapFile creates the file (0600), grows it, and two mappings share every byte', { skip }, () => {
  const path = join(dir, 'zone-shared');
  const first = mmapFile(path, 8192);
  assert.ok(first instanceof ArrayBuffer);
  assert.equal(first.byteLength, 8192);
  assert.equal(statSync(path).size, 8192);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.ok(new Uint8Array(first).every((byte) => byte === 0));
  const second = mmapFile(path, 4096);
  const a = new BigInt64Array(first);
  const b = new BigInt64Array(second);
  Atomics.add(a, 3, 5n);
  Atomics.add(b, 3, 2n);
  assert.equal(Atomics.load(a, 3), 7n);
  assert.equal(readFileSync(path).readBigInt64LE(24), 7n, 'the file holds what the mappings wrote');
  assert.equal(statSync(path).size, 8192, 'a larger file keeps its size');
  releaseMapping(first);
  releaseMapping(second);
});

test('releaseMapping detaches the buffer (views become empty, Atomics throw), then the region is unmapped', { skip }, async () => {
  const path = join(dir, 'zone-release');
  const buffer = mmapFile(path, 4096);
  const view = new Int32Array(buffer);
  view[0] = 1;
  assert.equal(mappedRegions(path), 1);
  releaseMapping(buffer);
  releaseMapping(buffer);
  assert.equal(buffer.detached, true);
  assert.equal(view.length, 0);
  assert.throws(() => Atomics.add(view, 0, 1), TypeError);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(mappedRegions(path), 0);
  assert.equal(readFileSync(path).readInt32LE(0), 1);
});

test('mmapFile errors: missing folder, not a regular file, sizes out of range, bad arguments', { skip }, () => {
  assert.throws(() => mmapFile(join(dir, 'missing', 'zone'), 4096), (err) => code(err) === 'ENOENT' && (err as SystemError).syscall === 'open');
  assert.throws(() => mmapFile(dir, 4096), (err) => code(err) === 'EISDIR');
  assert.throws(() => mmapFile('/dev/null', 4096), (err) => code(err) === 'EINVAL' && /\/dev\/null/.test((err as Error).message));
  assert.throws(() => mmapFile(join(dir, 'zero'), 0), RangeError);
  assert.throws(() => mmapFile(join(dir, 'huge'), MAX_MAPPING_BYTES + 1), RangeError);
  assert.throws(() => native!.mmapFile(join(dir, 'frac'), 1.5), RangeError);
  assert.throws(() => native!.mmapFile(42 as unknown as string, 4096), TypeError);
  assert.throws(() => native!.releaseMapping({} as ArrayBuffer), TypeError);
  assert.throws(() => mmapFile(join(dir, 'x'.repeat(5000)), 4096), (err) => code(err) === 'ENAMETOOLONG');
});

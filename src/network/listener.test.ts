/**
 * The Listener with hand-made handlers over real sockets (127.0.0.1 port 0, ::1, unix
 * paths in a temp folder): listener filters (peek, consume, address overrides, errors,
 * timeouts), the connection lifecycle (read-disable counting, one close event with its
 * reason, idle timeout, drain, writable, detach), binding (unix, abstract, IPv6, stale
 * and live socket files, busy ports) and stopAccepting.
 */
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { ConnectionEvent, ReadFilter } from '../api/network-filter.ts';
import type { ListenerFilter, ListenerFilterCallbacks, ListenerFilterStatus } from '../api/listener-filter.ts';
import type { ListenerConfig } from '../config/types.ts';
import { silentLogger } from '../core/logger.ts';
import { MosnError, isMosnError } from '../core/errors.ts';
import { Listener, type ListenerHandlers, type ListenerStats } from './listener.ts';
import type { DownstreamConnection } from './connection.ts';
import { parseAddress } from './address.ts';
import { readBytes, endedOrClosed, until, sleep } from '../../test/helpers/sockets.ts';
import { listenerConfig } from '../../test/helpers/listener-harness.ts';


const listeners: Listener[] = [];
const clients: Socket[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const listener of listeners.splice(0)) {
    listener.closeAllConnections();
    await listener.stopAccepting();
  }
  for (const server of servers.splice(0)) {
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  }
});

interface Harness {
  listener: Listener;
  /** Every connection the listener created, in order. */
  connections: DownstreamConnection[];
  /** How many times the listener asked for listener filters (once per accepted socket). */
  accepted: () => number;
}

async function startListener(
  options: {
    address?: string;
    config?: Partial<ListenerConfig>;
    listenerFilters?: () => ListenerFilter[];
    install?: (connection: DownstreamConnection) => void;
    stats?: ListenerStats;
  } = {},
): Promise<Harness> {
  const connections: DownstreamConnection[] = [];
  let accepted = 0;
  const handlers: ListenerHandlers = {
    createListenerFilters: () => {
      accepted++;
      return options.listenerFilters?.() ?? [];
    },
    installNetworkFilters: (connection) => {
      connections.push(connection);
      options.install?.(connection);
    },
  };
  const listener = new Listener(listenerConfig(options.address ?? '127.0.0.1:0', options.config), handlers, silentLogger(), options.stats);
  listeners.push(listener);
  await listener.listen();
  return { listener, connections, accepted: () => accepted };
}

/** Connects to a listener's bound TCP address, or to `path` for a unix one. */
async function dial(listener: Listener, options: { path?: string; allowHalfOpen?: boolean } = {}): Promise<Socket> {
  let socket: Socket;
  if (options.path !== undefined) {
    socket = connect({ path: options.path, allowHalfOpen: options.allowHalfOpen ?? false });
  } else {
    const parsed = parseAddress(listener.boundAddress);
    assert.ok(parsed?.kind === 'tcp', `bound address ${listener.boundAddress}`);
    socket = connect({ host: parsed.host, port: parsed.port, allowHalfOpen: options.allowHalfOpen ?? false });
  }
  clients.push(socket);
  socket.on('error', () => { /* resets are expected in some tests; they assert on close */ });
  await once(socket, 'connect');
  return socket;
}

/** A read filter echoing every byte (and the half-close) back to the peer. */
function echo(connection: DownstreamConnection): void {
  connection.addReadFilter({
    onData(data, endStream) {
      connection.write(data, endStream);
      return 'Continue';
    },
  });
}

/** A read filter collecting what it sees. */
function collector(): ReadFilter & { bytes: () => Buffer; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  return {
    onData(data, endStream) {
      chunks.push(Buffer.from(data));
      if (endStream) ended = true;
      return 'Continue';
    },
    bytes: () => Buffer.concat(chunks),
    ended: () => ended,
  };
}


/** Tries a TCP connect; resolves with the error code, or 'connected'. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('listener filters', () => {
  test('peek waits for N bytes over several reads, and the read filter still gets every byte in order', async () => {
    const peeks: string[] = [];
    const sink = collector();
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          peeks.push((await cb.peek(4)).subarray(0, 4).toString());
          return 'Continue';
        },
      }],
      install: (c) => c.addReadFilter(sink),
    });
    const client = await dial(h.listener);
    client.write('HE');
    await sleep(50);
    assert.deepEqual(peeks, [], 'peek(4) must not resolve with 2 bytes');
    const payload = randomBytes(512 * 1024);
    client.write('AD');
    client.write(payload);
    const expected = Buffer.concat([Buffer.from('HEAD'), payload]);
    await until(() => sink.bytes().length >= expected.length, 'all bytes at the read filter');
    assert.deepEqual(peeks, ['HEAD']);
    assert.equal(sink.bytes().length, expected.length);
    assert.equal(sha(sink.bytes()), sha(expected));
    assert.equal(h.connections[0]!.bytesRead, expected.length);
  });

  test('a second listener filter peeks the same bytes again: peeking consumes nothing', async () => {
    const seen: string[] = [];
    const peeker = (name: string, n: number): ListenerFilter => ({
      async onAccept(cb): Promise<ListenerFilterStatus> {
        seen.push(`${name}:${(await cb.peek(n)).toString()}`);
        return 'Continue';
      },
    });
    const h = await startListener({ listenerFilters: () => [peeker('first', 3), peeker('second', 6)], install: echo });
    const client = await dial(h.listener);
    client.write('abc');
    await until(() => seen.length === 1, 'the first peek');
    client.write('def');
    assert.equal((await readBytes(client, 6)).toString(), 'abcdef');
    assert.deepEqual(seen, ['first:abc', 'second:abcdef']);
  });

  test('consume(n) drops a header for good; address overrides and state reach the connection', async () => {
    const sink = collector();
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          let head = await cb.peek(1);
          while (!head.includes('\r\n')) head = await cb.peek(head.length + 1);
          const end = head.indexOf('\r\n') + 2;
          const [, src, dst] = head.subarray(0, end - 2).toString().split(' ');
          const [srcIp, srcPort] = src!.split('|');
          const [dstIp, dstPort] = dst!.split('|');
          cb.consume(end);
          cb.setRemoteAddress(srcIp!, Number(srcPort));
          cb.setOriginalDestination(dstIp!, Number(dstPort));
          cb.state.set('proxied', true);
          return 'Continue';
        },
      }],
      install: (c) => c.addReadFilter(sink),
    });
    const client = await dial(h.listener);
    client.write('PROXY 203.0.113.7|5555 198.51.100.1|8443\r\npayload');
    client.write(' and more');
    await until(() => sink.bytes().toString() === 'payload and more', 'the payload without the header');
    const c = h.connections[0]!;
    assert.equal(c.remoteIp, '203.0.113.7');
    assert.equal(c.remotePort, 5555);
    assert.equal(c.remoteAddress, '203.0.113.7:5555');
    assert.equal(c.localIp, '198.51.100.1');
    assert.equal(c.localPort, 8443);
    assert.equal(c.localAddress, '198.51.100.1:8443');
    assert.equal(c.state.get('proxied'), true);
  });

  test('callbacks carry the real addresses of the accepted socket', async () => {
    let seen: Pick<ListenerFilterCallbacks, 'remoteIp' | 'remotePort' | 'localIp' | 'localPort' | 'remoteAddress' | 'localAddress'> | undefined;
    const h = await startListener({
      listenerFilters: () => [{
        onAccept(cb) {
          const { remoteIp, remotePort, localIp, localPort, remoteAddress, localAddress } = cb;
          seen = { remoteIp, remotePort, localIp, localPort, remoteAddress, localAddress };
          return 'Continue';
        },
      }],
      install: echo,
    });
    const client = await dial(h.listener);
    client.write('x');
    await readBytes(client, 1);
    const port = Number(h.listener.boundAddress.split(':')[1]);
    assert.deepEqual(seen, {
      remoteIp: '127.0.0.1',
      remotePort: client.localPort,
      localIp: '127.0.0.1',
      localPort: port,
      remoteAddress: `127.0.0.1:${client.localPort}`,
      localAddress: `127.0.0.1:${port}`,
    });
  });

  test('a peer that half-closes during a peek: the peek resolves short and the bytes and FIN still arrive', async () => {
    const peeks: string[] = [];
    const sink = collector();
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          peeks.push((await cb.peek(100)).toString());
          return 'Continue';
        },
      }],
      install: (c) => c.addReadFilter(sink),
    });
    const client = await dial(h.listener, { allowHalfOpen: true });
    client.end('short');
    await until(() => sink.ended(), 'the half-close at the read filter');
    assert.deepEqual(peeks, ['short']);
    assert.equal(sink.bytes().toString(), 'short');
  });

  test('a throwing listener filter closes that socket and the listener keeps accepting', async () => {
    let n = 0;
    const h = await startListener({
      listenerFilters: () => [{
        onAccept() {
          if (n++ === 0) throw new Error('listener filter bug');
          return 'Continue';
        },
      }],
      install: echo,
    });
    const bad = await dial(h.listener);
    await endedOrClosed(bad);
    assert.equal(h.connections.length, 0, 'no connection for the failed socket');
    const good = await dial(h.listener);
    good.write('ping');
    assert.equal((await readBytes(good, 4)).toString(), 'ping');
    assert.equal(h.connections.length, 1);
    assert.equal(h.accepted(), 2);
  });

  test('a rejecting listener filter (after a peek) closes that socket and the listener keeps accepting', async () => {
    let n = 0;
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          const head = await cb.peek(3);
          if (n++ === 0) throw new Error(`unknown protocol ${head.toString()}`);
          return 'Continue';
        },
      }],
      install: echo,
    });
    const bad = await dial(h.listener);
    bad.write('???');
    await endedOrClosed(bad);
    assert.equal(h.connections.length, 0);
    const good = await dial(h.listener);
    good.write('GET');
    assert.equal((await readBytes(good, 3)).toString(), 'GET');
  });

  test('peek rejects after its timeout; unhandled, the socket is closed', async () => {
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          await cb.peek(10, 150);
          return 'Continue';
        },
      }],
      install: echo,
    });
    const started = Date.now();
    const client = await dial(h.listener);
    client.write('ab');
    await endedOrClosed(client);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 140, `closed after ${elapsed} ms, before the 150 ms timeout`);
    assert.ok(elapsed < 3000, `closed after ${elapsed} ms: the 150 ms timeout was not used`);
    assert.equal(h.connections.length, 0);
  });

  test('a filter that handles the peek timeout may go on: the partial bytes still reach the chain', async () => {
    const errors: string[] = [];
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          try {
            await cb.peek(10, 100);
          } catch (err) {
            errors.push((err as Error).message);
          }
          return 'Continue';
        },
      }],
      install: echo,
    });
    const client = await dial(h.listener);
    client.write('ab');
    assert.equal((await readBytes(client, 2)).toString(), 'ab');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /timed out after 100 ms with 2 of 10 bytes/);
  });

  test('Stop after close(): no connection, no later filter, socket closed', async () => {
    const calls: string[] = [];
    const h = await startListener({
      listenerFilters: () => [
        { onAccept(cb) { calls.push('deny'); cb.close(); return 'Stop'; } },
        { onAccept() { calls.push('never'); return 'Continue'; } },
      ],
      install: echo,
    });
    const client = await dial(h.listener);
    await endedOrClosed(client);
    assert.deepEqual(calls, ['deny']);
    assert.equal(h.connections.length, 0);
  });

  test('Stop without close(): the socket is closed too, since no filter can take it', async () => {
    const calls: string[] = [];
    const h = await startListener({
      listenerFilters: () => [
        { onAccept() { calls.push('stop'); return 'Stop'; } },
        { onAccept() { calls.push('never'); return 'Continue'; } },
      ],
      install: echo,
    });
    const client = await dial(h.listener);
    client.write('hello?');
    await endedOrClosed(client);
    assert.deepEqual(calls, ['stop']);
    assert.equal(h.connections.length, 0);
  });

  test('each accepted socket gets fresh listener filters', async () => {
    const instances = new Set<ListenerFilter>();
    const h = await startListener({
      listenerFilters: () => {
        const filter: ListenerFilter = { onAccept() { instances.add(filter); return 'Continue'; } };
        return [filter];
      },
      install: echo,
    });
    for (let i = 0; i < 3; i++) {
      const client = await dial(h.listener);
      client.write('x');
      await readBytes(client, 1);
    }
    assert.equal(instances.size, 3);
  });
});

describe('connections through a listener', () => {
  test('readDisable counts: two disables need two enables; extra enables are ignored', async () => {
    const sink = collector();
    const h = await startListener({
      install: (c) => {
        c.addReadFilter(sink);
        c.readDisable(true);
        c.readDisable(true);
      },
    });
    const client = await dial(h.listener);
    const c = h.connections[0]!;
    client.write('abc');
    await sleep(100);
    assert.equal(sink.bytes().length, 0);
    c.readDisable(false);
    assert.equal(c.readDisabled, true);
    await sleep(100);
    assert.equal(sink.bytes().length, 0, 'one enable of two must not resume reading');
    c.readDisable(false);
    assert.equal(c.readDisabled, false);
    await until(() => sink.bytes().toString() === 'abc', 'the bytes after the second enable');
    c.readDisable(false); // one too many: no-op, must not make the next disable ineffective
    c.readDisable(true);
    assert.equal(c.readDisabled, true);
    client.write('def');
    await sleep(100);
    assert.equal(sink.bytes().toString(), 'abc');
    c.readDisable(false);
    await until(() => sink.bytes().toString() === 'abcdef', 'bytes after re-enabling');
  });

  test('onClose: RemoteClose once when the peer resets, for every listener, late ones too', async () => {
    const events: string[] = [];
    const h = await startListener({
      install: (c) => {
        echo(c);
        c.onClose((e) => events.push(`first:${e}`));
        c.onClose((e) => events.push(`second:${e}`));
      },
    });
    const client = await dial(h.listener);
    client.write('x');
    await readBytes(client, 1);
    const c = h.connections[0]!;
    client.resetAndDestroy();
    await until(() => events.length === 2, 'both close listeners');
    assert.deepEqual(events, ['first:RemoteClose', 'second:RemoteClose']);
    assert.equal(c.closed, true);
    c.close(); // after the fact: no second event
    const late = await new Promise<ConnectionEvent>((resolve) => c.onClose(resolve));
    assert.equal(late, 'RemoteClose');
    await sleep(20);
    assert.equal(events.length, 2);
    assert.equal(h.listener.connections.size, 0);
  });

  test('onClose: RemoteClose when the peer closes and the chain answers its FIN', async () => {
    const events: ConnectionEvent[] = [];
    const h = await startListener({ install: (c) => { echo(c); c.onClose((e) => events.push(e)); } });
    const client = await dial(h.listener);
    client.end('bye');
    assert.equal((await readBytes(client, 3)).toString(), 'bye');
    await until(() => events.length === 1, 'the close event');
    assert.deepEqual(events, ['RemoteClose']);
  });

  test('onClose: LocalClose once on close(), FlushWrite delivers pending bytes first', async () => {
    const events: ConnectionEvent[] = [];
    const h = await startListener({ install: (c) => c.onClose((e) => events.push(e)) });
    const client = await dial(h.listener);
    await until(() => h.connections.length === 1, 'the connection');
    const c = h.connections[0]!;
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    const big = randomBytes(256 * 1024);
    c.write(big);
    c.close();
    c.close('NoFlush'); // a second close is a no-op
    await once(client, 'end');
    assert.equal(sha(Buffer.concat(received)), sha(big));
    await until(() => events.length === 1, 'the close event');
    await sleep(20);
    assert.deepEqual(events, ['LocalClose']);
    assert.equal(c.write(Buffer.from('late')), false);
  });

  test('onClose: IdleTimeout after connection_idle_timeout without traffic; traffic resets it', async () => {
    const events: ConnectionEvent[] = [];
    const h = await startListener({
      config: { connection_idle_timeout: 300 },
      install: (c) => { echo(c); c.onClose((e) => events.push(e)); },
    });
    const client = await dial(h.listener);
    for (let i = 0; i < 5; i++) {
      await sleep(100);
      client.write('.');
      await readBytes(client, 1);
    }
    assert.deepEqual(events, [], 'traffic every 100 ms keeps a 300 ms idle timer from firing');
    const idleFrom = Date.now();
    await endedOrClosed(client);
    const idle = Date.now() - idleFrom;
    await until(() => events.length === 1, 'the close event');
    assert.deepEqual(events, ['IdleTimeout']);
    assert.ok(idle >= 250 && idle < 3000, `closed after ${idle} ms of silence`);
  });

  test('stats see each connection open and close, and its bytes as they move', async () => {
    const seen: string[] = [];
    let read = 0;
    let written = 0;
    const stats: ListenerStats = {
      onConnectionOpen: () => seen.push('open'),
      onBytes: (r, w) => { read += r; written += w; },
      onConnectionClose: () => seen.push(`close ${read}/${written}`),
    };
    const h = await startListener({ install: echo, stats });
    const client = await dial(h.listener);
    client.write('12345');
    await readBytes(client, 5);
    await until(() => read === 5 && written === 5, 'the bytes to be counted while the connection is open');
    assert.deepEqual(seen, ['open']);
    h.connections[0]!.close();
    await endedOrClosed(client);
    await until(() => seen.length === 2, 'the close');
    assert.deepEqual(seen, ['open', 'close 5/5']);
  });

  test('onDrain: each listener called once when draining starts; a late one is still told', async () => {
    const h = await startListener();
    await dial(h.listener);
    await until(() => h.connections.length === 1, 'the connection');
    const c = h.connections[0]!;
    let drains = 0;
    c.onDrain(() => drains++);
    c.onDrain(() => drains++);
    assert.equal(c.draining, false);
    c.drain();
    c.drain();
    assert.equal(drains, 2);
    assert.equal(c.draining, true);
    await new Promise<void>((resolve) => c.onDrain(resolve));
    assert.equal(drains, 2);
  });

  test('onWritable fires once the peer reads what overflowed the socket buffer', async () => {
    let writable = 0;
    const h = await startListener({ install: (c) => c.onWritable(() => writable++) });
    const client = await dial(h.listener);
    client.pause();
    await until(() => h.connections.length === 1, 'the connection');
    const c = h.connections[0]!;
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    while (c.write(chunk)) {
      sent += chunk.length;
      if (sent > 256 * 1024 * 1024) assert.fail('write() never reported a full buffer');
    }
    sent += chunk.length;
    assert.equal(writable, 0);
    const all = readBytes(client, sent);
    client.resume();
    await all;
    await until(() => writable === 1, 'onWritable');
  });

  test('detachSocket in onNewConnection: the new owner gets every byte, the chain none', async () => {
    const chain = collector();
    const owned: Buffer[] = [];
    let owner: Socket | undefined;
    const h = await startListener({
      install: (c) => {
        c.addReadFilter({
          onNewConnection() {
            owner = c.detachSocket();
            return 'Continue';
          },
          onData: () => 'Continue',
        });
        c.addReadFilter(chain);
      },
    });
    const client = await dial(h.listener);
    client.write('before the owner reads;');
    await sleep(50);
    assert.ok(owner !== undefined);
    assert.equal(h.connections[0]!.detached, true);
    owner.on('data', (d: Buffer) => owned.push(d));
    owner.resume();
    client.write('after');
    await until(() => Buffer.concat(owned).toString() === 'before the owner reads;after', 'the owner to get every byte');
    assert.equal(chain.bytes().length, 0);
    owner.write('owner speaks');
    assert.equal((await readBytes(client, 12)).toString(), 'owner speaks');
  });

  test('detachSocket mid-stream: later bytes go to the new owner, not to the filters', async () => {
    const chain = collector();
    const owned: Buffer[] = [];
    const h = await startListener({
      install: (c) => {
        c.addReadFilter({
          onData(data) {
            if (data.toString().startsWith('UPGRADE')) {
              const socket = c.detachSocket();
              assert.equal(socket.isPaused(), true, 'handed over paused');
              socket.on('data', (d: Buffer) => owned.push(d));
              socket.resume();
              socket.write('upgraded');
            }
            return 'Continue';
          },
        });
        c.addReadFilter(chain);
      },
    });
    const client = await dial(h.listener);
    client.write('UPGRADE');
    assert.equal((await readBytes(client, 8)).toString(), 'upgraded');
    client.write('new protocol');
    await until(() => Buffer.concat(owned).toString() === 'new protocol', 'the new owner to get the bytes');
    assert.equal(chain.bytes().toString(), 'UPGRADE');
    assert.equal(h.connections[0]!.write(Buffer.from('x')), false, 'the connection no longer writes');
  });

  test('installNetworkFilters throwing closes that connection; the listener keeps accepting', async () => {
    let n = 0;
    const events: ConnectionEvent[] = [];
    const h = await startListener({
      install: (c) => {
        c.onClose((e) => events.push(e));
        if (n++ === 0) throw new Error('bad filter chain');
        echo(c);
      },
    });
    const bad = await dial(h.listener);
    await endedOrClosed(bad);
    await until(() => events.length === 1, 'the close of the first');
    assert.deepEqual(events, ['LocalClose']);
    const good = await dial(h.listener);
    good.write('ok');
    assert.equal((await readBytes(good, 2)).toString(), 'ok');
  });

  test('a read filter throwing closes that connection only', async () => {
    const h = await startListener({
      install: (c) => {
        c.addReadFilter({ onData: (d) => { if (d.toString() === 'boom') throw new Error('boom'); return 'Continue'; } });
        echo(c);
      },
    });
    const other = await dial(h.listener);
    const bad = await dial(h.listener);
    bad.write('boom');
    await endedOrClosed(bad);
    other.write('alive');
    assert.equal((await readBytes(other, 5)).toString(), 'alive');
    await until(() => h.listener.connections.size === 1, 'the bad connection to leave the set');
  });
});

describe('binding', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mosnode-listener-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('port 0 binds a real port that boundAddress reports', async () => {
    const h = await startListener({ install: echo });
    assert.match(h.listener.boundAddress, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(h.listener.boundAddress, '127.0.0.1:0');
    assert.equal(h.listener.accepting, true);
    assert.equal(typeof h.listener.fd, 'number');
  });

  test('a bad address is refused at construction with MOSN_ERR_CONFIG_INVALID', () => {
    for (const address of ['localhost:80', '127.0.0.1', '[::1]', '127.0.0.1:70000']) {
      assert.throws(
        () => new Listener(listenerConfig(address), { createListenerFilters: () => [], installNetworkFilters: () => {} }, silentLogger()),
        (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.includes(address),
        address,
      );
    }
  });

  test('a unix socket path: accepts, connections have no IP, the file stays for a successor until removed', async () => {
    const path = join(dir, 'plain.sock');
    const h = await startListener({ address: path, install: echo });
    assert.equal(h.listener.boundAddress, path);
    const client = await dial(h.listener, { path });
    client.write('over unix');
    assert.equal((await readBytes(client, 9)).toString(), 'over unix');
    const c = h.connections[0]!;
    assert.equal(c.remoteIp, '');
    assert.equal(c.remoteAddress, '');
    client.destroy();
    h.listener.closeAllConnections();
    await h.listener.stopAccepting();
    assert.equal(existsSync(path), true, 'stopping leaves the file: a successor may serve on it');
    h.listener.removeSocketFile();
    assert.equal(existsSync(path), false, 'a final stop removes it');
  });

  test('network "unix" with an abstract name ("@name") listens without a file', async () => {
    const name = `mosnode-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    const h = await startListener({ address: `@${name}`, config: { network: 'unix' }, install: echo });
    const client = await dial(h.listener, { path: `\0${name}` });
    client.write('abstract');
    assert.equal((await readBytes(client, 8)).toString(), 'abstract');
  });

  test('a stale unix socket file left by a killed process is replaced', async () => {
    const path = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(process.argv[1], () => console.log('ready'))`, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
        child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      });
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    assert.equal(existsSync(path), true, 'SIGKILL leaves the socket file behind');
    const h = await startListener({ address: path, install: echo });
    const client = await dial(h.listener, { path });
    client.write('fresh');
    assert.equal((await readBytes(client, 5)).toString(), 'fresh');
  });

  test('a live unix socket is not replaced: MOSN_ERR_LISTENER_BIND, and its owner keeps it', async () => {
    const path = join(dir, 'live.sock');
    const owner = createServer((s) => {
      s.on('error', () => { /* the liveness probe hangs up at once */ });
      s.end('owner');
    });
    servers.push(owner);
    owner.listen(path);
    await once(owner, 'listening');
    const listener = new Listener(listenerConfig(path), { createListenerFilters: () => [], installNetworkFilters: echo }, silentLogger());
    await assert.rejects(listener.listen(), (err: unknown) => {
      assert.ok(err instanceof MosnError);
      assert.equal(err.code, 'MOSN_ERR_LISTENER_BIND');
      assert.match(err.message, /EADDRINUSE/);
      assert.match(err.message, /live\.sock/);
      return true;
    });
    assert.equal(listener.accepting, false);
    const client = connect({ path });
    clients.push(client);
    assert.equal((await readBytes(client, 5)).toString(), 'owner');
  });

  test('a busy TCP port: MOSN_ERR_LISTENER_BIND mentioning EADDRINUSE, with the cause kept', async () => {
    const busy = createServer();
    servers.push(busy);
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address() as { port: number };
    const listener = new Listener(listenerConfig(`127.0.0.1:${port}`), { createListenerFilters: () => [], installNetworkFilters: echo }, silentLogger());
    await assert.rejects(listener.listen(), (err: unknown) => {
      assert.ok(isMosnError(err, 'MOSN_ERR_LISTENER_BIND'));
      assert.match(err.message, /EADDRINUSE/);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
      return true;
    });
    assert.equal(listener.accepting, false);
  });
});

const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

describe('IPv6', () => {
  test(
    ipv6Loopback ? 'listens on [::1]:0 and formats addresses with brackets' : 'listens on [::1]:0 (skipped: ::1 is not available on this machine)',
    { skip: ipv6Loopback ? false : 'cannot listen on ::1 here: no IPv6 loopback' },
    async () => {
      let filterSaw = '';
      const h = await startListener({
        address: '[::1]:0',
        listenerFilters: () => [{ onAccept(cb) { filterSaw = cb.remoteAddress; return 'Continue'; } }],
        install: echo,
      });
      assert.match(h.listener.boundAddress, /^\[::1\]:\d+$/);
      const client = await dial(h.listener);
      client.write('six');
      assert.equal((await readBytes(client, 3)).toString(), 'six');
      const c = h.connections[0]!;
      assert.equal(c.remoteIp, '::1');
      assert.equal(c.remoteAddress, `[::1]:${client.localPort}`);
      assert.equal(c.localAddress, h.listener.boundAddress);
      assert.equal(filterSaw, c.remoteAddress, 'listener filters see the same address shape');
    },
  );
});

describe('stopAccepting', () => {
  test('resolves promptly with a live connection; new connects are refused; the live one keeps working', async () => {
    const h = await startListener({ install: echo });
    const { port } = parseAddress(h.listener.boundAddress) as { port: number };
    const live = await dial(h.listener);
    live.write('a');
    await readBytes(live, 1);
    const started = Date.now();
    await h.listener.stopAccepting();
    assert.ok(Date.now() - started < 1000, `stopAccepting took ${Date.now() - started} ms`);
    assert.equal(h.listener.accepting, false);
    assert.equal(await tryConnect('127.0.0.1', port), 'ECONNREFUSED');
    live.write('still here');
    assert.equal((await readBytes(live, 10)).toString(), 'still here');
    assert.equal(h.listener.connections.size, 1);
    await h.listener.stopAccepting(); // a second call resolves too
    const events: ConnectionEvent[] = [];
    h.connections[0]!.onClose((e) => events.push(e));
    h.listener.closeAllConnections();
    await endedOrClosed(live);
    await until(() => events.length === 1, 'the close event');
    assert.deepEqual(events, ['LocalClose']);
    assert.equal(h.listener.connections.size, 0);
  });

  test('resolves with no connections at all', async () => {
    const h = await startListener();
    const { port } = parseAddress(h.listener.boundAddress) as { port: number };
    await h.listener.stopAccepting();
    assert.equal(await tryConnect('127.0.0.1', port), 'ECONNREFUSED');
  });

  test('resolves promptly while a socket is still inside a listener filter', async () => {
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          await cb.peek(10, 10_000);
          return 'Continue';
        },
      }],
      install: echo,
    });
    const { port } = parseAddress(h.listener.boundAddress) as { port: number };
    const waiting = await dial(h.listener);
    waiting.write('abc');
    await until(() => h.accepted() === 1, 'the socket to reach the filter');
    const started = Date.now();
    await h.listener.stopAccepting();
    assert.ok(Date.now() - started < 1000, `stopAccepting took ${Date.now() - started} ms`);
    assert.equal(await tryConnect('127.0.0.1', port), 'ECONNREFUSED');
    // The peek can still complete and the connection go on.
    waiting.write('defghij');
    assert.equal((await readBytes(waiting, 10)).toString(), 'abcdefghij');
  });

  test('closeAllConnections also closes sockets still inside listener filters', async () => {
    const outcomes: string[] = [];
    const h = await startListener({
      listenerFilters: () => [{
        async onAccept(cb): Promise<ListenerFilterStatus> {
          outcomes.push(`peeked ${(await cb.peek(10, 10_000)).length}`);
          return 'Continue';
        },
      }],
      install: echo,
    });
    const waiting = await dial(h.listener);
    waiting.write('abc');
    await until(() => h.accepted() === 1, 'the socket to reach the filter');
    await h.listener.stopAccepting();
    const started = Date.now();
    h.listener.closeAllConnections();
    await endedOrClosed(waiting);
    assert.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
    await until(() => outcomes.length === 1, 'the filter to finish');
    assert.equal(h.connections.length, 0, 'a socket closed during its filters never becomes a connection');
  });
});

/**
 * The network filter chain (NetworkFilterManager) as a DownstreamConnection runs it over a
 * real TCP socket pair on 127.0.0.1: order, `Stop` and `continueReading()`, contained
 * filter errors, write filters and half-close.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ConnectionEvent, FilterStatus, ReadFilter, ReadFilterCallbacks, WriteFilter } from '../api/network-filter.ts';
import { DownstreamConnection } from './connection.ts';
import { endedOrClosed, until, sleep } from '../../test/helpers/sockets.ts';

interface Pair {
  client: Socket;
  connection: DownstreamConnection;
  filterErrors: unknown[];
  closeEvents: ConnectionEvent[];
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/**
 * Accepts one socket the way Listener does (paused until the chain is in place, half-open
 * allowed), wraps it in a DownstreamConnection, lets `install` add filters, starts it.
 */
async function connectPair(
  install: (connection: DownstreamConnection) => void,
  start: (connection: DownstreamConnection) => void = (c) => c.start(),
): Promise<Pair> {
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  client.on('error', () => { /* resets are part of some tests */ });
  await once(client, 'connect');
  const [socket] = await accepted;
  server.close();
  const filterErrors: unknown[] = [];
  const closeEvents: ConnectionEvent[] = [];
  const connection = new DownstreamConnection(socket, {
    listenerName: 'pair',
    onFilterError: (err) => filterErrors.push(err),
  });
  connection.onClose((event) => closeEvents.push(event));
  cleanups.push(async () => {
    client.destroy();
    connection.close('NoFlush');
    if (server.listening) await once(server, 'close');
  });
  install(connection);
  start(connection);
  if (!connection.closed && !connection.detached && !connection.readDisabled) socket.resume();
  return { client, connection, filterErrors, closeEvents };
}


/** A read filter that records what it sees into a shared log and answers with `status`. */
class RecordingFilter implements ReadFilter {
  readonly name: string;
  readonly log: string[];
  readonly received: Buffer[] = [];
  ended = false;
  callbacks!: ReadFilterCallbacks;
  onNew: () => FilterStatus;
  onChunk: (data: Buffer, endStream: boolean) => FilterStatus;

  constructor(
    name: string,
    log: string[],
    options: { onNew?: () => FilterStatus; onChunk?: (data: Buffer, endStream: boolean) => FilterStatus } = {},
  ) {
    this.name = name;
    this.log = log;
    this.onNew = options.onNew ?? (() => 'Continue');
    this.onChunk = options.onChunk ?? (() => 'Continue');
  }

  get text(): string {
    return Buffer.concat(this.received).toString();
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.log.push(`${this.name}.init`);
    this.callbacks = callbacks;
  }

  onNewConnection(): FilterStatus {
    this.log.push(`${this.name}.onNewConnection`);
    return this.onNew();
  }

  onData(data: Buffer, endStream: boolean): FilterStatus {
    this.log.push(`${this.name}.onData(${data.toString()}${endStream ? ', end' : ''})`);
    if (data.length > 0) this.received.push(Buffer.from(data));
    if (endStream) this.ended = true;
    return this.onChunk(data, endStream);
  }
}

/** Resolves with everything the client reads until the server's FIN (or close). */
function readToEnd(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.once('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

describe('read filters', () => {
  test('run in the order they were added: callbacks, then onNewConnection, then onData', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log);
    const b = new RecordingFilter('b', log);
    const c = new RecordingFilter('c', log);
    const { client, connection } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
      conn.addReadFilter(c);
    });
    assert.equal(a.callbacks.connection, connection);
    client.write('hello');
    await until(() => c.text === 'hello', 'c to see the bytes');
    assert.deepEqual(log, [
      'a.init', 'b.init', 'c.init',
      'a.onNewConnection', 'b.onNewConnection', 'c.onNewConnection',
      'a.onData(hello)', 'b.onData(hello)', 'c.onData(hello)',
    ]);
    assert.equal(connection.bytesRead, 5);
  });

  test('Stop from onNewConnection holds the later filters and reading until continueReading()', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onNew: () => 'Stop' });
    const b = new RecordingFilter('b', log);
    const { client, connection } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    client.write('early bytes');
    await sleep(150);
    assert.equal(connection.readDisabled, true);
    assert.deepEqual(log, ['a.init', 'b.init', 'a.onNewConnection'], 'nothing reaches any filter while held');
    assert.equal(connection.bytesRead, 0);

    a.callbacks.continueReading();
    assert.equal(connection.readDisabled, false);
    assert.equal(log[3], 'b.onNewConnection', 'the next filter is set up before any byte reaches it');
    await until(() => b.text === 'early bytes', 'b to get the held bytes');
    assert.equal(a.text, 'early bytes');
    client.write(' and later ones');
    await until(() => b.text === 'early bytes and later ones', 'b to get later bytes');
  });

  test('a second Stop further down keeps holding until that filter continues too', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onNew: () => 'Stop' });
    const b = new RecordingFilter('b', log, { onNew: () => 'Stop' });
    const c = new RecordingFilter('c', log);
    const { client, connection } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
      conn.addReadFilter(c);
    });
    client.write('x');
    a.callbacks.continueReading();
    assert.deepEqual(log.slice(3), ['a.onNewConnection', 'b.onNewConnection']);
    assert.equal(connection.readDisabled, true);
    await sleep(100);
    assert.equal(c.text, '');
    b.callbacks.continueReading();
    assert.equal(connection.readDisabled, false);
    await until(() => c.text === 'x', 'c to get the byte');
    assert.deepEqual(log.filter((l) => l.endsWith('onNewConnection')), ['a.onNewConnection', 'b.onNewConnection', 'c.onNewConnection']);
  });

  test('a peer half-close while held arrives after the held bytes once the chain continues', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onNew: () => 'Stop' });
    const b = new RecordingFilter('b', log);
    const { client } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    client.end('last words');
    await sleep(100);
    assert.equal(b.ended, false);
    a.callbacks.continueReading();
    await until(() => b.ended, 'b to see the half-close');
    assert.equal(b.text, 'last words');
    assert.equal(log.at(-1), 'b.onData(, end)');
  });

  test('bytes handed to start() while a filter holds the chain still reach the later filters', async () => {
    // Listener filters hand over bytes they peeked when the peer half-closed meanwhile.
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onNew: () => 'Stop' });
    const b = new RecordingFilter('b', log);
    await connectPair(
      (conn) => {
        conn.addReadFilter(a);
        conn.addReadFilter(b);
      },
      (conn) => conn.start(Buffer.from('peeked'), true),
    );
    assert.equal(b.text, '');
    a.callbacks.continueReading();
    await until(() => b.ended, 'b to see the bytes and the half-close');
    assert.equal(b.text, 'peeked');
    assert.deepEqual(log.filter((l) => l.startsWith('b.')), ['b.init', 'b.onNewConnection', 'b.onData(peeked)', 'b.onData(, end)']);
  });

  test('Stop from onData keeps that chunk from the later filters, and only that chunk', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onChunk: (data) => (data.toString().includes('secret') ? 'Stop' : 'Continue') });
    const b = new RecordingFilter('b', log);
    const { client } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    client.write('one;');
    await until(() => b.text === 'one;', 'first chunk at b');
    client.write('secret;');
    await until(() => a.text === 'one;secret;', 'second chunk at a');
    client.write('two;');
    await until(() => b.text === 'one;two;', 'third chunk at b');
    assert.equal(a.text, 'one;secret;two;');
  });

  test('a throwing onData closes the connection, reports the error once, and nothing after it runs', async () => {
    const log: string[] = [];
    const boom = new Error('filter bug');
    const a = new RecordingFilter('a', log, { onChunk: () => { throw boom; } });
    const b = new RecordingFilter('b', log);
    const { client, connection, filterErrors, closeEvents } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    const clientClosed = endedOrClosed(client);
    client.write('trigger');
    await clientClosed;
    await until(() => closeEvents.length === 1, 'the close event');
    assert.deepEqual(filterErrors, [boom]);
    assert.equal(connection.closed, true);
    assert.deepEqual(closeEvents, ['LocalClose']);
    assert.equal(b.text, '');
    assert.ok(!log.some((l) => l.startsWith('b.onData')));
  });

  test('a throwing onNewConnection closes the connection before later filters are set up', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onNew: () => { throw new Error('cannot start'); } });
    const b = new RecordingFilter('b', log);
    const { client, connection, filterErrors, closeEvents } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    assert.equal(connection.closed, true);
    await endedOrClosed(client);
    await until(() => closeEvents.length === 1, 'the close event');
    assert.equal(filterErrors.length, 1);
    assert.match(String(filterErrors[0]), /cannot start/);
    assert.ok(!log.includes('b.onNewConnection'));
    assert.deepEqual(closeEvents, ['LocalClose']);
  });

  test('continueReading() after a close does nothing', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log, { onNew: () => 'Stop' });
    const b = new RecordingFilter('b', log);
    const { connection } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    connection.close('NoFlush');
    a.callbacks.continueReading();
    assert.equal(connection.closed, true);
    // b is set up (harmless), but no byte can reach it.
    await sleep(50);
    assert.equal(b.text, '');
  });

  test('no onData after the connection closed itself while the peer still sends', async () => {
    const log: string[] = [];
    let callbacks!: ReadFilterCallbacks;
    const a = new RecordingFilter('a', log, {
      onChunk: (data) => {
        if (data.toString().includes('bye')) callbacks.connection.close('FlushWrite');
        return 'Continue';
      },
    });
    const { client, connection } = await connectPair((conn) => conn.addReadFilter(a));
    callbacks = a.callbacks;
    client.write('bye');
    await until(() => connection.closed, 'the filter to close');
    // FlushWrite only half-closes our side; the peer may still send before it ends.
    client.write('after close');
    await sleep(100);
    assert.equal(a.text, 'bye');
  });
});

describe('half-close', () => {
  test('the peer\'s FIN reaches every filter as one empty onData(…, true) after the bytes', async () => {
    const log: string[] = [];
    const a = new RecordingFilter('a', log);
    const b = new RecordingFilter('b', log);
    const { client } = await connectPair((conn) => {
      conn.addReadFilter(a);
      conn.addReadFilter(b);
    });
    client.end('abc');
    await until(() => b.ended, 'b to see the FIN');
    await sleep(50);
    assert.deepEqual(log.slice(-4), ['a.onData(abc)', 'b.onData(abc)', 'a.onData(, end)', 'b.onData(, end)']);
  });

  test('a reply written with endStream reaches the peer, then its FIN, and the peer may still send', async () => {
    const log: string[] = [];
    let callbacks!: ReadFilterCallbacks;
    const a = new RecordingFilter('a', log, {
      onChunk: (data) => {
        if (data.toString() === 'question') callbacks.connection.write(Buffer.from('answer'), true);
        return 'Continue';
      },
    });
    const { client, connection } = await connectPair((conn) => conn.addReadFilter(a));
    callbacks = a.callbacks;
    const reply = readToEnd(client);
    client.write('question');
    assert.equal(await reply, 'answer');
    assert.equal(connection.closed, false, 'our FIN alone does not close the connection');
    client.write('still talking');
    await until(() => a.text === 'questionstill talking', 'bytes after our FIN');
    const closed = once(client, 'close');
    client.end();
    await closed;
    await until(() => connection.closed, 'the connection to see both sides closed');
    assert.equal(connection.bytesWritten, 6);
  });
});

describe('write filters', () => {
  test('see every write in order and let it through on Continue', async () => {
    const seen: string[] = [];
    const first: WriteFilter = { onWrite: (data) => { seen.push(`first:${data}`); return 'Continue'; } };
    const second: WriteFilter = { onWrite: (data, end) => { seen.push(`second:${data}${end ? ':end' : ''}`); return 'Continue'; } };
    const { client, connection } = await connectPair((conn) => {
      conn.addWriteFilter(first);
      conn.addWriteFilter(second);
    });
    const reply = readToEnd(client);
    assert.equal(connection.write(Buffer.from('a')), true);
    connection.write(Buffer.from('b'), true);
    assert.equal(await reply, 'ab');
    assert.deepEqual(seen, ['first:a', 'second:a', 'first:b', 'second:b:end']);
  });

  test('Stop drops the bytes (and later write filters do not see them)', async () => {
    const seen: string[] = [];
    const censor: WriteFilter = { onWrite: (data) => (data.toString().includes('secret') ? 'Stop' : 'Continue') };
    const after: WriteFilter = { onWrite: (data) => { seen.push(data.toString()); return 'Continue'; } };
    const { client, connection } = await connectPair((conn) => {
      conn.addWriteFilter(censor);
      conn.addWriteFilter(after);
    });
    const reply = readToEnd(client);
    connection.write(Buffer.from('public;'));
    connection.write(Buffer.from('secret;'));
    connection.write(Buffer.from('public again'));
    connection.close('FlushWrite');
    assert.equal(await reply, 'public;public again');
    assert.deepEqual(seen, ['public;', 'public again']);
  });

  test('Stop plus a write of its own replaces the bytes, endStream included', async () => {
    let connection!: DownstreamConnection;
    let replacing = false;
    const upper: WriteFilter = {
      onWrite(data, endStream) {
        if (replacing) return 'Continue';
        replacing = true;
        try {
          connection.write(Buffer.from(data.toString().toUpperCase()), endStream);
        } finally {
          replacing = false;
        }
        return 'Stop';
      },
    };
    const pair = await connectPair((conn) => {
      connection = conn;
      conn.addWriteFilter(upper);
    });
    const reply = readToEnd(pair.client);
    connection.write(Buffer.from('shout '));
    connection.write(Buffer.from('this'), true);
    assert.equal(await reply, 'SHOUT THIS');
  });

  test('a throwing write filter closes the connection and reports the error', async () => {
    const { client, connection, filterErrors, closeEvents } = await connectPair((conn) => {
      conn.addWriteFilter({ onWrite: () => { throw new TypeError('bad write filter'); } });
    });
    const clientClosed = endedOrClosed(client);
    connection.write(Buffer.from('x'));
    await clientClosed;
    await until(() => closeEvents.length === 1, 'the close event');
    assert.equal(filterErrors.length, 1);
    assert.ok(filterErrors[0] instanceof TypeError);
    assert.deepEqual(closeEvents, ['LocalClose']);
    assert.equal(connection.write(Buffer.from('y')), false, 'writes after close are refused');
  });
});

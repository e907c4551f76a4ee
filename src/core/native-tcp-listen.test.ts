/**
 * tcpListen/localPort: a listening socket this process holds without accepting, which
 * another server (a worker, here a net.Server in the same process) accepts on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { closeFd, localPort, tcpListen } from './native.ts';

test('tcpListen binds port 0, localPort tells the port, and a net.Server accepts on the fd', async () => {
  const fd = tcpListen('127.0.0.1', 0, 16, false);
  const port = localPort(fd);
  assert.ok(port > 0);
  // The kernel queues a connection even before anyone accepts: the socket listens.
  const early = connect(port, '127.0.0.1');
  await once(early, 'connect');
  const server = createServer((s) => s.end('accepted'));
  server.listen({ fd });
  await once(server, 'listening');
  const [data] = await once(early, 'data');
  assert.equal(String(data), 'accepted');
  early.destroy();
  server.close(); // closes fd with the handle
});

test('SO_REUSEPORT: a second socket binds the same port only when both ask for it', () => {
  const first = tcpListen('127.0.0.1', 0, 16, true);
  const port = localPort(first);
  const second = tcpListen('127.0.0.1', port, 16, true);
  assert.equal(localPort(second), port);
  assert.throws(() => tcpListen('127.0.0.1', port, 16, false), { code: 'EADDRINUSE' });
  closeFd(first);
  closeFd(second);
});

test('IPv6 and bad addresses', () => {
  let fd: number | undefined;
  try {
    fd = tcpListen('::1', 0, 16, false);
    assert.ok(localPort(fd) > 0);
  } catch (err) {
    // A machine without IPv6 on loopback: the kernel says so, nothing else is wrong.
    assert.equal((err as NodeJS.ErrnoException).code, 'EADDRNOTAVAIL');
  } finally {
    if (fd !== undefined) closeFd(fd);
  }
  assert.throws(() => tcpListen('localhost', 0, 16, false), { code: 'EINVAL' });
  assert.throws(() => tcpListen('127.0.0.1', 70000, 16, false), RangeError);
});

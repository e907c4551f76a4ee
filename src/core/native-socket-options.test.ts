/**
 * The addon's socket options at the system-call level, on plain sockets (no NAT needed, so
 * these always run where the addon is built): getOriginalDst on an accepted TCP socket
 * that was not redirected (IPv4, IPv6, and IPv4 on a dual-stack socket, which must take
 * the IPv4 path), on a unix socket and on bad fds; setIpTransparent on listening sockets.
 * A NATed connection is covered by test/integration/original-dst-nat.test.ts.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getOriginalDst, native, nativeLoadError, setIpTransparent, type SystemError } from './native.ts';

const skip = native === undefined ? `native addon unavailable: ${nativeLoadError}` : false;
const dir = mkdtempSync(join(tmpdir(), 'mosnode-sockopt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fdOf = (s: Socket | Server): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

/** Accepts one connection from a client of `host` to a server on `listenHost`; runs `check` on the accepted socket. */
async function onAccepted<T>(listenHost: string, host: string, check: (accepted: Socket) => T): Promise<T> {
  let result!: T;
  let failure: unknown;
  const server = createServer((accepted) => {
    try {
      result = check(accepted);
    } catch (err) {
      failure = err;
    }
    accepted.destroy();
  });
  server.listen(0, listenHost);
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, host);
  client.on('error', () => {});
  await once(client, 'close');
  server.close();
  await once(server, 'close');
  if (failure !== undefined) throw failure;
  return result;
}

/**
 * A connection that was not NATed has no original destination: ENOENT (nothing tracks it),
 * or, on a host where conntrack tracks every connection, its own local address.
 */
function assertNotRedirected(accepted: Socket, option: 'SO_ORIGINAL_DST' | 'IP6T_SO_ORIGINAL_DST'): void {
  try {
    const found = getOriginalDst(fdOf(accepted));
    assert.equal(found.address, accepted.localAddress!.replace(/^::ffff:/, ''));
    assert.equal(found.port, accepted.localPort);
  } catch (err) {
    const e = err as SystemError;
    assert.equal(e.code, 'ENOENT', e.message);
    assert.equal(e.syscall, 'getsockopt');
    assert.equal(e.errno, 2);
    assert.match(e.message, new RegExp(`^getsockopt ${option}: ENOENT`));
  }
}

describe('getOriginalDst', { skip }, () => {
  test('IPv4: a connection that was not redirected', async () => {
    await onAccepted('127.0.0.1', '127.0.0.1', (s) => assertNotRedirected(s, 'SO_ORIGINAL_DST'));
  });

  test('IPv6: asks IP6T_SO_ORIGINAL_DST', async () => {
    await onAccepted('::1', '::1', (s) => assertNotRedirected(s, 'IP6T_SO_ORIGINAL_DST'));
  });

  test('an IPv4 client of a dual-stack socket: asks SO_ORIGINAL_DST (conntrack holds an IPv4 entry)', async () => {
    const local = await onAccepted('::', '127.0.0.1', (s) => {
      assertNotRedirected(s, 'SO_ORIGINAL_DST');
      return s.localAddress;
    });
    assert.equal(local, '::ffff:127.0.0.1');
  });

  test('a unix socket is not IPv4/IPv6: EAFNOSUPPORT', async () => {
    const path = join(dir, 'u.sock');
    const err = await new Promise<SystemError>((resolve, reject) => {
      const server = createServer((accepted) => {
        try {
          getOriginalDst(fdOf(accepted));
          reject(new Error('no error'));
        } catch (e) {
          resolve(e as SystemError);
        }
        accepted.destroy();
        server.close();
      }).listen(path, () => connect(path).on('error', () => {}));
    });
    assert.equal(err.code, 'EAFNOSUPPORT');
  });

  test('bad fds: EBADF for a closed one, ENOTSOCK for a file, RangeError for a non-integer', () => {
    assert.throws(() => getOriginalDst(2 ** 31 - 1), (e: SystemError) => e.code === 'EBADF' && e.syscall === 'getsockname');
    const file = openSync(join(dir, 'plain-file'), 'w');
    try {
      assert.throws(() => getOriginalDst(file), (e: SystemError) => e.code === 'ENOTSOCK');
    } finally {
      closeSync(file);
    }
    assert.throws(() => getOriginalDst(-1), RangeError);
    assert.throws(() => getOriginalDst(1.5), RangeError);
    assert.throws(() => native!.getOriginalDst('3' as unknown as number), TypeError);
  });
});

describe('setIpTransparent', { skip }, () => {
  test('on listening TCP sockets (IPv4 and IPv6): works with CAP_NET_ADMIN, EPERM without', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const server = createServer().listen(0, host);
      await once(server, 'listening');
      try {
        if (process.getuid?.() === 0) setIpTransparent(fdOf(server));
        else assert.throws(() => setIpTransparent(fdOf(server)), (e: SystemError) => e.code === 'EPERM');
      } finally {
        server.close();
      }
    }
  });

  test('on a unix socket: EAFNOSUPPORT', async () => {
    const server = createServer().listen(join(dir, 't.sock'));
    await once(server, 'listening');
    try {
      assert.throws(() => setIpTransparent(fdOf(server)), (e: SystemError) => e.code === 'EAFNOSUPPORT');
    } finally {
      server.close();
    }
  });
});

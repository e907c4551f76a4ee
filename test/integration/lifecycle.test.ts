/**
 * Stopping a running mosnode: SIGTERM drains (no new connections, open ones keep working
 * until they finish or the drain time is up, then exit 0), SIGINT stops at once.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { startEchoServer } from '../helpers/servers.ts';

function config(echoPort: number) {
  return {
    servers: [{
      default_log_path: 'stdout',
      graceful_timeout: '20s',
      listeners: [{ name: 'tcp', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }] }],
    }],
    cluster_manager: { clusters: [{ name: 'echo', hosts: [{ address: `127.0.0.1:${echoPort}` }] }] },
  };
}

async function dial(proc: MosnodeProcess): Promise<Socket> {
  const socket = connect(proc.listenerAddress('tcp').port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

async function echoOnce(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  const [data] = await once(socket, 'data');
  return String(data);
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
}

describe('lifecycle', () => {
  test('SIGTERM: stops accepting, lets an open connection finish, exits 0', async () => {
    const echo = await startEchoServer();
    const proc = await startMosnode(config(echo.port));
    try {
      const { port } = proc.listenerAddress('tcp');
      const socket = await dial(proc);
      assert.equal(await echoOnce(socket, 'before'), 'before');
      proc.signal('SIGTERM');
      await proc.waitForLog((l) => l.msg === 'graceful stop: draining');
      assert.equal(await refused(port), true, 'no new connection during the drain');
      assert.equal(await echoOnce(socket, 'during drain'), 'during drain');
      const started = Date.now();
      socket.end();
      assert.deepEqual(await proc.exited, { code: 0, signal: null });
      assert.ok(Date.now() - started < 5000, 'exits soon after the last connection closes, not at the deadline');
    } finally {
      await proc.cleanup();
      await echo.close();
    }
  });

  test('SIGTERM with --drain-time-s 1: a connection still open at the deadline is closed', async () => {
    const echo = await startEchoServer();
    const proc = await startMosnode(config(echo.port), { args: ['--drain-time-s', '1'] });
    try {
      const socket = await dial(proc);
      socket.on('error', () => {});
      assert.equal(await echoOnce(socket, 'x'), 'x');
      const started = Date.now();
      proc.signal('SIGTERM');
      await once(socket, 'close');
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 5000, `closed after ${took} ms`);
      assert.deepEqual(await proc.exited, { code: 0, signal: null });
    } finally {
      await proc.cleanup();
      await echo.close();
    }
  });

  test('SIGINT: immediate stop', async () => {
    const echo = await startEchoServer();
    const proc = await startMosnode(config(echo.port));
    try {
      const socket = await dial(proc);
      socket.on('error', () => {});
      assert.equal(await echoOnce(socket, 'x'), 'x');
      const started = Date.now();
      proc.signal('SIGINT');
      await once(socket, 'close');
      assert.deepEqual(await proc.exited, { code: 0, signal: null });
      assert.ok(Date.now() - started < 2000);
    } finally {
      await proc.cleanup();
      await echo.close();
    }
  });
});

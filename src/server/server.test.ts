import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../config/load.ts';
import { silentLogger } from '../core/logger.ts';
import { MosnServer } from './server.ts';

const CONFIG = JSON.stringify({
  servers: [{
    routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'hi' } }] }] }],
    listeners: [{ name: 'l', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r' } }] }] }],
  }],
  admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
});

test('/api/v1/states says Upgrading (13) while a hand-over is under way, Running (6) before and after', async () => {
  const server = new MosnServer(parseConfigText(CONFIG), { logging: { logger: silentLogger(), flush() {}, flushThen(done: () => void) { done(); }, reopen() {} } });
  await server.start();
  try {
    const { host, port } = server.adminAddress!;
    const state = async (): Promise<string> => (await (await fetch(`http://${host}:${port}/api/v1/states`)).text()).trim();
    assert.equal(await state(), `pid=${process.pid}&state=6`);
    server.setUpgrading(true);
    assert.equal(await state(), `pid=${process.pid}&state=13`);
    server.setUpgrading(false);
    assert.equal(await state(), `pid=${process.pid}&state=6`);
  } finally {
    await server.stop();
  }
});

test('listeningSockets lists every listener and the admin socket with its identity, for a successor', async () => {
  const server = new MosnServer(parseConfigText(CONFIG), { logging: { logger: silentLogger(), flush() {}, flushThen(done: () => void) { done(); }, reopen() {} } });
  await server.start();
  try {
    const sockets = server.listeningSockets();
    assert.deepEqual(sockets.map((s) => s.identity.kind), ['listener', 'admin']);
    assert.equal(sockets[0]!.identity.address, server.listeners[0]!.boundAddress);
    for (const s of sockets) assert.ok(Number.isInteger(s.fd) && s.fd > 2);
  } finally {
    await server.stop();
  }
});

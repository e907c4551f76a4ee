/**
 * The admin API of a running mosnode: MOSN's paths answer from the live process, stats
 * count real traffic on the listener and on the upstream cluster and host, config_dump
 * hides secrets, and the log level changes at run time.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { startEchoServer, closedPort } from '../helpers/servers.ts';

describe('admin API of a running process', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let proc: MosnodeProcess;
  let base: string;

  before(async () => {
    echo = await startEchoServer();
    const dead = await closedPort();
    proc = await startMosnode({
      servers: [{
        default_log_path: 'stdout',
        listeners: [
          { name: 'tcp', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }] },
          { name: 'down', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'dead' } }] }] },
        ],
      }],
      cluster_manager: {
        clusters: [
          { name: 'echo', hosts: [{ address: `127.0.0.1:${echo.port}` }], tls_context: { status: false, private_key: 'do-not-show' } },
          { name: 'dead', hosts: [{ address: `127.0.0.1:${dead}` }] },
        ],
      },
      admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    });
    const { host, port } = proc.adminAddress();
    base = `http://${host}:${port}`;
  });
  after(async () => {
    await proc.cleanup();
    await echo.close();
  });

  test('states and version', async () => {
    assert.equal((await (await fetch(`${base}/api/v1/states`)).text()).trim(), `pid=${proc.child.pid}&state=6`);
    assert.match(await (await fetch(`${base}/api/v1/version`)).text(), /^mosn version: \d+\.\d+\.\d+/);
  });

  test('stats count downstream and upstream connections, including connect failures', async () => {
    const s = connect(proc.listenerAddress('tcp').port, '127.0.0.1');
    await once(s, 'connect');
    s.write('ping');
    await once(s, 'data');
    s.destroy();
    const d = connect(proc.listenerAddress('down').port, '127.0.0.1');
    d.on('error', () => {});
    d.resume();
    await once(d, 'close');
    // Closing is asynchronous in the proxy: poll briefly for the counters to settle.
    let stats: Record<string, Record<string, Record<string, string>>> = {};
    for (let i = 0; i < 50; i++) {
      stats = (await (await fetch(`${base}/api/v1/stats`)).json()) as typeof stats;
      if (stats.downstream?.['listener.tcp']?.connection_destroy === '1' && stats.upstream?.['cluster.dead']?.connection_con_fail === '1') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(stats.downstream?.['listener.tcp']?.connection_total, '1');
    assert.equal(stats.downstream?.['listener.tcp']?.connection_destroy, '1');
    assert.equal(stats.downstream?.['listener.tcp']?.connection_active, '0');
    assert.equal(stats.downstream?.['listener.tcp']?.bytes_read_total, '4');
    assert.equal(stats.upstream?.['cluster.echo']?.connection_total, '1');
    assert.equal(stats.upstream?.[`cluster.echo.host.127.0.0.1:${echo.port}`]?.connection_total, '1');
    assert.equal(stats.upstream?.['cluster.dead']?.connection_con_fail, '1');
    const one = await (await fetch(`${base}/api/v1/stats?key=downstream.listener.tcp`)).json() as typeof stats;
    assert.deepEqual(Object.keys(one), ['downstream']);
  });

  test('config_dump shows the effective config with secrets hidden', async () => {
    const text = await (await fetch(`${base}/api/v1/config_dump`)).text();
    assert.doesNotMatch(text, /do-not-show/);
    assert.match(text, /REDACTED/);
    const clusters = await (await fetch(`${base}/api/v1/config_dump?allclusters`)).json() as Record<string, unknown>;
    assert.ok('echo' in clusters && 'dead' in clusters, JSON.stringify(Object.keys(clusters)));
  });

  test('update_loglevel changes the level at run time', async () => {
    const before = await (await fetch(`${base}/api/v1/get_loglevel`)).json() as Record<string, string>;
    assert.deepEqual(Object.values(before), ['INFO']);
    const res = await fetch(`${base}/api/v1/update_loglevel`, { method: 'POST', body: JSON.stringify({ log_path: 'stdout', log_level: 'DEBUG' }) });
    assert.equal(res.status, 200);
    const after = await (await fetch(`${base}/api/v1/get_loglevel`)).json() as Record<string, string>;
    assert.deepEqual(Object.values(after), ['DEBUG']);
    const bad = await fetch(`${base}/api/v1/update_loglevel`, { method: 'POST', body: JSON.stringify({ log_path: 'stdout', log_level: 'LOUD' }) });
    assert.equal(bad.status, 400);
  });
});

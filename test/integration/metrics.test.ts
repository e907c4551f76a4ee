/**
 * Metrics export from a running mosnode: the Prometheus sink serves valid exposition text
 * with MOSN's names and labels for real traffic, and keeps serving on the same port across
 * a hot upgrade (its listening socket is inherited like the admin one).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { closedPort, startEchoServer } from '../helpers/servers.ts';
import { assertValidExposition } from '../../src/metrics/prometheus-grammar.ts';

function config(tcpPort: number, sinkPort: number, echoPort: number) {
  return {
    servers: [{
      default_log_path: 'stdout', graceful_timeout: '2s',
      listeners: [{ name: 'tcp', address: `127.0.0.1:${tcpPort}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'echo' } }] }] }],
    }],
    cluster_manager: { clusters: [{ name: 'echo', hosts: [{ address: `127.0.0.1:${echoPort}` }] }] },
    metrics: { sinks: [{ type: 'prometheus', config: { port: sinkPort, endpoint: '/metrics' } }] },
  };
}

async function exchange(port: number): Promise<void> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write('x');
  await once(s, 'data');
  s.destroy();
  await once(s, 'close');
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assertValidExposition(text);
  return text;
}

function sample(text: string, line: RegExp): number {
  const m = line.exec(text);
  assert.ok(m, `no sample ${line} in:\n${text}`);
  return Number(m[1]);
}

describe('Prometheus sink', () => {
  test('serves valid exposition for real traffic, and the same port after a hot upgrade', async () => {
    const echo = await startEchoServer();
    const [tcpPort, sinkPort] = [await closedPort(), await closedPort()];
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-metrics-'));
    const procs: MosnodeProcess[] = [];
    try {
      procs.push(await startMosnode(config(tcpPort, sinkPort, echo.port), { dir }));
      await exchange(tcpPort);
      await exchange(tcpPort);
      let text = '';
      for (let i = 0; i < 50; i++) {
        text = await scrape(sinkPort);
        if (/downstream_connection_destroy\{listener="tcp"\} 2/.test(text)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(sample(text, /^downstream_connection_total\{listener="tcp"\} (\d+)$/m), 2);
      assert.equal(sample(text, /^upstream_connection_total\{cluster="echo"\} (\d+)$/m), 2);
      assert.match(text, /^# TYPE downstream_connection_active gauge$/m);
      assert.equal((await fetch(`http://127.0.0.1:${sinkPort}/other`)).status, 404);

      const next = await startMosnode(config(tcpPort, sinkPort, echo.port), { dir });
      procs.push(next);
      await next.waitForLog((l) => l.msg === 'hot upgrade: done, this process serves');
      assert.ok(next.logs.some((l) => l.msg === 'prometheus sink started' && l.inherited === true), 'the sink socket was inherited');
      await procs[0]!.exited;
      await exchange(tcpPort);
      assert.ok(sample(await scrape(sinkPort), /^downstream_connection_total\{listener="tcp"\} (\d+)$/m) >= 1);
    } finally {
      for (const p of procs) await p.cleanup();
      await echo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a sink without a port is a config error with its path', async () => {
    const { runMosnode } = await import('../helpers/mosnode-process.ts');
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-metrics-'));
    try {
      const path = join(dir, 'c.json');
      (await import('node:fs')).writeFileSync(path, JSON.stringify({ servers: [{}], metrics: { sinks: [{ type: 'prometheus', config: { endpoint: 'metrics' } }] } }));
      const r = await runMosnode(['validate', '-c', path]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /metrics\.sinks\[0\]\.config\.port: expected a port 1\.\.65535/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

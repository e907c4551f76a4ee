/**
 * The mosnode command line as a user runs it: exit codes and one-line reasons, every MOSN
 * example config through `validate`, `start` failures that leave nothing behind, `stop`,
 * and the built-in default config.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMosnode, startMosnode, MOSNODE_BIN } from '../helpers/mosnode-process.ts';
import { spawn } from 'node:child_process';

const EXAMPLES = fileURLToPath(new URL('../../../shared/mosn-examples/', import.meta.url));

/** stderr without the Node-version warning the bin prints on an old system node. */
function reason(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.includes('is not supported; use Node 24'));
}

function tempConfig(text: string, name = 'config.json'): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-cli-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, dir };
}

describe('mosnode CLI', () => {
  test('version and help exit 0', async () => {
    const v = await runMosnode(['version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^mosnode version \d+\.\d+\.\d+ \(node v\d+/);
    const h = await runMosnode(['help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /usage: mosnode <command>/);
  });

  test('bad usage exits 2 with one line', async () => {
    for (const args of [['bogus'], ['start', '--nope'], ['validate'], ['start', '--log-level', 'LOUD'], ['start', '--drain-time-s', 'x']]) {
      const r = await runMosnode(args);
      assert.equal(r.code, 2, `mosnode ${args.join(' ')}`);
      const lines = reason(r.stderr);
      assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
      assert.match(lines[0]!, /^mosnode: /);
    }
  });

  // Each of MOSN's own example configs either validates or names what is not built yet.
  const expectations: Record<string, { code: number; match: RegExp }> = {
    'configs__mosn_config.json': { code: 0, match: /is valid: 3 listener\(s\), 2 cluster\(s\)/ },
    'configs__mosn_config_dev.json': { code: 0, match: /is valid: 1 listener\(s\), 1 cluster\(s\)/ },
    'examples__codes__http-sample__client_config.json': { code: 0, match: /is valid: 1 listener\(s\), 1 cluster\(s\)/ },
    'examples__codes__http-sample__server_config.json': { code: 0, match: /is valid/ },
    'examples__codes__http-sample__tls_server_config.json': { code: 1, match: /filter_chains\[0\]\.tls_context: TLS listeners are not supported yet/ },
    'examples__codes__mosn-extensions__simple_streamfilter__config.json': { code: 0, match: /stream_filters\[0\]: stream filter "demo" is not registered; skipped/ },
    'examples__codes__sofarpc-with-xprotocol-sample__server_config.json': { code: 1, match: /"bolt" is not supported yet/ },
    'examples__codes__tcpproxy-sample__config.json': { code: 0, match: /listeners\[0\]\.log_path: unknown key, ignored/ },
    'examples__codes__udpproxy-sample__config.json': { code: 1, match: /listeners\[0\]\.network: "udp" listeners are not supported yet/ },
  };
  for (const [file, expected] of Object.entries(expectations)) {
    test(`validate ${file}`, async () => {
      const r = await runMosnode(['validate', '-c', join(EXAMPLES, file)]);
      assert.equal(r.code, expected.code, r.stderr);
      assert.match(r.stdout + r.stderr, expected.match);
      if (expected.code !== 0) assert.equal(reason(r.stderr).length, 1, `one line: ${r.stderr}`);
    });
  }

  test('validate checks access log formats but creates no log file; a bad format names its path', async () => {
    const listener = (format: string) => ({
      name: 'l', address: '127.0.0.1:0', bind_port: true,
      filter_chains: [{ filters: [{ type: 'proxy', config: { router_config_name: 'r' } }] }],
      access_logs: [{ log_path: 'logs/access.log', log_format: format }],
    });
    const config = (format: string) => JSON.stringify({
      servers: [{ routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [] }] }], listeners: [listener(format)] }],
    });
    const good = tempConfig(config('%start_time% %response_code%'));
    const bad = tempConfig(config('%response_code'));
    try {
      const ok = await runMosnode(['validate', '-c', good.path], { cwd: good.dir });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(existsSync(join(good.dir, 'logs')), false, 'validate created the access log folder');
      const r = await runMosnode(['validate', '-c', bad.path], { cwd: bad.dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /servers\[0\]\.listeners\[0\]\.access_logs\[0\]\.log_format/);
    } finally {
      rmSync(good.dir, { recursive: true, force: true });
      rmSync(bad.dir, { recursive: true, force: true });
    }
  });

  test('validate names line and column of broken JSON, and the path of a wrong type', async () => {
    const broken = tempConfig('{\n  "servers": [\n    { "listeners": [ }\n  ]\n}\n');
    const wrongType = tempConfig(JSON.stringify({ servers: [{ listeners: [{ name: 'l', address: '127.0.0.1:1', bind_port: 'yes', filter_chains: [{ filters: [] }] }] }] }));
    const badLb = tempConfig(JSON.stringify({ servers: [{}], cluster_manager: { clusters: [{ name: 'c', lb_type: 'LB_FASTEST', hosts: [] }] } }));
    try {
      const a = await runMosnode(['validate', '-c', broken.path]);
      assert.equal(a.code, 1);
      assert.match(a.stderr, /line 3/);
      const b = await runMosnode(['validate', '-c', wrongType.path]);
      assert.equal(b.code, 1);
      assert.match(b.stderr, /servers\[0\]\.listeners\[0\]\.bind_port/);
      const c = await runMosnode(['validate', '-c', badLb.path]);
      assert.equal(c.code, 1);
      assert.match(c.stderr, /cluster_manager\.clusters\[0\]\.lb_type/);
      assert.match(c.stderr, /LB_ROUNDROBIN/);
      const missing = await runMosnode(['validate', '-c', join(broken.dir, 'nope.json')]);
      assert.equal(missing.code, 1);
      assert.equal(reason(missing.stderr).length, 1);
    } finally {
      for (const t of [broken, wrongType, badLb]) rmSync(t.dir, { recursive: true, force: true });
    }
  });

  test('start on a port in use fails with one line, exit 1, and leaves no pid file', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    const { path, dir } = tempConfig(JSON.stringify({
      servers: [{ listeners: [{ name: 'l', address: `127.0.0.1:${port}`, bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'c' } }] }] }] }],
      cluster_manager: { clusters: [{ name: 'c', hosts: [{ address: '127.0.0.1:1' }] }] },
    }));
    try {
      const r = await runMosnode(['start', '-c', path]);
      assert.equal(r.code, 1);
      const lines = reason(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /listener "l" could not listen on 127\.0\.0\.1:\d+: address already in use/);
      assert.equal(existsSync(join(dir, 'mosnode.pid')), false);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bad second listener leaves the first one unbound (no half-started process)', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const busy = (blocker.address() as { port: number }).port;
    const free = createServer();
    free.listen(0, '127.0.0.1');
    await once(free, 'listening');
    const freePort = (free.address() as { port: number }).port;
    free.close();
    const chain = { filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'c' } }] }] };
    const { path, dir } = tempConfig(JSON.stringify({
      servers: [{ listeners: [
        { name: 'first', address: `127.0.0.1:${freePort}`, bind_port: true, ...chain },
        { name: 'second', address: `127.0.0.1:${busy}`, bind_port: true, ...chain },
      ] }],
      cluster_manager: { clusters: [{ name: 'c', hosts: [{ address: '127.0.0.1:1' }] }] },
    }));
    try {
      const r = await runMosnode(['start', '-c', path]);
      assert.equal(r.code, 1);
      // The first port is free again: the failed start closed it.
      const probe = createServer();
      probe.listen(freePort, '127.0.0.1');
      await once(probe, 'listening');
      probe.close();
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stop -c signals the running instance, which exits 0 and removes its pid file', async () => {
    const proc = await startMosnode({
      servers: [{ default_log_path: 'stdout', listeners: [{ name: 'l', address: '127.0.0.1:0', bind_port: true, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'c' } }] }] }] }],
      cluster_manager: { clusters: [{ name: 'c', hosts: [{ address: '127.0.0.1:1' }] }] },
    });
    try {
      const pidFile = join(proc.dir, 'mosnode.pid');
      assert.equal(readFileSync(pidFile, 'utf8').trim(), String(proc.child.pid));
      const r = await runMosnode(['stop', '-c', proc.configPath]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`stopped mosnode pid ${proc.child.pid}`));
      assert.deepEqual(await proc.exited, { code: 0, signal: null });
      assert.equal(existsSync(pidFile), false);
      const again = await runMosnode(['stop', '-c', proc.configPath]);
      assert.equal(again.code, 1);
      assert.match(reason(again.stderr)[0]!, /no running mosnode/);
    } finally {
      await proc.cleanup();
    }
  });

  test('start with no -c serves the welcome page and the admin API (MOSN default ports 2046 / 34901)', async () => {
    const child = spawn(process.execPath, [MOSNODE_BIN, 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    try {
      for (let i = 0; i < 100 && !out.includes('mosnode is running'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /mosnode is running/);
      const res = await fetch('http://127.0.0.1:2046/');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Welcome to mosnode!\n');
      const states = await (await fetch('http://127.0.0.1:34901/api/v1/states')).text();
      assert.equal(states.trim(), `pid=${child.pid}&state=6`);
    } finally {
      // The child may have exited already (the default ports were taken): do not wait for it then.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const [code] = await exited;
        assert.equal(code, 0);
      }
    }
  });
});

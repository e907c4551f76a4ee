/**
 * Plugins named in the config, loaded by a real mosnode process: an ES module by relative
 * path, a TypeScript module by path, and an npm package from node_modules beside the
 * config; their filters on real traffic; containment of throwing, rejecting, invalid and
 * slow stream filters and of a throwing network filter (the process keeps serving, the
 * failures are counted and logged); and every way loading can fail, through `validate`.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startMosnode, runMosnode, type MosnodeProcess } from '../helpers/mosnode-process.ts';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { startEchoServer, type TcpTestServer } from '../helpers/servers.ts';
import { h1 } from '../helpers/l7.ts';
import { until } from '../helpers/sockets.ts';

/** Writes `files` (relative path -> text) under `dir`. */
function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
}

const TAG_PLUGIN = `
export default {
  name: 'tagger',
  streamFilters: [{
    type: 'tag',
    parseConfig(raw) {
      if (typeof raw?.value !== 'string') throw new Error('expected {"value": string}');
      return raw.value;
    },
    createFilters(value, chain) {
      chain.addReceiver({ onReceive(h) { h.request.headers.set('x-tag', value); return 'Continue'; } });
    },
  }],
};
`;

// TypeScript, run by Node's type stripping: a plugin author's source file, unbuilt.
const FAULTY_PLUGIN = `
interface Handler { request: { path: string }; sendDirectResponse(status: number): void }
type Status = 'Continue' | 'Stop';

const faulty = {
  type: 'faulty',
  parseConfig: (): null => null,
  createFilters(_config: null, chain: { addReceiver(f: object): void }): void {
    chain.addReceiver({
      onReceive(h: Handler): Status | Promise<Status> {
        switch (h.request.path) {
          case '/throw': throw new Error('plugin bug');
          case '/reject': return Promise.reject(new Error('plugin async bug'));
          case '/bad-status': return 'Nope' as Status;
          case '/slow': return new Promise((resolve) => setTimeout(() => resolve('Continue'), 300));
          default: return 'Continue';
        }
      },
    });
  },
};

const guard = {
  type: 'conn_guard',
  parseConfig: (): null => null,
  createFilters(_c: null, chain: { addReadFilter(f: object): void }): void {
    chain.addReadFilter({
      onData(data: Buffer): 'Continue' {
        if (data.includes('BOOM')) throw new Error('network plugin bug');
        return 'Continue';
      },
    });
  },
};

export default { name: 'faulty-ts', streamFilters: [faulty], networkFilters: [guard] };
`;

const STAMP_PACKAGE = {
  'node_modules/mosnode-plugin-stamp/package.json': JSON.stringify({
    name: 'mosnode-plugin-stamp',
    version: '1.0.0',
    type: 'module',
    exports: { '.': { require: './missing.cjs', import: './lib/index.mjs' } },
  }),
  'node_modules/mosnode-plugin-stamp/lib/index.mjs': `
export default {
  streamFilters: [{
    type: 'stamp',
    parseConfig: () => ({}),
    createFilters(_c, chain) {
      chain.addSender({ onSend(h) { h.response.headers.set('x-stamp', 'stamped'); return 'Continue'; } });
    },
  }],
};
`,
};

function config(backendPort: number, echoPort: number, plugins: string[]): object {
  return {
    plugins,
    servers: [
      {
        default_log_level: 'INFO',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'backend' } }] }] }],
        listeners: [
          {
            name: 'l7',
            address: '127.0.0.1:0',
            bind_port: true,
            filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: 'r' } }] }],
            stream_filters: [{ type: 'tag', config: { value: 't1' } }, { type: 'faulty' }, { type: 'stamp' }],
          },
          {
            name: 'l4',
            address: '127.0.0.1:0',
            bind_port: true,
            filter_chains: [{ filters: [{ type: 'conn_guard' }, { type: 'tcp_proxy', config: { cluster: 'echo' } }] }],
          },
        ],
      },
    ],
    cluster_manager: {
      clusters: [
        { name: 'backend', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${backendPort}` }] },
        { name: 'echo', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${echoPort}` }] },
      ],
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    disable_upgrade: true,
  };
}

describe('plugins loaded by a running mosnode', () => {
  let dir: string;
  let upstream: RecordingUpstream;
  let echo: TcpTestServer;
  let proc: MosnodeProcess;
  let port: number;
  let admin: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mosnode-plugins-'));
    writeTree(dir, { 'filters/tag.mjs': TAG_PLUGIN, 'filters/faulty.ts': FAULTY_PLUGIN, ...STAMP_PACKAGE });
    upstream = await startRecordingUpstream('u');
    echo = await startEchoServer();
    proc = await startMosnode(config(upstream.port, echo.port, ['./filters/tag.mjs', './filters/faulty.ts', 'mosnode-plugin-stamp']), { dir });
    port = proc.listenerAddress('l7').port;
    const a = proc.adminAddress();
    admin = `http://${a.host}:${a.port}`;
  });
  after(async () => {
    await proc.cleanup();
    await upstream.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const failures = async (): Promise<number> => {
    const stats = (await (await fetch(`${admin}/api/v1/stats?key=faulty.listener.l7`)).json()) as Record<string, Record<string, Record<string, string>>>;
    return Number(stats.faulty?.['listener.l7']?.filter_failures ?? 'missing');
  };

  test('filters from a path, a TypeScript file and a package all run on a request', async () => {
    const res = await h1(port, '/hello');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-stamp'], 'stamped');
    assert.equal(upstream.seen.at(-1)!.headers['x-tag'], 't1');
    const loaded = proc.logs.filter((l) => l.msg === 'plugin loaded').map((l) => [l.plugin, l.filters]);
    assert.deepEqual(loaded, [
      ['tagger', ['stream:tag']],
      ['faulty-ts', ['stream:faulty', 'network:conn_guard']],
      ['mosnode-plugin-stamp', ['stream:stamp']],
    ]);
    const listing = await (await fetch(`${admin}/api/v1/plugin?status=all`)).text();
    assert.equal(listing, 'name:tagger,enable:true,on:true\nname:faulty-ts,enable:true,on:true\nname:mosnode-plugin-stamp,enable:true,on:true\n\n');
  });

  test('a throwing, rejecting or invalid stream filter costs its request a 500, counted and logged; the process keeps serving', async () => {
    const before = await failures();
    for (const path of ['/throw', '/reject', '/bad-status']) {
      const res = await h1(port, path);
      assert.equal(res.status, 500, path);
      assert.match(res.body.toString(), /stream filter "faulty" failed/);
    }
    assert.equal(await failures(), before + 3);
    const ok = await h1(port, '/after');
    assert.equal(ok.status, 200);
    await proc.waitForLog((l) => l.msg === 'proxy: stream filter failed; answering 500' && l.filter === 'faulty' && String(l.err).includes('plugin async bug'));
    assert.ok(!upstream.seen.some((s) => ['/throw', '/reject', '/bad-status'].includes(s.url)));
  });

  test('a slow async filter delays only its own requests', async () => {
    const started = performance.now();
    const slow = Promise.all([1, 2, 3].map(() => h1(port, '/slow').then((r) => ({ status: r.status, ms: performance.now() - started }))));
    const fast = await Promise.all([1, 2, 3].map(() => h1(port, '/fast').then((r) => ({ status: r.status, ms: performance.now() - started }))));
    const slowDone = await slow;
    for (const r of [...fast, ...slowDone]) assert.equal(r.status, 200);
    assert.ok(Math.max(...fast.map((r) => r.ms)) < Math.min(...slowDone.map((r) => r.ms)), JSON.stringify({ fast, slowDone }));
    assert.ok(Math.min(...slowDone.map((r) => r.ms)) >= 290);
  });

  test('a throwing network filter closes its connection only', async () => {
    const { port: l4 } = proc.listenerAddress('l4');
    const good = connect(l4, '127.0.0.1');
    const bad = connect(l4, '127.0.0.1');
    await Promise.all([once(good, 'connect'), once(bad, 'connect')]);
    bad.write('BOOM');
    await once(bad, 'close');
    good.write('ping');
    const [echoed] = (await once(good, 'data')) as [Buffer];
    assert.equal(echoed.toString(), 'ping');
    good.destroy();
    await proc.waitForLog((l) => String(l.err ?? l.msg).includes('network plugin bug') || JSON.stringify(l).includes('network plugin bug'));
  });
});

describe('plugin loading failures stop validate and start with the entry and the reason', () => {
  const cases: Array<{ name: string; files: Record<string, string>; plugins: string[]; expect: RegExp; filters?: unknown[] }> = [
    { name: 'missing file', files: {}, plugins: ['./nope.mjs'], expect: /plugins\[0\] \(".*\/nope\.mjs"\): no such file .*\/nope\.mjs/ },
    { name: 'package not installed', files: {}, plugins: ['mosnode-plugin-absent'], expect: /plugins\[0\] \("mosnode-plugin-absent"\): package "mosnode-plugin-absent" is not installed/ },
    { name: 'throws while importing', files: { 'p.mjs': 'throw new Error("init failed");' }, plugins: ['./p.mjs'], expect: /plugins\[0\] \(".*\/p\.mjs"\): importing .*\/p\.mjs failed: init failed/ },
    { name: 'syntax error', files: { 'p.mjs': 'export default {' }, plugins: ['./p.mjs'], expect: /plugins\[0\].*importing .* failed: SyntaxError: Unexpected end of input/ },
    { name: 'no plugin exported', files: { 'p.mjs': 'export const x = 1;' }, plugins: ['./p.mjs'], expect: /expected a default export made with definePlugin/ },
    { name: 'factory without createFilters', files: { 'p.mjs': 'export default { streamFilters: [{ type: "x", parseConfig() {} }] };' }, plugins: ['./p.mjs'], expect: /plugins\[0\].*streamFilters\[0\] \("x"\): expected a createFilters\(\) method/ },
    { name: 'takes a built-in name', files: { 'p.mjs': TAG_PLUGIN.replace("type: 'tag'", "type: 'gzip'") }, plugins: ['./p.mjs'], expect: /stream filter "gzip" is already registered \(by a built-in filter\)/ },
    {
      name: 'two plugins with one name',
      files: { 'a.mjs': TAG_PLUGIN, 'b.mjs': TAG_PLUGIN.replace('tagger', 'other') },
      plugins: ['./a.mjs', './b.mjs'],
      expect: /plugins\[1\] \(".*\/b\.mjs"\): streamFilters\[0\]: stream filter "tag" is already registered \(by plugins\[0\] \(".*\/a\.mjs"\), plugin "tagger"\)/,
    },
    {
      name: "the plugin's parseConfig refuses its config",
      files: { 'a.mjs': TAG_PLUGIN },
      plugins: ['./a.mjs'],
      filters: [{ type: 'tag', config: { value: 3 } }],
      expect: /servers\[0\]\.listeners\[0\]\.stream_filters\[0\]\.config: expected \{"value": string\}/,
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mosnode-plugins-bad-'));
      try {
        writeTree(dir, c.files);
        const cfg = config(1, 1, c.plugins) as { servers: Array<{ listeners: Array<Record<string, unknown>> }> };
        cfg.servers[0]!.listeners[0]!.stream_filters = c.filters ?? [];
        writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
        const result = await runMosnode(['validate', '-c', join(dir, 'config.json')]);
        assert.equal(result.code, 1, result.stdout + result.stderr);
        assert.match(result.stderr, c.expect);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('validate names the plugins of a valid config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-plugins-ok-'));
    try {
      writeTree(dir, { 'filters/tag.mjs': TAG_PLUGIN, 'filters/faulty.ts': FAULTY_PLUGIN, ...STAMP_PACKAGE });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config(1, 1, ['./filters/tag.mjs', './filters/faulty.ts', 'mosnode-plugin-stamp'])));
      const result = await runMosnode(['validate', '-c', join(dir, 'config.json')]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /is valid: 2 listener\(s\), 2 cluster\(s\), plugin\(s\): tagger, faulty-ts, mosnode-plugin-stamp/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

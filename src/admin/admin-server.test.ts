import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { isMosnError } from '../core/errors.ts';
import { silentLogger, toMosnLevel, toPinoLevel, type Logger } from '../core/logger.ts';
import { MetricsRegistry } from '../metrics/metrics-registry.ts';
import { downstreamListenerMetrics, downstreamProxyMetrics } from '../metrics/metric-bundles.ts';
import { MosnStates, type AdminContext, type PluginStatus } from './admin-context.ts';
import { AdminServer, type AdminAddress } from './admin-server.ts';
import { ADMIN_ROUTES } from './admin-routes.ts';
import { REDACTED } from '../config/redact.ts';

const SECRET_KEY = '-----BEGIN PRIVATE KEY-----\nSUPER-SECRET\n-----END PRIVATE KEY-----';

function configDocument(): Record<string, unknown> {
  return {
    servers: [
      {
        default_log_path: 'stdout',
        default_log_level: 'INFO',
        listeners: [
          {
            name: 'serverListener',
            address: '127.0.0.1:2046',
            filter_chains: [
              {
                tls_context: { status: true, cert_chain: 'CERT', private_key: SECRET_KEY },
                filters: [{ type: 'proxy', config: { router_config_name: 'server_router', auth_token: 'tok-123', max_tokens: 5 } }],
              },
            ],
          },
          { address: '127.0.0.1:2047', filter_chains: [] },
        ],
        routers: [{ router_config_name: 'server_router', virtual_hosts: [{ name: 'vh', domains: ['*'] }] }],
      },
    ],
    cluster_manager: {
      tls_context: { private_key: '' },
      clusters: [{ name: 'serverCluster', lb_type: 'LB_RANDOM', hosts: [{ address: '127.0.0.1:8080' }], tls_context: { private_key: SECRET_KEY } }],
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 34901 } } },
    extends: [{ type: 'plugin_x', config: { db_password: 'hunter2' } }],
  };
}

interface FakeContext extends AdminContext {
  currentState: number;
  document: Record<string, unknown>;
  featureGates: Record<string, boolean>;
  pluginList: PluginStatus[];
  enabledCalls: boolean[];
}

function fakeContext(options: { logger?: Logger; logPath?: string; withLogToggle?: boolean } = {}): FakeContext {
  const logger = options.logger ?? silentLogger();
  const context: FakeContext = {
    version: '1.2.3',
    logger,
    metrics: new MetricsRegistry(),
    currentState: MosnStates.Running,
    document: configDocument(),
    featureGates: {},
    pluginList: [],
    enabledCalls: [],
    configDocument() {
      return context.document;
    },
    state() {
      return context.currentState;
    },
    getLogLevel() {
      return toMosnLevel(logger.level);
    },
    setLogLevel(level) {
      const pinoLevel = toPinoLevel(level);
      if (pinoLevel === undefined) return false;
      logger.level = pinoLevel;
      return true;
    },
    features() {
      return context.featureGates;
    },
    plugins() {
      return context.pluginList;
    },
  };
  if (options.logPath !== undefined) Object.assign(context, { logPath: options.logPath });
  if (options.withLogToggle === true) context.setLogEnabled = (enabled) => void context.enabledCalls.push(enabled);
  return context;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(address: AdminAddress, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address.host, port: address.port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

async function startServer(context: AdminContext, options = {}): Promise<{ admin: AdminServer; address: AdminAddress }> {
  const admin = new AdminServer(context, options);
  const address = await admin.listen({ host: '127.0.0.1', port: 0 });
  return { admin, address };
}

describe('AdminServer endpoints', () => {
  let context: FakeContext;
  let admin: AdminServer;
  let address: AdminAddress;
  const get = (path: string): Promise<Reply> => request(address, 'GET', path);
  const post = (path: string, body: string): Promise<Reply> => request(address, 'POST', path, body);

  before(async () => {
    context = fakeContext({ logger: pino({ level: 'info' }, new Writable({ write: (_chunk, _encoding, done) => done() })) });
    ({ admin, address } = await startServer(context));
    assert.equal(address.host, '127.0.0.1');
    assert.ok(address.port > 0);
  });

  after(() => admin.close());

  it('GET /api/v1/version', async () => {
    const reply = await get('/api/v1/version');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], TEXT);
    assert.equal(reply.body, 'mosn version: 1.2.3');
  });

  it('GET /api/v1/states answers pid=<pid>&state=<code>\\n', async () => {
    let reply = await get('/api/v1/states');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], TEXT);
    assert.equal(reply.body, `pid=${process.pid}&state=6\n`);
    context.currentState = MosnStates.Upgrading;
    reply = await get('/api/v1/states');
    assert.equal(reply.body, `pid=${process.pid}&state=13\n`);
    context.currentState = MosnStates.Running;
  });

  describe('/api/v1/config_dump', () => {
    it('without a parameter: compact JSON in MOSN sections, secrets redacted', async () => {
      const reply = await get('/api/v1/config_dump');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], JSON_TYPE);
      assert.ok(!reply.body.includes('\n'), 'compact, as MOSN json.Marshal');
      assert.ok(!reply.body.includes('SUPER-SECRET'));
      assert.ok(!reply.body.includes('hunter2'));
      assert.ok(!reply.body.includes('tok-123'));
      const dump = JSON.parse(reply.body) as Record<string, any>;
      assert.deepEqual(Object.keys(dump), ['mosn_config', 'listener', 'cluster', 'routers', 'extends']);
      assert.deepEqual(Object.keys(dump['listener']), ['serverListener', '127.0.0.1:2047']);
      assert.equal(dump['listener']['serverListener'].filter_chains[0].tls_context.private_key, REDACTED);
      assert.equal(dump['listener']['serverListener'].filter_chains[0].tls_context.cert_chain, 'CERT');
      assert.equal(dump['listener']['serverListener'].filter_chains[0].filters[0].config.auth_token, REDACTED);
      assert.equal(dump['listener']['serverListener'].filter_chains[0].filters[0].config.max_tokens, 5);
      assert.equal(dump['cluster']['serverCluster'].tls_context.private_key, REDACTED);
      assert.equal(dump['routers']['server_router'].virtual_hosts[0].name, 'vh');
      assert.equal(dump['extends'][0].config.db_password, REDACTED);
      assert.equal(dump['mosn_config'].servers[0].listeners, undefined);
      assert.equal(dump['mosn_config'].servers[0].routers, undefined);
      assert.equal(dump['mosn_config'].servers[0].default_log_level, 'INFO');
      assert.equal(dump['mosn_config'].cluster_manager.clusters, undefined);
      assert.equal(dump['mosn_config'].cluster_manager.tls_context.private_key, '', 'an empty key stays empty');
      assert.equal(dump['mosn_config'].extends, undefined);
      assert.equal(dump['mosn_config'].admin.address.socket_address.port_value, 34901);
      // The context's document is never changed by redaction.
      const original = context.document['servers'] as any[];
      assert.equal(original[0].listeners[0].filter_chains[0].tls_context.private_key, SECRET_KEY);
    });

    it('leaves empty sections out, as Go omitempty does', async () => {
      const saved = context.document;
      context.document = { servers: [{ default_log_level: 'INFO', listeners: [], routers: [] }] };
      try {
        const dump = JSON.parse((await get('/api/v1/config_dump')).body) as Record<string, unknown>;
        assert.deepEqual(dump, { mosn_config: { servers: [{ default_log_level: 'INFO' }] } });
      } finally {
        context.document = saved;
      }
    });

    it('?mosnconfig: the config without listeners, routers and clusters, indented by one space', async () => {
      const reply = await get('/api/v1/config_dump?mosnconfig');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], JSON_TYPE);
      assert.ok(reply.body.startsWith('{\n "'));
      const config = JSON.parse(reply.body) as Record<string, any>;
      assert.deepEqual(Object.keys(config).sort(), ['admin', 'cluster_manager', 'servers']);
      assert.equal(config['servers'][0].listeners, undefined);
    });

    it('?alllisteners, ?allclusters, ?allrouters: maps by name', async () => {
      const listeners = JSON.parse((await get('/api/v1/config_dump?alllisteners')).body) as Record<string, any>;
      assert.deepEqual(Object.keys(listeners), ['serverListener', '127.0.0.1:2047']);
      assert.equal(listeners['serverListener'].filter_chains[0].tls_context.private_key, REDACTED);
      const clusters = JSON.parse((await get('/api/v1/config_dump?allclusters')).body) as Record<string, any>;
      assert.deepEqual(Object.keys(clusters), ['serverCluster']);
      assert.equal(clusters['serverCluster'].tls_context.private_key, REDACTED);
      const routers = JSON.parse((await get('/api/v1/config_dump?allrouters')).body) as Record<string, unknown>;
      assert.deepEqual(Object.keys(routers), ['server_router']);
    });

    it('?router=, ?cluster=, ?listener=: one object by name', async () => {
      const router = JSON.parse((await get('/api/v1/config_dump?router=server_router')).body) as Record<string, unknown>;
      assert.equal(router['router_config_name'], 'server_router');
      const cluster = JSON.parse((await get('/api/v1/config_dump?cluster=serverCluster')).body) as Record<string, any>;
      assert.equal(cluster['lb_type'], 'LB_RANDOM');
      assert.equal(cluster['tls_context'].private_key, REDACTED);
      const reply = await get('/api/v1/config_dump?listener=127.0.0.1%3A2047');
      assert.equal(reply.status, 200);
      assert.equal((JSON.parse(reply.body) as Record<string, unknown>)['address'], '127.0.0.1:2047');
    });

    it('400 for an unknown name, a missing name, an unknown parameter, or two parameters', async () => {
      const cases: Array<[string, RegExp]> = [
        ['/api/v1/config_dump?router=nope', /no router named "nope"/],
        ['/api/v1/config_dump?cluster=', /parameter "cluster" needs a name/],
        ['/api/v1/config_dump?listener=nope', /no listener named "nope"/],
        ['/api/v1/config_dump?bogus', /unknown parameter "bogus"/],
        ['/api/v1/config_dump?allrouters&allclusters', /only support one parameter/],
      ];
      for (const [path, reason] of cases) {
        const reply = await get(path);
        assert.equal(reply.status, 400, path);
        assert.equal(reply.headers['content-type'], TEXT);
        assert.match(reply.body, reason, path);
      }
    });
  });

  describe('/api/v1/stats and /api/v1/stats_glob', () => {
    before(() => {
      const listener = downstreamListenerMetrics(context.metrics, 'serverListener');
      listener.requestTotal.inc(3);
      listener.connectionActive.inc();
      context.metrics.group('upstream', { cluster: 'serverCluster' }).counter('request_total').inc(2);
      const global = downstreamProxyMetrics(context.metrics);
      global.requestTotal.inc(7);
    });

    it('GET /api/v1/stats: {type: {namespace: {key: "value"}}}, tab-indented', async () => {
      const reply = await get('/api/v1/stats');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], JSON_TYPE);
      assert.ok(reply.body.startsWith('{\n\t"downstream"'));
      const stats = JSON.parse(reply.body) as Record<string, Record<string, Record<string, string>>>;
      assert.deepEqual(Object.keys(stats), ['downstream', 'upstream']);
      assert.equal(stats['downstream']?.['listener.serverListener']?.['request_total'], '3');
      assert.equal(stats['downstream']?.['listener.serverListener']?.['connection_active'], '1');
      assert.equal(stats['downstream']?.['proxy.global']?.['request_total'], '7');
      assert.deepEqual(stats['upstream'], { 'cluster.serverCluster': { request_total: '2' } });
    });

    it('?key=<group name>: that group only', async () => {
      const reply = await get('/api/v1/stats?key=upstream.cluster.serverCluster');
      assert.equal(reply.status, 200);
      assert.deepEqual(JSON.parse(reply.body), { upstream: { 'cluster.serverCluster': { request_total: '2' } } });
    });

    it('?key= of no group: 200 with MOSN\'s note', async () => {
      const reply = await get('/api/v1/stats?key=downstream.listener.nope');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], TEXT);
      assert.equal(reply.body, 'no metrics key: downstream.listener.nope');
    });

    it('400 for two parameters or one that is not key', async () => {
      assert.equal((await get('/api/v1/stats?key=a&other=b')).status, 400);
      const reply = await get('/api/v1/stats?name=x');
      assert.equal(reply.status, 400);
      assert.match(reply.body, /\?key=/);
    });

    it('GET /api/v1/stats_glob: key:value lines of downstream.proxy.global', async () => {
      const reply = await get('/api/v1/stats_glob');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], TEXT);
      const lines = reply.body.split('\n');
      assert.equal(lines.at(-1), '');
      assert.ok(lines.includes('request_total:7'));
      assert.ok(lines.includes('connection_active:0'));
      assert.ok(lines.slice(0, -1).every((line) => /^[a-z0-9_]+:-?\d+$/.test(line)), reply.body);
    });
  });

  describe('log endpoints', () => {
    it('GET /api/v1/get_loglevel: {"<log path>": "<LEVEL>"}', async () => {
      const reply = await get('/api/v1/get_loglevel');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], JSON_TYPE);
      assert.equal(reply.body, '{"stdout":"INFO"}');
    });

    it('POST /api/v1/update_loglevel changes the level', async () => {
      let reply = await post('/api/v1/update_loglevel', JSON.stringify({ log_path: 'stdout', log_level: 'DEBUG' }));
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], TEXT);
      assert.equal(reply.body, 'update logger success\n');
      assert.equal(context.logger.level, 'debug');
      assert.deepEqual(JSON.parse((await get('/api/v1/get_loglevel')).body), { stdout: 'DEBUG' });
      // log_path may be left out.
      reply = await post('/api/v1/update_loglevel', JSON.stringify({ log_level: 'INFO' }));
      assert.equal(reply.status, 200);
      assert.equal(context.logger.level, 'info');
    });

    it('update_loglevel: 400 with MOSN\'s error JSON for bad input, level unchanged', async () => {
      const cases: Array<[string, RegExp]> = [
        [JSON.stringify({ log_path: 'stdout', log_level: 'LOUD' }), /not found log level: LOUD/],
        ['{not json', /must be JSON/],
        [JSON.stringify({ log_path: '/var/log/other.log', log_level: 'DEBUG' }), /no logger at "\/var\/log\/other.log"/],
        [JSON.stringify({ log_path: 'stdout' }), /"log_level" must be a string/],
        [JSON.stringify({ log_path: 3, log_level: 'DEBUG' }), /"log_path" must be a string/],
      ];
      for (const [body, reason] of cases) {
        const reply = await post('/api/v1/update_loglevel', body);
        assert.equal(reply.status, 400, body);
        assert.equal(reply.headers['content-type'], JSON_TYPE);
        const error = (JSON.parse(reply.body) as { error: string }).error;
        assert.match(error, /^update logger failed/);
        assert.match(error, reason, body);
      }
      assert.equal(context.logger.level, 'info');
    });

    it('update_loglevel is POST only: GET is 405 with Allow', async () => {
      const reply = await get('/api/v1/update_loglevel');
      assert.equal(reply.status, 405);
      assert.equal(reply.headers['allow'], 'POST');
    });

    it('POST /api/v1/disable_log and enable_log silence and restore the logger', async () => {
      let reply = await post('/api/v1/disable_log', 'stdout');
      assert.equal(reply.status, 200);
      assert.equal(reply.body, 'disable logger success\n');
      assert.equal(context.logger.level, 'silent');
      reply = await post('/api/v1/enable_log', 'stdout');
      assert.equal(reply.status, 200);
      assert.equal(reply.body, 'enable logger success\n');
      assert.equal(context.logger.level, 'info');
      // Enabling an enabled logger changes nothing.
      reply = await post('/api/v1/enable_log', '');
      assert.equal(reply.status, 200);
      assert.equal(context.logger.level, 'info');
    });

    it('enable_log / disable_log: 400 for another log path', async () => {
      const reply = await post('/api/v1/disable_log', '/tmp/other.log');
      assert.equal(reply.status, 400);
      assert.match((JSON.parse(reply.body) as { error: string }).error, /^disable logger failed: no logger at/);
      assert.equal(context.logger.level, 'info');
    });
  });

  describe('/api/v1/features, /api/v1/env, /api/v1/plugin', () => {
    it('features: {} by default, sorted {name: bool}, ?key= as "true"/"false"', async () => {
      let reply = await get('/api/v1/features');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], JSON_TYPE);
      assert.equal(reply.body, '{}');
      context.featureGates = { XdsMtlsEnable: false, PayLoadLimitEnable: true };
      reply = await get('/api/v1/features');
      assert.equal(reply.body, '{\n "PayLoadLimitEnable": true,\n "XdsMtlsEnable": false\n}');
      reply = await get('/api/v1/features?key=PayLoadLimitEnable');
      assert.equal(reply.headers['content-type'], TEXT);
      assert.equal(reply.body, 'true');
      assert.equal((await get('/api/v1/features?key=XdsMtlsEnable')).body, 'false');
      assert.equal((await get('/api/v1/features?key=Unknown')).body, 'false');
      assert.equal((await get('/api/v1/features?name=x')).status, 400);
    });

    it('env: found values and not_found names; secret-looking names redacted', async () => {
      process.env['MOSNODE_ADMIN_TEST_VAR'] = 'hello';
      process.env['MOSNODE_ADMIN_TEST_SECRET'] = 's3cr3t';
      try {
        let reply = await get('/api/v1/env?key=MOSNODE_ADMIN_TEST_VAR&key=MOSNODE_ADMIN_TEST_MISSING');
        assert.equal(reply.status, 200);
        assert.equal(reply.headers['content-type'], JSON_TYPE);
        assert.deepEqual(JSON.parse(reply.body), { env: { MOSNODE_ADMIN_TEST_VAR: 'hello' }, not_found: ['MOSNODE_ADMIN_TEST_MISSING'] });
        reply = await get('/api/v1/env?key=MOSNODE_ADMIN_TEST_VAR&key=MOSNODE_ADMIN_TEST_SECRET');
        assert.deepEqual(JSON.parse(reply.body), {
          env: { MOSNODE_ADMIN_TEST_VAR: 'hello', MOSNODE_ADMIN_TEST_SECRET: REDACTED },
          not_found: null,
        });
      } finally {
        delete process.env['MOSNODE_ADMIN_TEST_VAR'];
        delete process.env['MOSNODE_ADMIN_TEST_SECRET'];
      }
    });

    it('env without key: 400 {"error": "no env key"}', async () => {
      const reply = await get('/api/v1/env');
      assert.equal(reply.status, 400);
      assert.deepEqual(JSON.parse(reply.body), { error: 'no env key' });
    });

    it('plugin: usage, status of all and of one, unknown names', async () => {
      let reply = await get('/api/v1/plugin');
      assert.equal(reply.status, 400);
      assert.match(reply.body, /^Usage:\n\/plugin\?status=all\n/);
      context.pluginList = [
        { name: 'auth', enable: true, on: true },
        { name: 'wasm', enable: false, on: false },
      ];
      reply = await get('/api/v1/plugin?status=all');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], TEXT);
      assert.equal(reply.body, 'name:auth,enable:true,on:true\nname:wasm,enable:false,on:false\n\n');
      reply = await get('/api/v1/plugin?status=auth');
      assert.equal(reply.body, 'name:auth,enable:true,on:true\n');
      reply = await get('/api/v1/plugin?status=nope');
      assert.equal(reply.status, 400);
      assert.equal(reply.body, 'plugin nope no register\n');
      reply = await get('/api/v1/plugin?enable=nope');
      assert.equal(reply.status, 400);
      assert.equal(reply.body, 'plugin nope no register\n');
      reply = await get('/api/v1/plugin?disable=auth');
      assert.equal(reply.status, 400);
      assert.match(reply.body, /cannot be disabled/);
    });
  });

  it('GET /api/v1/workers: one process has no workers', async () => {
    const reply = await get('/api/v1/workers');
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { processor: 1, workers: [] });
  });

  it('GET / lists every admin path', async () => {
    const reply = await get('/');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], TEXT);
    const lines = reply.body.split('\n');
    assert.equal(lines[0], 'supported APIs:');
    const expected = [
      '/api/v1/version', '/api/v1/config_dump', '/api/v1/stats', '/api/v1/stats_glob', '/api/v1/update_loglevel',
      '/api/v1/get_loglevel', '/api/v1/enable_log', '/api/v1/disable_log', '/api/v1/states', '/api/v1/plugin',
      '/api/v1/features', '/api/v1/env', '/api/v1/workers',
    ];
    assert.deepEqual(lines.slice(1, -1), expected);
    assert.deepEqual(ADMIN_ROUTES.map((route) => route.path), [...expected, '/']);
  });

  it('404 for an unknown path, with a short text', async () => {
    for (const path of ['/api/v1/nope', '/api/v1/stats/', '/favicon.ico']) {
      const reply = await get(path);
      assert.equal(reply.status, 404, path);
      assert.equal(reply.headers['content-type'], TEXT);
      assert.match(reply.body, /no admin API at/);
    }
  });

  it('405 for a wrong method, with Allow', async () => {
    for (const path of ['/api/v1/stats', '/api/v1/config_dump', '/api/v1/states', '/']) {
      const reply = await post(path, '');
      assert.equal(reply.status, 405, path);
      assert.equal(reply.headers['allow'], 'GET, HEAD');
    }
    assert.equal((await request(address, 'DELETE', '/api/v1/version')).status, 405);
  });

  it('HEAD is served as GET, without a body', async () => {
    const reply = await request(address, 'HEAD', '/api/v1/version');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-length'], String('mosn version: 1.2.3'.length));
    assert.equal(reply.body, '');
  });
});

describe('AdminServer behaviour', () => {
  it('logs each request at debug level', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const { admin, address } = await startServer(fakeContext({ logger }));
    try {
      await request(address, 'GET', '/api/v1/states');
      await request(address, 'GET', '/nope');
      const requests = lines.filter((line) => line['msg'] === 'admin request');
      assert.deepEqual(
        requests.map((line) => [line['level'], line['method'], line['path'], line['status']]),
        [[20, 'GET', '/api/v1/states', 200], [20, 'GET', '/nope', 404]],
      );
    } finally {
      await admin.close();
    }
  });

  it('uses the context log path and its own log toggle when given', async () => {
    const context = fakeContext({ logPath: '/var/log/mosn/default.log', withLogToggle: true });
    const { admin, address } = await startServer(context);
    try {
      assert.deepEqual(JSON.parse((await request(address, 'GET', '/api/v1/get_loglevel')).body), { '/var/log/mosn/default.log': 'INFO' });
      assert.equal((await request(address, 'POST', '/api/v1/disable_log', '/var/log/mosn/default.log')).status, 200);
      assert.equal((await request(address, 'POST', '/api/v1/enable_log', '/var/log/mosn/default.log')).status, 200);
      assert.equal((await request(address, 'POST', '/api/v1/enable_log', 'stdout')).status, 400);
      assert.deepEqual(context.enabledCalls, [false, true]);
      const reply = await request(address, 'POST', '/api/v1/update_loglevel', JSON.stringify({ log_path: 'stdout', log_level: 'DEBUG' }));
      assert.equal(reply.status, 400);
    } finally {
      await admin.close();
    }
  });

  it('413 for a POST body over the limit', async () => {
    const { admin, address } = await startServer(fakeContext(), { maxBodyBytes: 16 });
    try {
      const reply = await request(address, 'POST', '/api/v1/update_loglevel', JSON.stringify({ log_level: 'DEBUG', padding: 'x'.repeat(64) }));
      assert.equal(reply.status, 413);
    } finally {
      await admin.close();
    }
  });

  it('500 when a context call throws, and the server keeps serving', async () => {
    const context = fakeContext();
    context.state = () => {
      throw new Error('boom');
    };
    const { admin, address } = await startServer(context);
    try {
      assert.equal((await request(address, 'GET', '/api/v1/states')).status, 500);
      assert.equal((await request(address, 'GET', '/api/v1/version')).status, 200);
    } finally {
      await admin.close();
    }
  });

  it('close() releases the port even with an idle keep-alive connection', async () => {
    const { admin, address } = await startServer(fakeContext(), { closeGraceMs: 30_000 });
    const agent = new http.Agent({ keepAlive: true });
    try {
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: address.host, port: address.port, path: '/api/v1/version', agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', reject);
      });
      const started = Date.now();
      await admin.close();
      assert.ok(Date.now() - started < 5_000, 'idle keep-alive sockets must not hold close() until the grace time');
      await admin.close(); // idempotent
      const probe = net.createServer();
      probe.listen(address.port, '127.0.0.1');
      await once(probe, 'listening');
      await new Promise((resolve) => probe.close(resolve));
    } finally {
      agent.destroy();
    }
  });

  it('close() before listen() resolves', async () => {
    await new AdminServer(fakeContext()).close();
  });

  it('listen() on a busy port rejects with MOSN_ERR_ADMIN_BIND', async () => {
    const { admin, address } = await startServer(fakeContext());
    try {
      const second = new AdminServer(fakeContext());
      await assert.rejects(second.listen({ host: '127.0.0.1', port: address.port }), (err) => {
        assert.ok(isMosnError(err, 'MOSN_ERR_ADMIN_BIND'));
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${address.port}`));
        return true;
      });
    } finally {
      await admin.close();
    }
  });

  it('listen() on an already-bound server handle serves on it', async () => {
    const bound = net.createServer();
    bound.listen(0, '127.0.0.1');
    await once(bound, 'listening');
    const port = (bound.address() as net.AddressInfo).port;
    const admin = new AdminServer(fakeContext());
    try {
      const address = await admin.listen(bound);
      assert.equal(address.port, port);
      assert.equal((await request(address, 'GET', '/api/v1/version')).body, 'mosn version: 1.2.3');
    } finally {
      await admin.close();
      await new Promise((resolve) => bound.close(resolve));
    }
  });

  it('listen({fd}) serves on an inherited listening fd (the hot-upgrade path)', async () => {
    // The fd must be new to the process's event loop, as one received over SCM_RIGHTS is:
    // so the listening socket is handed to a child process as its fd 3.
    const bound = net.createServer();
    bound.listen(0, '127.0.0.1');
    await once(bound, 'listening');
    const port = (bound.address() as net.AddressInfo).port;
    const fd = (bound as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
      stdio: ['ignore', 'pipe', 'inherit', fd],
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, ADMIN_SERVER_MODULE: fileURLToPath(new URL('./admin-server.ts', import.meta.url)) },
    });
    try {
      const [line] = (await once(child.stdout!, 'data')) as [Buffer];
      assert.deepEqual(JSON.parse(line.toString()), { host: '127.0.0.1', port });
      // Our own copy is closed: the child alone serves on the socket now.
      await new Promise((resolve) => bound.close(resolve));
      const reply = await request({ host: '127.0.0.1', port }, 'GET', '/api/v1/states');
      assert.match(reply.body, new RegExp(`^pid=${child.pid}&state=6\n$`));
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      if (bound.listening) bound.close();
    }
  });
});

const CHILD_SCRIPT = `
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
const { AdminServer } = await import(pathToFileURL(process.env.ADMIN_SERVER_MODULE).href);
const { MetricsRegistry } = await import(pathToFileURL(process.env.ADMIN_SERVER_MODULE.replace(/admin[/\\\\]admin-server\\.ts$/, 'metrics/metrics-registry.ts')).href);
const admin = new AdminServer({
  version: 'child', logger: pino({ level: 'silent' }), metrics: new MetricsRegistry(),
  configDocument: () => ({}), state: () => 6, getLogLevel: () => 'INFO', setLogLevel: () => true,
});
const address = await admin.listen({ fd: 3 });
process.stdout.write(JSON.stringify(address) + '\\n');
process.on('SIGTERM', () => admin.close().then(() => process.exit(0)));
`;

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, defaultConfig, loadConfigFile, parseConfigText } from './load.ts';
import { isMosnError } from '../core/errors.ts';
import type { LoadedConfig } from './types.ts';

const examplesDir = fileURLToPath(new URL('../../../shared/mosn-examples/', import.meta.url));

function loadExample(name: string): LoadedConfig {
  return loadConfigFile(join(examplesDir, name));
}

/** A small valid config: one TCP proxy listener and one cluster. */
function minimal(): Record<string, any> {
  return {
    servers: [
      {
        listeners: [
          {
            name: 'l',
            address: '127.0.0.1:2046',
            bind_port: true,
            filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'c' } }] }],
          },
        ],
      },
    ],
    cluster_manager: {
      clusters: [{ name: 'c', type: 'SIMPLE', lb_type: 'LB_RANDOM', hosts: [{ address: '127.0.0.1:8080' }] }],
    },
  };
}

function parse(doc: unknown): LoadedConfig {
  return parseConfigText(JSON.stringify(doc));
}

/** Asserts that `fn` throws a ConfigError with `code` whose message has every line of `lines`. */
function assertConfigError(fn: () => unknown, code: string, lines: string[]): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    const actual = err.message.split('\n');
    for (const line of lines) assert.ok(actual.includes(line), `missing line:\n  ${line}\nin:\n  ${actual.join('\n  ')}`);
    assert.equal(err.issues.length, actual.length);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-config-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// MOSN's own example files

test('every MOSN example config loads', () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 9);
  for (const file of files) {
    const loaded = loadExample(file);
    assert.equal(loaded.config.servers.length, 1, file);
    assert.equal(loaded.path, join(examplesDir, file));
    assert.equal(loaded.config.uds_dir, examplesDir.replace(/\/$/, ''), file);
  }
});

test('mosn_config.json: three HTTP listeners, routers, clusters and admin', () => {
  const { config, warnings } = loadExample('configs__mosn_config.json');
  const [server] = config.servers;
  // max_request_per_conn 1024 is the default: no warning; conn_buffer_limit_bytes 32768 is not.
  assert.deepEqual(warnings, [
    'cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not enforced by mosnode yet',
    'cluster_manager.clusters[1].conn_buffer_limit_bytes: accepted but not enforced by mosnode yet',
  ]);
  assert.deepEqual(server.listeners.map((l) => `${l.name}=${l.address}`), [
    'appListener=127.0.0.1:2047',
    'serverListener=127.0.0.1:2046',
    'clientListener=127.0.0.1:2045',
  ]);
  assert.equal(server.listeners[1]?.filter_chains[0]?.filters[0]?.config['downstream_protocol'], 'Auto');
  assert.equal(server.listeners[0]?.bind_port, true);
  assert.equal(server.listeners[0]?.network, 'tcp');
  assert.equal(server.default_log_path, 'stdout');
  assert.equal(server.default_log_level, 'INFO');
  assert.equal(server.graceful_timeout, 30_000);
  const app = server.routers.find((r) => r.router_config_name === 'application');
  assert.deepEqual(app?.virtual_hosts[0]?.routers[0]?.direct_response, {
    status: 200,
    body: 'Welcome to MOSN!\nThe Cloud-Native Network Proxy Platform.\n',
  });
  const cluster = config.cluster_manager.clusters[0];
  assert.equal(cluster?.name, 'serverCluster');
  assert.equal(cluster?.lb_type, 'LB_RANDOM');
  assert.equal(cluster?.conn_buffer_limit_bytes, 32_768);
  assert.equal(cluster?.max_request_per_conn, 1024);
  assert.equal(cluster?.connect_timeout, 3000);
  assert.deepEqual(cluster?.hosts, [{ address: '127.0.0.1:2047', hostname: undefined, weight: 1, metadata: {} }]);
  assert.deepEqual(config.admin, { address: { socket_address: { address: '127.0.0.1', port_value: 34901 } } });
  assert.equal(config.disable_upgrade, false);
});

test('mosn_config_dev.json: connection_manager becomes a router; MOSN-ignored keys warn', () => {
  const { config, warnings, document } = loadExample('configs__mosn_config_dev.json');
  const [server] = config.servers;
  assert.equal(server.processor, 'auto');
  assert.equal(server.default_log_level, 'DEBUG');
  const listener = server.listeners[0];
  assert.deepEqual(listener?.filter_chains[0]?.filters.map((f) => f.type), ['proxy']);
  assert.equal(listener?.filter_chains[0]?.tls_context, undefined);
  assert.equal(server.routers.length, 1);
  assert.equal(server.routers[0]?.router_config_name, 'grpc_router');
  assert.equal(server.routers[0]?.virtual_hosts[0]?.routers[0]?.route?.cluster_name, 'grpcCluster');
  assert.equal(config.cluster_manager.clusters[0]?.name, 'grpcCluster');
  assert.equal(config.metrics.shm_zone, 'metrics');
  assert.equal(config.metrics.shm_size, 10 * 1024 * 1024);
  assert.deepEqual(config.metrics.sinks, [{ type: 'prometheus', config: { port: 34903 } }]);
  assert.deepEqual(warnings, [
    'servers[0].listeners[0].log_path: unknown key, ignored',
    'metrics.flush_interval: unknown key, ignored',
    'servers[0].listeners[0].filter_chains[0].filters[1]: deprecated "connection_manager" filter: its router "grpc_router" moved to servers[0].routers[0]',
    'pprof: not supported by mosnode yet, ignored',
    'cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not enforced by mosnode yet',
  ]);
  // The document shows the conversion too, with canonical keys.
  const docServer = (document['servers'] as any[])[0];
  assert.equal(docServer.routers[0].router_config_name, 'grpc_router');
  assert.equal(docServer.listeners[0].filter_chains[0].filters.length, 1);
  assert.equal((document['cluster_manager'] as any).clusters[0].name, 'grpcCluster');
  assert.equal((document['cluster_manager'] as any).clusters[0].Name, undefined);
  assert.deepEqual(document['pprof'], { debug: true, port_value: 34902 });
});

test('tcpproxy sample: the "Name" key names the cluster; tls_context {} is TLS off', () => {
  const { config, warnings } = loadExample('examples__codes__tcpproxy-sample__config.json');
  assert.equal(config.cluster_manager.clusters[0]?.name, 'serverCluster');
  const chain = config.servers[0].listeners[0]?.filter_chains[0];
  assert.equal(chain?.tls_context, undefined);
  assert.deepEqual(chain?.filters[0], {
    type: 'tcp_proxy',
    config: { cluster: 'serverCluster', routes: [{ cluster: 'serverCluster' }] },
  });
  assert.deepEqual(warnings, [
    'servers[0].listeners[0].log_path: unknown key, ignored',
    'cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not enforced by mosnode yet',
  ]);
  assert.equal(config.admin, undefined);
});

test('udpproxy sample: the listener network is udp', () => {
  const { config } = loadExample('examples__codes__udpproxy-sample__config.json');
  const listener = config.servers[0].listeners[0];
  assert.equal(listener?.network, 'udp');
  assert.equal(listener?.address, '127.0.0.1:5301');
  assert.equal(listener?.filter_chains[0]?.filters[0]?.type, 'udp_proxy');
  assert.equal(config.cluster_manager.clusters[0]?.hosts[0]?.address, '127.0.0.1:5300');
});

test('http samples: upgrade off, admin on all interfaces, upstream protocol kept', () => {
  const client = loadExample('examples__codes__http-sample__client_config.json').config;
  assert.equal(client.disable_upgrade, true);
  assert.equal(client.admin?.address.socket_address.address, '0.0.0.0');
  assert.equal(client.cluster_manager.clusters[0]?.hosts[0]?.address, '127.0.0.1:2046');
  const server = loadExample('examples__codes__http-sample__server_config.json').config;
  assert.equal(server.servers[0].listeners[0]?.filter_chains[0]?.filters[0]?.config['upstream_protocol'], 'Http1');
  assert.equal(server.admin?.address.socket_address.port_value, 34902);
});

test('tls sample: an enabled tls_context is kept with its files', () => {
  const { config } = loadExample('examples__codes__http-sample__tls_server_config.json');
  assert.deepEqual(config.servers[0].listeners[0]?.filter_chains[0]?.tls_context, {
    status: true,
    ca_cert: '../certs/ca.pem',
    cert_chain: '../certs/cert.pem',
    private_key: '../certs/key.pem',
    verify_client: true,
    require_client_cert: true,
  });
});

test('stream filter sample: stream filter config is free-form, its keys untouched', () => {
  const { config, warnings } = loadExample('examples__codes__mosn-extensions__simple_streamfilter__config.json');
  assert.deepEqual(config.servers[0].listeners[0]?.stream_filters, [{ type: 'demo', config: { User: 'admin' } }]);
  assert.deepEqual(warnings, ['cluster_manager.clusters[0].conn_buffer_limit_bytes: accepted but not enforced by mosnode yet']);
});

test('sofarpc sample: header match, bolt protocol, an unregistered stream filter is kept for the runtime to skip', () => {
  const { config } = loadExample('examples__codes__sofarpc-with-xprotocol-sample__server_config.json');
  const route = config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0];
  assert.deepEqual(route?.match, { prefix: undefined, path: undefined, regex: undefined, headers: [{ name: 'service', value: '.*', regex: false }] });
  assert.equal(config.servers[0].listeners[0]?.filter_chains[0]?.filters[0]?.config['downstream_protocol'], 'bolt');
  assert.deepEqual(config.servers[0].listeners[0]?.stream_filters, [{ type: 'healthcheck', config: {} }]);
});

// ---------------------------------------------------------------------------------------
// MOSN's parsing quirks

test('keys match case-insensitively; the document gets canonical names; filter configs stay as written', () => {
  const { config, document, warnings } = parseConfigText(`{
    "Servers": [{
      "Default_Log_Level": "warn",
      "LISTENERS": [{
        "Name": "l", "Address": "127.0.0.1:1", "Bind_Port": true,
        "Filter_Chains": [{ "Filters": [{ "Type": "tcp_proxy", "Config": { "Cluster": "c" } }] }]
      }]
    }],
    "Cluster_Manager": { "Clusters": [{ "NAME": "c", "Lb_Type": "lb_least_request", "LbConfig": { "Choice_Count": 3 }, "Hosts": [{ "Address": "127.0.0.1:2", "Weight": 5 }] }] }
  }`);
  assert.deepEqual(warnings, []);
  const listener = config.servers[0].listeners[0];
  assert.equal(listener?.name, 'l');
  assert.equal(listener?.bind_port, true);
  assert.equal(config.servers[0].default_log_level, 'WARN');
  assert.deepEqual(listener?.filter_chains[0]?.filters[0], { type: 'tcp_proxy', config: { Cluster: 'c' } });
  const cluster = config.cluster_manager.clusters[0];
  assert.equal(cluster?.lb_type, 'LB_LEAST_REQUEST');
  assert.deepEqual(cluster?.lbconfig, { choice_count: 3 });
  assert.equal(cluster?.hosts[0]?.weight, 5);
  assert.deepEqual(Object.keys(document), ['servers', 'cluster_manager']);
  assert.deepEqual(Object.keys((document['servers'] as any[])[0].listeners[0]), ['name', 'address', 'bind_port', 'filter_chains']);
  assert.deepEqual((document['servers'] as any[])[0].listeners[0].filter_chains[0].filters[0], { type: 'tcp_proxy', config: { Cluster: 'c' } });
});

test('two keys for one field: the last one wins, as in Go, with a warning', () => {
  const doc = minimal();
  doc['cluster_manager'].clusters[0] = { name: 'a', Name: 'c', hosts: [] };
  const { config, warnings } = parse(doc);
  assert.equal(config.cluster_manager.clusters[0]?.name, 'c');
  assert.deepEqual(warnings, [
    'cluster_manager.clusters[0].Name: same field as "name" (keys match case-insensitively); the last one wins',
  ]);
});

test('Go durations and nanosecond numbers become milliseconds', () => {
  const doc = minimal();
  doc['servers'][0].graceful_timeout = '1m30s';
  doc['servers'][0].listeners[0].connection_idle_timeout = '500ms';
  Object.assign(doc['cluster_manager'].clusters[0], {
    connect_timeout: 2_000_000_000,
    idle_timeout: '1.5h',
    health_check: { protocol: 'http1', interval: '5s', check_config: { path: '/health' } },
  });
  doc['servers'][0].routers = [
    {
      router_config_name: 'r',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routers: [
            {
              match: { prefix: '/' },
              route: { cluster_name: 'c', timeout: '300us', retry_policy: { retry_on: true, retry_timeout: '1s', num_retries: 2 } },
            },
          ],
        },
      ],
    },
  ];
  const { config } = parse(doc);
  assert.equal(config.servers[0].graceful_timeout, 90_000);
  assert.equal(config.servers[0].listeners[0]?.connection_idle_timeout, 500);
  const cluster = config.cluster_manager.clusters[0];
  assert.equal(cluster?.connect_timeout, 2000);
  assert.equal(cluster?.idle_timeout, 5_400_000);
  assert.deepEqual(cluster?.health_check, {
    protocol: 'http1',
    timeout: 1000,
    interval: 5000,
    interval_jitter: 0,
    initial_delay_seconds: 0,
    healthy_threshold: 1,
    unhealthy_threshold: 1,
    check_config: { path: '/health' },
    common_callbacks: [],
  });
  const action = config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0]?.route;
  assert.equal(action?.timeout, 0.3);
  assert.deepEqual(action?.retry_policy, { retry_on: true, retry_timeout: 1000, num_retries: 2, status_codes: [] });
});

/** minimal() with one HTTP router whose single route has `route` as its action. */
function withRoute(route: Record<string, unknown>, routeExtra: Record<string, unknown> = {}): Record<string, any> {
  const doc = minimal();
  doc['servers'][0].routers = [
    {
      router_config_name: 'r',
      virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...route }, ...routeExtra }] }],
    },
  ];
  return doc;
}

const ROUTE = 'servers[0].routers[0].virtual_hosts[0].routers[0]';

test('durations above 2^31-1 ms (Node timers overflow) are refused, naming the path', () => {
  const doc = withRoute({ timeout: 2_147_483_648_000_000, retry_policy: { retry_timeout: '600h' } });
  doc['servers'][0].graceful_timeout = '596h31m24s';
  doc['servers'][0].listeners[0].connection_idle_timeout = '1000h';
  Object.assign(doc['cluster_manager'].clusters[0], {
    connect_timeout: '2562047h',
    idle_timeout: '700h',
    health_check: { timeout: '600h', interval: '600h', interval_jitter: '600h', initial_delay_seconds: '600h' },
  });
  const upTo = 'expected a duration up to 596h31m23s';
  const why = 'Node timers cannot wait longer than 2^31-1 ms';
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    `servers[0].graceful_timeout: ${upTo}, got "596h31m24s": ${why}`,
    `servers[0].listeners[0].connection_idle_timeout: ${upTo}, got "1000h": ${why}`,
    `${ROUTE}.route.timeout: ${upTo}, got 2147483648000000: ${why}`,
    `${ROUTE}.route.retry_policy.retry_timeout: ${upTo}, got "600h": ${why}`,
    `cluster_manager.clusters[0].connect_timeout: ${upTo}, got "2562047h": ${why}`,
    `cluster_manager.clusters[0].idle_timeout: ${upTo}, got "700h": ${why}`,
    `cluster_manager.clusters[0].health_check.timeout: ${upTo}, got "600h": ${why}`,
    `cluster_manager.clusters[0].health_check.interval: ${upTo}, got "600h": ${why}`,
    `cluster_manager.clusters[0].health_check.interval_jitter: ${upTo}, got "600h": ${why}`,
    `cluster_manager.clusters[0].health_check.initial_delay_seconds: ${upTo}, got "600h": ${why}`,
  ]);
  // The limit itself is fine.
  const ok = minimal();
  ok['servers'][0].graceful_timeout = '596h31m23.647s';
  assert.equal(parse(ok).config.servers[0].graceful_timeout, 2 ** 31 - 1);
});

test('a zero duration is "not set" (Go\'s zero value): defaults apply, optional ones are undefined', () => {
  const doc = withRoute({ timeout: '0s', retry_policy: { retry_on: true, retry_timeout: 0 } });
  doc['servers'][0].graceful_timeout = 0;
  doc['servers'][0].listeners[0].connection_idle_timeout = '0ms';
  Object.assign(doc['cluster_manager'].clusters[0], {
    connect_timeout: '0',
    idle_timeout: '0s',
    health_check: { protocol: 'http1', timeout: '0s', interval: 0, interval_jitter: '0s' },
  });
  const { config, warnings } = parse(doc);
  assert.equal(config.servers[0].graceful_timeout, 30_000);
  assert.equal(config.servers[0].listeners[0]?.connection_idle_timeout, undefined);
  const cluster = config.cluster_manager.clusters[0];
  assert.equal(cluster?.connect_timeout, 3000);
  assert.equal(cluster?.idle_timeout, undefined);
  assert.equal(cluster?.health_check?.['timeout'], 1000);
  assert.equal(cluster?.health_check?.['interval'], 15_000);
  assert.equal(cluster?.health_check?.['interval_jitter'], 0);
  const action = config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0]?.route;
  assert.equal(action?.timeout, undefined);
  assert.deepEqual(action?.retry_policy, { retry_on: true, retry_timeout: undefined, num_retries: 0, status_codes: [] });
  // No nanosecond warning for a zero, and a zero idle_timeout is not "set".
  assert.deepEqual(warnings, ['cluster_manager.clusters[0].health_check: accepted but not enforced by mosnode yet']);
  assert.ok(config.cluster_manager.clusters[0]?.health_check !== undefined);
});

test('a JSON number below 1 ms is nanoseconds, as in MOSN: accepted with a warning naming the path', () => {
  const doc = withRoute({ timeout: 999_999 });
  doc['servers'][0].graceful_timeout = 30;
  doc['cluster_manager'].clusters[0].connect_timeout = 1_000_000;
  const { config, warnings } = parse(doc);
  assert.equal(config.servers[0].graceful_timeout, 0.00003);
  assert.equal(config.cluster_manager.clusters[0]?.connect_timeout, 1);
  // In document order: withRoute wrote `routers` before graceful_timeout.
  assert.deepEqual(warnings, [
    `${ROUTE}.route.timeout: 999999 is read as 999999 ns (a JSON number is nanoseconds, as in MOSN); did you mean "999999s"?`,
    'servers[0].graceful_timeout: 30 is read as 30 ns (a JSON number is nanoseconds, as in MOSN); did you mean "30s"?',
  ]);
});

test('settings accepted but not enforced yet warn once each, naming the path', () => {
  const doc = withRoute(
    {
      // Enforced by router/: no warning.
      retry_policy: { retry_on: true },
      weighted_clusters: [{ cluster: { name: 'c', weight: 100 } }],
      regex_rewrite: { pattern: { regex: '^/a' }, substitution: '/b' },
      auto_host_rewrite: true,
      // Not yet.
      cluster_variable: 'x-cluster',
      upstream_protocol: 'Http2',
      hash_policy: [{ header: { key: 'x-user' } }],
      metadata_match: { filter_metadata: { 'mosn.lb': { v: '1' } } },
    },
    { per_filter_config: { fault: {} }, request_mirror_policies: { cluster: 'c', percent: 10 } },
  );
  doc['servers'][0].routers[0].virtual_hosts[0].routers[0].match.variables = [{ name: 'x-mosn-host', value: 'a' }];
  const server = doc['servers'][0];
  server.processor = 4;
  Object.assign(server.listeners[0], {
    access_logs: [{ log_path: './access.log' }],
    per_connection_buffer_limit_bytes: 1024,
    inspector: true,
    use_original_dst: 'redirect',
    reuseport: true,
  });
  server.routers[0].virtual_hosts[0].per_filter_config = { fault: {} };
  server.routers[0].virtual_hosts[0].routers.push({ match: { prefix: '/r' }, redirect: { path_redirect: '/x' } });
  Object.assign(doc['cluster_manager'].clusters[0], {
    health_check: { protocol: 'http1' },
    circuit_breakers: [{ max_connections: 10, max_pending_requests: 1, max_requests: 2, max_retries: 3 }],
    max_request_per_conn: 10,
    conn_buffer_limit_bytes: 32_768,
    idle_timeout: '10s',
    lb_subset_config: { fall_back_policy: 1 },
    slow_start: { mode: 'duration' },
  });
  doc['metrics'] = { sinks: [{ type: 'prometheus' }], shm_zone: 'z', shm_size: '1MB' };
  doc['plugins'] = ['mosnode-plugin-x'];
  const { warnings } = parse(doc);
  const vhost = 'servers[0].routers[0].virtual_hosts[0]';
  const cluster = 'cluster_manager.clusters[0]';
  assert.deepEqual(
    warnings,
    [
      'servers[0].listeners[0].inspector',
      `${ROUTE}.match.variables`,
      `${ROUTE}.route.cluster_variable`,
      `${ROUTE}.route.upstream_protocol`,
      `${ROUTE}.route.hash_policy`,
      `${ROUTE}.route.metadata_match`,
      `${cluster}.health_check`,
      `${cluster}.conn_buffer_limit_bytes`,
      `${cluster}.lb_subset_config`,
      `${cluster}.slow_start`,
      `${cluster}.circuit_breakers[0].max_pending_requests`,
      `${cluster}.circuit_breakers[0].max_requests`,
      `${cluster}.circuit_breakers[0].max_retries`,
    ].map((path) => `${path}: accepted but not enforced by mosnode yet`),
  );
});

test('settings left at their defaults draw no "not enforced" warning', () => {
  const doc = withRoute({ auto_host_rewrite: false, weighted_clusters: [], hash_policy: [] }, { per_filter_config: {} });
  const server = doc['servers'][0];
  server.processor = 1;
  Object.assign(server.listeners[0], {
    access_logs: [],
    per_connection_buffer_limit_bytes: 16_384,
    inspector: false,
    use_original_dst: false,
    reuseport: true,
  });
  Object.assign(doc['cluster_manager'].clusters[0], {
    circuit_breakers: [{ max_connections: 10, max_pending_requests: 0 }],
    max_request_per_conn: 1024,
    conn_buffer_limit_bytes: 16_384,
    idle_timeout: '0s',
  });
  doc['metrics'] = { sinks: [], shm_zone: '' };
  doc['plugins'] = [];
  assert.deepEqual(parse(doc).warnings, []);
  const zeros = minimal();
  Object.assign(zeros['cluster_manager'].clusters[0], { max_request_per_conn: 0, conn_buffer_limit_bytes: 0 });
  assert.deepEqual(parse(zeros).warnings, []);
});

test('route keys: typed MOSN shapes with MOSN defaults', () => {
  const doc = withRoute(
    {
      weighted_clusters: [{ cluster: { name: 'a', weight: 30 } }, { Cluster: { Name: 'b', Weight: 70, metadata_match: { filter_metadata: { 'mosn.lb': { v: '2' } } } } }],
      retry_policy: { retry_on: true, num_retries: 2, status_codes: [503] },
      regex_rewrite: { pattern: { regex: '^/v1/(.*)' }, substitution: '/v2/$1' },
      auto_host_rewrite_header: 'X-Host',
    },
    { redirect: { scheme_redirect: 'HTTPS' }, request_mirror_policies: { cluster: 'shadow', percent: 5 } },
  );
  for (const name of ['a', 'b', 'shadow']) doc['cluster_manager'].clusters.push({ name, hosts: [] });
  const { config, warnings } = parse(doc);
  assert.deepEqual(warnings, []);
  const route = config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0];
  assert.deepEqual(route?.route?.weighted_clusters, [
    { cluster: { name: 'a', weight: 30, metadata_match: undefined } },
    { cluster: { name: 'b', weight: 70, metadata_match: { v: '2' } } },
  ]);
  assert.deepEqual(route?.route?.retry_policy, { retry_on: true, retry_timeout: undefined, num_retries: 2, status_codes: [503] });
  assert.deepEqual(route?.route?.regex_rewrite, { pattern: { regex: '^/v1/(.*)' }, substitution: '/v2/$1' });
  assert.equal(route?.route?.auto_host_rewrite_header, 'X-Host');
  // MOSN: response_code 0 or absent is 301; the scheme is lower-cased.
  assert.deepEqual(route?.redirect, { response_code: 301, path_redirect: undefined, host_redirect: undefined, scheme_redirect: 'https' });
  assert.deepEqual(route?.request_mirror_policies, { cluster: 'shadow', percent: 5, trace_sampled: false });
  const plain = parse(withRoute({})).config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0];
  assert.deepEqual(plain?.route?.weighted_clusters, []);
  assert.equal(plain?.route?.retry_policy, undefined);
  assert.equal(plain?.redirect, undefined);
  assert.equal(plain?.request_mirror_policies, undefined);
});

test('route values MOSN refuses, or that would fail every request there, are errors naming the path', () => {
  const doc = withRoute(
    {
      weighted_clusters: [{ cluster: { name: 'a', weight: 0 } }, { cluster: { name: 'a', weight: 0 } }],
      retry_policy: { status_codes: [503, 600] },
      regex_rewrite: { substitution: '/x' },
    },
    { redirect: { response_code: 300, scheme_redirect: '1http' } },
  );
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    `${ROUTE}.route.weighted_clusters[1].cluster.name: expected each cluster once, got "a" again`,
    `${ROUTE}.route.weighted_clusters: expected weights that sum to more than 0, got a total of 0`,
    `${ROUTE}.route.retry_policy.status_codes[1]: expected an HTTP status code 100..599, got 600`,
    `${ROUTE}.route.regex_rewrite.pattern: missing; expected {"regex"}`,
    `${ROUTE}.redirect.response_code: expected one of 301, 302, 303, 307, 308, got 300: MOSN supports no other redirect code`,
    `${ROUTE}.redirect.scheme_redirect: expected a URI scheme such as "https", got "1http"`,
  ]);
});

test('two objects for one struct field merge, later keys winning, as Go decodes them; a null changes nothing', () => {
  const doc = minimal();
  Object.assign(doc['cluster_manager'].clusters[0], {
    health_check: { protocol: 'http1', interval: '5s' },
    Health_Check: { interval: '7s', timeout: '2s' },
    NAME: null,
  });
  const { config, warnings } = parse(doc);
  const cluster = config.cluster_manager.clusters[0];
  assert.equal(cluster?.name, 'c');
  assert.equal(cluster?.health_check?.['protocol'], 'http1');
  assert.equal(cluster?.health_check?.['interval'], 7000);
  assert.equal(cluster?.health_check?.['timeout'], 2000);
  assert.deepEqual(warnings, [
    'cluster_manager.clusters[0].Health_Check: same field as "health_check" (keys match case-insensitively); merged into it, later keys win, as Go does',
    'cluster_manager.clusters[0].health_check: accepted but not enforced by mosnode yet',
  ]);
});

test('sizes: data-size strings and byte counts', () => {
  for (const [input, bytes] of [
    ['32KB', 32_768],
    ['10 mb', 10 * 1024 * 1024],
    ['1G', 1024 ** 3],
    [4096, 4096],
  ] as const) {
    const doc = minimal();
    doc['metrics'] = { shm_size: input };
    assert.equal(parse(doc).config.metrics.shm_size, bytes, String(input));
  }
  assert.equal(parse(minimal()).config.metrics.shm_size, 10 * 1024 * 1024);
});

test('unknown keys warn once each with their path; free-form objects and MOSN keys of later areas do not', () => {
  const doc = minimal();
  const listener = doc['servers'][0].listeners[0];
  Object.assign(listener, { log_path: 'stdout', type: 'ingress', default_read_buffer_size: 1024, bogus: 1 });
  listener.filter_chains[0].filters[0].config = { cluster: 'c', anything: { goes: ['here'] } };
  listener.stream_filters = [{ type: 'fault', config: { delay: { fixed_delay: '1s' } } }];
  Object.assign(doc['cluster_manager'].clusters[0], {
    keepalive: { interval: '5s' },
    slow_start: { mode: 'duration' },
    dns_lookup_family: 'V4_ONLY',
    circuit_breakers: [{ max_connections: 10, max_conections: 1 }],
  });
  doc['cluster_manager'].clusters[0].hosts[0].tls_disable = true;
  doc['cluster_manager'].clusters[0].hosts[0].metadata = { filter_metadata: { 'mosn.lb': { version: 'v1', n: 1 } } };
  doc['servers'][0].routers = [
    {
      router_config_name: 'r',
      virtual_hosts: [
        {
          name: 'v',
          require_tls: 'NONE',
          per_filter_config: { fault: { Any: 'Thing' } },
          routers: [{ match: { prefix: '/', pefix: 'typo' }, route: { cluster_name: 'c' }, metadata: { filter_metadata: { 'mosn.lb': { a: 'b' } } } }],
        },
      ],
    },
  ];
  doc['tracing'] = { enable: true, driver: 'SOFATracer' };
  doc['extends'] = [];
  doc['Bogus_Top'] = true;
  const { config, warnings } = parse(doc);
  assert.deepEqual(warnings, [
    'servers[0].listeners[0].log_path: unknown key, ignored',
    'servers[0].listeners[0].bogus: unknown key, ignored',
    'servers[0].routers[0].virtual_hosts[0].routers[0].match.pefix: unknown key, ignored',
    'cluster_manager.clusters[0].circuit_breakers[0].max_conections: unknown key, ignored',
    'Bogus_Top: unknown key, ignored',
    'tracing: not supported by mosnode yet, ignored',
    'cluster_manager.clusters[0].slow_start: accepted but not enforced by mosnode yet',
  ]);
  assert.deepEqual(config.cluster_manager.clusters[0]?.hosts[0]?.metadata, { version: 'v1' });
  assert.deepEqual(config.cluster_manager.clusters[0]?.circuit_breakers, [
    { max_connections: 10, max_pending_requests: 0, max_requests: 0, max_retries: 0 },
  ]);
  const route = config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0];
  assert.deepEqual(route?.['metadata'], { a: 'b' });
  assert.deepEqual(config.servers[0].routers[0]?.virtual_hosts[0]?.per_filter_config, { fault: { Any: 'Thing' } });
});

test('a YAML config gives the same result as its JSON twin', () => {
  const json = loadExample('configs__mosn_config_dev.json');
  const yaml = `
servers:
  - default_log_path: stdout
    default_log_level: DEBUG
    processor: auto
    listeners:
      - name: GrpcListener
        address: 0.0.0.0:50051
        bind_port: true
        log_path: stdout
        filter_chains:
          - tls_context: {}
            filters:
              - type: proxy
                config:
                  downstream_protocol: Auto
                  upstream_protocol: Auto
                  router_config_name: grpc_router
                  extend_config: { http2_use_stream: false }
              - type: connection_manager
                config:
                  router_config_name: grpc_router
                  virtual_hosts:
                    - name: grpcHost
                      domains: ["*"]
                      routers:
                        - match: { prefix: / }
                          route: { cluster_name: grpcCluster }
cluster_manager:
  clusters:
    - Name: grpcCluster
      type: SIMPLE
      lb_type: LB_RANDOM
      max_request_per_conn: 1024
      conn_buffer_limit_bytes: 32768
      hosts: [{ address: "127.0.0.1:50056" }]
metrics:
  shm_zone: metrics
  shm_size: 10MB
  flush_interval: 500ms
  sinks:
    - type: prometheus
      config: { port: 34903 }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 34901 } }
pprof: { debug: true, port_value: 34902 }
`;
  withTempDir((dir) => {
    const file = join(dir, 'mosn.yaml');
    writeFileSync(file, yaml);
    const loaded = loadConfigFile(file);
    assert.deepEqual(loaded.config, { ...json.config, uds_dir: dir });
    assert.deepEqual(loaded.document, json.document);
    assert.deepEqual(loaded.warnings, json.warnings);
    // Without a .yaml extension, YAML is tried when JSON fails.
    const other = join(dir, 'mosn.conf');
    writeFileSync(other, yaml);
    assert.deepEqual(loadConfigFile(other).config, loaded.config);
  });
});

test('TLS: {} and status false are off; status true keeps the context', () => {
  for (const [tls, on] of [
    [{}, false],
    [{ status: false, cert_chain: 'c.pem' }, false],
    [{ status: true, server_name: 'example.com', private_key: 'k.pem' }, true],
  ] as const) {
    const doc = minimal();
    doc['servers'][0].listeners[0].filter_chains[0].tls_context = tls;
    doc['cluster_manager'].clusters[0].tls_context = tls;
    const { config } = parse(doc);
    const expectedTls = on ? { ...tls } : undefined;
    assert.deepEqual(config.servers[0].listeners[0]?.filter_chains[0]?.tls_context, expectedTls);
    assert.deepEqual(config.cluster_manager.clusters[0]?.tls_context, expectedTls);
  }
});

test('use_original_dst: MOSN 1.x booleans and MOSN 1.6 strings normalize to false, "redirect" or "tproxy"', () => {
  const modes = [true, false, 'redirect', 'TPROXY', ''].map((value) => {
    const doc = minimal();
    doc['servers'][0].listeners[0].use_original_dst = value;
    return parse(doc).config.servers[0].listeners[0]?.use_original_dst;
  });
  assert.deepEqual(modes, ['redirect', false, 'redirect', 'tproxy', false]);
  const doc = minimal();
  doc['servers'][0].listeners[0].use_original_dst = 'dnat';
  assert.throws(() => parse(doc), (err: unknown) => err instanceof ConfigError && /use_original_dst: expected true, false, "redirect" or "tproxy", got "dnat"/.test(err.message));
});

test('listener defaults: name from the address, unix network from the path, virtual when bind_port is absent', () => {
  const doc = minimal();
  const [listener] = doc['servers'][0].listeners;
  delete listener.name;
  delete listener.bind_port;
  doc['servers'][0].listeners.push(
    { ...structuredClone(listener), address: '/tmp/mosn.sock' },
    { ...structuredClone(listener), address: 'relative.sock', network: 'UNIX' },
    { ...structuredClone(listener), address: '[::1]:2046', use_original_dst: 'redirect' },
  );
  const { config } = parse(doc);
  assert.deepEqual(
    config.servers[0].listeners.map((l) => [l.name, l.network, l.bind_port, l.use_original_dst, l.per_connection_buffer_limit_bytes]),
    [
      ['127.0.0.1:2046', 'tcp', false, false, 16_384],
      ['/tmp/mosn.sock', 'unix', false, false, 16_384],
      ['relative.sock', 'unix', false, false, 16_384],
      ['[::1]:2046', 'tcp', false, 'redirect', 16_384],
    ],
  );
});

test('processor: an integer >= 1, a number string, or "auto"', () => {
  for (const [input, value] of [
    [4, 4],
    ['2', 2],
    ['AUTO', 'auto'],
    [undefined, 1],
  ] as const) {
    const doc = minimal();
    if (input !== undefined) doc['servers'][0].processor = input;
    assert.equal(parse(doc).config.servers[0].processor, value, String(input));
  }
  for (const bad of [0, -1, 1.5, 'many', true]) {
    const doc = minimal();
    doc['servers'][0].processor = bad;
    assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
      `servers[0].processor: expected an integer >= 1 or "auto", got ${JSON.stringify(bad)}`,
    ]);
  }
});

test('host weights: absent or 0 is 1, above 128 is clamped, as MOSN does, with warnings', () => {
  const doc = minimal();
  doc['cluster_manager'].clusters[0].hosts = [
    { address: '127.0.0.1:1' },
    { address: '127.0.0.1:2', weight: 0 },
    { address: '127.0.0.1:3', weight: 128 },
    { address: '127.0.0.1:4', weight: 500 },
  ];
  const { config, warnings } = parse(doc);
  assert.deepEqual(config.cluster_manager.clusters[0]?.hosts.map((h) => h.weight), [1, 1, 128, 128]);
  assert.deepEqual(warnings, [
    'cluster_manager.clusters[0].hosts[1].weight: 0 read as 1, as MOSN does (weights are 1..128)',
    'cluster_manager.clusters[0].hosts[3].weight: 500 clamped to 128, as MOSN does (weights are 1..128)',
  ]);
  doc['cluster_manager'].clusters[0].hosts = [{ address: '127.0.0.1:1', weight: -1 }];
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'cluster_manager.clusters[0].hosts[0].weight: expected a host weight 1..128, got -1',
  ]);
});

test('cluster defaults follow types.ts', () => {
  const doc = minimal();
  doc['cluster_manager'].clusters[0] = { name: 'c' };
  const cluster = parse(doc).config.cluster_manager.clusters[0];
  assert.deepEqual(cluster, {
    name: 'c',
    type: 'SIMPLE',
    lb_type: 'LB_ROUNDROBIN',
    lbconfig: { choice_count: 2 },
    max_request_per_conn: 1024,
    conn_buffer_limit_bytes: 16_384,
    connect_timeout: 3000,
    idle_timeout: undefined,
    circuit_breakers: [],
    hosts: [],
    tls_context: undefined,
    health_check: undefined,
  });
});

test('relative paths resolve against the config folder; uds_dir defaults to it; plugins', () => {
  withTempDir((dir) => {
    const doc = minimal();
    doc['pid'] = 'run/mosn.pid';
    doc['plugins'] = ['./plugins/x.mjs', '../shared/y.mjs', 'mosnode-plugin-z', '/abs/w.mjs'];
    doc['servers'][0].default_log_path = 'logs/default.log';
    const file = join(dir, 'mosn.json');
    writeFileSync(file, JSON.stringify(doc));
    const { config } = loadConfigFile(file);
    assert.equal(config.uds_dir, dir);
    assert.equal(config.pid, join(dir, 'run/mosn.pid'));
    assert.deepEqual(config.plugins, [join(dir, 'plugins/x.mjs'), join(dir, '../shared/y.mjs'), 'mosnode-plugin-z', '/abs/w.mjs']);
    assert.equal(config.servers[0].default_log_path, 'logs/default.log');
    doc['uds_dir'] = 'sockets';
    writeFileSync(file, JSON.stringify(doc));
    assert.equal(loadConfigFile(file).config.uds_dir, join(dir, 'sockets'));
  });
  const noFile = parse(minimal());
  assert.equal(noFile.config.uds_dir, undefined);
  assert.equal(noFile.config.pid, undefined);
  assert.equal(noFile.path, undefined);
});

test('clusters_configs: one cluster per .json file, relative to the config file', () => {
  withTempDir((dir) => {
    mkdirSync(join(dir, 'clusters'));
    writeFileSync(join(dir, 'clusters', 'b.json'), JSON.stringify({ Name: 'b', hosts: [{ address: '127.0.0.1:2' }] }));
    writeFileSync(join(dir, 'clusters', 'a.json'), JSON.stringify({ name: 'c', lb_type: 'LB_RANDOM', typo: 1 }));
    writeFileSync(join(dir, 'clusters', 'notes.txt'), 'not a cluster');
    const doc = minimal();
    doc['cluster_manager'] = { clusters_configs: './clusters' };
    const file = join(dir, 'mosn.json');
    writeFileSync(file, JSON.stringify(doc));
    const loaded = loadConfigFile(file);
    assert.deepEqual(loaded.config.cluster_manager.clusters.map((c) => c.name), ['c', 'b']);
    assert.deepEqual(loaded.warnings, ['cluster_manager.clusters_configs["a.json"].typo: unknown key, ignored']);
    assert.deepEqual(loaded.document['cluster_manager'], { clusters_configs: './clusters' });

    // A bad file is named by where it is.
    writeFileSync(join(dir, 'clusters', 'b.json'), JSON.stringify({ name: 'c', lb_type: 'LB_NOPE' }));
    writeFileSync(join(dir, 'clusters', 'z.json'), '{"name": ');
    const err = assertConfigError(() => loadConfigFile(file), 'MOSN_ERR_CONFIG_INVALID', [
      'cluster_manager.clusters_configs["b.json"].lb_type: expected one of LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, LB_LEAST_CONNECTION, LB_MAGLEV, LB_REQUEST_ROUNDROBIN, LB_PEAK_EWMA, LB_ORIGINAL_DST, got "LB_NOPE"',
      'cluster_manager.clusters_configs["b.json"].name: duplicate cluster name "c" (also at cluster_manager.clusters_configs["a.json"].name)',
      `cluster_manager.clusters_configs["z.json"]: ${join(dir, 'clusters', 'z.json')}: invalid JSON at line 1, column 10: expected a value (object, array, string, number, true, false or null), got end of file`,
    ]);
    assert.equal(err.file, file);

    doc['cluster_manager'] = { clusters_configs: 'missing' };
    writeFileSync(file, JSON.stringify(doc));
    const missing = assertConfigError(() => loadConfigFile(file), 'MOSN_ERR_CONFIG_INVALID', []);
    assert.match(missing.message, /^cluster_manager\.clusters_configs: cannot read folder .*missing: ENOENT/);

    doc['cluster_manager'] = { clusters_configs: 'clusters', clusters: [{ name: 'x' }] };
    writeFileSync(file, JSON.stringify(doc));
    assertConfigError(() => loadConfigFile(file), 'MOSN_ERR_CONFIG_INVALID', [
      'cluster_manager.clusters_configs: use either "clusters" or "clusters_configs", not both (MOSN\'s rule)',
    ]);
  });
});

test('router_configs: one virtual host per .json file', () => {
  withTempDir((dir) => {
    mkdirSync(join(dir, 'vhosts'));
    writeFileSync(join(dir, 'vhosts', 'v.json'), JSON.stringify({ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, direct_response: { status: 204 } }] }));
    const doc = minimal();
    doc['servers'][0].routers = [{ router_config_name: 'r', router_configs: 'vhosts' }];
    const file = join(dir, 'mosn.json');
    writeFileSync(file, JSON.stringify(doc));
    const { config } = loadConfigFile(file);
    assert.equal(config.servers[0].routers[0]?.virtual_hosts[0]?.routers[0]?.direct_response?.status, 204);
    writeFileSync(join(dir, 'vhosts', 'v.json'), JSON.stringify({ name: 'v', routers: [{ direct_response: { status: 'ok' } }] }));
    assertConfigError(() => loadConfigFile(file), 'MOSN_ERR_CONFIG_INVALID', [
      'servers[0].routers[0].router_configs["v.json"].routers[0].direct_response.status: expected an HTTP status code 100..999, got "ok"',
    ]);
  });
});

test('a connection_manager router does not replace a router of the same name', () => {
  const doc = minimal();
  doc['servers'][0].routers = [{ router_config_name: 'r', virtual_hosts: [] }];
  doc['servers'][0].listeners[0].filter_chains[0].filters.push({ type: 'connection_manager', config: { router_config_name: 'r', virtual_hosts: [{ name: 'inline' }] } });
  const { config, warnings } = parse(doc);
  assert.equal(config.servers[0].routers.length, 1);
  assert.deepEqual(config.servers[0].routers[0]?.virtual_hosts, []);
  assert.deepEqual(config.servers[0].listeners[0]?.filter_chains[0]?.filters.map((f) => f.type), ['tcp_proxy']);
  assert.deepEqual(warnings, [
    'servers[0].listeners[0].filter_chains[0].filters[1]: deprecated "connection_manager" filter dropped; router "r" is already defined at servers[0].routers[0]',
  ]);
});

test('issues inside a connection_manager router name the filter config', () => {
  const doc = minimal();
  doc['servers'][0].listeners[0].filter_chains[0].filters.push({ type: 'connection_manager', config: { Router_Config_Name: 'r', virtual_hosts: [{ domains: 'x' }] } });
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'servers[0].listeners[0].filter_chains[0].filters[1].config.virtual_hosts[0].domains: expected an array of strings, got "x"',
  ]);
});

test('references to missing routers and clusters warn', () => {
  const doc = minimal();
  doc['servers'][0].listeners[0].filter_chains[0].filters = [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'nope' } }];
  doc['servers'][0].routers = [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', routers: [
    { match: { prefix: '/' }, route: { cluster_name: 'ghost' } },
    { match: { prefix: '/w' }, route: { weighted_clusters: [{ cluster: { name: 'phantom', weight: 1 } }] }, request_mirror_policies: { cluster: 'shadow', percent: 10 } },
  ] }] }];
  assert.deepEqual(parse(doc).warnings, [
    'servers[0].routers[0].virtual_hosts[0].routers[0].route.cluster_name: no cluster named "ghost" in cluster_manager',
    'servers[0].routers[0].virtual_hosts[0].routers[1].route.weighted_clusters[0].cluster.name: no cluster named "phantom" in cluster_manager',
    'servers[0].routers[0].virtual_hosts[0].routers[1].request_mirror_policies.cluster: no cluster named "shadow" in cluster_manager',
    'servers[0].listeners[0].filter_chains[0].filters[0].config.router_config_name: no router named "nope" in this server\'s "routers"',
  ]);
});

test('log levels: any case; an unknown one is INFO with a warning, as MOSN does', () => {
  const doc = minimal();
  doc['servers'][0].default_log_level = 'verbose';
  const { config, warnings } = parse(doc);
  assert.equal(config.servers[0].default_log_level, 'INFO');
  assert.deepEqual(warnings, [
    'servers[0].default_log_level: unknown level "verbose" (expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL), using INFO as MOSN does',
  ]);
});

test('close_graceful is read as disable_upgrade', () => {
  const doc = minimal();
  doc['close_graceful'] = true;
  const { config, warnings } = parse(doc);
  assert.equal(config.disable_upgrade, true);
  assert.deepEqual(warnings, ['close_graceful: deprecated in MOSN, read as "disable_upgrade"']);
});

// ---------------------------------------------------------------------------------------
// Errors

test('malformed JSON names the line and column', () => {
  const cases: Array<[string, string]> = [
    ['{\n  "servers": [\n    {"listeners" [] }\n  ]\n}', "invalid JSON at line 3, column 18: expected ':' after the key, got \"[\""],
    ['{"servers": [],}', 'invalid JSON at line 1, column 16: expected a double-quoted key, got "}"'],
    ['{\n"a": [1, 2,]\n}', 'invalid JSON at line 2, column 12: expected a value (object, array, string, number, true, false or null), got "]"'],
    ['{"a": "open', 'invalid JSON at line 1, column 12: expected a closing \'"\', got end of file'],
    ['{"a": 1} x', 'invalid JSON at line 1, column 10: expected end of file after the JSON value, got "x"'],
    ['', 'invalid JSON at line 1, column 1: expected a value (object, array, string, number, true, false or null), got end of file'],
    ["{'a': 1}", 'invalid JSON at line 1, column 2: expected a double-quoted key, got "\'"'],
  ];
  for (const [text, message] of cases) {
    const err = assertConfigError(() => parseConfigText(text, { path: 'mosn.json' }), 'MOSN_ERR_CONFIG_PARSE', []);
    assert.equal(err.message, `${join(process.cwd(), 'mosn.json')}: ${message}`, text);
    assert.equal(typeof err.issues[0]?.line, 'number');
  }
  const err = assertConfigError(() => parseConfigText('{\n "a": tru }'), 'MOSN_ERR_CONFIG_PARSE', [
    'invalid JSON at line 2, column 7: expected a value (object, array, string, number, true, false or null), got "t"',
  ]);
  assert.deepEqual([err.issues[0]?.line, err.issues[0]?.column], [2, 7]);
});

test('malformed YAML names the line and column', () => {
  const err = assertConfigError(() => parseConfigText('servers:\n  - listeners: [\n', { format: 'yaml' }), 'MOSN_ERR_CONFIG_PARSE', []);
  assert.match(err.message, /^invalid YAML at line 3, column 1: /);
  assert.equal(err.issues[0]?.line, 3);
  const dup = assertConfigError(() => parseConfigText('a: 1\na: 2\n', { path: 'x.yml' }), 'MOSN_ERR_CONFIG_PARSE', []);
  assert.match(dup.message, /x\.yml: invalid YAML at line 2, column 1: Map keys must be unique/);
});

test('wrong types are reported with their paths and what was expected', () => {
  const doc = minimal();
  const listener = doc['servers'][0].listeners[0];
  listener.address = 12;
  listener.bind_port = 'yes';
  listener.filter_chains[0].filters[0] = { config: [] };
  doc['servers'][0].graceful_timeout = '10x';
  doc['cluster_manager'].clusters[0].connect_timeout = '-1s';
  doc['cluster_manager'].clusters[0].hosts = 'none';
  doc['metrics'] = { shm_size: '10Mb' };
  doc['admin'] = { address: { socket_address: { address: '127.0.0.1', port_value: 70000 } } };
  doc['plugins'] = 'x.mjs';
  const err = assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'servers[0].listeners[0].address: expected "ip:port", "[ipv6]:port" or a unix socket path, got 12',
    'servers[0].listeners[0].bind_port: expected true or false, got "yes"',
    'servers[0].listeners[0].filter_chains[0].filters[0].type: missing; expected a filter type name',
    'servers[0].listeners[0].filter_chains[0].filters[0].config: expected an object, got []',
    'servers[0].graceful_timeout: expected a duration such as "30s", "500ms" or "1m30s", got "10x": unknown unit "x" (use ns, us, ms, s, m or h)',
    'cluster_manager.clusters[0].connect_timeout: expected a duration such as "30s", "500ms" or "1m30s", got "-1s": must not be negative',
    'cluster_manager.clusters[0].hosts: expected an array of hosts, got "none"',
    'metrics.shm_size: expected a size such as "10MB" or a number of bytes, got "10Mb": "Mb" means bits; write "MB" for bytes',
    'admin.address.socket_address.port_value: expected a port number 0..65535, got 70000',
    'plugins: expected an array of module paths or package names, got "x.mjs"',
  ]);
  assert.equal(err.issues.length, 10);
  assert.ok(isMosnError(err, 'MOSN_ERR_CONFIG_INVALID'));
  assert.deepEqual(err.issues.find((issue) => issue.path.endsWith('address')), {
    path: 'servers[0].listeners[0].address',
    message: 'expected "ip:port", "[ipv6]:port" or a unix socket path, got 12',
  });
});

test('the top level must be an object', () => {
  assertConfigError(() => parseConfigText('[1, 2]'), 'MOSN_ERR_CONFIG_INVALID', ['expected a MOSN config object, got [1,2]']);
  assertConfigError(() => parseConfigText('{}'), 'MOSN_ERR_CONFIG_INVALID', ['servers: missing; expected an array with exactly one server']);
});

test('an unknown lb_type or cluster type lists the accepted values', () => {
  const doc = minimal();
  doc['cluster_manager'].clusters[0].lb_type = 'LB_FASTEST';
  doc['cluster_manager'].clusters[0].type = 'STATIC';
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'cluster_manager.clusters[0].type: expected one of SIMPLE, STRICT_DNS, ORIGINAL_DST, EDS, got "STATIC"',
    'cluster_manager.clusters[0].lb_type: expected one of LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, LB_LEAST_CONNECTION, LB_MAGLEV, LB_REQUEST_ROUNDROBIN, LB_PEAK_EWMA, LB_ORIGINAL_DST, got "LB_FASTEST"',
  ]);
});

test('duplicate listener, router and cluster names name both places', () => {
  const doc = minimal();
  const [listener] = doc['servers'][0].listeners;
  doc['servers'][0].listeners.push({ ...structuredClone(listener), address: '127.0.0.1:2047' });
  doc['servers'][0].listeners.push({ ...structuredClone(listener), name: undefined, address: '127.0.0.1:2048' });
  doc['servers'][0].listeners.push({ ...structuredClone(listener), name: '127.0.0.1:2048', address: '127.0.0.1:2049' });
  doc['servers'][0].routers = [
    { router_config_name: 'r', virtual_hosts: [] },
    { router_config_name: 'r', virtual_hosts: [] },
  ];
  doc['cluster_manager'].clusters.push({ name: 'c' });
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'servers[0].listeners[1].name: duplicate listener name "l" (also at servers[0].listeners[0].name)',
    'servers[0].listeners[3].name: duplicate listener name "127.0.0.1:2048" (also at servers[0].listeners[2].address)',
    'servers[0].routers[1].router_config_name: duplicate router_config_name "r" (also at servers[0].routers[0].router_config_name)',
    'cluster_manager.clusters[1].name: duplicate cluster name "c" (also at cluster_manager.clusters[0].name)',
  ]);
});

test('exactly one server and exactly one filter chain per listener', () => {
  const two = minimal();
  two['servers'].push(structuredClone(two['servers'][0]));
  assertConfigError(() => parse(two), 'MOSN_ERR_CONFIG_INVALID', ['servers: expected exactly one server (MOSN supports one), got 2']);
  const none = minimal();
  none['servers'] = [];
  assertConfigError(() => parse(none), 'MOSN_ERR_CONFIG_INVALID', ['servers: expected exactly one server (MOSN supports one), got none']);
  const chains = minimal();
  const [listener] = chains['servers'][0].listeners;
  listener.filter_chains.push(structuredClone(listener.filter_chains[0]));
  chains['servers'][0].listeners.push({ name: 'm', address: '127.0.0.1:1', filter_chains: [] });
  assertConfigError(() => parse(chains), 'MOSN_ERR_CONFIG_INVALID', [
    "servers[0].listeners[0].filter_chains: expected exactly one filter chain (MOSN's rule), got 2",
    "servers[0].listeners[1].filter_chains: expected exactly one filter chain (MOSN's rule), got none",
  ]);
});

test('listener addresses must fit their network', () => {
  const good = ['0.0.0.0:80', ':8080', 'localhost:80', '[::]:443', '[::1]:2046', '/var/run/mosn.sock', '@abstract'];
  for (const address of good) {
    const doc = minimal();
    doc['servers'][0].listeners[0].address = address;
    assert.equal(parse(doc).config.servers[0].listeners[0]?.address, address);
  }
  const bad: Array<[string, string | undefined, string]> = [
    ['127.0.0.1', undefined, 'expected "ip:port", "[ipv6]:port" or a unix socket path, got "127.0.0.1"'],
    ['::1:80', undefined, 'expected "ip:port", "[ipv6]:port" or a unix socket path, got "::1:80"'],
    ['[1.2.3.4]:80', undefined, 'expected "ip:port", "[ipv6]:port" or a unix socket path, got "[1.2.3.4]:80"'],
    ['1.2.3.4:99999', undefined, 'expected "ip:port", "[ipv6]:port" or a unix socket path, got "1.2.3.4:99999": port above 65535'],
    ['/tmp/x.sock', 'udp', 'expected "ip:port" or "[ipv6]:port" (network "udp"), got "/tmp/x.sock"'],
    ['', 'unix', 'expected a unix socket path, got ""'],
  ];
  for (const [address, network, message] of bad) {
    const doc = minimal();
    Object.assign(doc['servers'][0].listeners[0], { address, network });
    assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [`servers[0].listeners[0].address: ${message}`]);
  }
  const doc = minimal();
  doc['servers'][0].listeners[0].network = 'sctp';
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'servers[0].listeners[0].network: expected one of "tcp", "udp", "unix", got "sctp"',
  ]);
});

test('tls_context and tls_context_set together are refused, as MOSN does', () => {
  const doc = minimal();
  Object.assign(doc['servers'][0].listeners[0].filter_chains[0], { tls_context: { status: true }, tls_context_set: [{ status: true }] });
  assertConfigError(() => parse(doc), 'MOSN_ERR_CONFIG_INVALID', [
    'servers[0].listeners[0].filter_chains[0].tls_context_set: use either "tls_context" or "tls_context_set", not both',
  ]);
  delete doc['servers'][0].listeners[0].filter_chains[0].tls_context;
  doc['servers'][0].listeners[0].filter_chains[0].tls_context_set = [{ status: false }, { status: true, server_name: 'b' }];
  const { config, warnings } = parse(doc);
  assert.deepEqual(config.servers[0].listeners[0]?.filter_chains[0]?.tls_context, { status: true, server_name: 'b' });
  assert.equal(warnings.length, 1);
});

test('issues are collected, not just the first, and capped in the message', () => {
  const doc = minimal();
  doc['cluster_manager'].clusters = Array.from({ length: 60 }, (_, i) => ({ name: `c${i}`, lb_type: 'X' }));
  doc['servers'][0].listeners[0].filter_chains[0].filters[0].config = { cluster: 'c0' };
  try {
    parse(doc);
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.issues.length, 60);
    const lines = err.message.split('\n');
    assert.equal(lines.length, 51);
    assert.equal(lines.at(-1), '... and 10 more issues');
  }
});

test('an unreadable file is MOSN_ERR_CONFIG_READ', () => {
  withTempDir((dir) => {
    const file = join(dir, 'absent.json');
    const err = assertConfigError(() => loadConfigFile(file), 'MOSN_ERR_CONFIG_READ', []);
    assert.match(err.message, new RegExp(`^cannot read config file ${file}: ENOENT`));
    assert.equal(err.file, file);
  });
});

// ---------------------------------------------------------------------------------------
// The built-in default

test('defaultConfig: an HTTP listener on 2046 answering a welcome, admin on 34901, no clusters', () => {
  const loaded = defaultConfig();
  const { config } = loaded;
  assert.equal(loaded.path, undefined);
  assert.deepEqual(loaded.warnings, []);
  assert.equal(config.uds_dir, undefined);
  assert.equal(config.pid, undefined);
  const [server] = config.servers;
  assert.equal(server.default_log_path, 'stdout');
  const listener = server.listeners[0];
  assert.equal(server.listeners.length, 1);
  assert.equal(listener?.name, 'defaultListener');
  assert.equal(listener?.address, '127.0.0.1:2046');
  assert.equal(listener?.bind_port, true);
  assert.deepEqual(listener?.filter_chains[0]?.filters, [
    { type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'default_router' } },
  ]);
  assert.equal(server.routers[0]?.router_config_name, 'default_router');
  const host = server.routers[0]?.virtual_hosts[0];
  assert.deepEqual(host?.domains, ['*']);
  assert.equal(host?.routers[0]?.match.prefix, '/');
  assert.deepEqual(host?.routers[0]?.direct_response, { status: 200, body: 'Welcome to mosnode!\n' });
  assert.deepEqual(config.admin, { address: { socket_address: { address: '127.0.0.1', port_value: 34901 } } });
  assert.deepEqual(config.cluster_manager.clusters, []);
  // Each call gives a fresh object.
  loaded.config.servers[0].listeners.length = 0;
  assert.equal(defaultConfig().config.servers[0].listeners.length, 1);
});

test("MOSN's go_plugin_config on a filter is kept out with a warning that says what replaces it", () => {
  const doc = minimal();
  doc['servers'][0].listeners[0].stream_filters = [{ type: 'gzip', go_plugin_config: { so_path: './gzip.so' } }];
  const { warnings, config } = parse(doc);
  assert.deepEqual(warnings, [
    'servers[0].listeners[0].stream_filters[0].go_plugin_config: Go plugins do not load in mosnode, ignored; list an ES module or npm package in the top-level "plugins" instead (docs/plugins.md)',
  ]);
  assert.deepEqual(config.servers[0].listeners[0]?.stream_filters, [{ type: 'gzip', config: {} }]);
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isMosnError } from '../core/errors.ts';
import type { ClusterConfig, HostConfig } from '../config/types.ts';
import { Cluster } from './cluster.ts';
import { Host } from './host.ts';

function hostConfig(address: string, weight = 1): HostConfig {
  return { address, hostname: undefined, weight, metadata: {} };
}

function clusterConfig(overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name: 'backend',
    type: 'SIMPLE',
    lb_type: 'LB_ROUNDROBIN',
    lbconfig: { choice_count: 2 },
    max_request_per_conn: 1024,
    conn_buffer_limit_bytes: 16384,
    connect_timeout: 3000,
    idle_timeout: undefined,
    circuit_breakers: [],
    hosts: [hostConfig('127.0.0.1:8080'), hostConfig('127.0.0.1:8081')],
    tls_context: undefined,
    health_check: undefined,
    ...overrides,
  };
}

describe('Cluster', () => {
  test('exposes the settings proxies read', () => {
    const cluster = new Cluster(clusterConfig({
      connect_timeout: 1500,
      idle_timeout: 90_000,
      max_request_per_conn: 10,
      conn_buffer_limit_bytes: 32768,
      circuit_breakers: [{ max_connections: 100, max_pending_requests: 0, max_requests: 50, max_retries: 3 }],
    }));
    assert.equal(cluster.name, 'backend');
    assert.equal(cluster.type, 'SIMPLE');
    assert.equal(cluster.lbType, 'LB_ROUNDROBIN');
    assert.equal(cluster.connectTimeoutMs, 1500);
    assert.equal(cluster.idleTimeoutMs, 90_000);
    assert.equal(cluster.maxRequestPerConn, 10);
    assert.equal(cluster.connBufferLimitBytes, 32768);
    assert.deepEqual(cluster.circuitBreakers, { maxConnections: 100, maxPendingRequests: Infinity, maxRequests: 50, maxRetries: 3 });
    assert.equal(cluster.activeConnections, 0);
  });

  test('no circuit_breakers entry means no limits', () => {
    const limits = new Cluster(clusterConfig()).circuitBreakers;
    assert.deepEqual(Object.values(limits), [Infinity, Infinity, Infinity, Infinity]);
  });

  test('chooses among its hosts with its balancer', () => {
    const cluster = new Cluster(clusterConfig(), { random: () => 0 });
    const [a, b] = cluster.hosts as [Host, Host];
    assert.deepEqual([cluster.chooseHost(), cluster.chooseHost(), cluster.chooseHost()], [a, b, a]);
    assert.equal(cluster.chooseHost({ excludeHosts: new Set([b]) }), a);
  });

  test('a cluster without hosts chooses nothing', () => {
    assert.equal(new Cluster(clusterConfig({ hosts: [] })).chooseHost(), undefined);
  });

  test('rejects types not built yet, naming the path', () => {
    for (const type of ['STRICT_DNS', 'ORIGINAL_DST', 'EDS'] as const) {
      assert.throws(
        () => new Cluster(clusterConfig({ type }), { path: 'cluster_manager.clusters[3]' }),
        (err) =>
          isMosnError(err, 'MOSN_ERR_CONFIG_UNSUPPORTED') &&
          err.message.startsWith(`cluster_manager.clusters[3].type: cluster type "${type}" is not supported yet`),
      );
    }
    assert.throws(
      () => new Cluster(clusterConfig({ lb_type: 'LB_MAGLEV' })),
      (err) => isMosnError(err, 'MOSN_ERR_CONFIG_UNSUPPORTED') && err.message.startsWith('cluster "backend".lb_type: lb_type "LB_MAGLEV"'),
    );
    assert.throws(
      () => new Cluster(clusterConfig({ lb_type: 'LB_LEAST_REQUEST', lbconfig: { choice_count: -2 } }), { path: 'p' }),
      (err) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith('p.lbconfig.choice_count: '),
    );
    assert.throws(
      () => new Cluster(clusterConfig({ hosts: [hostConfig('127.0.0.1:1'), hostConfig('nope')] }), { path: 'p' }),
      (err) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith('p.hosts[1].address: '),
    );
  });

  test('updateHosts keeps unchanged hosts (counters, health) and carries health to a changed one', () => {
    const cluster = new Cluster(clusterConfig({ hosts: [hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:2'), hostConfig('127.0.0.1:3')] }));
    const [one, two, three] = cluster.hosts as [Host, Host, Host];
    one.onRequestStart();
    three.healthy = false;
    cluster.updateHosts([hostConfig('127.0.0.1:3', 5), hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:4')]);
    const [newThree, keptOne, four] = cluster.hosts as [Host, Host, Host];
    assert.equal(keptOne, one);
    assert.equal(keptOne.activeRequests, 1);
    assert.notEqual(newThree, three);
    assert.equal(newThree.weight, 5);
    assert.equal(newThree.healthy, false, 'a weight change does not resurrect a host marked down');
    assert.equal(four.healthy, true);
    assert.ok(!cluster.hosts.includes(two));
    const seen = new Set(Array.from({ length: 10 }, () => cluster.chooseHost()));
    assert.deepEqual(seen, new Set([keptOne, four]));
  });

  test('updateHosts with a bad host changes nothing', () => {
    const cluster = new Cluster(clusterConfig());
    const before = cluster.hosts;
    assert.throws(() => cluster.updateHosts([hostConfig('127.0.0.1:9'), hostConfig('bad')]), (err) =>
      isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith('cluster "backend".hosts[1].address'),
    );
    assert.equal(cluster.hosts, before);
  });

  test('duplicate addresses are kept as listed (a host listed twice gets two turns)', () => {
    const cluster = new Cluster(clusterConfig({ hosts: [hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:1')] }));
    const [first, second] = cluster.hosts as [Host, Host];
    assert.notEqual(first, second);
    cluster.updateHosts([hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:1')]);
    assert.deepEqual(cluster.hosts, [first, second]);
  });
});

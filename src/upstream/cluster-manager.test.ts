import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isMosnError } from '../core/errors.ts';
import type { ClusterConfig, HostConfig } from '../config/types.ts';
import { ClusterManager } from './cluster-manager.ts';
import type { Host } from './host.ts';

function hostConfig(address: string, weight = 1): HostConfig {
  return { address, hostname: undefined, weight, metadata: {} };
}

function clusterConfig(name: string, overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name,
    type: 'SIMPLE',
    lb_type: 'LB_ROUNDROBIN',
    lbconfig: { choice_count: 2 },
    max_request_per_conn: 1024,
    conn_buffer_limit_bytes: 16384,
    connect_timeout: 3000,
    idle_timeout: undefined,
    circuit_breakers: [],
    hosts: [hostConfig('127.0.0.1:8080')],
    tls_context: undefined,
    health_check: undefined,
    ...overrides,
  };
}

describe('ClusterManager', () => {
  test('builds every cluster and finds them by name', () => {
    const manager = new ClusterManager([clusterConfig('a'), clusterConfig('b', { lb_type: 'LB_RANDOM' })]);
    assert.deepEqual(manager.clusters().map((cluster) => cluster.name), ['a', 'b']);
    assert.equal(manager.getCluster('b')?.lbType, 'LB_RANDOM');
    assert.equal(manager.getCluster('c'), undefined);
    assert.equal(manager.getCluster('a')?.chooseHost()?.address, '127.0.0.1:8080');
  });

  test('an empty config gives an empty manager', () => {
    assert.deepEqual(new ClusterManager([]).clusters(), []);
  });

  test('a rejected cluster config names cluster_manager.clusters[i] and the reason', () => {
    const cases: Array<[ClusterConfig[], string, string]> = [
      [[clusterConfig('a'), clusterConfig('b', { type: 'STRICT_DNS' })], 'MOSN_ERR_CONFIG_UNSUPPORTED',
        'cluster_manager.clusters[1].type: cluster type "STRICT_DNS" is not supported yet'],
      [[clusterConfig('a', { lb_type: 'LB_MAGLEV' })], 'MOSN_ERR_CONFIG_UNSUPPORTED',
        'cluster_manager.clusters[0].lb_type: lb_type "LB_MAGLEV" is not supported yet'],
      [[clusterConfig('a'), clusterConfig('b', { hosts: [hostConfig('127.0.0.1:1'), hostConfig('localhost')] })], 'MOSN_ERR_CONFIG_INVALID',
        'cluster_manager.clusters[1].hosts[1].address: expected "ip:port"'],
      [[clusterConfig('a'), clusterConfig('b'), clusterConfig('a')], 'MOSN_ERR_CONFIG_INVALID',
        'cluster_manager.clusters[2].name: duplicate cluster name "a" (also cluster_manager.clusters[0])'],
      [[clusterConfig('')], 'MOSN_ERR_CONFIG_INVALID', 'cluster_manager.clusters[0].name: '],
    ];
    for (const [configs, code, prefix] of cases) {
      assert.throws(
        () => new ClusterManager(configs),
        (err) => isMosnError(err) && err.code === code && err.message.startsWith(prefix),
        prefix,
      );
    }
  });

  test('addOrUpdateCluster adds a new cluster', () => {
    const manager = new ClusterManager([clusterConfig('a')]);
    const added = manager.addOrUpdateCluster(clusterConfig('b'));
    assert.equal(manager.getCluster('b'), added);
    assert.deepEqual(manager.clusters().map((cluster) => cluster.name), ['a', 'b']);
  });

  test('addOrUpdateCluster replaces a cluster, keeping unchanged hosts with their counters and health', () => {
    const manager = new ClusterManager([clusterConfig('a', { hosts: [hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:2')] })]);
    const old = manager.getCluster('a');
    const [one, two] = old?.hosts as [Host, Host];
    one.onRequestStart();
    two.healthy = false;
    const updated = manager.addOrUpdateCluster(
      clusterConfig('a', { lb_type: 'LB_RANDOM', connect_timeout: 10, hosts: [hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:2'), hostConfig('127.0.0.1:3')] }),
    );
    assert.notEqual(updated, old);
    assert.equal(manager.getCluster('a'), updated);
    assert.equal(updated.lbType, 'LB_RANDOM');
    assert.equal(updated.connectTimeoutMs, 10);
    assert.equal(updated.hosts[0], one);
    assert.equal(updated.hosts[1], two);
    assert.equal(one.activeRequests, 1);
    assert.equal(updated.hostSet.healthyHosts.length, 2);
  });

  test('a rejected update leaves the old cluster in place', () => {
    const manager = new ClusterManager([clusterConfig('a')]);
    const old = manager.getCluster('a');
    assert.throws(
      () => manager.addOrUpdateCluster(clusterConfig('a', { lb_type: 'LB_PEAK_EWMA' })),
      (err) => isMosnError(err, 'MOSN_ERR_CONFIG_UNSUPPORTED') && err.message.startsWith('cluster "a".lb_type: '),
    );
    assert.equal(manager.getCluster('a'), old);
  });

  test('removeCluster', () => {
    const manager = new ClusterManager([clusterConfig('a'), clusterConfig('b')]);
    assert.equal(manager.removeCluster('a'), true);
    assert.equal(manager.removeCluster('a'), false);
    assert.equal(manager.getCluster('a'), undefined);
    assert.deepEqual(manager.clusters().map((cluster) => cluster.name), ['b']);
  });

  test('an injected random reaches the balancers', () => {
    const hosts = [hostConfig('127.0.0.1:1'), hostConfig('127.0.0.1:2'), hostConfig('127.0.0.1:3')];
    const manager = new ClusterManager([clusterConfig('a', { hosts })], { random: () => 0.99 });
    assert.equal(manager.getCluster('a')?.chooseHost()?.address, '127.0.0.1:3');
  });
});

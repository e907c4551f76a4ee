import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveConfigView } from './config-dump.ts';

describe('effectiveConfigView', () => {
  it("splits a config document into MOSN's dump sections", () => {
    const document = {
      servers: [
        {
          default_log_level: 'INFO',
          listeners: [{ name: 'l1', address: '0.0.0.0:80' }, { address: '0.0.0.0:81' }],
          routers: [{ router_config_name: 'r1', virtual_hosts: [] }],
        },
      ],
      cluster_manager: { tls_context: { status: false }, clusters: [{ name: 'c1', hosts: [] }] },
      extends: [{ type: 'x', config: {} }],
      pid: '/tmp/mosn.pid',
    };
    const view = effectiveConfigView(document);
    assert.deepEqual(view.mosn_config, {
      servers: [{ default_log_level: 'INFO' }],
      cluster_manager: { tls_context: { status: false } },
      pid: '/tmp/mosn.pid',
    });
    assert.deepEqual(Object.keys(view.listener), ['l1', '0.0.0.0:81']);
    assert.deepEqual(view.routers, { r1: { router_config_name: 'r1', virtual_hosts: [] } });
    assert.deepEqual(view.cluster, { c1: { name: 'c1', hosts: [] } });
    assert.deepEqual(view.extends, [{ type: 'x', config: {} }]);
    // The document is not changed.
    assert.equal(document.servers[0]?.listeners.length, 2);
    assert.equal(document.cluster_manager.clusters.length, 1);
  });

  it('accepts an empty or oddly shaped document', () => {
    assert.deepEqual(effectiveConfigView({}), { mosn_config: {}, listener: {}, cluster: {}, routers: {}, extends: [] });
    const view = effectiveConfigView({ servers: 'nope', cluster_manager: [], extends: {} });
    assert.deepEqual(view.listener, {});
    assert.deepEqual(view.extends, []);
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isMosnError } from '../../core/errors.ts';
import type { LbType } from '../../config/types.ts';
import { Host } from '../host.ts';
import { createLoadBalancer, isSupportedLbType, SUPPORTED_LB_TYPES } from './balancer-factory.ts';
import { RoundRobinBalancer } from './round-robin-balancer.ts';
import { RandomBalancer } from './random-balancer.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin-balancer.ts';
import { LeastRequestBalancer } from './least-request-balancer.ts';

describe('createLoadBalancer', () => {
  test('builds the balancer named by MOSN\'s lb_type', () => {
    assert.ok(createLoadBalancer('LB_ROUNDROBIN', []) instanceof RoundRobinBalancer);
    assert.ok(createLoadBalancer('LB_RANDOM', []) instanceof RandomBalancer);
    assert.ok(createLoadBalancer('LB_WEIGHTED_ROUNDROBIN', []) instanceof WeightedRoundRobinBalancer);
    assert.ok(createLoadBalancer('LB_LEAST_REQUEST', []) instanceof LeastRequestBalancer);
    assert.deepEqual([...SUPPORTED_LB_TYPES], ['LB_ROUNDROBIN', 'LB_RANDOM', 'LB_WEIGHTED_ROUNDROBIN', 'LB_LEAST_REQUEST']);
  });

  test('rejects lb types not built yet, listing the supported ones', () => {
    for (const type of ['LB_MAGLEV', 'LB_LEAST_CONNECTION', 'LB_PEAK_EWMA', 'LB_NOPE'] as LbType[]) {
      assert.equal(isSupportedLbType(type), false);
      assert.throws(
        () => createLoadBalancer(type, []),
        (err) =>
          isMosnError(err, 'MOSN_ERR_CONFIG_UNSUPPORTED') &&
          err.message.includes(`"${type}"`) &&
          SUPPORTED_LB_TYPES.every((supported) => err.message.includes(supported)),
      );
    }
    assert.equal(isSupportedLbType('toString'), false);
  });

  test('an array of hosts is wrapped in a host set of its own', () => {
    const host = new Host({ address: '127.0.0.1:80', hostname: undefined, weight: 1, metadata: {} });
    assert.equal(createLoadBalancer('LB_ROUNDROBIN', [host]).chooseHost(), host);
  });
});

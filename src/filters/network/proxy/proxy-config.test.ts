import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyConfig } from './proxy-config.ts';
import type { ProxyConfig } from './proxy-config.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';

const PATH = 'servers[0].listeners[0].filter_chains[0].filters[0].config';
const ROUTERS = new Set(['server_router']);
const exists = (name: string): boolean => ROUTERS.has(name);

function parse(raw: unknown): ProxyConfig {
  return parseProxyConfig(raw, PATH, exists);
}

const assertRejected = (raw: unknown, where: string, detail?: RegExp): void => assertFilterConfigError(() => parse(raw), where, detail);

describe('parseProxyConfig', () => {
  test('protocols default to Http1', () => {
    assert.deepEqual(parse({ router_config_name: 'server_router' }), {
      downstreamProtocol: 'Http1',
      upstreamProtocol: 'Http1',
      routerConfigName: 'server_router',
    });
  });

  test('reads the MOSN sample config', () => {
    assert.deepEqual(
      parse({ downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: 'server_router' }),
      { downstreamProtocol: 'Http1', upstreamProtocol: 'Http1', routerConfigName: 'server_router' },
    );
  });

  test('Http2 and Auto, any case; upstream defaults to the downstream protocol', () => {
    assert.deepEqual(parse({ downstream_protocol: 'HTTP2', router_config_name: 'server_router' }), {
      downstreamProtocol: 'Http2',
      upstreamProtocol: 'Http2',
      routerConfigName: 'server_router',
    });
    const auto = parse({ downstream_protocol: 'Auto', upstream_protocol: 'http1', router_config_name: 'server_router' });
    assert.equal(auto.downstreamProtocol, 'Auto');
    assert.equal(auto.upstreamProtocol, 'Http1');
  });

  test('"HTTP1" is read as Http1', () => {
    const c = parse({ downstream_protocol: 'HTTP1', upstream_protocol: 'HTTP1', router_config_name: 'server_router' });
    assert.equal(c.downstreamProtocol, 'Http1');
    assert.equal(c.upstreamProtocol, 'Http1');
  });

  test('keys match case-insensitively', () => {
    const c = parse({ Downstream_Protocol: 'Http1', ROUTER_CONFIG_NAME: 'server_router' });
    assert.equal(c.routerConfigName, 'server_router');
  });

  test('unknown keys and not-yet-supported MOSN keys are reported to warn', () => {
    const warnings: string[] = [];
    const c = parseProxyConfig(
      { router_config_name: 'server_router', extend_config: {}, Fallback_For_Unknown_Protocol: true, colour: 'red' },
      PATH,
      exists,
      (m) => warnings.push(m),
    );
    assert.equal(c.routerConfigName, 'server_router');
    assert.deepEqual(warnings, [
      `${PATH}.extend_config: not supported yet, ignored`,
      `${PATH}.Fallback_For_Unknown_Protocol: not supported yet, ignored`,
      `${PATH}.colour: unknown key, ignored`,
    ]);
  });
});

describe('parseProxyConfig errors name the JSON path', () => {
  test('RPC protocols are refused naming the supported ones', () => {
    assertRejected({ downstream_protocol: 'bolt', router_config_name: 'server_router' }, `${PATH}.downstream_protocol`, /"Http1", "Http2" or "Auto"/);
  });

  test('RPC protocols and comma lists are not supported yet', () => {
    for (const p of ['bolt', 'boltv2', 'dubbo', 'tars', 'Http1,Http2']) {
      assertRejected({ downstream_protocol: p, router_config_name: 'server_router' }, `${PATH}.downstream_protocol`, /is not supported yet/);
    }
    assertRejected({ downstream_protocol: 'Http1', upstream_protocol: 'bolt', router_config_name: 'server_router' }, `${PATH}.upstream_protocol`, /"bolt" is not supported yet/);
  });

  test('a protocol that is not a string', () => {
    assertRejected({ downstream_protocol: 1, router_config_name: 'server_router' }, `${PATH}.downstream_protocol`, /a string/);
  });

  test('a missing or empty router_config_name', () => {
    assertRejected({}, `${PATH}.router_config_name`, /the name of a router in servers\[0\]\.routers/);
    assertRejected(undefined, `${PATH}.router_config_name`);
    assertRejected({ router_config_name: '' }, `${PATH}.router_config_name`);
  });

  test('an unknown router_config_name', () => {
    assertRejected({ router_config_name: 'client_router' }, `${PATH}.router_config_name`, /got "client_router"/);
  });

  test('the config is not an object', () => {
    assertRejected('server_router', PATH, /an object/);
  });
});

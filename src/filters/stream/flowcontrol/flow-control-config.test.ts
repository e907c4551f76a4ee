import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';
import { DEFAULT_LIMIT_BODY, DEFAULT_LIMIT_STATUS, parseFlowControlConfig } from './flow-control-config.ts';

const P = 'servers[0].listeners[0].stream_filters[0].config';

function parse(raw: unknown): { config: ReturnType<typeof parseFlowControlConfig>; warnings: string[] } {
  const warnings: string[] = [];
  return { config: parseFlowControlConfig(raw, P, (m) => warnings.push(m)), warnings };
}

describe('parseFlowControlConfig', () => {
  test("MOSN's sample config (examples/codes/flowcontrol-sample) parses, its pre-1.0 rule keys accepted silently", () => {
    const { config, warnings } = parse({
      app_name: 'sample',
      log_path: '/tmp/sentinel',
      global_switch: true,
      monitor: false,
      limit_key_type: 'PATH',
      action: { status: 500, body: 'blocked' },
      rules: [{ resource: '/test', limitApp: '', grade: 1, threshold: 1, strategy: 0 }],
    });
    assert.deepEqual(config, {
      enabled: true,
      monitor: false,
      keyType: 'PATH',
      status: 500,
      body: 'blocked',
      rules: [{ resource: '/test', threshold: 1, intervalMs: 1000, behavior: 'Reject', maxQueueingTimeMs: 0 }],
    });
    assert.deepEqual(warnings, []);
  });

  test("defaults: switched off, PATH, 429 (MOSN: 509) with MOSN's body; status 0 also means 429", () => {
    const { config } = parse({});
    assert.deepEqual(config, { enabled: false, monitor: false, keyType: 'PATH', status: DEFAULT_LIMIT_STATUS, body: DEFAULT_LIMIT_BODY, rules: [] });
    assert.equal(DEFAULT_LIMIT_STATUS, 429);
    assert.equal(DEFAULT_LIMIT_BODY, 'current request is limited');
    // Go decodes an explicit empty body as empty, and MOSN would answer status 0 as 200: mosnode answers the default.
    assert.deepEqual(parse({ action: { status: 0, body: '' } }).config.status, 429);
    assert.deepEqual(parse({ action: { status: 0, body: '' } }).config.body, '');
    assert.deepEqual(parse({ action: { body: 'x' } }).config.status, 429, 'an action without status keeps the default status');
    assert.equal(parse(undefined).config.enabled, false);
  });

  test('keys match ignoring case, as Go does; every rule key of sentinel-golang v1 is read', () => {
    const { config, warnings } = parse({
      Global_Switch: true,
      MONITOR: true,
      limit_key_type: 'ARG',
      Action: { Status: 429 },
      rules: [
        {
          id: 'r1',
          Resource: 'a=1',
          threshold: 2.5,
          tokenCalculateStrategy: 0,
          controlBehavior: 1,
          relationStrategy: 0,
          refResource: '',
          maxQueueingTimeMs: 200,
          warmUpPeriodSec: 0,
          warmUpColdFactor: 0,
          statIntervalInMs: 2000,
          adaptiveConfigName: '',
        },
      ],
    });
    assert.equal(config.enabled, true);
    assert.equal(config.monitor, true);
    assert.equal(config.keyType, 'ARG');
    assert.equal(config.status, 429);
    assert.deepEqual(config.rules, [{ resource: 'a=1', threshold: 2.5, intervalMs: 2000, behavior: 'Throttling', maxQueueingTimeMs: 200 }]);
    assert.deepEqual(warnings, []);
  });

  test('warns about what it does not do: unknown keys, rules that are switched off, data sources, callbacks, old keys meaning something else', () => {
    const { warnings } = parse({
      rule: [],
      callback_name: 'custom',
      dynamic_data_resources: [{ resource_type: 'nacos', config: {} }],
      action: { code: 429 },
      rules: [{ resource: '/a', threshold: 1, grade: 0, limitApp: 'app-a', strategy: 1, count: 5, burst: 2 }],
    });
    const expected = [
      `${P}.rule: unknown`,
      `${P}.callback_name: custom flow control callbacks are not supported`,
      `${P}.dynamic_data_resources: rules from data sources`,
      `${P}.action.code: unknown action key`,
      `${P}.rules[0].burst: unknown flow rule key`,
      `${P}.rules[0].grade: ignored`,
      `${P}.rules[0].strategy: ignored`,
      `${P}.rules[0].count: ignored`,
      `${P}.rules[0].limitApp: ignored`,
      `${P}.global_switch: not true, so these rules are not enforced`,
    ];
    assert.equal(warnings.length, expected.length, warnings.join('\n'));
    for (const prefix of expected) assert.ok(warnings.some((w) => w.startsWith(prefix)), `no warning starting ${prefix}:\n${warnings.join('\n')}`);
  });

  test('bad values are errors naming the JSON path and the expected shape', () => {
    assertFilterConfigError(() => parse([]), P, /an object/);
    assertFilterConfigError(() => parse({ global_switch: 'true' }), `${P}.global_switch`, /true or false/);
    assertFilterConfigError(() => parse({ monitor: 1 }), `${P}.monitor`, /true or false/);
    assertFilterConfigError(() => parse({ limit_key_type: 'path' }), `${P}.limit_key_type`, /"PATH", "URI" or "ARG"/);
    assertFilterConfigError(() => parse({ limit_key_type: 'header' }), `${P}.limit_key_type`);
    assertFilterConfigError(() => parse({ limit_key_type: '' }), `${P}.limit_key_type`);
    assertFilterConfigError(() => parse({ action: 'deny' }), `${P}.action`, /an object/);
    assertFilterConfigError(() => parse({ action: { status: 99 } }), `${P}.action.status`, /200 to 599/);
    assertFilterConfigError(() => parse({ action: { status: 600 } }), `${P}.action.status`, /200 to 599 \(0 or absent: 429\)/);
    assertFilterConfigError(() => parse({ action: { status: 429.5 } }), `${P}.action.status`);
    assertFilterConfigError(() => parse({ action: { status: '429' } }), `${P}.action.status`);
    assertFilterConfigError(() => parse({ action: { body: 1 } }), `${P}.action.body`, /a string/);
    assertFilterConfigError(() => parse({ rules: {} }), `${P}.rules`, /an array/);
    assertFilterConfigError(() => parse({ rules: ['/a'] }), `${P}.rules[0]`, /a flow rule object/);
    assertFilterConfigError(() => parse({ rules: [{ threshold: 1 }] }), `${P}.rules[0].resource`, /non-empty/);
    assertFilterConfigError(() => parse({ rules: [{ resource: '', threshold: 1 }] }), `${P}.rules[0].resource`);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a' }] }), `${P}.rules[0].threshold`, /a number >= 0/);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', count: 5 }] }), `${P}.rules[0].threshold`, /"count" is the pre-1.0 sentinel name/);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: -1 }] }), `${P}.rules[0].threshold`);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: '5' }] }), `${P}.rules[0].threshold`);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: 1, tokenCalculateStrategy: 1 }] }), `${P}.rules[0].tokenCalculateStrategy`, /1 \(WarmUp\) is not supported/);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: 1, relationStrategy: 1 }] }), `${P}.rules[0].relationStrategy`, /AssociatedResource/);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: 1, controlBehavior: 2 }] }), `${P}.rules[0].controlBehavior`);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: 1, statIntervalInMs: -1 }] }), `${P}.rules[0].statIntervalInMs`);
    assertFilterConfigError(() => parse({ rules: [{ resource: '/a', threshold: 1, maxQueueingTimeMs: 2 ** 31 }] }), `${P}.rules[0].maxQueueingTimeMs`);
    assertFilterConfigError(() => parse({ app_name: 1 }), `${P}.app_name`, /a string/);
    assertFilterConfigError(() => parse({ dynamic_data_resources: {} }), `${P}.dynamic_data_resources`, /an array/);
  });

  test('statIntervalInMs 0 means the default second; a threshold of 0 is allowed (blocks everything, as in sentinel)', () => {
    const { config } = parse({ global_switch: true, rules: [{ resource: '/a', threshold: 0, statIntervalInMs: 0 }] });
    assert.deepEqual(config.rules[0], { resource: '/a', threshold: 0, intervalMs: 1000, behavior: 'Reject', maxQueueingTimeMs: 0 });
  });
});

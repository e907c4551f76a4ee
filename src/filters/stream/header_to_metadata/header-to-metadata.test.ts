import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../../../api/headers.ts';
import type { ReceiverFilterPhase, StreamFilterChainBuilder, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { testFilterContext } from '../../../../test/helpers/filter-context.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';
import { headerToMetadataFactory, VAR_ROUTER_META, routerMetaOf } from './header-to-metadata-factory.ts';
import { parseHeaderToMetadataRules } from './header-to-metadata-config.ts';

const PATH = 'servers[0].listeners[0].stream_filters[0].config';

const rejected = (raw: unknown, where: string, detail?: RegExp): void => assertFilterConfigError(() => parseHeaderToMetadataRules(raw, PATH), where, detail);

function build(raw: unknown): { phases: ReceiverFilterPhase[]; run: (headers: Record<string, string>, variables?: Map<string, unknown>) => { headers: HeaderMap; variables: Map<string, unknown> } } {
  const parsed = headerToMetadataFactory.parseConfig(raw, testFilterContext({ type: 'header_to_metadata' }));
  const phases: ReceiverFilterPhase[] = [];
  const run = (headers: Record<string, string>, variables = new Map<string, unknown>()): { headers: HeaderMap; variables: Map<string, unknown> } => {
    const added: StreamReceiverFilter[] = [];
    const chain: StreamFilterChainBuilder = {
      addReceiver: (f, phase) => void (added.push(f), phases.push(phase ?? 'BeforeRoute')),
      addSender: () => assert.fail('no send filter'),
    };
    headerToMetadataFactory.createFilters(parsed, chain);
    const map = new HeaderMap(Object.entries(headers).flat());
    const handler = { info: { variables }, request: { method: 'GET', path: '/', headers: map } } as unknown as StreamReceiverFilterHandler;
    assert.equal(added[0]!.onReceive(handler), 'Continue');
    return { headers: map, variables };
  };
  return { phases, run };
}

describe('header_to_metadata config', () => {
  test("MOSN's shape: request_rules[{header, on_header_present | on_header_missing {key, value}, remove}]", () => {
    const rules = parseHeaderToMetadataRules({
      request_rules: [
        { header: 'X-Version', on_header_present: { key: 'version' }, remove: true },
        { header: 'x-zone', on_header_missing: { key: 'zone', value: 'default' } },
      ],
    }, PATH);
    assert.deepEqual(rules, [
      { header: 'x-version', onPresent: { key: 'version', value: '' }, onMissing: undefined, remove: true },
      { header: 'x-zone', onPresent: undefined, onMissing: { key: 'zone', value: 'default' }, remove: false },
    ]);
  });

  test("MOSN's checks, with the JSON path; and a non-empty key", () => {
    rejected({ request_rules: [{ on_header_present: { key: 'k' } }] }, `${PATH}.request_rules[0].header`, /must not be empty/);
    rejected({ request_rules: [{ header: 'a', on_header_present: { key: 'k' }, on_header_missing: { key: 'k' } }] }, `${PATH}.request_rules[0]`, /only one of/);
    rejected({ request_rules: [{ header: 'a' }] }, `${PATH}.request_rules[0]`, /one of on_header_present or on_header_missing/);
    rejected({ request_rules: [{ header: 'a', on_header_present: { value: 'v' } }] }, `${PATH}.request_rules[0].on_header_present.key`);
    rejected({ request_rules: [{ header: 'a', on_header_missing: 'k' }] }, `${PATH}.request_rules[0].on_header_missing`, /an object/);
    rejected({ request_rules: [{ header: 'a', on_header_missing: { key: 'k' }, remove: 'yes' }] }, `${PATH}.request_rules[0].remove`, /true or false/);
    rejected({ request_rules: {} }, `${PATH}.request_rules`, /an array/);
  });

  test('unknown keys and an empty rule list are warnings', () => {
    const warnings: string[] = [];
    parseHeaderToMetadataRules({ Request_Rules: [{ header: 'a', on_header_present: { key: 'k', extra: 1 }, other: 2 }], response_rules: [] }, PATH, (m) => warnings.push(m));
    assert.deepEqual(warnings.sort(), [
      `${PATH}.request_rules[0].on_header_present.extra: unknown key, ignored`,
      `${PATH}.request_rules[0].other: unknown key, ignored`,
      `${PATH}.response_rules: unknown key, ignored`,
    ]);
    warnings.length = 0;
    parseHeaderToMetadataRules({}, PATH, (m) => warnings.push(m));
    assert.deepEqual(warnings, [`${PATH}.request_rules: empty: the filter does nothing`]);
  });
});

describe('HeaderToMetadataFilter', () => {
  const raw = {
    request_rules: [
      { header: 'x-version', on_header_present: { key: 'version' }, remove: true },
      { header: 'x-canary', on_header_present: { key: 'lane', value: 'canary' } },
      { header: 'x-zone', on_header_missing: { key: 'zone', value: 'default' }, remove: true },
    ],
  };

  test('present headers give their value (or the rule value), missing ones the rule value; runs AfterRoute', () => {
    const { run, phases } = build(raw);
    const { headers, variables } = run({ 'x-version': 'v2', 'x-canary': 'yes', 'x-other': 'o' });
    assert.equal(VAR_ROUTER_META, 'x-mosn-router-meta');
    assert.deepEqual(Object.fromEntries(routerMetaOf(variables)!), { version: 'v2', lane: 'canary', zone: 'default' });
    assert.equal(headers.get('x-version'), undefined, 'removed');
    assert.equal(headers.get('x-canary'), 'yes', 'kept without remove');
    assert.equal(headers.get('x-other'), 'o');
    assert.deepEqual(phases, ['AfterRoute']);
  });

  test('a header present for an on_header_missing rule adds nothing but is still removed', () => {
    const { run } = build(raw);
    const { headers, variables } = run({ 'x-zone': 'eu' });
    assert.equal(variables.has(VAR_ROUTER_META), false, 'x-zone is present (no default zone); x-version and x-canary are absent');
    assert.equal(headers.get('x-zone'), undefined);
  });

  test('metadata set by an earlier filter is kept and added to; the same key is overwritten', () => {
    const { run } = build(raw);
    const earlier = new Map([['version', 'v1'], ['team', 'a']]);
    const { variables } = run({ 'x-version': 'v3', 'x-zone': 'eu' }, new Map<string, unknown>([[VAR_ROUTER_META, earlier]]));
    assert.equal(variables.get(VAR_ROUTER_META), earlier, 'the same map');
    assert.deepEqual(Object.fromEntries(earlier), { version: 'v3', team: 'a' });
  });

  test('no rule applies: no metadata variable is set', () => {
    const { run } = build({ request_rules: [{ header: 'x-version', on_header_present: { key: 'version' } }] });
    const { variables } = run({});
    assert.equal(variables.has(VAR_ROUTER_META), false);
  });

  test('an empty header value is a present header (MOSN)', () => {
    const { run } = build({ request_rules: [{ header: 'x-version', on_header_present: { key: 'version' } }] });
    assert.deepEqual(Object.fromEntries(routerMetaOf(run({ 'x-version': '' }).variables)!), { version: '' });
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../../../api/headers.ts';
import { headersMatch, parseFaultRule, type FaultRule } from './fault-config.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';

const PATH = 'servers[0].listeners[0].stream_filters[0].config';

function parse(raw: unknown, warnings: string[] = [], clusters: readonly string[] = ['backend']): FaultRule {
  return parseFaultRule(raw, PATH, (m) => warnings.push(m), (name) => clusters.includes(name));
}

const rejected = (raw: unknown, where: string, detail?: RegExp): void => assertFilterConfigError(() => parse(raw), where, detail);

const request = (method: string, headers: Record<string, string>): { method: string; headers: HeaderMap } => ({
  method,
  headers: new HeaderMap(Object.entries(headers).flat()),
});

describe('parseFaultRule', () => {
  test("MOSN's StreamFaultInject shape: delay{percentage, fixed_delay}, abort{percentage, status}, upstream_cluster, headers", () => {
    const warnings: string[] = [];
    const r = parse(
      {
        delay: { percentage: 30, fixed_delay: '1.5s' },
        abort: { percentage: 20, status: 503 },
        upstream_cluster: 'backend',
        headers: [{ name: 'X-Fault', value: 'on' }, { name: 'x-user', value: '^a.c', regex: true }, { name: 'method', value: 'POST' }],
      },
      warnings,
    );
    assert.deepEqual(
      { delayPercent: r.delayPercent, delayMs: r.delayMs, abortPercent: r.abortPercent, abortStatus: r.abortStatus, upstreamCluster: r.upstreamCluster },
      { delayPercent: 30, delayMs: 1500, abortPercent: 20, abortStatus: 503, upstreamCluster: 'backend' },
    );
    assert.equal(r.headers.length, 3);
    assert.deepEqual([r.headers[0]!.name, r.headers[0]!.regex], ['x-fault', undefined], 'names are lower-cased; exact by default');
    assert.ok(r.headers[1]!.regex instanceof RegExp);
    assert.deepEqual([r.headers[2]!.method, r.headers[2]!.name], [true, '']);
    assert.deepEqual(warnings, []);
  });

  test('an empty config injects nothing and matches everything', () => {
    for (const raw of [{}, undefined, null]) {
      const r = parse(raw);
      assert.deepEqual(r, { delayPercent: 0, delayMs: 0, abortPercent: 0, abortStatus: 0, upstreamCluster: undefined, headers: [] });
    }
  });

  test('keys match case-insensitively (Go encoding/json); a duration may be nanoseconds', () => {
    const r = parse({ Delay: { Percentage: 100, FIXED_DELAY: 250_000_000 }, ABORT: { Status: 429, percentage: 5 }, Upstream_Cluster: 'backend' });
    assert.deepEqual([r.delayPercent, r.delayMs, r.abortStatus, r.abortPercent, r.upstreamCluster], [100, 250, 429, 5, 'backend']);
  });

  test('an abort with status but no percentage, or "upstream_cluster": "", is harmless', () => {
    const r = parse({ abort: { status: 500 }, upstream_cluster: '' });
    assert.deepEqual([r.abortPercent, r.abortStatus, r.upstreamCluster], [0, 500, undefined]);
  });

  test('bad values are errors naming the JSON path', () => {
    rejected({ delay: { percentage: 101, fixed_delay: '1s' } }, `${PATH}.delay.percentage`, /0\.\.100/);
    rejected({ delay: { percentage: -1 } }, `${PATH}.delay.percentage`);
    rejected({ abort: { percentage: 12.5, status: 500 } }, `${PATH}.abort.percentage`);
    rejected({ delay: { percentage: 10, fixed_delay: 'soon' } }, `${PATH}.delay.fixed_delay`);
    rejected({ delay: { percentage: 10, fixed_delay: '-1s' } }, `${PATH}.delay.fixed_delay`);
    rejected({ delay: 5 }, `${PATH}.delay`, /an object/);
    rejected({ abort: [] }, `${PATH}.abort`, /an object/);
    rejected({ abort: { percentage: 10 } }, `${PATH}.abort.status`, /abort\.percentage is 10/);
    rejected({ abort: { percentage: 10, status: 600 } }, `${PATH}.abort.status`, /200\.\.599/);
    rejected({ abort: { percentage: 10, status: 199 } }, `${PATH}.abort.status`);
    rejected({ abort: { percentage: 10, status: '503' } }, `${PATH}.abort.status`);
    rejected({ upstream_cluster: 7 }, `${PATH}.upstream_cluster`, /a string/);
    rejected({ headers: {} }, `${PATH}.headers`, /an array/);
    rejected({ headers: [{ value: 'x' }] }, `${PATH}.headers[0].name`, /a header name/);
    rejected({ headers: [{ name: 'a', value: 'x' }, 'b'] }, `${PATH}.headers[1]`, /an object/);
    rejected({ headers: [{ name: 'a', value: 'x', regex: 'yes' }] }, `${PATH}.headers[0].regex`, /true or false/);
    rejected({ headers: [{ name: 'a', value: '(', regex: true }] }, `${PATH}.headers[0].value`, /RE2/);
    rejected({ headers: [{ name: 'a', value: 'a(?=b)', regex: true }] }, `${PATH}.headers[0].value`, /RE2/);
  });

  test('warnings: unknown keys (with a hint for the network filter\'s keys), a delay without duration, an unknown cluster', () => {
    const warnings: string[] = [];
    parse({ delay_percent: 100, delay: { percentage: 50, extra: 1 }, upstream_cluster: 'nope', headers: [{ name: 'a', valu: 'x' }] }, warnings);
    assert.equal(warnings.length, 5, warnings.join('\n'));
    assert.ok(warnings.some((w) => w.startsWith(`${PATH}.delay_percent: unknown key`) && w.includes('fault_inject')));
    assert.ok(warnings.some((w) => w.startsWith(`${PATH}.delay.extra: unknown key`)));
    assert.ok(warnings.some((w) => w.startsWith(`${PATH}.delay.fixed_delay:`) && w.includes('no delay')));
    assert.ok(warnings.some((w) => w.startsWith(`${PATH}.upstream_cluster:`) && w.includes('"nope"')));
    assert.ok(warnings.some((w) => w.startsWith(`${PATH}.headers[0].valu: unknown key`)));
  });
});

describe('headersMatch', () => {
  test('every matcher must match: present and equal, regex found anywhere (Go MatchString), "method" on the method', () => {
    const r = parse({ headers: [{ name: 'x-fault', value: 'on' }, { name: 'x-user', value: 'b[0-9]', regex: true }] });
    assert.equal(headersMatch(r, request('GET', { 'x-fault': 'on', 'x-user': 'bob-b7' })), true);
    assert.equal(headersMatch(r, request('GET', { 'x-fault': 'ON', 'x-user': 'b7' })), false, 'exact is case-sensitive');
    assert.equal(headersMatch(r, request('GET', { 'x-fault': 'on', 'x-user': 'bob' })), false);
    assert.equal(headersMatch(r, request('GET', { 'x-user': 'b7' })), false, 'a missing header does not match');

    const m = parse({ headers: [{ name: 'method', value: 'POST', regex: true }] });
    assert.equal(headersMatch(m, request('POST', {})), true);
    assert.equal(headersMatch(m, request('GET', { method: 'POST' })), false, 'the method, not a header named "method"; exact even with regex');
    assert.equal(headersMatch(parse({}), request('GET', {})), true);
  });

  test('an empty value matches a present, empty header only', () => {
    const r = parse({ headers: [{ name: 'x-empty' }] });
    assert.equal(headersMatch(r, request('GET', { 'x-empty': '' })), true);
    assert.equal(headersMatch(r, request('GET', { 'x-empty': 'v' })), false);
    assert.equal(headersMatch(r, request('GET', {})), false);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { canonicalizeKeys, withMosnKeys, withValueWarning } from './keys.ts';
import { foldKey, goKeyLookup } from '../core/go-json.ts';

const schema = withMosnKeys(
  z.object({
    name: z.string().optional(),
    router_config_name: z.string().optional(),
    items: z.array(z.object({ value: z.number() }).transform((o) => o.value)).default([]),
    nested: z.object({ deep_key: z.boolean().default(false), other: z.number().optional() }).prefault({}),
    small: withValueWarning(z.number().optional(), (v) => (typeof v === 'number' && v < 10 ? `${v} is small` : undefined)),
    pre: z.preprocess((v) => v, z.object({ inner: z.string() })).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    any: z.unknown().optional(),
  }),
  ['later_key'],
);

function run(value: unknown): { out: unknown; warnings: string[] } {
  const warnings: string[] = [];
  return { out: canonicalizeKeys(value, schema, 'root', warnings), warnings };
}

test('exact names stay; other cases fold to the declared name', () => {
  const { out, warnings } = run({ NAME: 'a', Router_Config_Name: 'r', Items: [{ VALUE: 1 }], Nested: { DEEP_KEY: true } });
  assert.deepEqual(out, { name: 'a', router_config_name: 'r', items: [{ value: 1 }], nested: { deep_key: true } });
  assert.deepEqual(warnings, []);
});

test('unknown keys are dropped with one warning each, at any depth', () => {
  const { out, warnings } = run({ name: 'a', extra: 1, items: [{ value: 1, x: 2 }], nested: { y: [] }, 'odd key': 0 });
  assert.deepEqual(out, { name: 'a', items: [{ value: 1 }], nested: {} });
  assert.deepEqual(warnings, [
    'root.extra: unknown key, ignored',
    'root.items[0].x: unknown key, ignored',
    'root.nested.y: unknown key, ignored',
    'root["odd key"]: unknown key, ignored',
  ]);
});

test('free-form values and declared MOSN keys are kept as written', () => {
  const later = { Whatever: { Deep: 1 } };
  const { out, warnings } = run({ Config: { AnyKey: { Deeper: 1 } }, any: { Free: true }, Later_Key: later });
  assert.deepEqual(out, { config: { AnyKey: { Deeper: 1 } }, any: { Free: true }, later_key: later });
  assert.deepEqual(warnings, []);
});

test('z.preprocess shapes are walked on their output side', () => {
  const { out, warnings } = run({ pre: { INNER: 'x', nope: 1 } });
  assert.deepEqual(out, { pre: { inner: 'x' } });
  assert.deepEqual(warnings, ['root.pre.nope: unknown key, ignored']);
});

test('null values are dropped, as Go leaves the field at its zero value', () => {
  assert.deepEqual(run({ name: null, nested: null }).out, {});
});

test('values of the wrong type are left for validation', () => {
  assert.deepEqual(run({ items: 'x', nested: [1] }).out, { items: 'x', nested: [1] });
  assert.equal(run('text').out, 'text');
  assert.deepEqual(run([{ NAME: 1 }]).out, [{ NAME: 1 }]);
});

test('two keys for one field: the last wins with a warning', () => {
  const { out, warnings } = run({ Name: 'first', name: 'second' });
  assert.deepEqual(out, { name: 'second' });
  assert.deepEqual(warnings, ['root.name: same field as "Name" (keys match case-insensitively); the last one wins']);
});

test('the input is not modified', () => {
  const input = { NAME: 'a', extra: 1 };
  run(input);
  assert.deepEqual(input, { NAME: 'a', extra: 1 });
});

test('Go\'s rule: the last key in the document wins, even over an earlier exact match; null changes nothing', () => {
  assert.deepEqual(run({ name: 'exact', NAME: 'later' }).out, { name: 'later' });
  assert.deepEqual(run({ NAME: 'earlier', name: 'exact' }).out, { name: 'exact' });
  const { out, warnings } = run({ name: 'kept', Name: null });
  assert.deepEqual(out, { name: 'kept' });
  assert.deepEqual(warnings, []);
});

test('two objects for one struct or map field merge, later keys winning; arrays are replaced', () => {
  const { out, warnings } = run({
    nested: { deep_key: true, other: 1 },
    Nested: { other: 2 },
    config: { a: 1, b: { x: 1 } },
    CONFIG: { b: { y: 2 } },
    items: [{ value: 1 }],
    Items: [{ value: 2 }],
  });
  assert.deepEqual(out, { nested: { deep_key: true, other: 2 }, config: { a: 1, b: { y: 2 } }, items: [{ value: 2 }] });
  assert.deepEqual(warnings, [
    'root.Nested: same field as "nested" (keys match case-insensitively); merged into it, later keys win, as Go does',
    'root.CONFIG: same field as "config" (keys match case-insensitively); merged into it, later keys win, as Go does',
    'root.Items: same field as "items" (keys match case-insensitively); the last one wins',
  ]);
});

test('foldKey folds as Go\'s encoding/json does', () => {
  assert.equal(foldKey('Router_Config_Name'), foldKey('router_config_name'));
  assert.equal(foldKey('\u212Aey'), foldKey('key')); // Kelvin sign
  assert.equal(foldKey('\u017Fecret'), foldKey('secret')); // long s
  assert.notEqual(foldKey('stra\u00dfe'), foldKey('STRASSE'));
  assert.deepEqual(run({ '\u212Aname': 1 }).warnings, ['root["\u212Aname"]: unknown key, ignored']);
  assert.deepEqual(run({ nested: { DEEP_\u212AEY: true } }).out, { nested: { deep_key: true } });
});

test('goKeyLookup: any case, the last match wins, a null is a no-op', () => {
  assert.equal(goKeyLookup({ Timeout: '1s' }, 'timeout'), '1s');
  assert.equal(goKeyLookup({ timeout: '1s', TIMEOUT: '2s' }, 'timeout'), '2s');
  assert.equal(goKeyLookup({ TIMEOUT: '2s', timeout: '1s' }, 'timeout'), '1s');
  assert.equal(goKeyLookup({ timeout: '1s', Timeout: null }, 'timeout'), '1s');
  assert.equal(goKeyLookup({ Timeout: null }, 'timeout'), null);
  assert.equal(goKeyLookup({ other: 1 }, 'timeout'), undefined);
  assert.equal(goKeyLookup({ \u212Aey: 'v' }, 'key'), 'v');
});

test('withValueWarning: a leaf warning is reported with its path', () => {
  assert.deepEqual(run({ small: 3 }).warnings, ['root.small: 3 is small']);
  assert.deepEqual(run({ small: 30 }).warnings, []);
});

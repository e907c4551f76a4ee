import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findJsonSyntaxError, lineColumn, parseConfigValue } from './parse-text.ts';
import { ConfigError } from './config-error.ts';

test('findJsonSyntaxError agrees with JSON.parse on valid and broken texts', () => {
  const valid = [
    '{}', '[]', '0', '-1.5e+3', '"a\\n\\u00e9"', 'true', 'null', ' { "a" : [ 1 , { "b" : false } ] } ',
    JSON.stringify({ servers: [{ listeners: [{ name: 'x', port: 1, ok: true, none: null }] }] }, null, 2),
  ];
  for (const text of valid) assert.equal(findJsonSyntaxError(text), undefined, text);
  // Every truncation and one-character deletion of a valid document: when JSON.parse fails,
  // the scanner must fail too, at an offset inside the text.
  const base = JSON.stringify({ a: [1, 2.5, 'x\\"y'], b: { c: null, d: true } });
  const variants = new Set<string>();
  for (let i = 0; i < base.length; i++) {
    variants.add(base.slice(0, i));
    variants.add(base.slice(0, i) + base.slice(i + 1));
  }
  for (const text of variants) {
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    const found = findJsonSyntaxError(text);
    assert.equal(found === undefined, parses, text);
    if (found) assert.ok(found.offset >= 0 && found.offset <= text.length, text);
  }
});

test('rejects what JSON rejects', () => {
  for (const text of ['01', '1.', '.5', '+1', '"\t"', '"\\x"', 'nul', '[1 2]', '{"a" 1}', '{"a":1,}', 'NaN']) {
    assert.notEqual(findJsonSyntaxError(text), undefined, text);
  }
});

test('lineColumn is 1-based', () => {
  assert.deepEqual(lineColumn('ab\ncd', 0), { line: 1, column: 1 });
  assert.deepEqual(lineColumn('ab\ncd', 4), { line: 2, column: 2 });
});

test('format choice: extension, explicit format, JSON-looking text, YAML fallback, BOM', () => {
  assert.deepEqual(parseConfigValue('a: 1', { file: '/x/c.yml' }), { a: 1 });
  assert.deepEqual(parseConfigValue('{"a": 1}', { format: 'yaml' }), { a: 1 });
  assert.deepEqual(parseConfigValue('a: 1'), { a: 1 });
  assert.deepEqual(parseConfigValue('\uFEFF{"a": 1}', { file: '/x/c.json' }), { a: 1 });
  assert.throws(() => parseConfigValue('a: 1', { file: '/x/c.json' }), ConfigError);
  assert.throws(() => parseConfigValue('{"a": tru}'), /invalid JSON at line 1, column 7/);
  assert.throws(() => parseConfigValue('a: [', { file: '/x/c.conf' }), /c\.conf: invalid YAML/);
});

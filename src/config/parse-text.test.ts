import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NESTING_DEPTH, findJsonSyntaxError, lineColumn, parseConfigValue } from './parse-text.ts';
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

/** The ConfigError `fn` throws (fails the test if it throws anything else). */
function parseError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('deeply nested JSON, broken or valid, is a parse error with a position, not a stack overflow', () => {
  const broken = parseError(() => parseConfigValue('['.repeat(100_000), { file: '/x/c.json' }));
  assert.equal(broken.code, 'MOSN_ERR_CONFIG_PARSE');
  assert.equal(broken.message, '/x/c.json: invalid JSON: nesting too deep at line 1, column 1001 (more than 1000 levels of objects and arrays)');
  assert.deepEqual([broken.issues[0]?.line, broken.issues[0]?.column], [1, 1001]);
  const valid = parseError(() => parseConfigValue('\n{"a": ' + '{"b": ['.repeat(600) + ']}'.repeat(600) + '}'));
  assert.match(valid.message, /^invalid JSON: nesting too deep at line 2, column 3506 /);
  assert.equal(findJsonSyntaxError('['.repeat(100_000))?.message, 'nesting too deep (more than 1000 levels of objects and arrays)');
  // Up to the limit is fine, and brackets inside strings do not count.
  const deepest = '['.repeat(MAX_NESTING_DEPTH) + ']'.repeat(MAX_NESTING_DEPTH);
  assert.equal(findJsonSyntaxError(deepest), undefined);
  assert.deepEqual(parseConfigValue(JSON.stringify({ a: '['.repeat(5000) })), { a: '['.repeat(5000) });
  assert.ok(Array.isArray(parseConfigValue(deepest)));
});

test('deeply nested YAML is a parse error too', () => {
  const flow = parseError(() => parseConfigValue('a: ' + '['.repeat(100_000), { format: 'yaml' }));
  assert.equal(flow.code, 'MOSN_ERR_CONFIG_PARSE');
  assert.equal(flow.issues.length, 1);
  assert.match(flow.message, /^invalid YAML: nesting too deep at line 1, column \d+ \(the YAML parser ran out of stack\)$/);
  const block = parseError(() => parseConfigValue('a:\n' + '- '.repeat(5000) + '1', { format: 'yaml' }));
  assert.match(block.message, /^invalid YAML: nesting too deep at line 2, column \d+/);
  const cycle = parseError(() => parseConfigValue('a: &a [ *a ]', { format: 'yaml' }));
  assert.match(cycle.message, /^invalid YAML: nesting too deep \(more than 1000 levels of objects and arrays, or an alias inside itself\)$/);
  assert.deepEqual(parseConfigValue('a: &a [1]\nb: [*a, *a]', { format: 'yaml' }), { a: [1], b: [[1], [1]] });
});

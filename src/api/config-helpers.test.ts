import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FilterConfigError } from './filter-factory.ts';
import {
  configObject,
  configValue,
  optionalArray,
  optionalDurationMs,
  optionalInteger,
  optionalString,
  unknownKeys,
} from './config-helpers.ts';

const PATH = 'servers[0].listeners[0].filter_chains[0].filters[0].config';

/** Asserts `fn` throws a FilterConfigError for `where`, whose message says what was expected. */
function assertConfigError(fn: () => unknown, where: string, expected?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FilterConfigError, `expected FilterConfigError, got ${String(err)}`);
    assert.equal(err.code, 'MOSN_ERR_FILTER_CONFIG');
    assert.equal(err.path, where);
    assert.ok(err.message.startsWith(`${where}: expected `), err.message);
    if (expected !== undefined) assert.match(err.message, expected);
    return true;
  });
}

describe('configObject', () => {
  test('returns the object itself', () => {
    const raw = { a: 1 };
    assert.equal(configObject(raw, PATH), raw);
  });

  test('undefined and null give an empty object', () => {
    assert.deepEqual(configObject(undefined, PATH), {});
    assert.deepEqual(configObject(null, PATH), {});
  });

  test('anything else is rejected at the path', () => {
    for (const bad of ['x', 1, true, [], [{ a: 1 }]]) {
      assertConfigError(() => configObject(bad, PATH), PATH, /an object/);
    }
  });
});

describe('configValue', () => {
  test('an exact key', () => {
    assert.equal(configValue({ cluster: 'a' }, 'cluster'), 'a');
  });

  test('a key spelled in another case', () => {
    assert.equal(configValue({ Cluster: 'a' }, 'cluster'), 'a');
    assert.equal(configValue({ cluster: 'a' }, 'CLUSTER'), 'a');
  });

  test('the later of two matching keys wins, as Go decodes in document order', () => {
    assert.equal(configValue({ Cluster: 'upper', cluster: 'exact' }, 'cluster'), 'exact');
    assert.equal(configValue({ cluster: 'lower', Cluster: 'exact' }, 'Cluster'), 'exact');
  });

  test('without an exact match too, the last case-insensitive key wins', () => {
    assert.equal(configValue({ CLUSTER: 'first', Cluster: 'second' }, 'cluster'), 'second');
    assert.equal(configValue({ cluster: 'exact', CLUSTER: 'later' }, 'cluster'), 'later');
  });

  test('an absent key is undefined; a present null stays null', () => {
    assert.equal(configValue({ other: 1 }, 'cluster'), undefined);
    assert.equal(configValue({ cluster: null }, 'cluster'), null);
  });

  test('inherited properties are not config keys', () => {
    assert.equal(configValue({}, 'toString'), undefined);
    assert.equal(configValue({}, 'constructor'), undefined);
  });
});

describe('unknownKeys', () => {
  test('keys matching none of the known ones, case-insensitively, in document order', () => {
    assert.deepEqual(unknownKeys({ Cluster: 1, colour: 2, ROUTES: 3, extra: 4 }, ['cluster', 'routes']), ['colour', 'extra']);
  });

  test('none unknown', () => {
    assert.deepEqual(unknownKeys({}, ['cluster']), []);
    assert.deepEqual(unknownKeys({ cluster: 1 }, ['Cluster']), []);
  });

  test('every key unknown when nothing is known', () => {
    assert.deepEqual(unknownKeys({ a: 1, b: 2 }, []), ['a', 'b']);
  });
});

describe('optionalString', () => {
  test('a string, case-insensitively', () => {
    assert.equal(optionalString({ name: 'x' }, 'name', PATH), 'x');
    assert.equal(optionalString({ NAME: '' }, 'name', PATH), '');
  });

  test('absent or null is undefined', () => {
    assert.equal(optionalString({}, 'name', PATH), undefined);
    assert.equal(optionalString({ name: null }, 'name', PATH), undefined);
  });

  test('another type names `${path}.${key}`', () => {
    for (const bad of [1, true, {}, ['x']]) {
      assertConfigError(() => optionalString({ name: bad }, 'name', PATH), `${PATH}.name`, /a string/);
    }
  });

  test('the error names the canonical key, not the spelling in the document', () => {
    assertConfigError(() => optionalString({ Name: 1 }, 'name', PATH), `${PATH}.name`);
  });
});

describe('optionalInteger', () => {
  test('an integer', () => {
    assert.equal(optionalInteger({ n: 3 }, 'n', PATH), 3);
    assert.equal(optionalInteger({ n: -3 }, 'n', PATH), -3);
    assert.equal(optionalInteger({ N: 0 }, 'n', PATH), 0);
  });

  test('absent or null is undefined', () => {
    assert.equal(optionalInteger({}, 'n', PATH), undefined);
    assert.equal(optionalInteger({ n: null }, 'n', PATH, { min: 1 }), undefined);
  });

  test('the range is inclusive', () => {
    assert.equal(optionalInteger({ n: 1 }, 'n', PATH, { min: 1, max: 10 }), 1);
    assert.equal(optionalInteger({ n: 10 }, 'n', PATH, { min: 1, max: 10 }), 10);
  });

  test('out of range names the path and the range', () => {
    assertConfigError(() => optionalInteger({ n: 0 }, 'n', PATH, { min: 1, max: 10 }), `${PATH}.n`, /an integer in 1\.\.10/);
    assertConfigError(() => optionalInteger({ n: 11 }, 'n', PATH, { min: 1, max: 10 }), `${PATH}.n`, /an integer in 1\.\.10/);
    assertConfigError(() => optionalInteger({ n: -1 }, 'n', PATH, { min: 0 }), `${PATH}.n`);
  });

  test('not an integer', () => {
    for (const bad of [1.5, '3', true, NaN, Infinity, [3]]) {
      assertConfigError(() => optionalInteger({ n: bad }, 'n', PATH), `${PATH}.n`, /an integer/);
    }
  });
});

describe('optionalDurationMs', () => {
  test('Go duration strings, in milliseconds', () => {
    assert.equal(optionalDurationMs({ t: '30s' }, 't', PATH), 30_000);
    assert.equal(optionalDurationMs({ t: '500ms' }, 't', PATH), 500);
    assert.equal(optionalDurationMs({ t: '1m30s' }, 't', PATH), 90_000);
    assert.equal(optionalDurationMs({ t: '1h' }, 't', PATH), 3_600_000);
    assert.equal(optionalDurationMs({ t: '1.5s' }, 't', PATH), 1500);
    assert.equal(optionalDurationMs({ t: '0' }, 't', PATH), 0);
    assert.equal(optionalDurationMs({ T: '2s' }, 't', PATH), 2000);
  });

  test('a number is nanoseconds (Go encoding/json for time.Duration)', () => {
    assert.equal(optionalDurationMs({ t: 1_000_000_000 }, 't', PATH), 1000);
    assert.equal(optionalDurationMs({ t: 0 }, 't', PATH), 0);
  });

  test('absent, null or "" is undefined', () => {
    assert.equal(optionalDurationMs({}, 't', PATH), undefined);
    assert.equal(optionalDurationMs({ t: null }, 't', PATH), undefined);
    assert.equal(optionalDurationMs({ t: '' }, 't', PATH), undefined);
  });

  test('a bad duration names the path and quotes the value', () => {
    assertConfigError(() => optionalDurationMs({ t: '30' }, 't', PATH), `${PATH}.t`, /a duration like "30s" or "1m30s", got "30"/);
    assertConfigError(() => optionalDurationMs({ t: 'soon' }, 't', PATH), `${PATH}.t`, /got "soon"/);
    assertConfigError(() => optionalDurationMs({ t: '5x' }, 't', PATH), `${PATH}.t`);
    assertConfigError(() => optionalDurationMs({ t: 1.5 }, 't', PATH), `${PATH}.t`, /got 1\.5/);
  });

  test('a value that is neither a string nor a number', () => {
    for (const bad of [true, {}, ['1s']]) {
      assertConfigError(() => optionalDurationMs({ t: bad }, 't', PATH), `${PATH}.t`, /a duration/);
    }
  });
});

describe('optionalArray', () => {
  test('an array is returned as is', () => {
    const list = [1, 2];
    assert.equal(optionalArray({ list }, 'list', PATH), list);
    assert.deepEqual(optionalArray({ LIST: [] }, 'list', PATH), []);
  });

  test('absent or null is an empty array', () => {
    assert.deepEqual(optionalArray({}, 'list', PATH), []);
    assert.deepEqual(optionalArray({ list: null }, 'list', PATH), []);
  });

  test('anything else names the path', () => {
    for (const bad of ['a', 1, { 0: 'a' }]) {
      assertConfigError(() => optionalArray({ list: bad }, 'list', PATH), `${PATH}.list`, /an array/);
    }
  });
});

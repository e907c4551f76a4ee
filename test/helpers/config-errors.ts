/**
 * The assertion for filter config errors: a FilterConfigError with the stable code, the
 * JSON path of the bad value, and a message "<path>: expected ...".
 */
import assert from 'node:assert/strict';
import { FilterConfigError } from '../../src/api/filter-factory.ts';

export function assertFilterConfigError(fn: () => unknown, where: string, detail?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FilterConfigError, `expected FilterConfigError, got ${String(err)}`);
    assert.equal(err.code, 'MOSN_ERR_FILTER_CONFIG');
    assert.equal(err.path, where);
    assert.ok(err.message.startsWith(`${where}: expected `), err.message);
    if (detail !== undefined) assert.match(err.message, detail);
    return true;
  });
}

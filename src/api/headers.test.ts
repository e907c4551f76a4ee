/**
 * HeaderMap: lookups and edits on the flat array, and the count of leading entries a
 * parser checked (`validated`), which every edit must keep right so a writer never skips
 * checking a line that was added or changed.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from './headers.ts';

describe('HeaderMap', () => {
  test('get, getAll, set, add, delete keep order and repeated names', () => {
    const h = new HeaderMap(['a', '1', 'b', '2', 'a', '3']);
    assert.equal(h.get('a'), '1');
    assert.deepEqual(h.getAll('a'), ['1', '3']);
    h.set('A', '9');
    assert.deepEqual(h.flatView(), ['a', '9', 'b', '2']);
    h.add('C', '4');
    assert.equal(h.delete('b'), true);
    assert.equal(h.delete('b'), false);
    assert.deepEqual(h.flatView(), ['a', '9', 'c', '4']);
  });

  test('validated: at most the array, 0 by default', () => {
    assert.equal(new HeaderMap(['a', '1']).validated, 0);
    assert.equal(new HeaderMap(['a', '1'], 2).validated, 2);
    assert.equal(new HeaderMap(['a', '1'], 10).validated, 2);
  });

  test('validated: add appends after the prefix; set in place cuts it at the changed line', () => {
    const h = new HeaderMap(['a', '1', 'b', '2', 'c', '3'], 6);
    h.add('d', '4');
    assert.equal(h.validated, 6);
    h.set('b', 'changed');
    assert.equal(h.validated, 2, 'b and everything after it are checked again');
    h.set('z', 'new');
    assert.equal(h.validated, 2);
  });

  test('validated: delete and set removing a repeat shift the prefix', () => {
    const h = new HeaderMap(['a', '1', 'b', '2', 'c', '3', 'x', 'y'], 6);
    h.delete('a');
    assert.equal(h.validated, 4);
    assert.deepEqual(h.flatView().slice(0, 4), ['b', '2', 'c', '3']);
    h.delete('x');
    assert.equal(h.validated, 4);
    const m = new HeaderMap(['a', '1', 'b', '2', 'a', '3', 'c', '4'], 6);
    assert.equal(m.delete('A'), true);
    assert.deepEqual(m.flatView(), ['b', '2', 'c', '4']);
    assert.equal(m.validated, 2, 'b stays validated; c never was');
    const r = new HeaderMap(['a', '1', 'b', '2', 'a', '3'], 6);
    r.set('x', 'z');
    r.set('b', '2');
    assert.equal(r.validated, 2);
    const s = new HeaderMap(['k', '1', 'm', '2', 'k', '3', 'n', '4'], 8);
    s.set('m', '2');
    assert.equal(s.validated, 2);
  });

  test('deleteWhere removes lines in one pass and keeps the validated prefix of what stays', () => {
    const h = new HeaderMap(['connection', 'close', 'a', '1', 'te', 'x', 'b', '2', 'c', '3'], 8);
    h.add('te', 'trailers');
    const seen: string[] = [];
    h.deleteWhere((name) => {
      seen.push(name);
      return name === 'connection' || name === 'te';
    });
    assert.deepEqual(seen, ['connection', 'a', 'te', 'b', 'c', 'te']);
    assert.deepEqual(h.flatView(), ['a', '1', 'b', '2', 'c', '3']);
    assert.equal(h.validated, 4, 'a and b were validated; c was not');
  });

  test('toFlat() hands out the array to change: the map forgets what was validated', () => {
    const h = new HeaderMap(['a', '1'], 2);
    const flat = h.toFlat();
    flat[1] = 'bad\r\nvalue';
    assert.equal(h.validated, 0);
    assert.equal(h.get('a'), 'bad\r\nvalue');
  });
});

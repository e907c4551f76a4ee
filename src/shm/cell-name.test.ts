import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CELL_NAME_FIELD_BYTES, decodeCellName, encodeCellName, fnv1a32, fnv1a64Hex, MAX_CELL_NAME_BYTES } from './cell-name.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

test('FNV-1a matches the published test vectors', () => {
  assert.equal(fnv1a32(utf8('')), 0x811c9dc5);
  assert.equal(fnv1a32(utf8('a')), 0xe40c292c);
  assert.equal(fnv1a32(utf8('foobar')), 0xbf9cf968);
  assert.equal(fnv1a64Hex(utf8('')), 'cbf29ce484222325');
  assert.equal(fnv1a64Hex(utf8('a')), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64Hex(utf8('foobar')), '85944171f73967e8');
});

test('a name of up to 107 bytes is stored verbatim, NUL-padded', () => {
  const name = 'downstream.listener.x.request_total';
  const encoded = encodeCellName(name);
  assert.equal(encoded.shortened, false);
  assert.equal(encoded.stored, name);
  assert.equal(encoded.field.length, CELL_NAME_FIELD_BYTES);
  assert.equal(decodeCellName(encoded.field), name);
  assert.equal(encoded.hash, fnv1a32(encoded.field));
  const longest = 'x'.repeat(MAX_CELL_NAME_BYTES);
  assert.equal(encodeCellName(longest).shortened, false);
  assert.equal(encodeCellName(longest).stored, longest);
});

test('a longer name becomes hash plus tail, 107 bytes at most, and keeps its end', () => {
  const name = `upstream.cluster.${'c'.repeat(100)}.host.10.0.0.1:80.request_total`;
  const encoded = encodeCellName(name);
  assert.equal(encoded.shortened, true);
  assert.ok(utf8(encoded.stored).length <= MAX_CELL_NAME_BYTES);
  assert.match(encoded.stored, /^[0-9a-f]{16}~/);
  assert.ok(encoded.stored.endsWith('.host.10.0.0.1:80.request_total'));
  assert.equal(encoded.stored.slice(0, 16), fnv1a64Hex(utf8(name)));
  assert.equal(decodeCellName(encoded.field), encoded.stored);
});

test('two long names that share their tail stay distinct', () => {
  const tail = 'z'.repeat(120);
  const a = encodeCellName(`a${tail}`);
  const b = encodeCellName(`b${tail}`);
  assert.notEqual(a.stored, b.stored);
  assert.equal(a.stored.slice(17), b.stored.slice(17), 'same tail');
  assert.notDeepEqual(a.field, b.field);
});

test('the tail never starts inside a multi-byte character, and a NUL forces the hashed form', () => {
  const name = 'é'.repeat(80); // 160 bytes
  const encoded = encodeCellName(name);
  assert.ok(!encoded.stored.includes('\uFFFD'), encoded.stored);
  assert.ok(utf8(encoded.stored).length <= MAX_CELL_NAME_BYTES);
  const withNul = encodeCellName('a\0b');
  assert.equal(withNul.shortened, true);
  assert.ok(withNul.stored.endsWith('a?b'));
  assert.notEqual(encodeCellName('a\0b').stored, encodeCellName('a\0c').stored);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGzipConfig } from './gzip.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';

const PATH = 'servers[0].listeners[0].stream_filters[0].config';

test('gzip config: MOSN defaults, and keys as MOSN spells them', () => {
  const warnings: string[] = [];
  const d = parseGzipConfig({}, PATH, (m) => warnings.push(m));
  assert.deepEqual([d.level, d.minLength, [...d.contentTypes]], [6, 30, ['text/html']]);
  const c = parseGzipConfig({ gzip_level: 9, Content_Length: 1024, content_types: ['Application/JSON; charset=utf-8', 'text/css'], level: 1 }, PATH, (m) => warnings.push(m));
  assert.deepEqual([c.level, c.minLength, [...c.contentTypes]], [9, 1024, ['application/json', 'text/css']]);
  assert.deepEqual(warnings, [`${PATH}.level: unknown gzip key, ignored`]);
  assert.equal(parseGzipConfig({ gzip_level: 0 }, PATH, () => {}).level, 6);
});

test('gzip config errors name the JSON path', () => {
  assertFilterConfigError(() => parseGzipConfig({ gzip_level: 10 }, PATH, () => {}), `${PATH}.gzip_level`);
  assertFilterConfigError(() => parseGzipConfig({ content_length: -1 }, PATH, () => {}), `${PATH}.content_length`);
  assertFilterConfigError(() => parseGzipConfig({ content_types: 'text/html' }, PATH, () => {}), `${PATH}.content_types`);
  assertFilterConfigError(() => parseGzipConfig({ content_types: ['text/html', 3] }, PATH, () => {}), `${PATH}.content_types[1]`);
  assertFilterConfigError(() => parseGzipConfig([], PATH, () => {}), PATH);
});

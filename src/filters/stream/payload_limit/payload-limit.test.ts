import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePayloadLimitConfig } from './payload-limit.ts';
import { assertFilterConfigError } from '../../../../test/helpers/config-errors.ts';

const PATH = 'servers[0].listeners[0].stream_filters[0].config';

test('payload_limit config: defaults, MOSN spelling with the trailing space, plain key wins', () => {
  assert.deepEqual(parsePayloadLimitConfig({}, PATH, () => {}), { maxEntitySize: 0, httpStatus: 413 });
  assert.deepEqual(parsePayloadLimitConfig({ 'max_entity_size ': 10, http_status: 0 }, PATH, () => {}), { maxEntitySize: 10, httpStatus: 413 });
  assert.deepEqual(parsePayloadLimitConfig({ 'max_entity_size ': 10, MAX_ENTITY_SIZE: 20, http_status: 400 }, PATH, () => {}), { maxEntitySize: 20, httpStatus: 400 });
  const warnings: string[] = [];
  parsePayloadLimitConfig({ max_size: 1 }, PATH, (m) => warnings.push(m));
  assert.deepEqual(warnings, [`${PATH}.max_size: unknown payload_limit key, ignored`]);
});

test('payload_limit config errors name the JSON path', () => {
  assertFilterConfigError(() => parsePayloadLimitConfig({ max_entity_size: -1 }, PATH, () => {}), `${PATH}.max_entity_size`);
  assertFilterConfigError(() => parsePayloadLimitConfig({ max_entity_size: '1k' }, PATH, () => {}), `${PATH}.max_entity_size`);
  assertFilterConfigError(() => parsePayloadLimitConfig({ http_status: 99 }, PATH, () => {}), `${PATH}.http_status`);
  assertFilterConfigError(() => parsePayloadLimitConfig({ http_status: 600 }, PATH, () => {}), `${PATH}.http_status`);
});

/**
 * @module filters/stream/header_to_metadata/header-to-metadata-config
 * Parses the `header_to_metadata` stream filter config in MOSN's shape:
 *
 *   { "request_rules": [
 *       { "header": "x-version", "on_header_present": { "key": "version" }, "remove": true },
 *       { "header": "x-zone", "on_header_missing": { "key": "zone", "value": "default" } } ] }
 *
 * Each rule names a request header and exactly one of `on_header_present` (the metadata
 * `key` gets `value`, or the header's own value when `value` is empty) or
 * `on_header_missing` (the `key` gets `value` when the header is absent); `remove` deletes
 * the header from the request once read. MOSN's checks are kept (a header name, exactly
 * one of the two actions); mosnode also requires a non-empty `key` (MOSN would file the
 * value under "", which nothing reads).
 * Depends on api/ only.
 */
import { FilterConfigError } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalArray, optionalString, unknownKeys } from '../../../api/config-helpers.ts';

export interface MetadataPair {
  readonly key: string;
  /** "" means: the header's value (on_header_present only). */
  readonly value: string;
}

export interface HeaderToMetadataRule {
  /** Lower-case header name. */
  readonly header: string;
  readonly onPresent: MetadataPair | undefined;
  readonly onMissing: MetadataPair | undefined;
  readonly remove: boolean;
}

const CONFIG_KEYS = ['request_rules'] as const;
const RULE_KEYS = ['header', 'on_header_present', 'on_header_missing', 'remove'] as const;
const PAIR_KEYS = ['key', 'value'] as const;

function parsePair(obj: Record<string, unknown>, key: string, path: string, warn: (message: string) => void): MetadataPair | undefined {
  const raw = configValue(obj, key);
  if (raw === undefined || raw === null) return undefined;
  const p = `${path}.${key}`;
  const pair = configObject(raw, p);
  for (const k of unknownKeys(pair, PAIR_KEYS)) warn(`${p}.${k}: unknown key, ignored`);
  const metaKey = optionalString(pair, 'key', p);
  if (metaKey === undefined || metaKey === '') throw new FilterConfigError(`${p}.key`, 'a non-empty metadata key');
  return { key: metaKey, value: optionalString(pair, 'value', p) ?? '' };
}

export function parseHeaderToMetadataRules(raw: unknown, path: string, warn: (message: string) => void = () => {}): HeaderToMetadataRule[] {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, CONFIG_KEYS)) warn(`${path}.${key}: unknown key, ignored`);
  const rules = optionalArray(obj, 'request_rules', path).map((item, i): HeaderToMetadataRule => {
    const p = `${path}.request_rules[${i}]`;
    const r = configObject(item, p);
    for (const key of unknownKeys(r, RULE_KEYS)) warn(`${p}.${key}: unknown key, ignored`);
    const header = optionalString(r, 'header', p)?.trim();
    if (header === undefined || header === '') throw new FilterConfigError(`${p}.header`, 'a header name (MOSN: "header must not be empty")');
    const onPresent = parsePair(r, 'on_header_present', p, warn);
    const onMissing = parsePair(r, 'on_header_missing', p, warn);
    if (onPresent !== undefined && onMissing !== undefined) {
      throw new FilterConfigError(p, 'only one of on_header_present and on_header_missing');
    }
    if (onPresent === undefined && onMissing === undefined) {
      throw new FilterConfigError(p, 'one of on_header_present or on_header_missing');
    }
    const remove = configValue(r, 'remove');
    if (remove !== undefined && remove !== null && typeof remove !== 'boolean') throw new FilterConfigError(`${p}.remove`, 'true or false');
    return { header: header.toLowerCase(), onPresent, onMissing, remove: remove === true };
  });
  if (rules.length === 0) warn(`${path}.request_rules: empty: the filter does nothing`);
  return rules;
}

/**
 * @module config/keys
 * Key canonicalization, the way Go's encoding/json matches keys: a key that equals a
 * field name is that field; otherwise the first field equal to it ignoring case is
 * ("Name" is `name`). The walk follows the zod schema the value will be validated with,
 * so the schema is the one list of keys: it renames keys to MOSN's spelling, drops
 * unknown keys with one warning each (naming the JSON path), and leaves free-form values
 * (records, `unknown`) untouched. Keys MOSN defines but mosnode does not read yet are
 * declared beside an object schema with `withMosnKeys`: they are kept as written and
 * draw no warning.
 * Depends on zod's schema definitions (`_zod.def`) and config/config-error only.
 */
import type { z } from 'zod';
import { joinPath } from './config-error.ts';

type AnySchema = z.core.$ZodType;

const otherMosnKeys = new WeakMap<object, readonly string[]>();

/**
 * Declares keys MOSN defines on this object that the schema does not validate: they are
 * accepted without a warning and kept, as written, in the canonical document. Returns
 * the schema itself.
 */
export function withMosnKeys<S extends AnySchema>(schema: S, keys: readonly string[]): S {
  otherMosnKeys.set(schema, keys);
  return schema;
}

type KeyNode =
  | { kind: 'object'; fields: Readonly<Record<string, AnySchema>>; other: readonly string[] }
  | { kind: 'array'; element: AnySchema }
  | { kind: 'opaque' };

/** What the schema expects at this point, looking through wrappers (optional, default, pipes). */
function keyNodeOf(schema: AnySchema): KeyNode {
  let current: AnySchema = schema;
  for (;;) {
    const def = current._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        current = def['innerType'] as AnySchema;
        continue;
      case 'pipe': {
        // `.transform()` puts the shape on the input side, `z.preprocess()` on the output side.
        const input = def['in'] as AnySchema;
        current = input._zod.def.type === 'transform' ? (def['out'] as AnySchema) : input;
        continue;
      }
      case 'lazy':
        current = (def['getter'] as () => AnySchema)();
        continue;
      case 'object':
        return {
          kind: 'object',
          fields: def['shape'] as Record<string, AnySchema>,
          other: otherMosnKeys.get(current) ?? [],
        };
      case 'array':
        return { kind: 'array', element: def['element'] as AnySchema };
      default:
        return { kind: 'opaque' };
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns a copy of `value` whose object keys are spelled as `schema` declares them.
 * Unknown keys are dropped and reported in `warnings` as `<path>: unknown key, ignored`;
 * `null` values are dropped as Go leaves the field at its zero value; when two keys name
 * the same field, the last one wins (Go's rule) with a warning. Values of the wrong type
 * are kept as they are: validation reports them.
 */
export function canonicalizeKeys(value: unknown, schema: AnySchema, path: string, warnings: string[]): unknown {
  const node = keyNodeOf(schema);
  if (node.kind === 'array' && Array.isArray(value)) {
    return value.map((item, i) => canonicalizeKeys(item, node.element, joinPath(path, i), warnings));
  }
  if (node.kind !== 'object' || !isPlainObject(value)) return value;

  const names = [...Object.keys(node.fields), ...node.other];
  const byFoldedName = new Map<string, string>();
  for (const name of names) {
    const folded = name.toLowerCase();
    if (!byFoldedName.has(folded)) byFoldedName.set(folded, name);
  }
  const out: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    const keyPath = joinPath(path, key);
    const name = names.includes(key) ? key : byFoldedName.get(key.toLowerCase());
    if (name === undefined) {
      warnings.push(`${keyPath}: unknown key, ignored`);
      continue;
    }
    const previous = seen.get(name);
    if (previous !== undefined) {
      warnings.push(`${keyPath}: same field as "${previous}" (keys match case-insensitively); the last one wins`);
      delete out[name];
    }
    seen.set(name, key);
    if (item === null) continue;
    const field = node.fields[name];
    out[name] = field === undefined ? item : canonicalizeKeys(item, field, joinPath(path, name), warnings);
  }
  return out;
}

/**
 * @module config/keys
 * Key canonicalization, the way Go's encoding/json matches keys. For each key of a JSON
 * object, in document order, Go picks a field: the field whose name equals the key
 * exactly, else the first field whose name equals it ignoring case ("Name" is `name`);
 * then it decodes the value into that field. So when two keys of one object name the
 * same field ("name" and "Name"), the LAST one in the document wins, whichever of them
 * is spelled exactly (an exact match only decides between fields, not between keys);
 * two objects for one struct or map field are merged, later keys winning, since Go
 * decodes the second into the value the first filled; a `null` leaves the field as it
 * was. `goKeyLookup` applies that rule to one key of a free-form object.
 * The walk follows the zod schema the value will be validated with, so the schema is the
 * one list of keys: it renames keys to MOSN's spelling, drops unknown keys with one
 * warning each (naming the JSON path), and leaves free-form values (records, `unknown`)
 * untouched. Keys MOSN defines but mosnode does not read yet are declared beside an object
 * schema with `withMosnKeys`: they are kept as written and draw no warning. A leaf schema
 * can carry a value warning (`withValueWarning`), reported here with the value's path.
 * Depends on zod's schema definitions (`_zod.def`) and config/config-error only.
 */
import { foldKey } from '../core/go-json.ts';
import type { z } from 'zod';
import { joinPath } from './config-error.ts';

type AnySchema = z.core.$ZodType;

const otherMosnKeys = new WeakMap<object, readonly string[]>();
const valueWarnings = new WeakMap<object, (value: unknown) => string | undefined>();

/**
 * Declares keys MOSN defines on this object that the schema does not validate: they are
 * accepted without a warning and kept, as written, in the canonical document. Returns
 * the schema itself.
 */
export function withMosnKeys<S extends AnySchema>(schema: S, keys: readonly string[]): S {
  otherMosnKeys.set(schema, keys);
  return schema;
}

/**
 * Attaches a check to a leaf schema: `warn(value)` returns a warning for a value that is
 * valid but probably not meant (or undefined). canonicalizeKeys reports it as
 * `<path>: <warning>`. Returns the schema itself.
 */
export function withValueWarning<S extends AnySchema>(schema: S, warn: (value: unknown) => string | undefined): S {
  valueWarnings.set(schema, warn);
  return schema;
}

type KeyNode = (
  | { kind: 'object'; fields: Readonly<Record<string, AnySchema>>; other: readonly string[] }
  | { kind: 'array'; element: AnySchema }
  | { kind: 'record' }
  | { kind: 'opaque' }
) & { warn?: ((value: unknown) => string | undefined) | undefined };

/** What the schema expects at this point, looking through wrappers (optional, default, pipes). */
function keyNodeOf(schema: AnySchema): KeyNode {
  let current: AnySchema = schema;
  let warn: ((value: unknown) => string | undefined) | undefined;
  for (;;) {
    warn ??= valueWarnings.get(current);
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
          warn,
        };
      case 'array':
        return { kind: 'array', element: def['element'] as AnySchema, warn };
      case 'record':
        return { kind: 'record', warn };
      default:
        return { kind: 'opaque', warn };
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns a copy of `value` whose object keys are spelled as `schema` declares them.
 * Unknown keys are dropped and reported in `warnings` as `<path>: unknown key, ignored`;
 * `null` values are dropped as Go leaves the field as it was. When two keys name the same
 * field, the later value wins (Go's rule) with a warning; two objects for one struct or map
 * field are merged, later keys winning, as Go decodes the second into the first. Values of
 * the wrong type are kept as they are: validation reports them. Value warnings attached
 * with `withValueWarning` are reported with their path.
 */
export function canonicalizeKeys(value: unknown, schema: AnySchema, path: string, warnings: string[]): unknown {
  const node = keyNodeOf(schema);
  const warning = node.warn?.(value);
  if (warning !== undefined) warnings.push(`${path}: ${warning}`);
  if (node.kind === 'array' && Array.isArray(value)) {
    return value.map((item, i) => canonicalizeKeys(item, node.element, joinPath(path, i), warnings));
  }
  if (node.kind !== 'object' || !isPlainObject(value)) return value;

  const names = [...Object.keys(node.fields), ...node.other];
  const exact = new Set(names);
  const byFoldedName = new Map<string, string>();
  for (const name of names) {
    const folded = foldKey(name);
    if (!byFoldedName.has(folded)) byFoldedName.set(folded, name);
  }
  const out: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    const keyPath = joinPath(path, key);
    const name = exact.has(key) ? key : byFoldedName.get(foldKey(key));
    if (name === undefined) {
      warnings.push(`${keyPath}: unknown key, ignored`);
      continue;
    }
    const previous = seen.get(name);
    seen.set(name, key);
    if (item === null) continue;
    const field = node.fields[name];
    const next = field === undefined ? item : canonicalizeKeys(item, field, joinPath(path, name), warnings);
    if (previous === undefined || !Object.hasOwn(out, name)) {
      out[name] = next;
      continue;
    }
    const earlier = out[name];
    const mergeable = field !== undefined && ['object', 'record'].includes(keyNodeOf(field).kind);
    if (mergeable && isPlainObject(earlier) && isPlainObject(next)) {
      warnings.push(`${keyPath}: same field as "${previous}" (keys match case-insensitively); merged into it, later keys win, as Go does`);
      out[name] = mergeObjects(earlier, next, field);
    } else {
      warnings.push(`${keyPath}: same field as "${previous}" (keys match case-insensitively); the last one wins`);
      delete out[name];
      out[name] = next;
    }
  }
  return out;
}

/** `later` decoded over `earlier`, as Go does: struct fields merge again, anything else is replaced. */
function mergeObjects(earlier: Record<string, unknown>, later: Record<string, unknown>, schema: AnySchema): Record<string, unknown> {
  const node = keyNodeOf(schema);
  const out = { ...earlier };
  for (const [key, value] of Object.entries(later)) {
    const field = node.kind === 'object' ? node.fields[key] : undefined;
    const before = out[key];
    const merge = field !== undefined && ['object', 'record'].includes(keyNodeOf(field).kind);
    out[key] = merge && isPlainObject(before) && isPlainObject(value) ? mergeObjects(before, value, field) : value;
  }
  return out;
}

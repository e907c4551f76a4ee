/**
 * @module core/go-json
 * How Go's encoding/json matches JSON keys to struct fields, which MOSN configs rely on:
 * a key matches a field ignoring case (Go's simple case folding), every matching key is
 * decoded in document order so the last one wins, and a `null` leaves the field as it was.
 * Shared by the config loader and the public filter-config helpers. Depends on nothing.
 */

/**
 * Go's case folding of a key (encoding/json's foldName): each character as
 * upper(lower(c)), by simple one-character mappings, so "Name", "NAME" and "name" fold
 * alike, and so do the Kelvin sign and "k", or "ſ" and "s".
 */
export function foldKey(key: string): string {
  let out = '';
  for (const c of key) {
    if (c < '\u0080') {
      out += c >= 'a' && c <= 'z' ? c.toUpperCase() : c;
      continue;
    }
    const lower = simpleCase(c, c.toLowerCase());
    out += simpleCase(lower, lower.toUpperCase());
  }
  return out;
}

/** A one-character case mapping, or `c` itself when the full mapping is several characters ("ß" -> "SS"). */
function simpleCase(c: string, mapped: string): string {
  return [...mapped].length === 1 ? mapped : c;
}

/**
 * Reads one field from a JSON object as Go's encoding/json decodes it into a struct field
 * named `key`: every key equal to `key` ignoring case (foldKey) is decoded in document
 * order, so the last one wins; a `null` is a no-op (the field keeps the earlier value).
 * Returns undefined when no key matches, null when only nulls do.
 */
export function goKeyLookup(obj: Readonly<Record<string, unknown>>, key: string): unknown {
  const folded = foldKey(key);
  let found: unknown;
  for (const [k, value] of Object.entries(obj)) {
    if (k !== key && foldKey(k) !== folded) continue;
    if (value !== null || found === undefined) found = value;
  }
  return found;
}


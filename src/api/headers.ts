/**
 * @module api/headers
 * HTTP headers as they travel through the proxy: one flat array `[name, value, name,
 * value, ...]` with lower-case names (HTTP/2's rule, and node's `rawHeaders` shape), so a
 * request crosses codecs, router and filters without being copied into objects. Order and
 * repeated names are kept. HTTP/2 pseudo-headers (`:method`, ...) are never stored here:
 * the request and response heads carry them as fields.
 */
export class HeaderMap {
  /** The flat array itself; owned by this map. */
  readonly #flat: string[];

  /** Takes ownership of `flat`, whose names must already be lower-case. */
  constructor(flat: string[] = []) {
    this.#flat = flat;
  }

  /** Builds a map from a raw array whose names may have any case (node's rawHeaders). */
  static fromRaw(raw: readonly string[]): HeaderMap {
    const flat = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i += 2) {
      flat[i] = raw[i]!.toLowerCase();
      flat[i + 1] = raw[i + 1]!;
    }
    return new HeaderMap(flat);
  }

  /** Number of header lines (a repeated name counts once per line). */
  get size(): number {
    return this.#flat.length >> 1;
  }

  /** The first value of `name` (lower-case), or undefined. */
  get(name: string): string | undefined {
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
    return undefined;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) out.push(flat[i + 1]!);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replaces every value of `name` with one. */
  set(name: string, value: string): void {
    name = name.toLowerCase();
    const flat = this.#flat;
    let found = false;
    for (let i = 0; i < flat.length; ) {
      if (flat[i] !== name) {
        i += 2;
      } else if (!found) {
        flat[i + 1] = value;
        found = true;
        i += 2;
      } else {
        flat.splice(i, 2);
      }
    }
    if (!found) flat.push(name, value);
  }

  /** Appends one more line `name: value`. */
  add(name: string, value: string): void {
    this.#flat.push(name.toLowerCase(), value);
  }

  /** Removes every line of `name`; true if there was one. */
  delete(name: string): boolean {
    name = name.toLowerCase();
    const flat = this.#flat;
    let removed = false;
    for (let i = 0; i < flat.length; ) {
      if (flat[i] === name) {
        flat.splice(i, 2);
        removed = true;
      } else {
        i += 2;
      }
    }
    return removed;
  }

  forEach(fn: (name: string, value: string) => void): void {
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) fn(flat[i]!, flat[i + 1]!);
  }

  /** The flat array (not a copy): what codecs write. */
  toFlat(): string[] {
    return this.#flat;
  }

  /** An object view, repeated names joined with ", " (set-cookie kept as an array). */
  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      const old = out[name];
      if (old === undefined) out[name] = name === 'set-cookie' ? [value] : value;
      else if (Array.isArray(old)) old.push(value);
      else out[name] = `${old}, ${value}`;
    }
    return out;
  }
}

/**
 * @module api/headers
 * HTTP headers as they travel through the proxy: one flat array `[name, value, name,
 * value, ...]` with lower-case names (HTTP/2's rule, and node's `rawHeaders` shape), so a
 * request crosses codecs, router and filters without being copied into objects. Order and
 * repeated names are kept. HTTP/2 pseudo-headers (`:method`, ...) are never stored here:
 * the request and response heads carry them as fields.
 *
 * A map remembers how many of its leading entries a parser already checked as valid
 * field names and values (`validated`), so a writer re-checks only what was added or
 * changed since: set, add and delete keep the count right, and toFlat(), which hands out
 * the array to change, forgets it.
 */
/** Shortens `flat` to `length` entries: pops, which V8 does inline (setting length trims the store). */
function truncate(flat: string[], length: number): void {
  while (flat.length > length) flat.pop();
}

export class HeaderMap {
  /** The flat array itself; owned by this map. */
  readonly #flat: string[];
  /** Leading entries of #flat (names and values) known to be valid field names and values. */
  #validated: number;

  /**
   * Takes ownership of `flat`, whose names must already be lower-case. `validated`: how
   * many leading entries of `flat` (a name and a value count 2) the caller checked are
   * valid HTTP field names and values, as a parser does; writers skip checking those.
   */
  constructor(flat: string[] = [], validated = 0) {
    this.#flat = flat;
    this.#validated = validated > flat.length ? flat.length : validated;
  }

  /** How many leading entries of the flat array are known valid (see the constructor). */
  get validated(): number {
    return this.#validated;
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
        if (i < this.#validated) this.#validated = i;
        found = true;
        i += 2;
      } else {
        flat.splice(i, 2);
        if (i < this.#validated) this.#validated -= 2;
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
    let i = 0;
    while (i < flat.length && flat[i] !== name) i += 2;
    if (i >= flat.length) return false;
    // Compacts the rest in place (cheaper than a splice per line).
    const validated = this.#validated;
    let keptValidated = i < validated ? i : validated;
    let to = i;
    for (let from = i + 2; from < flat.length; from += 2) {
      if (flat[from] === name) continue;
      flat[to] = flat[from]!;
      flat[to + 1] = flat[from + 1]!;
      to += 2;
      if (from < validated) keptValidated = to;
    }
    truncate(flat, to);
    this.#validated = keptValidated;
    return true;
  }

  forEach(fn: (name: string, value: string) => void): void {
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) fn(flat[i]!, flat[i + 1]!);
  }

  /**
   * Removes every line whose name `drop` returns true for, in one pass keeping the order.
   * `drop` is called once per line, in order.
   */
  deleteWhere(drop: (name: string) => boolean): void {
    const flat = this.#flat;
    const validated = this.#validated;
    let to = 0;
    let keptValidated = 0;
    for (let from = 0; from < flat.length; from += 2) {
      const name = flat[from]!;
      if (drop(name)) continue;
      if (to !== from) {
        flat[to] = name;
        flat[to + 1] = flat[from + 1]!;
      }
      to += 2;
      if (from < validated) keptValidated = to;
    }
    truncate(flat, to);
    this.#validated = keptValidated;
  }

  /**
   * The flat array (not a copy), for a caller that may change it: the map then no longer
   * knows which entries are valid. Readers use flatView().
   */
  toFlat(): string[] {
    this.#validated = 0;
    return this.#flat;
  }

  /** The flat array (not a copy), read-only: what codecs write. */
  flatView(): readonly string[] {
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

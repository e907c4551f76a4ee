/**
 * @module router/header-edits
 * MOSN's `*_headers_to_add` / `*_headers_to_remove` at one level (route, virtual host or
 * router), compiled once. MOSN's rule, per level: every add in order, then every remove.
 * An add with `append` (MOSN's default) joins a non-empty existing value with "," (no
 * space, as MOSN writes it); otherwise, or when the header is absent or empty, it sets the
 * header, replacing every line of that name. mosnode joins all the existing lines of the
 * name (MOSN reads only the first); `set-cookie` is never joined: an appended cookie is a
 * line of its own. Names are lower-cased, as MOSN does. Depends on api/headers.
 */
import type { HeaderMap } from '../api/headers.ts';
import type { HeaderValueOption } from '../config/types.ts';

interface HeaderAdd {
  readonly name: string;
  readonly value: string;
  readonly append: boolean;
}

export class HeaderEdits {
  readonly #adds: readonly HeaderAdd[];
  readonly #removes: readonly string[];

  constructor(adds: readonly HeaderValueOption[], removes: readonly string[]) {
    this.#adds = adds.map((o) => ({ name: o.header.key.toLowerCase(), value: o.header.value, append: o.append }));
    this.#removes = removes.map((name) => name.toLowerCase());
  }

  get isEmpty(): boolean {
    return this.#adds.length === 0 && this.#removes.length === 0;
  }

  /** Values written as MOSN `%variable%` references, which mosnode sends literally. */
  get variableValues(): string[] {
    return this.#adds.filter((a) => a.value.length > 2 && a.value.startsWith('%') && a.value.endsWith('%')).map((a) => a.value);
  }

  apply(headers: HeaderMap): void {
    for (const add of this.#adds) {
      if (!add.append) {
        headers.set(add.name, add.value);
        continue;
      }
      const existing = joined(headers, add.name);
      if (existing === undefined || existing === '') headers.set(add.name, add.value);
      else if (add.name === 'set-cookie') headers.add(add.name, add.value);
      else headers.set(add.name, `${existing},${add.value}`);
    }
    for (const name of this.#removes) headers.delete(name);
  }
}

/** Every line of `name` joined with ",", or undefined when there is none. */
function joined(headers: HeaderMap, name: string): string | undefined {
  const flat = headers.flatView();
  let out: string | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] !== name) continue;
    const value = flat[i + 1]!;
    out = out === undefined ? value : out === '' ? value : value === '' ? out : `${out},${value}`;
  }
  return out;
}

/**
 * @module router/re2
 * MOSN compiles route regexes with Go's `regexp` (RE2 syntax); this module turns such a
 * pattern into a JavaScript RegExp (always with the `u` flag) that matches the same
 * strings, and refuses what RE2 refuses, so a pattern means here what it meant in MOSN:
 *   - backreferences (`\1`, `\k<n>`) and lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`) are
 *     errors, as in Go (JS would accept them and could backtrack exponentially);
 *   - Go's flags `(?i)`, `(?m)`, `(?s)`, `(?U)`, anywhere and scoped to their group, become
 *     JS modifier groups `(?i:...)` (case) or are compiled in (`.`, `^`, `$`, laziness);
 *   - `.` excludes only `\n` (JS also excludes `\r`), `\s` is ASCII `[\t\n\f\r ]`, POSIX
 *     classes `[[:alpha:]]`, `\pL`, `\p{Greek}`, `\Q...\E`, `\A`, `\z`, `\x{...}`, octal
 *     escapes and `(?P<name>...)` are translated; repeat counts above 1000 are errors.
 * Matching is unanchored, as Go's `MatchString`: a pattern matches anywhere unless it
 * says `^...$`. JS regexes still backtrack where RE2 does not: patterns come from the
 * operator's config, not from clients, but a pathological one can be slow on long input.
 * Named groups are compiled as plain groups and their numbers kept, so a substitution
 * (`expandGoTemplate`) can use `${name}` whatever the name's JS validity.
 * Depends on nothing.
 */

/** A translated pattern: a JS RegExp plus what Go's substitution templates need. */
export interface Re2Pattern {
  readonly regex: RegExp;
  /** Number of capture groups. */
  readonly groupCount: number;
  /** Named groups and their numbers. */
  readonly groupNames: ReadonlyMap<string, number>;
}

/** Thrown for a pattern Go's regexp would refuse (or one JS cannot compile). */
export class Re2SyntaxError extends Error {}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

interface Frame {
  /** Flags in effect when the group opened (restored at its `)`). */
  saved: Flags;
  /** JS case-insensitivity at the start of the group's body. */
  baseI: boolean;
  /** The modifier group opened by a `(?flags)` inside this group, if any. */
  modifier: string | undefined;
}

const MAX_REPEAT = 1000;
const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');

/** POSIX ASCII classes as inclusive code point ranges. */
const POSIX: Readonly<Record<string, ReadonlyArray<readonly [number, number]>>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};
/** Go's `\s`: ASCII only, no `\v`. */
const GO_SPACE: ReadonlyArray<readonly [number, number]> = [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]];

function complement(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

/** A code point as a class member, safe in a `u`-mode class. */
function classChar(cp: number): string {
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) return String.fromCodePoint(cp);
  return `\\u{${cp.toString(16)}}`;
}

function rangesText(ranges: ReadonlyArray<readonly [number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`)).join('');
}

/** A code point as a literal outside a class. */
function literal(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if (SYNTAX_CHARS.has(ch)) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f) return `\\u{${cp.toString(16)}}`;
  return ch;
}

const isOctal = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '7';
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);
const isWordName = (s: string): boolean => /^[A-Za-z0-9_]+$/.test(s);

/** A Unicode class `\pX` / `\p{Name}` / `\p{^Name}` as JS writes it. */
function unicodeClass(negated: boolean, name: string): string {
  if (name.startsWith('^')) {
    negated = !negated;
    name = name.slice(1);
  }
  if (!/^[A-Za-z_]+$/.test(name)) throw new Re2SyntaxError(`invalid character class range \\p{${name}}`);
  // One- and two-letter names are general categories in both; longer ones are scripts (Go) which JS spells Script=.
  const js = name === 'Any' || /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`;
  return `\\${negated ? 'P' : 'p'}{${js}}`;
}

class Translator {
  readonly #src: string;
  #pos = 0;
  #out = '';
  #flags: Flags = { i: false, m: false, s: false, U: false };
  readonly #frames: Frame[] = [{ saved: { i: false, m: false, s: false, U: false }, baseI: false, modifier: undefined }];
  /** Whether the last thing emitted can take a repetition operator. */
  #canRepeat = false;
  groupCount = 0;
  readonly groupNames = new Map<string, number>();

  constructor(src: string) {
    this.#src = src;
  }

  translate(): string {
    const src = this.#src;
    while (this.#pos < src.length) {
      const c = src[this.#pos]!;
      switch (c) {
        case '(':
          this.#openGroup();
          break;
        case ')':
          this.#closeGroup();
          break;
        case '|': {
          this.#pos++;
          const frame = this.#frames[this.#frames.length - 1]!;
          this.#out += frame.modifier !== undefined ? `)|${frame.modifier}` : '|';
          this.#canRepeat = false;
          break;
        }
        case '*':
        case '+':
        case '?':
          this.#pos++;
          this.#repeat(c);
          break;
        case '{': {
          const q = this.#parseRepeatCount();
          if (q === undefined) {
            this.#pos++;
            this.#emitAtom('\\{');
          } else {
            this.#repeat(q);
          }
          break;
        }
        case '[':
          this.#emitAtom(this.#parseClass());
          break;
        case '.':
          this.#pos++;
          this.#emitAtom(this.#flags.s ? '[\\s\\S]' : '[^\\n]');
          break;
        case '^':
          this.#pos++;
          this.#emitAtom(this.#flags.m ? '(?:^|(?<=\\n))' : '^');
          break;
        case '$':
          this.#pos++;
          this.#emitAtom(this.#flags.m ? '(?:$|(?=\\n))' : '$');
          break;
        case '\\':
          this.#parseEscapeOutside();
          break;
        default: {
          const cp = src.codePointAt(this.#pos)!;
          this.#pos += cp > 0xffff ? 2 : 1;
          this.#emitAtom(literal(cp));
        }
      }
    }
    if (this.#frames.length > 1) throw new Re2SyntaxError('missing closing )');
    const root = this.#frames[0]!;
    if (root.modifier !== undefined) this.#out += ')';
    return this.#out;
  }

  #emitAtom(text: string): void {
    this.#out += text;
    this.#canRepeat = true;
  }

  /** `op` is "*", "+", "?" or "{n,m}"; a trailing "?" makes it lazy (greedy under (?U)). */
  #repeat(op: string): void {
    if (!this.#canRepeat) throw new Re2SyntaxError(`missing argument to repetition operator ${op}`);
    let lazy = false;
    if (this.#src[this.#pos] === '?') {
      lazy = true;
      this.#pos++;
    }
    const next = this.#src[this.#pos];
    if (next === '*' || next === '+' || next === '?' || (next === '{' && this.#parseRepeatCount(true) !== undefined)) {
      throw new Re2SyntaxError(`invalid nested repetition operator ${op}${lazy ? '?' : ''}${next}`);
    }
    if (this.#flags.U) lazy = !lazy;
    this.#out += op + (lazy ? '?' : '');
    this.#canRepeat = false;
  }

  /** Parses `{n}`, `{n,}`, `{n,m}` at the cursor; undefined (cursor unmoved) when it is a literal "{". */
  #parseRepeatCount(peekOnly = false): string | undefined {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#src.slice(this.#pos));
    if (m === null) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
    if (!peekOnly) {
      if (min > MAX_REPEAT || (max !== undefined && (max > MAX_REPEAT || max < min))) {
        throw new Re2SyntaxError(`invalid repeat count ${m[0]} (RE2 allows up to ${MAX_REPEAT})`);
      }
      this.#pos += m[0].length;
    }
    return m[0];
  }

  #openGroup(): void {
    const src = this.#src;
    const rest = src.slice(this.#pos);
    if (!rest.startsWith('(?')) {
      this.#pos++;
      this.groupCount++;
      this.#pushFrame('(', this.#flags.i);
      return;
    }
    if (rest.startsWith('(?=') || rest.startsWith('(?!') || rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      throw new Re2SyntaxError('lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported by RE2 (Go regexp)');
    }
    const named = /^\(\?P?<([^>]*)>/.exec(rest);
    if (named !== null) {
      const name = named[1]!;
      if (!isWordName(name)) throw new Re2SyntaxError(`invalid named capture ${JSON.stringify(named[0])}`);
      if (this.groupNames.has(name)) throw new Re2SyntaxError(`duplicate capture group name ${JSON.stringify(name)}`);
      this.#pos += named[0].length;
      this.groupCount++;
      this.groupNames.set(name, this.groupCount);
      this.#pushFrame('(', this.#flags.i);
      return;
    }
    // Flags: (?flags) or (?flags:re), flags from "imsU" with at most one "-".
    const m = /^\(\?([A-Za-z-]*)([:)])/.exec(rest);
    if (m === null || m[1] === '' && m[2] === ')') {
      throw new Re2SyntaxError(`invalid or unsupported Perl syntax ${JSON.stringify(rest.slice(0, 3))}`);
    }
    const next: Flags = { ...this.#flags };
    let value = true;
    let sawMinus = false;
    let sawFlagAfterMinus = false;
    for (const f of m[1]!) {
      if (f === '-') {
        if (sawMinus) throw new Re2SyntaxError(`invalid or unsupported Perl syntax ${JSON.stringify(m[0])}`);
        sawMinus = true;
        value = false;
      } else if (f === 'i' || f === 'm' || f === 's' || f === 'U') {
        next[f] = value;
        if (sawMinus) sawFlagAfterMinus = true;
      } else {
        throw new Re2SyntaxError(`invalid or unsupported Perl syntax ${JSON.stringify(m[0])}`);
      }
    }
    if (sawMinus && !sawFlagAfterMinus) throw new Re2SyntaxError(`invalid or unsupported Perl syntax ${JSON.stringify(m[0])}`);
    this.#pos += m[0].length;
    if (m[2] === ':') {
      const open = next.i === this.#flags.i ? '(?:' : next.i ? '(?i:' : '(?-i:';
      this.#pushFrame(open, next.i);
      this.#flags = next;
      return;
    }
    // (?flags): applies to the rest of the current group, across "|".
    const frame = this.#frames[this.#frames.length - 1]!;
    if (frame.modifier !== undefined) {
      this.#out += ')';
      frame.modifier = undefined;
    }
    if (next.i !== frame.baseI) {
      frame.modifier = next.i ? '(?i:' : '(?-i:';
      this.#out += frame.modifier;
    }
    this.#flags = next;
    this.#canRepeat = false;
  }

  #pushFrame(open: string, baseI: boolean): void {
    this.#frames.push({ saved: this.#flags, baseI, modifier: undefined });
    this.#out += open;
    this.#canRepeat = false;
  }

  #closeGroup(): void {
    if (this.#frames.length === 1) throw new Re2SyntaxError('unexpected )');
    this.#pos++;
    const frame = this.#frames.pop()!;
    if (frame.modifier !== undefined) this.#out += ')';
    this.#flags = frame.saved;
    this.#emitAtom(')');
  }

  #parseEscapeOutside(): void {
    const src = this.#src;
    const c = src[this.#pos + 1];
    if (c === undefined) throw new Re2SyntaxError('trailing backslash at end of expression');
    switch (c) {
      case 'A':
        this.#pos += 2;
        this.#emitAtom('^');
        return;
      case 'z':
        this.#pos += 2;
        this.#emitAtom('$');
        return;
      case 'b':
      case 'B':
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        this.#pos += 2;
        this.#emitAtom(`\\${c}`);
        return;
      case 's':
        this.#pos += 2;
        this.#emitAtom(`[${rangesText(GO_SPACE)}]`);
        return;
      case 'S':
        this.#pos += 2;
        this.#emitAtom(`[^${rangesText(GO_SPACE)}]`);
        return;
      case 'p':
      case 'P':
        this.#emitAtom(this.#parseUnicodeClass());
        return;
      case 'Q': {
        this.#pos += 2;
        const end = src.indexOf('\\E', this.#pos);
        const text = end < 0 ? src.slice(this.#pos) : src.slice(this.#pos, end);
        this.#pos = end < 0 ? src.length : end + 2;
        for (const ch of text) this.#emitAtom(literal(ch.codePointAt(0)!));
        return;
      }
      default:
        this.#emitAtom(literal(this.#parseCharEscape()));
    }
  }

  /** `\p` or `\P` at the cursor. */
  #parseUnicodeClass(): string {
    const src = this.#src;
    const negated = src[this.#pos + 1] === 'P';
    const c = src[this.#pos + 2];
    if (c === undefined) throw new Re2SyntaxError('invalid character class range \\p');
    if (c === '{') {
      const end = src.indexOf('}', this.#pos + 3);
      if (end < 0) throw new Re2SyntaxError('invalid character class range: missing }');
      const name = src.slice(this.#pos + 3, end);
      this.#pos = end + 1;
      return unicodeClass(negated, name);
    }
    this.#pos += 3;
    return unicodeClass(negated, c);
  }

  /** A single-character escape at the cursor (`\n`, `\x41`, `\101`, `\.`): its code point. */
  #parseCharEscape(): number {
    const src = this.#src;
    const c = src[this.#pos + 1]!;
    this.#pos += 2;
    if (c >= '1' && c <= '9') {
      if (c <= '7' && isOctal(src[this.#pos])) return this.#octal(c);
      throw new Re2SyntaxError(`backreferences (\\${c}) are not supported by RE2 (Go regexp)`);
    }
    switch (c) {
      case '0':
        return this.#octal(c);
      case 'x': {
        if (src[this.#pos] === '{') {
          const end = src.indexOf('}', this.#pos);
          const hex = end < 0 ? '' : src.slice(this.#pos + 1, end);
          const cp = /^[0-9A-Fa-f]+$/.test(hex) ? parseInt(hex, 16) : NaN;
          if (!(cp <= 0x10ffff)) throw new Re2SyntaxError('invalid escape sequence \\x{');
          this.#pos = end + 1;
          return cp;
        }
        if (!isHex(src[this.#pos]) || !isHex(src[this.#pos + 1])) throw new Re2SyntaxError('invalid escape sequence \\x');
        this.#pos += 2;
        return parseInt(src.slice(this.#pos - 2, this.#pos), 16);
      }
      case 'a':
        return 0x07;
      case 'f':
        return 0x0c;
      case 't':
        return 0x09;
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 'v':
        return 0x0b;
      case 'k':
        throw new Re2SyntaxError('backreferences (\\k) are not supported by RE2 (Go regexp)');
      case 'C':
        throw new Re2SyntaxError('\\C (any byte) is not supported by Go regexp');
      default: {
        const cp = c.charCodeAt(0);
        // Escaped ASCII punctuation is itself; any other escape is an error in Go.
        if (cp < 0x80 && !/[A-Za-z0-9]/.test(c)) return cp;
        throw new Re2SyntaxError(`invalid escape sequence \\${c}`);
      }
    }
  }

  /** Up to three octal digits, the first already consumed as `first`. */
  #octal(first: string): number {
    let digits = first;
    while (digits.length < 3 && isOctal(this.#src[this.#pos])) digits += this.#src[this.#pos++];
    return parseInt(digits, 8);
  }

  /** A `[...]` class at the cursor, as a JS `u`-mode class. */
  #parseClass(): string {
    const src = this.#src;
    const start = this.#pos;
    this.#pos++;
    let out = '[';
    if (src[this.#pos] === '^') {
      out += '^';
      this.#pos++;
    }
    let first = true;
    for (;;) {
      const c = src[this.#pos];
      if (c === undefined) throw new Re2SyntaxError(`missing closing ] in ${JSON.stringify(src.slice(start))}`);
      if (c === ']' && !first) {
        this.#pos++;
        return `${out}]`;
      }
      first = false;
      // POSIX [:name:] / [:^name:]
      if (c === '[' && src[this.#pos + 1] === ':') {
        const end = src.indexOf(':]', this.#pos + 2);
        if (end >= 0) {
          let name = src.slice(this.#pos + 2, end);
          const negated = name.startsWith('^');
          if (negated) name = name.slice(1);
          const ranges = POSIX[name];
          if (ranges === undefined) throw new Re2SyntaxError(`invalid character class range [:${name}:]`);
          out += rangesText(negated ? complement(ranges) : ranges);
          this.#pos = end + 2;
          continue;
        }
      }
      if (c === '\\') {
        const e = src[this.#pos + 1];
        if (e === 'd' || e === 'D' || e === 'w' || e === 'W') {
          out += `\\${e}`;
          this.#pos += 2;
          continue;
        }
        if (e === 's' || e === 'S') {
          out += rangesText(e === 's' ? GO_SPACE : complement(GO_SPACE));
          this.#pos += 2;
          continue;
        }
        if (e === 'p' || e === 'P') {
          out += this.#parseUnicodeClass();
          continue;
        }
      }
      const lo = this.#classCharAt();
      // "a-z" is a range; a "-" before the closing "]" is a literal.
      if (src[this.#pos] === '-' && src[this.#pos + 1] !== ']' && src[this.#pos + 1] !== undefined) {
        this.#pos++;
        const hi = this.#classCharAt();
        if (hi < lo) throw new Re2SyntaxError(`invalid character class range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}`);
        out += `${classChar(lo)}-${classChar(hi)}`;
      } else {
        out += classChar(lo);
      }
    }
  }

  /** One character of a class (literal or single-character escape): its code point. */
  #classCharAt(): number {
    const src = this.#src;
    if (src[this.#pos] === '\\') {
      const e = src[this.#pos + 1];
      if (e === undefined) throw new Re2SyntaxError('trailing backslash at end of expression');
      if (/[dDwWsSpP]/.test(e)) throw new Re2SyntaxError(`invalid character class range: \\${e} cannot end a range`);
      return this.#parseCharEscape();
    }
    const cp = src.codePointAt(this.#pos)!;
    this.#pos += cp > 0xffff ? 2 : 1;
    return cp;
  }
}

/**
 * Translates a Go (RE2) pattern. `flags` are extra JS flags ("g" for a rewrite); "u" is
 * always added. Throws Re2SyntaxError saying why a pattern is refused.
 */
export function compileRe2(pattern: string, flags = ''): Re2Pattern {
  const t = new Translator(pattern);
  const source = t.translate();
  let regex: RegExp;
  try {
    regex = new RegExp(source, `${flags}u`);
  } catch (err) {
    throw new Re2SyntaxError((err as Error).message.replace(/^Invalid regular expression: /, ''));
  }
  return { regex, groupCount: t.groupCount, groupNames: t.groupNames };
}

/** One piece of a compiled Go substitution template. */
type TemplatePart = string | number;

/**
 * Compiles a Go `Regexp.ReplaceAllString` template for `pattern`: `$1`, `${1}`, `$name`,
 * `${name}` (a name is the longest run of letters, digits and "_", so `$1x` is the group
 * named "1x"), `$$` for a dollar; a malformed `$` is kept as is; a group that does not exist
 * expands to "".
 */
export function compileGoTemplate(template: string, pattern: Re2Pattern): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c !== '$') {
      text += c;
      i++;
      continue;
    }
    if (template[i + 1] === '$') {
      text += '$';
      i += 2;
      continue;
    }
    let name: string | undefined;
    let end = i + 1;
    if (template[i + 1] === '{') {
      const close = template.indexOf('}', i + 2);
      const inner = close < 0 ? '' : template.slice(i + 2, close);
      if (isWordName(inner)) {
        name = inner;
        end = close + 1;
      }
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (m !== null) {
        name = m[0];
        end = i + 1 + m[0].length;
      }
    }
    if (name === undefined) {
      text += '$';
      i++;
      continue;
    }
    if (text !== '') parts.push(text);
    text = '';
    // All digits without a leading zero is a group number; anything else is a name (Go's rule).
    const group = /^(0|[1-9]\d{0,7})$/.test(name) ? Number(name) : (pattern.groupNames.get(name) ?? -1);
    parts.push(group <= pattern.groupCount ? group : -1);
    i = end;
  }
  if (text !== '') parts.push(text);
  return parts;
}

/**
 * Go's `ReplaceAllString(input, template)`: every non-overlapping match replaced, an
 * empty match right after the previous match skipped (Go's rule). `pattern.regex` must
 * have the "g" flag.
 */
export function replaceAllGo(input: string, pattern: Re2Pattern, template: readonly TemplatePart[]): string {
  const re = pattern.regex;
  re.lastIndex = 0;
  let out = '';
  let copied = 0;
  let previousEnd = -1;
  for (let m = re.exec(input); m !== null; m = re.exec(input)) {
    const start = m.index;
    const end = start + m[0].length;
    if (m[0].length === 0) {
      // Step over one code point so the search moves on.
      const cp = input.codePointAt(end);
      re.lastIndex = end + (cp !== undefined && cp > 0xffff ? 2 : 1);
      if (start === previousEnd) continue;
    }
    out += input.slice(copied, start);
    for (const part of template) out += typeof part === 'string' ? part : part < 0 ? '' : (m[part] ?? '');
    copied = end;
    previousEnd = end;
    if (re.lastIndex > input.length) break;
  }
  return out + input.slice(copied);
}

/**
 * @module config/parse-text
 * Turns config text into a plain value: JSON (as Go's encoding/json reads it) or YAML.
 * A syntax error becomes a ConfigError (MOSN_ERR_CONFIG_PARSE) naming the line and column;
 * for JSON, a small scanner finds the position because V8's messages do not always give it.
 * Nesting deeper than MAX_NESTING_DEPTH is a parse error too ("nesting too deep at line L,
 * column C"): the scanner is iterative, and a YAML parser stack overflow is reported so.
 * Depends on the yaml package and config/config-error.
 */
import { parseDocument } from 'yaml';
import { extname } from 'node:path';
import { ConfigError, type ConfigIssue } from './config-error.ts';

export type ConfigFormat = 'json' | 'yaml';

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * The deepest nesting of objects and arrays accepted, in JSON and YAML. Go's encoding/json
 * stops at 10000; mosnode stops lower because JavaScript walks values recursively
 * (structuredClone, JSON.stringify overflow near 3000 levels). A real config nests about 15.
 */
export const MAX_NESTING_DEPTH = 1000;

const NESTING_TOO_DEEP = `nesting too deep (more than ${MAX_NESTING_DEPTH} levels of objects and arrays)`;

/**
 * Where `text` stops being JSON, and why; undefined if it is valid JSON. Nesting deeper
 * than MAX_NESTING_DEPTH counts as an error (`deep: true`) at the bracket that goes too
 * deep. Iterative: any depth of input is scanned without growing the call stack.
 */
export function findJsonSyntaxError(text: string): { offset: number; message: string; deep?: boolean } | undefined {
  let i = 0;
  const found = (): string => (i >= text.length ? 'end of file' : JSON.stringify(text[i]));
  const fail = (wanted: string): never => {
    throw new JsonSyntaxError(i, `expected ${wanted}, got ${found()}`);
  };
  const skipSpace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const readString = (): void => {
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) fail('a closing \'"\'');
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const next = text[i + 1];
        if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i++;
          fail('an escape such as \\n, \\" or \\u0041');
        }
        continue;
      }
      if ((c as string).charCodeAt(0) < 0x20) fail('an escaped control character (a raw one is not allowed in a string)');
      i++;
    }
  };
  const readKey = (): void => {
    skipSpace();
    if (text[i] !== '"') fail('a double-quoted key');
    readString();
    skipSpace();
    if (text[i] !== ':') fail("':' after the key");
    i++;
  };
  /** Reads a string, number or literal; false if the next value opens an object or array. */
  const readScalar = (): boolean => {
    const c = text[i];
    if (c === '{' || c === '[') return false;
    if (c === '"') {
      readString();
      return true;
    }
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    number.lastIndex = i;
    const m = number.exec(text);
    if (m && m[0] !== '' && m[0] !== '-') {
      i += m[0].length;
      return true;
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return true;
      }
    }
    return fail('a value (object, array, string, number, true, false or null)');
  };
  // The open objects and arrays, innermost last: a value is read, then the loop closes
  // what it can and moves to the next value of the innermost open one.
  const open: Array<'{' | '['> = [];
  try {
    for (;;) {
      skipSpace();
      if (!readScalar()) {
        const bracket = text[i] as '{' | '[';
        if (open.length >= MAX_NESTING_DEPTH) throw new JsonSyntaxError(i, NESTING_TOO_DEEP, true);
        i++;
        skipSpace();
        if (text[i] === (bracket === '{' ? '}' : ']')) {
          i++;
        } else {
          open.push(bracket);
          if (bracket === '{') readKey();
          continue;
        }
      }
      // A value is complete: close brackets until one wants another value.
      for (;;) {
        const inner = open.at(-1);
        if (inner === undefined) {
          skipSpace();
          if (i < text.length) fail('end of file after the JSON value');
          return undefined;
        }
        const close = inner === '{' ? '}' : ']';
        skipSpace();
        if (text[i] === ',') {
          i++;
          if (inner === '{') readKey();
          break;
        }
        if (text[i] === close) {
          i++;
          open.pop();
          continue;
        }
        fail(`',' or '${close}'`);
      }
    }
  } catch (err) {
    if (err instanceof JsonSyntaxError) {
      return err.deep ? { offset: err.offset, message: err.message, deep: true } : { offset: err.offset, message: err.message };
    }
    throw err;
  }
}

/**
 * The offset of the first bracket that nests deeper than MAX_NESTING_DEPTH, or undefined.
 * For text already known to be valid JSON (strings are skipped, nothing else is checked).
 */
export function findTooDeepNesting(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{' || c === '[') {
      if (++depth > MAX_NESTING_DEPTH) return i;
    } else if (c === '}' || c === ']') {
      depth--;
    }
  }
  return undefined;
}

class JsonSyntaxError extends Error {
  readonly offset: number;
  readonly deep: boolean;
  constructor(offset: number, message: string, deep = false) {
    super(message);
    this.offset = offset;
    this.deep = deep;
  }
}

function where(file: string | undefined): string {
  return file === undefined ? '' : `${file}: `;
}

const DEEPER_THAN_MAX = `more than ${MAX_NESTING_DEPTH} levels of objects and arrays`;

/** A MOSN_ERR_CONFIG_PARSE error "nesting too deep", at a 1-based position when known. */
function tooDeep(
  format: 'JSON' | 'YAML',
  file: string | undefined,
  at: { line: number; column: number } | undefined,
  why: string,
  cause?: unknown,
): ConfigError {
  const position = at === undefined ? '' : ` at line ${at.line}, column ${at.column}`;
  const issue: ConfigIssue = { path: '', message: `${where(file)}invalid ${format}: nesting too deep${position} (${why})` };
  if (at !== undefined) {
    issue.line = at.line;
    issue.column = at.column;
  }
  return new ConfigError('MOSN_ERR_CONFIG_PARSE', [issue], { file, cause });
}

/**
 * Parses JSON; throws a ConfigError naming the line and column of a syntax error, or of
 * the bracket that nests deeper than MAX_NESTING_DEPTH.
 */
export function parseJsonText(text: string, file?: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const located = findJsonSyntaxError(text);
    const offset = located?.offset ?? text.length;
    const { line, column } = lineColumn(text, offset);
    if (located?.deep) throw tooDeep('JSON', file, { line, column }, DEEPER_THAN_MAX, err);
    const why = located?.message ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError(
      'MOSN_ERR_CONFIG_PARSE',
      [{ path: '', message: `${where(file)}invalid JSON at line ${line}, column ${column}: ${why}`, line, column }],
      { file, cause: err },
    );
  }
  const deep = findTooDeepNesting(text);
  if (deep !== undefined) throw tooDeep('JSON', file, lineColumn(text, deep), DEEPER_THAN_MAX);
  return value;
}

const PARSER_OUT_OF_STACK = 'the YAML parser ran out of stack';

/** The yaml package reports a stack overflow of its own parser as an ordinary error. */
function isStackOverflow(message: string): boolean {
  return /Maximum call stack size exceeded|Stack overflow/.test(message);
}

/**
 * Parses one YAML document; throws a ConfigError listing every syntax error with its line
 * and column, or one "nesting too deep" error when the nesting overflows the parser.
 */
export function parseYamlText(text: string, file?: string): unknown {
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep('YAML', file, undefined, PARSER_OUT_OF_STACK, err);
    throw err;
  }
  const overflow = doc.errors.find((err) => isStackOverflow(err.message));
  if (overflow) {
    const pos = overflow.linePos?.[0];
    throw tooDeep('YAML', file, pos && { line: pos.line, column: pos.col }, PARSER_OUT_OF_STACK);
  }
  if (doc.errors.length === 0) {
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      if (err instanceof RangeError) throw tooDeep('YAML', file, undefined, PARSER_OUT_OF_STACK, err);
      throw err;
    }
    if (nestingDepthOver(value, MAX_NESTING_DEPTH)) throw tooDeep('YAML', file, undefined, `${DEEPER_THAN_MAX}, or an alias inside itself`);
    return value;
  }
  const issues: ConfigIssue[] = doc.errors.map((err) => {
    const pos = err.linePos?.[0];
    const why = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    const issue: ConfigIssue = { path: '', message: `${where(file)}invalid YAML${at}: ${why}` };
    if (pos) {
      issue.line = pos.line;
      issue.column = pos.col;
    }
    return issue;
  });
  throw new ConfigError('MOSN_ERR_CONFIG_PARSE', issues, { file });
}

/**
 * True when `value` nests objects and arrays more than `max` deep. Iterative; a value that
 * YAML aliases share is walked again only when reached deeper, and a cycle counts as too deep.
 */
function nestingDepthOver(value: unknown, max: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  const deepestVisit = new Map<object, number>();
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: current, depth } = next;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > max) return true;
    if ((deepestVisit.get(current) ?? 0) >= depth) continue;
    deepestVisit.set(current, depth);
    for (const item of Object.values(current)) pending.push({ value: item, depth: depth + 1 });
  }
  return false;
}

/**
 * Parses config text. The format is `format` if given, else YAML for a .yaml/.yml file,
 * else JSON for a .json file or text that starts with "{" or "["; anything else is tried
 * as JSON, then as YAML (whose error is reported if both fail).
 */
export function parseConfigValue(text: string, options: { file?: string | undefined; format?: ConfigFormat | undefined } = {}): unknown {
  const { file } = options;
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const ext = file === undefined ? '' : extname(file).toLowerCase();
  const format = options.format ?? (ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined);
  if (format === 'yaml') return parseYamlText(source, file);
  // Text that opens like JSON is JSON with a mistake: YAML would read `{"a": tru}` as "tru".
  if (format === 'json' || ext === '.json' || /^\s*[[{]/.test(source)) return parseJsonText(source, file);
  try {
    return parseJsonText(source, file);
  } catch {
    return parseYamlText(source, file);
  }
}

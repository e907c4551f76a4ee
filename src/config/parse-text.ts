/**
 * @module config/parse-text
 * Turns config text into a plain value: JSON (as Go's encoding/json reads it) or YAML.
 * A syntax error becomes a ConfigError (MOSN_ERR_CONFIG_PARSE) naming the line and column;
 * for JSON, a small scanner finds the position because V8's messages do not always give it.
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

/** Where `text` stops being JSON, and why; undefined if it is valid JSON. */
export function findJsonSyntaxError(text: string): { offset: number; message: string } | undefined {
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
  const readValue = (): void => {
    skipSpace();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      skipSpace();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          skipSpace();
          if (text[i] !== '"') fail('a double-quoted key');
          readString();
          skipSpace();
          if (text[i] !== ':') fail("':' after the key");
          i++;
        }
        readValue();
        skipSpace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return;
        }
        fail(`',' or '${close}'`);
      }
    }
    if (c === '"') return readString();
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    number.lastIndex = i;
    const m = number.exec(text);
    if (m && m[0] !== '' && m[0] !== '-') {
      i += m[0].length;
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    fail('a value (object, array, string, number, true, false or null)');
  };
  try {
    readValue();
    skipSpace();
    if (i < text.length) fail('end of file after the JSON value');
    return undefined;
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { offset: err.offset, message: err.message };
    throw err;
  }
}

class JsonSyntaxError extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.offset = offset;
  }
}

function where(file: string | undefined): string {
  return file === undefined ? '' : `${file}: `;
}

/** Parses JSON; throws a ConfigError naming the line and column. */
export function parseJsonText(text: string, file?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const located = findJsonSyntaxError(text);
    const offset = located?.offset ?? text.length;
    const { line, column } = lineColumn(text, offset);
    const why = located?.message ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError(
      'MOSN_ERR_CONFIG_PARSE',
      [{ path: '', message: `${where(file)}invalid JSON at line ${line}, column ${column}: ${why}`, line, column }],
      { file, cause: err },
    );
  }
}

/** Parses one YAML document; throws a ConfigError listing every syntax error with its line and column. */
export function parseYamlText(text: string, file?: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length === 0) return doc.toJS();
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

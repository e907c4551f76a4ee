/**
 * @module config/config-error
 * The error the config loader throws, and the JSON-path notation its issues use
 * (`servers[0].listeners[1].address`). Depends only on core/errors.
 */
import { MosnError } from '../core/errors.ts';

/** One step of a JSON path: an object key or an array index. */
export type PathSegment = string | number;

/** One problem found in a config: where (a JSON path, '' for the whole file) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
  /** 1-based position in the file, for syntax errors. */
  line?: number;
  column?: number;
}

/** Most issues one error reports; a config this broken needs fixing from the top anyway. */
export const MAX_ISSUES = 50;

/**
 * A config that could not be read (MOSN_ERR_CONFIG_READ), parsed (MOSN_ERR_CONFIG_PARSE)
 * or validated (MOSN_ERR_CONFIG_INVALID). `message` has one line per issue,
 * `<json path>: <what was expected>, got <what was found>`.
 */
export class ConfigError extends MosnError {
  readonly issues: ConfigIssue[];
  /** The config file, when there is one. */
  readonly file: string | undefined;

  constructor(
    code: 'MOSN_ERR_CONFIG_READ' | 'MOSN_ERR_CONFIG_PARSE' | 'MOSN_ERR_CONFIG_INVALID',
    issues: ConfigIssue[],
    options: { file?: string | undefined; cause?: unknown } = {},
  ) {
    const shown = issues.slice(0, MAX_ISSUES);
    const lines = shown.map(formatIssue);
    if (issues.length > shown.length) lines.push(`... and ${issues.length - shown.length} more issues`);
    super(code, lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConfigError';
    this.issues = issues;
    this.file = options.file;
  }
}

/** `path: message`, or the message alone for an issue about the whole file. */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Appends one segment to a JSON path string: `a` + 0 -> `a[0]`, `a` + `b` -> `a.b`. */
export function joinPath(base: string, segment: PathSegment): string {
  if (typeof segment === 'number') return `${base}[${segment}]`;
  if (!IDENTIFIER.test(segment)) return `${base}[${JSON.stringify(segment)}]`;
  return base === '' ? segment : `${base}.${segment}`;
}

/** Formats a whole path: ['servers', 0, 'listeners'] -> `servers[0].listeners`. */
export function formatPath(segments: readonly PathSegment[], base = ''): string {
  return segments.reduce<string>((path, segment) => joinPath(path, segment), base);
}

/** A short, JSON-like rendering of a value for "got ..." in messages. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

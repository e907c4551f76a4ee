/**
 * @module admin/admin-reply
 * The plain values an admin handler takes and returns, so handlers stay synchronous
 * functions of (request, context) that tests can call without a socket, and the server
 * does all the HTTP. Bodies follow MOSN byte for byte where MOSN's tools parse them;
 * JSON bodies say `application/json` (MOSN lets Go sniff `text/plain`). Depends on nothing.
 */

export interface AdminRequest {
  /** Upper case; HEAD arrives as GET (node:http leaves the body off). */
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The request body as text; "" for methods that take none. */
  readonly body: string;
}

export interface AdminReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** A text reply. */
export function textReply(body: string, status = 200): AdminReply {
  return { status, contentType: TEXT, body };
}

/**
 * A JSON reply. `indent` follows MOSN per endpoint: compact, one space (config_dump with a
 * parameter, features, env) or a tab (stats).
 */
export function jsonReply(value: unknown, indent: '' | ' ' | '\t' = '', status = 200): AdminReply {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value, null, indent) };
}

/** MOSN's error body, `{"error": "<reason>"}`, as its log endpoints and env answer. */
export function errorJsonReply(status: number, reason: string): AdminReply {
  return { status, contentType: JSON_TYPE, body: `${JSON.stringify({ error: reason }, null, '\t')}\n` };
}

/** The number of distinct query parameter names (Go's `len(r.Form)`). */
export function parameterCount(query: URLSearchParams): number {
  return new Set(query.keys()).size;
}

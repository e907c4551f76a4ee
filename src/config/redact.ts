/**
 * @module config/redact
 * Hides secrets before a config leaves the process (admin `config_dump`): every string
 * under a key that names a secret (isSecretKey: "password", "passwd", "secret", "token",
 * "private_key", "api_key", "credential", "authorization", ..., any case) becomes MOSN's
 * "***REDACTED***" (MOSN hides only TLS private_key; plugin configs can carry credentials
 * too). A header given as data is hidden too: in an object whose `key` or `name` is a
 * sensitive header (Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key, or
 * any secret key name), the `value` is hidden, as in
 * `{"header": {"key": "Authorization", "value": "Bearer x"}}` (request_headers_to_add) or
 * a header matcher `{"name": "Cookie", "value": "..."}`. Empty strings stay empty, so a
 * dump still shows that no key is set; numbers and booleans stay (a token count is not a
 * secret).
 * Depends on nothing.
 */

/** MOSN's placeholder for a hidden value in config_dump. */
export const REDACTED = '***REDACTED***';

const SECRET_KEY = /password|passwd|secret|token|private_?key|api[_-]?key|credential|authorization/i;

/** Header names whose value is a secret, besides any name isSecretKey accepts (lower case). */
const SENSITIVE_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);

/** True when a key's value must not be shown. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** True when a header of this name carries a secret: credentials, cookies, API keys, tokens. */
export function isSensitiveHeader(name: string): boolean {
  return SENSITIVE_HEADERS.has(name.toLowerCase()) || isSecretKey(name);
}

/** A deep copy of `value` with secrets replaced by REDACTED; `value` is not changed. */
export function redactSecrets<T>(value: T): T {
  return redact(value, false) as T;
}

/** True for `{key|name: <sensitive header>, value: ...}` (keys in any case): its `value` is a secret. */
function namesSensitiveHeader(obj: Record<string, unknown>): boolean {
  return Object.entries(obj).some(
    ([key, name]) => typeof name === 'string' && ['key', 'name'].includes(key.toLowerCase()) && isSensitiveHeader(name),
  );
}

function redact(value: unknown, secret: boolean): unknown {
  if (typeof value === 'string') return secret && value !== '' ? REDACTED : value;
  if (Array.isArray(value)) return value.map((item) => redact(item, secret));
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    const headerValueIsSecret = namesSensitiveHeader(obj);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(obj)) {
      out[key] = redact(item, secret || isSecretKey(key) || (headerValueIsSecret && key.toLowerCase() === 'value'));
    }
    return out;
  }
  return value;
}

/**
 * @module config/redact
 * Hides secrets before a config leaves the process (admin `config_dump`): every string
 * under a key whose name contains "password", "secret", "token" or "private_key" (any
 * case; "privatekey" too) becomes MOSN's "***REDACTED***" (MOSN hides only TLS private_key;
 * plugin configs can carry credentials too). Empty strings stay empty, so a dump still shows
 * that no key is set; numbers and booleans stay (a token count is not a secret).
 * Depends on nothing.
 */

/** MOSN's placeholder for a hidden value in config_dump. */
export const REDACTED = '***REDACTED***';

const SECRET_KEY = /password|secret|token|private_?key/i;

/** True when a key's value must not be shown. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A deep copy of `value` with secrets replaced by REDACTED; `value` is not changed. */
export function redactSecrets<T>(value: T): T {
  return redact(value, false) as T;
}

function redact(value: unknown, secret: boolean): unknown {
  if (typeof value === 'string') return secret && value !== '' ? REDACTED : value;
  if (Array.isArray(value)) return value.map((item) => redact(item, secret));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = redact(item, secret || isSecretKey(key));
    return out;
  }
  return value;
}

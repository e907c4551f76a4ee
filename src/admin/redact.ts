/**
 * @module admin/redact
 * Hides secrets before the admin API shows config or environment: a key named
 * `private_key`, or containing `password`, `secret` or `token` (any case), has its string
 * values replaced by MOSN's placeholder. MOSN itself redacts only TLS `private_key`
 * (pkg/configmanager/redact.go); mosnode redacts more because plugin configs can carry
 * credentials. Numbers and booleans stay, so `max_tokens: 100` remains readable.
 * Depends on nothing.
 */

/** What MOSN writes in place of a secret in config_dump. */
export const REDACTED = '***REDACTED***';

const SECRET_KEY_PARTS = ['password', 'secret', 'token'] as const;

/** True when values under `key` must not be shown. */
export function isSecretKey(key: string): boolean {
  const lower = key.toLowerCase();
  return lower === 'private_key' || SECRET_KEY_PARTS.some((part) => lower.includes(part));
}

/**
 * A deep copy of `value` with secrets replaced by REDACTED; the input is never changed.
 * Empty strings stay empty, so "not set" still reads as not set (MOSN does the same).
 */
export function redactSecrets<T>(value: T): T {
  return redactValue(value, false) as T;
}

function redactValue(value: unknown, underSecretKey: boolean): unknown {
  if (typeof value === 'string') return underSecretKey && value !== '' ? REDACTED : value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, underSecretKey));
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) copy[key] = redactValue(child, isSecretKey(key));
    return copy;
  }
  return value;
}

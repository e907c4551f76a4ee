/**
 * @module core/errors
 * The one table of mosnode's stable error codes (`MOSN_ERR_<AREA>_<WHAT>`) and the error
 * class that carries them. Every layer throws or logs these; nothing here depends on any
 * other mosnode module.
 */

/** Stable error codes and what each means. Codes never change meaning once released. */
export const ErrorCodes = {
  MOSN_ERR_CONFIG_READ: 'the config file could not be read',
  MOSN_ERR_CONFIG_PARSE: 'the config file is not valid JSON or YAML',
  MOSN_ERR_CONFIG_INVALID: 'the config does not have the expected shape',
  MOSN_ERR_CONFIG_UNSUPPORTED: 'the config asks for a feature mosnode does not have yet',
  MOSN_ERR_FILTER_UNKNOWN: 'no filter is registered under that type name',
  MOSN_ERR_FILTER_DUPLICATE: 'a filter is already registered under that type name',
  MOSN_ERR_FILTER_CONFIG: "a filter's config was rejected by its factory",
  MOSN_ERR_FILTER_THREW: 'a filter threw or rejected; the connection or stream was closed',
  MOSN_ERR_PLUGIN_LOAD: 'a plugin module named in `plugins` could not be found, imported, or does not export a plugin',
  MOSN_ERR_LISTENER_BIND: 'a listener could not bind its address',
  MOSN_ERR_ADMIN_BIND: 'the admin server could not bind its address',
  MOSN_ERR_UPSTREAM_NO_HOST: 'the cluster has no host to choose',
  MOSN_ERR_UPSTREAM_CONNECT: 'connecting to an upstream host failed',
  MOSN_ERR_UPSTREAM_CONNECT_TIMEOUT: 'connecting to an upstream host timed out',
  MOSN_ERR_UPSTREAM_OVERFLOW: "the cluster's circuit breaker (max_connections) is open",
  MOSN_ERR_UPSTREAM_RESET: 'the upstream connection closed before the response ended',
  MOSN_ERR_UPSTREAM_REQUEST_BODY: 'a streamed request body did not match its content-length',
  MOSN_ERR_LOG_FILE: 'the log file could not be opened',
  MOSN_ERR_CLUSTER_UNKNOWN: 'no cluster has that name',
  MOSN_ERR_PID_FILE: 'the pid file could not be read or written',
  MOSN_ERR_PROCESS_NOT_RUNNING: 'no running process was found for that pid file',
  MOSN_ERR_USAGE: 'the command line is not valid',
  MOSN_ERR_SHM_ZONE_IN_USE: 'another live process is attached to the zone, and a fresh start would clear its metrics (two instances configured with the same shm_zone?)',
  MOSN_ERR_SHM_LOCK_TIMEOUT: "the zone's structural lock stayed held by a live process past the wait limit",
  MOSN_ERR_SHM_NO_SLOT: 'all process slots of the zone are held by live processes',
  MOSN_ERR_SHM_SIZE: 'the configured zone size is outside the supported range',
  MOSN_ERR_SHM_UNAVAILABLE: 'the zone file could not be mapped (no native addon, or a system call failed)',
  MOSN_ERR_SHM_REPLACED: 'the zone file kept being replaced by other processes while this one opened it',
  MOSN_ERR_WORKER_START: 'a worker process (servers[0].processor) could not start',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** An error with a stable code. `message` is for people; `code` is for programs. */
export class MosnError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MosnError';
    this.code = code;
  }
}

/** True when `err` is a MosnError, optionally with the given code. */
export function isMosnError(err: unknown, code?: ErrorCode): err is MosnError {
  return err instanceof MosnError && (code === undefined || err.code === code);
}

/** One line describing any thrown value, for logs and stderr. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * @module admin/admin-routes
 * The one table of admin endpoints, in MOSN's paths (mosn/mosn pkg/admin/server/server.go),
 * with one small synchronous handler per endpoint. Behaviour and bodies follow MOSN's
 * pkg/admin/server/apis.go where MOSN tools parse them (states, stats, log endpoints);
 * where MOSN answers a bad query with 200 and an empty object or a 500, mosnode answers
 * 400 with the reason. config_dump lives in config-dump.ts.
 * Depends on admin/, metrics/ and core/ only.
 */
import type { Logger } from '../core/logger.ts';
import { GLOBAL_PROXY_NAME, MetricLabelNames, MetricTypes } from '../metrics/names.ts';
import { metricGroupName } from '../metrics/metrics-registry.ts';
import type { AdminContext } from './admin-context.ts';
import {
  errorJsonReply,
  jsonReply,
  parameterCount,
  textReply,
  type AdminReply,
  type AdminRequest,
} from './admin-reply.ts';
import { configDump } from './config-dump.ts';
import { REDACTED, isSecretKey } from '../config/redact.ts';

export type AdminMethod = 'GET' | 'POST';

export interface AdminRoute {
  readonly path: string;
  /** Other methods get 405. HEAD is served as GET. */
  readonly methods: readonly AdminMethod[];
  /** Called once per request, synchronously; must not throw (the server turns a throw into a 500). */
  readonly handle: (request: AdminRequest, context: AdminContext) => AdminReply;
}

/** The log output name when the context does not say (MOSN's `default_log_path: "stdout"`). */
export const DEFAULT_LOG_PATH = 'stdout';

const GLOBAL_PROXY_GROUP = metricGroupName(MetricTypes.downstream, { [MetricLabelNames.proxy]: GLOBAL_PROXY_NAME });

function version(_request: AdminRequest, context: AdminContext): AdminReply {
  return textReply(`mosn version: ${context.version}`);
}

/** Read by upgrade scripts: `pid=<pid>&state=<code>` and a newline, exactly. */
function states(_request: AdminRequest, context: AdminContext): AdminReply {
  return textReply(`pid=${process.pid}&state=${context.state()}\n`);
}

/** All metrics, or one group with `?key=<type>.<label>.<value>`; an unknown key is 200 with a note, as in MOSN. */
function stats(request: AdminRequest, context: AdminContext): AdminReply {
  const count = parameterCount(request.query);
  if (count === 0) return jsonReply(context.metrics.snapshot(), '\t');
  if (count > 1) return textReply('only support one parameter', 400);
  const key = request.query.get('key');
  if (key === null) {
    return textReply('unknown parameter; use ?key=<type>.<label>.<value>, e.g. ?key=downstream.listener.<listener name>', 400);
  }
  const snapshot = context.metrics.snapshotGroup(key);
  return snapshot === undefined ? textReply(`no metrics key: ${key}`) : jsonReply(snapshot, '\t');
}

/** The process-wide proxy group (`downstream.proxy.global`) as `key:value` lines. */
function statsGlob(_request: AdminRequest, context: AdminContext): AdminReply {
  let body = '';
  const group = context.metrics.find(GLOBAL_PROXY_GROUP);
  if (group !== undefined) for (const [key, , value] of group.metrics()) body += `${key}:${value}\n`;
  return textReply(body);
}

/** `{"<log path>": "<LEVEL>"}`, MOSN's map of error loggers (mosnode has one). */
function getLogLevel(_request: AdminRequest, context: AdminContext): AdminReply {
  return jsonReply({ [context.logPath ?? DEFAULT_LOG_PATH]: context.getLogLevel() });
}

/** POST `{"log_path": "<path>", "log_level": "DEBUG"}`; `log_path` may be left out. */
function updateLogLevel(request: AdminRequest, context: AdminContext): AdminReply {
  let data: unknown;
  try {
    data = JSON.parse(request.body);
  } catch {
    return errorJsonReply(400, 'update logger failed: the body must be JSON: {"log_path": "<path>", "log_level": "DEBUG"}');
  }
  const fields = data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  const level = fields['log_level'];
  const logPath = fields['log_path'];
  if (typeof level !== 'string') return errorJsonReply(400, 'update logger failed: "log_level" must be a string such as "DEBUG"');
  if (logPath !== undefined && typeof logPath !== 'string') return errorJsonReply(400, 'update logger failed: "log_path" must be a string');
  const unknownPath = checkLogPath(logPath ?? '', context);
  if (unknownPath !== undefined) return errorJsonReply(400, `update logger failed: ${unknownPath}`);
  if (!context.setLogLevel(level)) return errorJsonReply(400, `update logger failed: not found log level: ${level}`);
  context.logger.info({ level }, 'admin: log level updated');
  return textReply('update logger success\n');
}

function enableLog(request: AdminRequest, context: AdminContext): AdminReply {
  return toggleLog(request, context, true);
}

function disableLog(request: AdminRequest, context: AdminContext): AdminReply {
  return toggleLog(request, context, false);
}

/** POST with the log path as the whole body (MOSN's form); an empty body means the process log. */
function toggleLog(request: AdminRequest, context: AdminContext, enabled: boolean): AdminReply {
  const verb = enabled ? 'enable' : 'disable';
  const unknownPath = checkLogPath(request.body.trim(), context);
  if (unknownPath !== undefined) return errorJsonReply(400, `${verb} logger failed: ${unknownPath}`);
  if (context.setLogEnabled !== undefined) context.setLogEnabled(enabled);
  else toggleLogger(context.logger, enabled);
  return textReply(`${verb} logger success\n`);
}

/** Undefined when `logPath` names the process log ("" does too); else why not. */
function checkLogPath(logPath: string, context: AdminContext): string | undefined {
  const ours = context.logPath ?? DEFAULT_LOG_PATH;
  return logPath === '' || logPath === ours ? undefined : `no logger at "${logPath}" (this process logs to "${ours}")`;
}

/** The level each disabled logger had, so enabling restores it. */
const levelsBeforeDisable = new WeakMap<Logger, string>();

function toggleLogger(logger: Logger, enabled: boolean): void {
  const levelBefore = levelsBeforeDisable.get(logger);
  if (enabled && levelBefore !== undefined) {
    logger.level = levelBefore;
    levelsBeforeDisable.delete(logger);
  } else if (!enabled && levelBefore === undefined) {
    levelsBeforeDisable.set(logger, logger.level);
    logger.level = 'silent';
  }
}

/** All feature gates as `{name: bool}`, or `?key=<feature>` as the text "true" or "false". */
function features(request: AdminRequest, context: AdminContext): AdminReply {
  const known = context.features?.() ?? {};
  if (parameterCount(request.query) === 0) {
    const sorted: Record<string, boolean> = {};
    for (const name of Object.keys(known).sort()) sorted[name] = known[name] === true;
    return jsonReply(sorted, ' ');
  }
  const key = request.query.get('key');
  if (key === null) return textReply('unknown parameter; use ?key=<feature name>', 400);
  return textReply(String(Object.hasOwn(known, key) && known[key] === true));
}

/**
 * `?key=A&key=B` -> `{"env": {"A": "..."}, "not_found": ["B"]}`; `not_found` is null when all
 * were found (MOSN's Go tags never omit either field). Values of secret-looking names are
 * redacted, like config_dump's.
 */
function env(request: AdminRequest, _context: AdminContext): AdminReply {
  const names = request.query.getAll('key');
  if (names.length === 0) return errorJsonReply(400, 'no env key');
  const found: Record<string, string> = {};
  const notFound: string[] = [];
  for (const name of names) {
    const value = process.env[name];
    if (value === undefined) notFound.push(name);
    else found[name] = isSecretKey(name) && value !== '' ? REDACTED : value;
  }
  return jsonReply({ env: found, not_found: notFound.length > 0 ? notFound : null }, ' ');
}

const PLUGIN_USAGE = 'Usage:\n/plugin?status=all\n/plugin?status=pluginname\n/plugin?enable=pluginname\n/plugin?disable=pluginname\n';

/** `?status=all|<name>` as `name:<n>,enable:<bool>,on:<bool>` lines; `?enable=` and `?disable=` are not supported yet. */
function plugin(request: AdminRequest, context: AdminContext): AdminReply {
  const plugins = context.plugins?.() ?? [];
  const describe = (p: { name: string; enable: boolean; on: boolean }): string => `name:${p.name},enable:${p.enable},on:${p.on}`;
  for (const action of ['enable', 'disable'] as const) {
    const name = request.query.get(action);
    if (name === null || name === '') continue;
    if (!plugins.some((p) => p.name === name)) return textReply(`plugin ${name} no register\n`, 400);
    return textReply(`plugin ${name} cannot be ${action}d at run time in mosnode\n`, 400);
  }
  const status = request.query.get('status');
  if (status === null || status === '') return textReply(PLUGIN_USAGE, 400);
  if (status === 'all') return textReply(`${plugins.map((p) => `${describe(p)}\n`).join('')}\n`);
  const found = plugins.find((p) => p.name === status);
  return found === undefined ? textReply(`plugin ${status} no register\n`, 400) : textReply(`${describe(found)}\n`);
}

/**
 * mosnode's addition: the worker processes of `servers[0].processor` > 1 as JSON
 * (`{"processor": N, "workers": [{index, pid, restarts, started_at}]}`); one process: none.
 */
function workers(_request: AdminRequest, context: AdminContext): AdminReply {
  const list = context.workers?.() ?? [];
  return jsonReply({
    processor: Math.max(1, list.length),
    workers: list.map((w) => ({ index: w.index, pid: w.pid ?? null, restarts: w.restarts, started_at: new Date(w.startedAt).toISOString() })),
  }, ' ');
}

/** The admin endpoints, in MOSN's order (mosnode's additions last); `/` lists them. */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  { path: '/api/v1/version', methods: ['GET'], handle: version },
  { path: '/api/v1/config_dump', methods: ['GET'], handle: configDump },
  { path: '/api/v1/stats', methods: ['GET'], handle: stats },
  { path: '/api/v1/stats_glob', methods: ['GET'], handle: statsGlob },
  { path: '/api/v1/update_loglevel', methods: ['POST'], handle: updateLogLevel },
  { path: '/api/v1/get_loglevel', methods: ['GET'], handle: getLogLevel },
  { path: '/api/v1/enable_log', methods: ['POST'], handle: enableLog },
  { path: '/api/v1/disable_log', methods: ['POST'], handle: disableLog },
  { path: '/api/v1/states', methods: ['GET'], handle: states },
  { path: '/api/v1/plugin', methods: ['GET', 'POST'], handle: plugin },
  { path: '/api/v1/features', methods: ['GET'], handle: features },
  { path: '/api/v1/env', methods: ['GET'], handle: env },
  { path: '/api/v1/workers', methods: ['GET'], handle: workers },
  { path: '/', methods: ['GET'], handle: help },
];

/** `supported APIs:` then one path per line, as MOSN's help page (which leaves out `/`). */
function help(_request: AdminRequest, _context: AdminContext): AdminReply {
  let body = 'supported APIs:\n';
  for (const route of ADMIN_ROUTES) if (route.path !== '/') body += `${route.path}\n`;
  return textReply(body);
}

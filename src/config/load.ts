/**
 * @module config/load
 * The config loader: MOSN v2 JSON or YAML in, a validated `LoadedConfig` out.
 *
 * Steps, in order:
 *   1. parse the text (config/parse-text): syntax errors name line and column;
 *   2. canonicalize keys as Go does (config/keys): "Name" is `name`; unknown keys are
 *      dropped with one warning each;
 *   3. MOSN's deprecated `connection_manager` network filter: its inline router moves to
 *      `servers[0].routers` (the filter itself is dropped after validation);
 *   4. read `cluster_manager.clusters_configs` and routers' `router_configs` folders
 *      (relative to the config file's folder);
 *   5. validate with zod (config/schema) and the cross-value rules (config/checks), all
 *      issues collected, each naming its JSON path (values read from other files are
 *      named by where they came from);
 *   6. resolve `uds_dir` (default: the config file's folder), `pid` and relative plugin
 *      paths against the config file's folder.
 * Log paths and TLS file paths are kept as written (MOSN reads them from the working folder).
 * Nothing here prints: warnings are returned. Depends on core/ and config/ only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { LoadedConfig, MosnConfig } from './types.ts';
import { ConfigError, formatPath, joinPath, type ConfigIssue, type PathSegment } from './config-error.ts';
import { canonicalizeKeys } from './keys.ts';
import { clusterSchema, describeIssue, mosnConfigSchema, routerSchema, virtualHostSchema } from './schema.ts';
import { checkDocument, type Finding } from './checks.ts';
import { parseConfigValue, type ConfigFormat } from './parse-text.ts';
import { DEFAULT_MOSN_CONFIG } from './default-config.ts';

export { ConfigError, type ConfigIssue } from './config-error.ts';
export type { ConfigFormat } from './parse-text.ts';

/** The deprecated MOSN network filter that carried a router config inline. */
const CONNECTION_MANAGER = 'connection_manager';

export interface ParseOptions {
  /** The file the text came from: names it in messages and anchors relative paths. */
  path?: string;
  /** Default: from the file extension (.yaml/.yml = YAML), else JSON, then YAML as a fallback. */
  format?: ConfigFormat;
}

/**
 * Reads, parses and validates a config file. Throws ConfigError: MOSN_ERR_CONFIG_READ when
 * the file cannot be read, MOSN_ERR_CONFIG_PARSE on a syntax error, MOSN_ERR_CONFIG_INVALID
 * when the content does not fit (every issue listed).
 */
export function loadConfigFile(path: string): LoadedConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('MOSN_ERR_CONFIG_READ', [{ path: '', message: `cannot read config file ${file}: ${errorText(err)}` }], {
      file,
      cause: err,
    });
  }
  return parseConfigText(text, { path: file });
}

/**
 * Parses and validates config text. Without `options.path`, relative paths resolve against
 * the working folder and `uds_dir` stays undefined unless written. Throws ConfigError.
 */
export function parseConfigText(text: string, options: ParseOptions = {}): LoadedConfig {
  const file = options.path === undefined ? undefined : resolve(options.path);
  const raw = parseConfigValue(text, { file, format: options.format });
  return buildConfig(raw, file);
}

/**
 * The built-in config of `mosnode start` without `-c`: an HTTP/1 listener
 * "defaultListener" on 127.0.0.1:2046 answering 200 "Welcome to mosnode!" to every request
 * (router "default_router"), admin API on 127.0.0.1:34901, logs to stdout, no clusters.
 */
export function defaultConfig(): LoadedConfig {
  return parseConfigText(JSON.stringify(DEFAULT_MOSN_CONFIG), { format: 'json' });
}

// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${err.message.replace(/^\w+: /, '')})` : err.message;
  }
  return String(err);
}

/**
 * Where values that do not sit in the file at their validated place came from: a router
 * moved out of a connection_manager filter, clusters and virtual hosts read from folders.
 */
class PathMap {
  readonly #moves: Array<{ from: readonly PathSegment[]; to: string }> = [];

  add(from: readonly PathSegment[], to: string): void {
    this.#moves.push({ from, to });
  }

  /** The path as the user wrote it: the longest recorded move that contains it wins. */
  format(path: readonly PathSegment[]): string {
    let best: { from: readonly PathSegment[]; to: string } | undefined;
    for (const move of this.#moves) {
      const { from } = move;
      const inside = from.length <= path.length && from.every((segment, i) => path[i] === segment);
      if (inside && (best === undefined || from.length > best.from.length)) best = move;
    }
    return best === undefined ? formatPath(path) : formatPath(path.slice(best.from.length), best.to);
  }
}

function buildConfig(raw: unknown, file: string | undefined): LoadedConfig {
  const baseDir = file === undefined ? process.cwd() : dirname(file);
  const warnings: string[] = [];
  const issues: ConfigIssue[] = [];
  const moves = new PathMap();

  const canonical = canonicalizeKeys(raw, mosnConfigSchema, '', warnings);
  const document: Json = isObject(canonical) ? canonical : {};
  if (isObject(canonical)) moveConnectionManagerRouters(document, moves, warnings);

  // The validated view also holds what the folders hold; the document keeps the folder names.
  const view: unknown = isObject(canonical) ? structuredClone(document) : canonical;
  if (isObject(view)) readConfigFolders(view, baseDir, moves, warnings, issues);

  const toIssue = (finding: Finding): ConfigIssue => ({
    path: moves.format(finding.path),
    message: finding.seeAlso ? `${finding.message} (also at ${moves.format(finding.seeAlso)})` : finding.message,
  });
  const result = mosnConfigSchema.safeParse(view, { error: describeIssue });
  if (!result.success) {
    for (const issue of result.error.issues) {
      issues.push(toIssue({ path: issue.path.map((s) => (typeof s === 'number' ? s : String(s))), message: issue.message }));
    }
  }
  if (isObject(view)) {
    const checked = checkDocument(view);
    issues.push(...checked.issues.map(toIssue));
    for (const w of checked.warnings) {
      const { path, message } = toIssue(w);
      warnings.push(path === '' ? message : `${path}: ${message}`);
    }
  }
  if (issues.length > 0 || !result.success) {
    throw new ConfigError('MOSN_ERR_CONFIG_INVALID', issues, { file });
  }

  dropConnectionManagers(document, result.data);
  const config = resolvePaths(result.data, file, baseDir);
  return { config, document, warnings, path: file };
}

/** Calls `visit(filters, path)` for every network filter list of every listener. */
function forEachFilterList(doc: Json, visit: (filters: unknown[], path: PathSegment[]) => void): void {
  const servers = Array.isArray(doc['servers']) ? doc['servers'] : [];
  servers.forEach((server, s) => {
    const listeners = isObject(server) && Array.isArray(server['listeners']) ? server['listeners'] : [];
    listeners.forEach((listener, l) => {
      const chains = isObject(listener) && Array.isArray(listener['filter_chains']) ? listener['filter_chains'] : [];
      chains.forEach((chain, c) => {
        if (isObject(chain) && Array.isArray(chain['filters'])) {
          visit(chain['filters'], ['servers', s, 'listeners', l, 'filter_chains', c, 'filters']);
        }
      });
    });
  });
}

/**
 * MOSN's `connection_manager` filter carries a router config; MOSN registers that router
 * and has no filter of that name. Each one becomes an entry of servers[0].routers unless a
 * router of that name exists.
 */
function moveConnectionManagerRouters(doc: Json, moves: PathMap, warnings: string[]): void {
  const server = Array.isArray(doc['servers']) ? doc['servers'][0] : undefined;
  // A `routers` of the wrong type is left for validation to report.
  if (!isObject(server) || (server['routers'] !== undefined && !Array.isArray(server['routers']))) return;
  forEachFilterList(doc, (filters, path) => {
    filters.forEach((filter, f) => {
      if (!isObject(filter) || filter['type'] !== CONNECTION_MANAGER) return;
      const configPath = [...path, f, 'config'];
      const router = canonicalizeKeys(filter['config'] ?? {}, routerSchema, formatPath(configPath), warnings);
      const name = isObject(router) ? router['router_config_name'] : undefined;
      const routers = Array.isArray(server['routers']) ? server['routers'] : (server['routers'] = []);
      const existing = routers.findIndex((r) => isObject(r) && name !== undefined && r['router_config_name'] === name);
      const where = formatPath([...path, f]);
      if (existing >= 0) {
        warnings.push(
          `${where}: deprecated "${CONNECTION_MANAGER}" filter dropped; router ${JSON.stringify(name)} is already defined at ${formatPath(['servers', 0, 'routers', existing])}`,
        );
        return;
      }
      moves.add(['servers', 0, 'routers', routers.length], formatPath(configPath));
      warnings.push(
        `${where}: deprecated "${CONNECTION_MANAGER}" filter: its router ${JSON.stringify(name)} moved to ${formatPath(['servers', 0, 'routers', routers.length])}`,
      );
      routers.push(router);
    });
  });
}

/** Removes the connection_manager filters (their routers already moved) from the document and the config. */
function dropConnectionManagers(doc: Json, config: MosnConfig): void {
  forEachFilterList(doc, (filters) => {
    for (let i = filters.length - 1; i >= 0; i--) {
      const filter = filters[i];
      if (isObject(filter) && filter['type'] === CONNECTION_MANAGER) filters.splice(i, 1);
    }
  });
  for (const listener of config.servers[0].listeners) {
    for (const chain of listener.filter_chains) {
      chain.filters = chain.filters.filter((filter) => filter.type !== CONNECTION_MANAGER);
    }
  }
}

/**
 * Reads `cluster_manager.clusters_configs` (one cluster per .json file) and each router's
 * `router_configs` (one virtual host per .json file) into `view`, as MOSN does, with the
 * folder relative to the config file's folder. MOSN refuses a folder next to inline entries.
 */
function readConfigFolders(view: Json, baseDir: string, moves: PathMap, warnings: string[], issues: ConfigIssue[]): void {
  const manager = view['cluster_manager'];
  if (isObject(manager) && typeof manager['clusters_configs'] === 'string') {
    const path: PathSegment[] = ['cluster_manager', 'clusters_configs'];
    if (Array.isArray(manager['clusters']) && manager['clusters'].length > 0) {
      issues.push({ path: formatPath(path), message: 'use either "clusters" or "clusters_configs", not both (MOSN\'s rule)' });
    } else {
      manager['clusters'] = readFolder(manager['clusters_configs'], baseDir, path, ['cluster_manager', 'clusters'], clusterSchema, moves, warnings, issues);
    }
  }
  const servers = Array.isArray(view['servers']) ? view['servers'] : [];
  servers.forEach((server, s) => {
    const routers = isObject(server) && Array.isArray(server['routers']) ? server['routers'] : [];
    routers.forEach((router, r) => {
      if (!isObject(router) || typeof router['router_configs'] !== 'string') return;
      const base: PathSegment[] = ['servers', s, 'routers', r];
      if (Array.isArray(router['virtual_hosts']) && router['virtual_hosts'].length > 0) {
        issues.push({
          path: formatPath([...base, 'router_configs']),
          message: 'use either "virtual_hosts" or "router_configs", not both (MOSN\'s rule)',
        });
        return;
      }
      router['virtual_hosts'] = readFolder(
        router['router_configs'],
        baseDir,
        [...base, 'router_configs'],
        [...base, 'virtual_hosts'],
        virtualHostSchema,
        moves,
        warnings,
        issues,
      );
    });
  });
}

/** Reads every .json file of a folder (sorted by name) as one entry, keys canonicalized. */
function readFolder(
  folder: string,
  baseDir: string,
  folderPath: PathSegment[],
  listPath: PathSegment[],
  schema: typeof clusterSchema | typeof virtualHostSchema,
  moves: PathMap,
  warnings: string[],
  issues: ConfigIssue[],
): unknown[] {
  const dir = isAbsolute(folder) ? folder : resolve(baseDir, folder);
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.json'))
      .map((entry) => entry.name)
      .sort();
  } catch (err) {
    issues.push({ path: formatPath(folderPath), message: `cannot read folder ${dir}: ${errorText(err)}` });
    return [];
  }
  const entries: unknown[] = [];
  for (const name of names) {
    const entryPath = joinPath(formatPath(folderPath), name);
    try {
      const value = parseConfigValue(readFileSync(join(dir, name), 'utf8'), { file: join(dir, name), format: 'json' });
      moves.add([...listPath, entries.length], entryPath);
      entries.push(canonicalizeKeys(value, schema, entryPath, warnings));
    } catch (err) {
      const why = err instanceof ConfigError ? err.message : errorText(err);
      issues.push({ path: entryPath, message: why });
    }
  }
  return entries;
}

/** `uds_dir` (default: the config file's folder), `pid` and "./" or "../" plugins become absolute. */
function resolvePaths(config: MosnConfig, file: string | undefined, baseDir: string): MosnConfig {
  // MOSN reads an empty string as "not set".
  const udsDir = config.uds_dir === undefined || config.uds_dir === '' ? (file === undefined ? undefined : '.') : config.uds_dir;
  return {
    ...config,
    uds_dir: udsDir === undefined ? undefined : resolve(baseDir, udsDir),
    pid: config.pid === undefined || config.pid === '' ? undefined : resolve(baseDir, config.pid),
    plugins: config.plugins.map((p) => (p.startsWith('./') || p.startsWith('../') ? resolve(baseDir, p) : p)),
  };
}

/**
 * @module server/plugin-loader
 * Imports the plugins a config lists (top-level `plugins`: file paths, `file:` URLs or npm
 * package names) and registers their filter factories, before the listeners are parsed.
 * Paths were made absolute by the config loader (relative to the config file). Package
 * names are resolved from the config file's folder upwards through node_modules, as Node
 * resolves an `import` there (package.json `exports` with the import/node/default
 * conditions, else `main`), so a plugin installed next to the config is found even when
 * mosnode itself is installed elsewhere.
 *
 * Every failure names the entry and the reason and stops the start (a config that names a
 * plugin depends on it). A plugin is registered whole or not at all: its shape and every
 * type name are checked first; a type already taken (by a built-in or an earlier plugin)
 * is an error naming both.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import type { FilterKind, FilterRegistry } from '../api/registry.ts';
import type { MosnodePlugin } from '../api/plugin.ts';
import { MosnError, describeError } from '../core/errors.ts';

/** What was loaded, for logs and `/api/v1/plugin`. */
export interface LoadedPlugin {
  readonly name: string;
  /** As written in the config. */
  readonly spec: string;
  /** The file imported. */
  readonly file: string;
  readonly filters: ReadonlyArray<{ kind: FilterKind; type: string }>;
}

const KINDS = [
  { key: 'streamFilters', kind: 'stream', methods: ['parseConfig', 'createFilters'] },
  { key: 'networkFilters', kind: 'network', methods: ['parseConfig', 'createFilters'] },
  { key: 'listenerFilters', kind: 'listener', methods: ['parseConfig', 'create'] },
] as const;

/**
 * Imports and registers each plugin in order. `baseDir` is the config file's folder (where
 * package names are looked up). Throws MosnError `MOSN_ERR_PLUGIN_LOAD` or
 * `MOSN_ERR_FILTER_DUPLICATE` naming `plugins[i]`.
 */
export async function loadPlugins(specs: readonly string[], baseDir: string, registry: FilterRegistry): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = [];
  const owners = new Map<string, string>();
  for (const [i, spec] of specs.entries()) {
    const where = `plugins[${i}] (${JSON.stringify(spec)})`;
    const file = resolvePlugin(spec, baseDir, where);
    let module: Record<string, unknown>;
    try {
      module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      // The error's class says a lot here (SyntaxError, ERR_MODULE_NOT_FOUND inside the plugin).
      const kind = err instanceof Error && err.name !== 'Error' ? `${err.name}: ` : '';
      throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: importing ${file} failed: ${kind}${describeError(err)}`, { cause: err });
    }
    const plugin = pluginOf(module, where);
    const name = typeof plugin.name === 'string' && plugin.name !== '' ? plugin.name : defaultName(spec, file);
    const filters: Array<{ kind: FilterKind; type: string }> = [];
    for (const { key, kind, methods } of KINDS) {
      const list: unknown = plugin[key];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: ${key}: expected an array of ${kind} filter factories`);
      list.forEach((factory: unknown, j) => {
        const at = `${where}: ${key}[${j}]`;
        const f = factory as Record<string, unknown> | null;
        if (typeof f !== 'object' || f === null || typeof f.type !== 'string' || f.type === '') {
          throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${at}: expected a ${kind} filter factory with a non-empty string "type"`);
        }
        for (const m of methods) {
          if (typeof f[m] !== 'function') throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${at} ("${f.type}"): expected a ${m}() method`);
        }
        const owner = owners.get(`${kind}:${f.type}`) ?? (registry.names(kind).includes(f.type) ? 'a built-in filter' : undefined);
        if (owner !== undefined || filters.some((x) => x.kind === kind && x.type === f.type)) {
          throw new MosnError('MOSN_ERR_FILTER_DUPLICATE', `${at}: ${kind} filter "${f.type}" is already registered (by ${owner ?? 'this plugin'})`);
        }
        filters.push({ kind, type: f.type });
      });
    }
    if (filters.length === 0) throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: the plugin adds no filter (expected streamFilters, networkFilters or listenerFilters)`);
    // Checked whole: now register (cannot fail: names were checked above).
    for (const { key } of KINDS) {
      for (const factory of (plugin[key] as unknown[] | undefined) ?? []) {
        if (key === 'streamFilters') registry.registerStreamFilter(factory as never);
        else if (key === 'networkFilters') registry.registerNetworkFilter(factory as never);
        else registry.registerListenerFilter(factory as never);
      }
    }
    for (const f of filters) owners.set(`${f.kind}:${f.type}`, `${where}, plugin "${name}"`);
    loaded.push({ name, spec, file, filters });
  }
  return loaded;
}

/** The plugin object: the module's default export (or the module itself when it has the plugin keys). */
function pluginOf(module: Record<string, unknown>, where: string): MosnodePlugin & Record<string, unknown> {
  const candidate = module.default ?? module;
  if (typeof candidate !== 'object' || candidate === null || !KINDS.some(({ key }) => key in candidate)) {
    throw new MosnError(
      'MOSN_ERR_PLUGIN_LOAD',
      `${where}: expected a default export made with definePlugin({ name, streamFilters, networkFilters, listenerFilters }), got ${describeExport(candidate)}`,
    );
  }
  return candidate as MosnodePlugin & Record<string, unknown>;
}

function describeExport(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const keys = Object.keys(value);
  return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 5).join(', ')}`;
}

function defaultName(spec: string, file: string): string {
  if (!isPathSpec(spec)) return spec;
  return basename(file, extname(file));
}

function isPathSpec(spec: string): boolean {
  return isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('file:');
}

/** The file a plugin entry names; throws naming `where` when there is none. */
function resolvePlugin(spec: string, baseDir: string, where: string): string {
  if (spec === '') throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: expected a module path or package name`);
  if (isPathSpec(spec)) {
    const file = spec.startsWith('file:') ? fileURLToPath(spec) : isAbsolute(spec) ? spec : join(baseDir, spec);
    if (!isFile(file)) throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: no such file ${file}`);
    return file;
  }
  const match = /^((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(spec);
  if (match === null) throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: expected a module path or package name`);
  const [, name = '', sub] = match;
  for (let dir = baseDir; ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    if (isFile(join(pkgDir, 'package.json'))) return packageEntry(pkgDir, sub === undefined ? '.' : `.${sub}`, where);
    if (dirname(dir) === dir) break;
  }
  throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: package "${name}" is not installed in a node_modules folder at or above ${baseDir}`);
}

/** The file an `import` of `subpath` of the package in `pkgDir` loads. */
function packageEntry(pkgDir: string, subpath: string, where: string): string {
  let pkg: { exports?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as typeof pkg;
  } catch (err) {
    throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: ${join(pkgDir, 'package.json')} is not valid JSON: ${describeError(err)}`);
  }
  let target: string | undefined;
  if (pkg.exports !== undefined && pkg.exports !== null) {
    const exports = pkg.exports;
    const isSubpathMap = typeof exports === 'object' && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
    const entry = isSubpathMap ? (exports as Record<string, unknown>)[subpath] : subpath === '.' ? exports : undefined;
    target = conditionTarget(entry);
    if (target === undefined) throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: the package's "exports" has no import entry for "${subpath}"`);
  } else if (subpath !== '.') {
    target = subpath;
  } else {
    target = typeof pkg.main === 'string' && pkg.main !== '' ? pkg.main : 'index.js';
  }
  for (const candidate of [join(pkgDir, target), join(pkgDir, target, 'index.js'), `${join(pkgDir, target)}.js`]) {
    if (isFile(candidate)) return candidate;
  }
  throw new MosnError('MOSN_ERR_PLUGIN_LOAD', `${where}: the package names ${target}, which does not exist in ${pkgDir}`);
}

/** An `exports` value resolved with the conditions an ES module import in Node uses. */
function conditionTarget(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) {
    for (const e of entry) {
      const t = conditionTarget(e);
      if (t !== undefined) return t;
    }
    return undefined;
  }
  if (typeof entry !== 'object' || entry === null) return undefined;
  // Object key order is the package's priority order (Node's rule).
  for (const [condition, value] of Object.entries(entry)) {
    if (condition === 'import' || condition === 'node' || condition === 'default') {
      const t = conditionTarget(value);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/**
 * @module api/plugin
 * What a plugin module exports. A plugin is an ES module (a file, or an npm package)
 * named in the config's top-level `plugins` list; its default export, made with
 * `definePlugin`, lists the filter factories it adds. mosnode imports every plugin before
 * it parses the listeners, so the plugin's filter types can be used in the same config.
 *
 *   // my-plugin.mjs
 *   import { definePlugin, defineStreamFilter } from 'mosnode';
 *   export default definePlugin({ name: 'my-plugin', streamFilters: [defineStreamFilter({...})] });
 *
 * Public API: imports only other api/ modules.
 */
import type { ListenerFilterFactory, NetworkFilterFactory } from './filter-factory.ts';
import type { StreamFilterFactory } from './stream-filter.ts';

export interface MosnodePlugin {
  /** Shown by `/api/v1/plugin` and in logs; default: the package name or file name. */
  readonly name?: string;
  /** Stream (HTTP-level) filter types this plugin adds, by their `type`. */
  readonly streamFilters?: readonly StreamFilterFactory<any>[];
  /** Network (L4) filter types. */
  readonly networkFilters?: readonly NetworkFilterFactory<any>[];
  /** Listener filter types. */
  readonly listenerFilters?: readonly ListenerFilterFactory<any>[];
}

/** Identity helper: gives a plugin literal full type checking. */
export function definePlugin(plugin: MosnodePlugin): MosnodePlugin {
  return plugin;
}

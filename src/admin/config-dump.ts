/**
 * @module admin/config-dump
 * GET /api/v1/config_dump: the effective config, secrets redacted, in MOSN's dump shape
 * (mosn/mosn pkg/configmanager/effectiveconfig.go). MOSN keeps listeners, clusters and
 * routers as maps by name beside the rest of the config, so the body without a parameter is
 *   {"mosn_config": {...}, "listener": {name: ...}, "cluster": {name: ...},
 *    "routers": {router_config_name: ...}, "extends": [...]}
 * compact, with empty sections left out (Go's omitempty). One parameter selects a part,
 * pretty-printed with one space as MOSN does: ?mosnconfig, ?alllisteners, ?allclusters,
 * ?allrouters, ?listener=<name>, ?cluster=<name>, ?router=<name>.
 * Unlike MOSN (which answers an unknown name with an empty object, and an unknown parameter
 * with a 500), mosnode answers 400 with the reason. Depends on admin/ only.
 */
import type { AdminContext } from './admin-context.ts';
import { jsonReply, parameterCount, textReply, type AdminReply, type AdminRequest } from './admin-reply.ts';
import { redactSecrets } from '../config/redact.ts';

/** MOSN's effective-config dump, built from a config document. */
export interface EffectiveConfigView {
  /** The config without what the other sections hold: listeners, routers, clusters, extends. */
  readonly mosn_config: Record<string, unknown>;
  readonly listener: Record<string, unknown>;
  readonly cluster: Record<string, unknown>;
  readonly routers: Record<string, unknown>;
  readonly extends: unknown[];
}

/**
 * Splits a MOSN v2 config document into MOSN's dump sections. The document is not
 * changed. A listener without a name is keyed by its address, as the config loader names it.
 */
export function effectiveConfigView(document: Record<string, unknown>): EffectiveConfigView {
  const listener: Record<string, unknown> = {};
  const routers: Record<string, unknown> = {};
  const cluster: Record<string, unknown> = {};
  const { extends: extendsSection, ...mosnConfig } = document;

  const servers = arrayOf(document['servers']);
  for (const server of servers) {
    for (const item of arrayOf(objectOf(server)?.['listeners'])) {
      const name = stringOf(objectOf(item)?.['name']) ?? stringOf(objectOf(item)?.['address']);
      if (name !== undefined) listener[name] = item;
    }
    for (const item of arrayOf(objectOf(server)?.['routers'])) {
      const name = stringOf(objectOf(item)?.['router_config_name']);
      if (name !== undefined) routers[name] = item;
    }
  }
  if (servers.length > 0) {
    // MOSN runs exactly one server; its dump shows that one without listeners and routers.
    const { listeners: _listeners, routers: _routers, ...first } = objectOf(servers[0]) ?? {};
    mosnConfig['servers'] = [first];
  }

  const clusterManager = objectOf(document['cluster_manager']);
  if (clusterManager !== undefined) {
    for (const item of arrayOf(clusterManager['clusters'])) {
      const name = stringOf(objectOf(item)?.['name']);
      if (name !== undefined) cluster[name] = item;
    }
    const { clusters: _clusters, ...rest } = clusterManager;
    mosnConfig['cluster_manager'] = rest;
  }

  return { mosn_config: mosnConfig, listener, cluster, routers, extends: arrayOf(extendsSection) };
}

const SECTION_PARAMETERS = {
  alllisteners: 'listener',
  allclusters: 'cluster',
  allrouters: 'routers',
} as const;

const NAMED_PARAMETERS = {
  listener: 'listener',
  cluster: 'cluster',
  router: 'routers',
} as const;

const PARAMETER_NAMES = ['mosnconfig', ...Object.keys(SECTION_PARAMETERS), ...Object.keys(NAMED_PARAMETERS)].join(', ');

/** The handler of GET /api/v1/config_dump. */
export function configDump(request: AdminRequest, context: AdminContext): AdminReply {
  const count = parameterCount(request.query);
  if (count > 1) return textReply('only support one parameter', 400);
  const view = effectiveConfigView(redactSecrets(context.configDocument()));
  if (count === 0) return jsonReply(withoutEmptySections(view));

  const [parameter, value] = [...request.query][0]!;
  if (parameter === 'mosnconfig') return jsonReply(view.mosn_config, ' ');
  if (Object.hasOwn(SECTION_PARAMETERS, parameter)) {
    return jsonReply(view[SECTION_PARAMETERS[parameter as keyof typeof SECTION_PARAMETERS]], ' ');
  }
  if (Object.hasOwn(NAMED_PARAMETERS, parameter)) {
    if (value === '') return textReply(`parameter "${parameter}" needs a name: ?${parameter}=<name>`, 400);
    const section = view[NAMED_PARAMETERS[parameter as keyof typeof NAMED_PARAMETERS]];
    if (!Object.hasOwn(section, value)) return textReply(`no ${parameter} named "${value}"`, 400);
    return jsonReply(section[value], ' ');
  }
  return textReply(`unknown parameter "${parameter}"; expected one of: ${PARAMETER_NAMES}`, 400);
}

function withoutEmptySections(view: EffectiveConfigView): Record<string, unknown> {
  const body: Record<string, unknown> = { mosn_config: view.mosn_config };
  for (const key of ['listener', 'cluster', 'routers'] as const) {
    if (Object.keys(view[key]).length > 0) body[key] = view[key];
  }
  if (view.extends.length > 0) body['extends'] = view.extends;
  return body;
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

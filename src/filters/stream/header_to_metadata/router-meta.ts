/**
 * @module filters/stream/header_to_metadata/router-meta
 * The request variable MOSN keeps "router metadata" in: types.VarRouterMeta, whose name
 * is "x-mosn-router-meta". MOSN's proxy merges this map with the route's metadata_match
 * when the load balancer picks a subset of hosts; in mosnode it lives in
 * `handler.info.variables` under the same name, as a `Map<string, string>`.
 * Depends on nothing.
 */

/** The key of the router metadata in `StreamInfo.variables` (MOSN's types.VarRouterMeta). */
export const VAR_ROUTER_META = 'x-mosn-router-meta';

/** Metadata key -> value, as MOSN's map[string]string. */
export type RouterMeta = Map<string, string>;

/** The router metadata of a request, or undefined when no filter set any. */
export function routerMetaOf(variables: ReadonlyMap<string, unknown>): RouterMeta | undefined {
  const v = variables.get(VAR_ROUTER_META);
  return v instanceof Map ? (v as RouterMeta) : undefined;
}

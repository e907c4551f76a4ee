/**
 * @module protocol/http1/codec-choice
 * Which HTTP/1.1 implementation serves: mosnode's own codec (http1-server.ts downstream,
 * upstream/pools/http1-pool.ts upstream) by default, or node:http and undici with
 * MOSNODE_HTTP1_CODEC=node. The fallback stays while the own codec is new, as an escape
 * hatch for an incompatibility found in the field and as the baseline of bench/.
 */
export function useNodeHttp1(): boolean {
  return process.env.MOSNODE_HTTP1_CODEC === 'node';
}

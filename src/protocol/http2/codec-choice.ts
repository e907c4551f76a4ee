/**
 * @module protocol/http2/codec-choice
 * Which HTTP/2 server implementation serves downstream: mosnode's own codec
 * (http2-server.ts) by default, or node:http2 (node-http2-server.ts) with
 * MOSNODE_HTTP2_CODEC=node, kept while the own codec is new: an escape hatch for an
 * incompatibility found in the field, and the baseline of bench/.
 */
export function useNodeHttp2(): boolean {
  return process.env.MOSNODE_HTTP2_CODEC === 'node';
}

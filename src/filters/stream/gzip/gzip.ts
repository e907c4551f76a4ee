/**
 * @module filters/stream/gzip
 * MOSN's `gzip` stream filter: compresses responses for clients that accept gzip, when the
 * response's content type is listed and its body is big enough. Config as MOSN's
 * `StreamGzip`: `gzip_level` (1..9, 0 or absent = 6), `content_length` (smallest body
 * compressed, bytes; absent = 30, MOSN's constant), `content_types` (absent = ["text/html"]).
 *
 * Where mosnode differs from MOSN, deliberately:
 * - The body is compressed as it streams (zlib through `transformResponseBody`), not
 *   buffered whole; a body of unknown length (chunked) is compressed, as nginx does.
 * - `Accept-Encoding` is parsed (tokens, `q=` weights, `*`, `x-gzip`); MOSN compares the
 *   whole header with six fixed strings, so "gzip, deflate, br" (every current browser)
 *   gets nothing there.
 * - Content types match on the media type, parameters ignored ("text/html; charset=utf-8").
 * - Responses are left alone when already encoded, `Cache-Control: no-transform`, HEAD, 206,
 *   204/304; `Vary: Accept-Encoding` is added and a strong ETag is weakened (the bytes change).
 */
import { createGzip, constants as zlibConstants, type Gzip } from 'node:zlib';
import { defineStreamFilter, type StreamSenderFilter, type StreamSenderFilterHandler } from '../../../api/stream-filter.ts';
import { FilterConfigError, type FilterFactoryContext, type StatsCounter } from '../../../api/filter-factory.ts';
import { configObject, optionalArray, optionalInteger, unknownKeys } from '../../../api/config-helpers.ts';

export interface GzipConfig {
  readonly level: number;
  readonly minLength: number;
  /** Lower-case media types ("text/html"). */
  readonly contentTypes: ReadonlySet<string>;
}

const DEFAULT_LEVEL = 6;
const DEFAULT_MIN_LENGTH = 30;
const DEFAULT_CONTENT_TYPES = ['text/html'];

export function parseGzipConfig(raw: unknown, path: string, warn: (message: string) => void): GzipConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, ['gzip_level', 'content_length', 'content_types'])) warn(`${path}.${key}: unknown gzip key, ignored`);
  const level = optionalInteger(obj, 'gzip_level', path, { min: 0, max: 9 });
  const minLength = optionalInteger(obj, 'content_length', path, { min: 0, max: 2 ** 32 - 1 });
  const types = optionalArray(obj, 'content_types', path).map((t, i) => {
    if (typeof t !== 'string' || t.trim() === '') throw new FilterConfigError(`${path}.content_types[${i}]`, 'a media type like "text/html"');
    return mediaType(t);
  });
  return {
    level: level === undefined || level === 0 ? DEFAULT_LEVEL : level,
    minLength: minLength ?? DEFAULT_MIN_LENGTH,
    contentTypes: new Set(types.length > 0 ? types : DEFAULT_CONTENT_TYPES),
  };
}

/** "Text/HTML; charset=utf-8" -> "text/html". */
function mediaType(value: string): string {
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** Whether an Accept-Encoding value admits gzip (RFC 9110 §12.5.3). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const part of acceptEncoding.split(',')) {
    const [token = '', ...params] = part.split(';');
    const coding = token.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [name, value] = p.split('=');
      if (name?.trim().toLowerCase() === 'q' && value !== undefined) {
        const n = Number(value.trim());
        q = Number.isFinite(n) ? n : 0;
      }
    }
    if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, q);
    else if (coding === '*') any = q;
  }
  return (gzip ?? any ?? 0) > 0;
}

interface GzipStats {
  readonly compressed: StatsCounter;
  readonly bytesIn: StatsCounter;
  readonly bytesOut: StatsCounter;
}

class GzipFilter implements StreamSenderFilter {
  readonly #config: GzipConfig;
  readonly #stats: GzipStats;

  constructor(config: GzipConfig, stats: GzipStats) {
    this.#config = config;
    this.#stats = stats;
  }

  onSend(handler: StreamSenderFilterHandler): 'Continue' {
    if (!this.#shouldCompress(handler)) return 'Continue';
    const headers = handler.response.headers;
    headers.set('content-encoding', 'gzip');
    const vary = headers.get('vary');
    if (vary === undefined) headers.set('vary', 'accept-encoding');
    else if (!/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(vary)) headers.set('vary', `${vary}, accept-encoding`);
    const etag = headers.get('etag');
    if (etag !== undefined && !etag.startsWith('W/')) headers.set('etag', `W/${etag}`);

    const stats = this.#stats;
    const gzip: Gzip = createGzip({ level: this.#config.level, flush: zlibConstants.Z_NO_FLUSH });
    let out = 0;
    gzip.on('data', (chunk: Buffer) => void (out += chunk.length));
    gzip.once('end', () => {
      stats.bytesIn.inc(gzip.bytesWritten);
      stats.bytesOut.inc(out);
    });
    stats.compressed.inc();
    handler.transformResponseBody(gzip);
    return 'Continue';
  }

  #shouldCompress(handler: StreamSenderFilterHandler): boolean {
    const { request, response } = handler;
    const status = response.status;
    if (request.method === 'HEAD' || status < 200 || status === 204 || status === 206 || status === 304) return false;
    if (!acceptsGzip(request.headers.get('accept-encoding'))) return false;
    const headers = response.headers;
    if (headers.has('content-encoding')) return false;
    const cacheControl = headers.get('cache-control');
    if (cacheControl !== undefined && /(^|,)\s*no-transform\s*(,|$)/i.test(cacheControl)) return false;
    const type = headers.get('content-type');
    if (type === undefined || !this.#config.contentTypes.has(mediaType(type))) return false;
    const length = headers.get('content-length');
    return length === undefined || Number(length) >= this.#config.minLength;
  }
}

export const gzipFactory = defineStreamFilter<GzipFilter>({
  type: 'gzip',
  parseConfig(raw: unknown, context: FilterFactoryContext): GzipFilter {
    const stats: GzipStats = {
      compressed: context.stats.counter('compressed'),
      bytesIn: context.stats.counter('bytes_in'),
      bytesOut: context.stats.counter('bytes_out'),
    };
    return new GzipFilter(parseGzipConfig(raw, context.path, context.warn), stats);
  },
  createFilters(filter, chain): void {
    chain.addSender(filter);
  },
});

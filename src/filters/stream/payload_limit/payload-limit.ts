/**
 * @module filters/stream/payload_limit
 * MOSN's `payload_limit` stream filter: requests whose body is larger than
 * `max_entity_size` bytes are answered with `http_status` (default 413) and never reach
 * the upstream. MOSN buffers every body and measures it; mosnode streams bodies, so the
 * check is made where the size is known:
 * - a declared `content-length` over the limit is refused at once, before any body byte is
 *   read (the HTTP/1 connection is then closed, since the rest of the upload is not read);
 * - a body of unknown length (chunked, or HTTP/2 without content-length) is counted as it
 *   streams; the request fails with the status the moment it passes the limit (if the
 *   upstream has already started answering, the client's stream is reset instead).
 * Runs AfterRoute, so a route's `per_filter_config.payload_limit` replaces the listener's
 * settings (as in MOSN). `max_entity_size` 0 means no limit.
 *
 * MOSN's Go struct tags the size field `"max_entity_size "`, with a trailing space, so a
 * MOSN config that works has that key; both spellings are accepted here.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { defineStreamFilter, type StreamReceiverFilter, type StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { FilterConfigError, type FilterFactoryContext, type StatsCounter } from '../../../api/filter-factory.ts';
import { configObject, configValue, optionalInteger, unknownKeys } from '../../../api/config-helpers.ts';

export interface PayloadLimitConfig {
  /** Bytes; 0 = unlimited. */
  readonly maxEntitySize: number;
  readonly httpStatus: number;
}

interface PayloadLimitSettings extends PayloadLimitConfig {
  readonly rejected: StatsCounter;
}

const DEFAULT_STATUS = 413;
const KNOWN_KEYS = ['max_entity_size', 'max_entity_size ', 'http_status'];

/** Parses `{max_entity_size, http_status}` (listener entry or per-route entry). */
export function parsePayloadLimitConfig(raw: unknown, path: string, warn: (message: string) => void): PayloadLimitConfig {
  const obj = configObject(raw, path);
  for (const key of unknownKeys(obj, KNOWN_KEYS)) warn(`${path}.${key}: unknown payload_limit key, ignored`);
  // The trailing-space spelling is MOSN's (see the module comment); a plain key wins when both are given.
  const size = configValue(obj, 'max_entity_size') !== undefined
    ? optionalInteger(obj, 'max_entity_size', path, { min: 0 })
    : optionalInteger(obj, 'max_entity_size ', path, { min: 0 });
  const status = optionalInteger(obj, 'http_status', path, { min: 0, max: 599 });
  if (status !== undefined && status !== 0 && status < 200) {
    throw new FilterConfigError(`${path}.http_status`, 'an HTTP status from 200 to 599 (0 or absent: 413)');
  }
  return { maxEntitySize: size ?? 0, httpStatus: status === undefined || status === 0 ? DEFAULT_STATUS : status };
}

/** The error a counting transform fails with: the proxy answers with its `status`. */
class PayloadTooLargeError extends Error {
  readonly status: number;
  constructor(limit: number, status: number) {
    super(`request body larger than ${limit} bytes`);
    this.status = status;
  }
}

/** Passes bytes through unchanged and fails once more than `limit` have gone by. */
class BodySizeLimit extends Transform {
  readonly #limit: number;
  readonly #status: number;
  readonly #onReject: () => void;
  #seen = 0;

  constructor(limit: number, status: number, onReject: () => void) {
    super();
    this.#limit = limit;
    this.#status = status;
    this.#onReject = onReject;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) {
      this.#onReject();
      callback(new PayloadTooLargeError(this.#limit, this.#status));
      return;
    }
    callback(null, chunk);
  }
}

class PayloadLimitFilter implements StreamReceiverFilter {
  readonly #settings: PayloadLimitSettings;

  constructor(settings: PayloadLimitSettings) {
    this.#settings = settings;
  }

  onReceive(handler: StreamReceiverFilterHandler): 'Continue' | 'Stop' {
    const perRoute = handler.perRouteConfig() as PayloadLimitConfig | undefined;
    const { maxEntitySize: limit, httpStatus: status } = perRoute ?? this.#settings;
    if (limit === 0) return 'Continue';
    const rejected = this.#settings.rejected;
    const buffered = handler.requestBody;
    const declared = handler.request.headers.get('content-length');
    const size = buffered !== undefined ? buffered.length : declared !== undefined ? Number(declared) : undefined;
    if (size !== undefined && Number.isFinite(size)) {
      if (size <= limit) return 'Continue';
      rejected.inc();
      handler.logger.debug({ size, limit }, 'payload_limit: request body too large');
      handler.sendDirectResponse(status, { 'content-type': 'text/plain' }, `request body larger than ${limit} bytes\n`);
      return 'Stop';
    }
    // Unknown length: count while it streams (a bodiless request ignores the transform).
    handler.transformRequestBody(new BodySizeLimit(limit, status, () => rejected.inc()));
    return 'Continue';
  }
}

export const payloadLimitFactory = defineStreamFilter<PayloadLimitFilter>({
  type: 'payload_limit',
  parseConfig(raw: unknown, context: FilterFactoryContext): PayloadLimitFilter {
    return new PayloadLimitFilter({ ...parsePayloadLimitConfig(raw, context.path, context.warn), rejected: context.stats.counter('rejected') });
  },
  parsePerRouteConfig(raw: unknown, context: FilterFactoryContext): PayloadLimitConfig {
    return parsePayloadLimitConfig(raw, context.path, context.warn);
  },
  createFilters(filter, chain): void {
    // Stateless: the same filter serves every request, no allocation per request.
    chain.addReceiver(filter, 'AfterRoute');
  },
});

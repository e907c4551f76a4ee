/**
 * @module protocol/http2/hpack/static-table
 * The HPACK static table (RFC 7541 Appendix A): 61 fixed (name, value) entries that both
 * ends of every HTTP/2 connection share. The decoder hands out these exact string
 * constants for indexed static names and values, so an indexed header costs no new
 * string; the encoder finds a header's static entries with one Map lookup by name.
 */

/** Entries 1..61; dynamic table entries are numbered from 62. */
export const STATIC_TABLE_LENGTH = 61;

/** Name of static entry i, for i in 1..61 (slot 0 is a placeholder: index 0 is invalid). */
export const STATIC_NAMES: readonly string[] = [
  '',
  ':authority',
  ':method',
  ':method',
  ':path',
  ':path',
  ':scheme',
  ':scheme',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'accept',
  'access-control-allow-origin',
  'age',
  'allow',
  'authorization',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-range',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expect',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'link',
  'location',
  'max-forwards',
  'proxy-authenticate',
  'proxy-authorization',
  'range',
  'referer',
  'refresh',
  'retry-after',
  'server',
  'set-cookie',
  'strict-transport-security',
  'transfer-encoding',
  'user-agent',
  'vary',
  'via',
  'www-authenticate',
];

/** Value of static entry i (empty for the name-only entries 15 and 17..61). */
export const STATIC_VALUES: readonly string[] = (() => {
  const values = new Array<string>(STATIC_TABLE_LENGTH + 1).fill('');
  const set: ReadonlyArray<readonly [number, string]> = [
    [2, 'GET'],
    [3, 'POST'],
    [4, '/'],
    [5, '/index.html'],
    [6, 'http'],
    [7, 'https'],
    [8, '200'],
    [9, '204'],
    [10, '206'],
    [11, '304'],
    [12, '400'],
    [13, '404'],
    [14, '500'],
    [16, 'gzip, deflate'],
  ];
  for (const [index, value] of set) values[index] = value;
  return values;
})();

/** What the static table holds for one name. */
export interface StaticName {
  /** Lowest static index with this name (what a literal with indexed name refers to). */
  readonly index: number;
  /** Values of the entries index, index+1, ...: same-name entries are contiguous in the table. */
  readonly values: readonly string[];
}

/** Static entries by name, for the encoder. */
export const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const map = new Map<string, { index: number; values: string[] }>();
  for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) {
    const name = STATIC_NAMES[i]!;
    const entry = map.get(name);
    if (entry === undefined) map.set(name, { index: i, values: [STATIC_VALUES[i]!] });
    else entry.values.push(STATIC_VALUES[i]!);
  }
  return map;
})();

/** Static index of the full (name, value) pair, or 0. */
export function staticPairIndex(name: string, value: string): number {
  const entry = STATIC_BY_NAME.get(name);
  if (entry === undefined) return 0;
  const i = entry.values.indexOf(value);
  return i < 0 ? 0 : entry.index + i;
}

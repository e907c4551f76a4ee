/**
 * @module protocol/http2/hpack/hpack-encoder
 * HPACK encoder (RFC 7541) for mosnode's own HTTP/2 codec: one response (or trailer)
 * header block per call, written into a scratch buffer all encoders share.
 *
 * Speed first, then size. Each header costs a Map lookup by name, which gives its
 * static-table entries and its indexing policy (and a second one, in the dynamic table,
 * for fields that may be there):
 * - a full static match (":status: 200", "accept-encoding: gzip, deflate", ...) is one byte;
 * - sensitive fields (authorization, proxy-authorization, and cookie / set-cookie values
 *   under 20 bytes, which are short enough to guess) are literals never indexed (§7.1.3),
 *   so no intermediary may put them in a table either;
 * - fields that change on every response (date, content-length, etag, request ids...) and
 *   values over 256 bytes are literals without indexing, so they do not churn the table
 *   (the last `date` field's bytes are kept: it is the same for a whole second);
 * - anything else goes through the dynamic table: a repeat is one or two bytes, a first
 *   sight is a literal with incremental indexing. The table is found by name (a Map from
 *   name to that name's entries, oldest first), so a lookup allocates nothing.
 * Strings up to 256 bytes are Huffman-coded when that is shorter (it almost always is for
 * text; the coded length is counted first, one table lookup per char); longer ones go raw,
 * since coding them costs more time than the ~25% it saves is worth.
 *
 * The dynamic table is min(peer's SETTINGS_HEADER_TABLE_SIZE, 4096) bytes; a change is
 * announced by a size update at the start of the next block (§4.2, §6.3).
 */
import { STATIC_BY_NAME, STATIC_TABLE_LENGTH } from './static-table.ts';
import { huffmanEncode, huffmanEncodedLength } from './huffman.ts';

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;
/** Our own cap on the table we keep for the peer's decoder (also the protocol default). */
const MAX_TABLE_SIZE = 4096;
/** Entries the table can hold at MAX_TABLE_SIZE (each is at least 32 bytes): the ring's size. */
const RING = MAX_TABLE_SIZE / ENTRY_OVERHEAD;
/** Values longer than this are neither indexed nor Huffman-coded. */
const MAX_INDEXED_VALUE = 256;
const MAX_HUFFMAN = 256;
/** cookie / set-cookie values shorter than this are never indexed. */
const SHORT_SECRET = 20;

// Indexing policies.
const INDEX = 0;
const NO_INDEX = 1;
const NEVER = 2;
const NEVER_IF_SHORT = 3;
/** NO_INDEX, and the last encoding is kept: the value is the same for every response within a second. */
const DATE = 4;

interface NameInfo {
  /** Lowest static index with this name, or 0. */
  readonly staticIndex: number;
  /** Static values for staticIndex, staticIndex+1, ... */
  readonly staticValues: readonly string[];
  readonly policy: number;
}

const NO_VALUES: readonly string[] = [];
const DATE_INDEX = STATIC_BY_NAME.get('date')!.index;

/** Names that are never worth a table entry: their values differ between responses. */
const UNINDEXED_NAMES = [
  'date', 'content-length', 'etag', 'last-modified', 'age', 'expires', 'location', 'content-range',
  'if-modified-since', 'if-unmodified-since', 'if-none-match', 'if-match', 'if-range',
  'x-request-id', 'x-correlation-id', 'x-trace-id', 'x-amzn-requestid', 'x-amzn-trace-id', 'x-amz-request-id', 'x-amz-id-2',
  'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'sentry-trace', 'cf-ray',
  'x-envoy-upstream-service-time', 'server-timing', 'x-response-time', 'x-runtime', 'content-md5',
];

const NAME_INFO: ReadonlyMap<string, NameInfo> = (() => {
  const map = new Map<string, NameInfo>();
  const policy = (name: string, p: number): void => {
    const s = STATIC_BY_NAME.get(name);
    map.set(name, { staticIndex: s?.index ?? 0, staticValues: s?.values ?? NO_VALUES, policy: p });
  };
  for (const name of STATIC_BY_NAME.keys()) policy(name, INDEX);
  for (const name of UNINDEXED_NAMES) policy(name, NO_INDEX);
  policy('authorization', NEVER);
  policy('proxy-authorization', NEVER);
  policy('cookie', NEVER_IF_SHORT);
  policy('set-cookie', NEVER_IF_SHORT);
  policy('date', DATE);
  return map;
})();

/** One name's entries in the dynamic table, oldest first (eviction takes the oldest overall, so from the front). */
interface NameEntries {
  values: string[];
  /** Insertion number of each entry: its index is 62 + (inserted - 1 - seq). */
  seqs: number[];
}

type Latin1Write = (this: Buffer, text: string, offset: number, length: number) => number;
const latin1Write = (Buffer.prototype as unknown as { latin1Write: Latin1Write }).latin1Write;

/**
 * The block being encoded, shared by every encoder of the process: encode() returns a view
 * valid until the next call on any encoder, and callers copy it into a frame at once. One
 * buffer per connection would cost 10,000 idle HTTP/2 clients 40 MB.
 */
let scratch = Buffer.allocUnsafeSlow(4096);

export class HpackEncoder {
  /** Effective maximum table size: min(peer's setting, 4096). */
  #maxSize = MAX_TABLE_SIZE;
  #size = 0;
  // The table as a ring indexed by insertion number & (RING - 1).
  readonly #ringNames = new Array<string>(RING).fill('');
  readonly #ringValues = new Array<string>(RING).fill('');
  /** Insertion number of the next entry; entries oldest..inserted-1 are live. */
  #inserted = 0;
  #oldest = 0;
  readonly #byName = new Map<string, NameEntries>();
  // The last `date` field's bytes (an IMF-fixdate is 29 chars, 22 bytes in Huffman).
  #dateValue = '';
  readonly #dateBytes = new Uint8Array(48);
  #dateLength = 0;
  /** Smallest size set since the last block (or -1: none): announced first if below the final one (§4.2). */
  #updateMin = -1;

  /** The peer's SETTINGS_HEADER_TABLE_SIZE. The encoder uses min(that, 4096) for its dynamic table and emits the required dynamic table size update at the start of the next block when the effective size changes. */
  setPeerMaxTableSize(size: number): void {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`invalid HPACK table size ${size}`);
    const effective = Math.min(size, MAX_TABLE_SIZE);
    if (effective === this.#maxSize) return;
    this.#maxSize = effective;
    this.#evict(effective);
    this.#updateMin = this.#updateMin < 0 ? effective : Math.min(this.#updateMin, effective);
  }

  /**
   * Encodes one header block: `status` first as ":status" (pass -1 for no :status, e.g. trailers),
   * then the flat name/value pairs (names already lowercase). Writes into an internal reusable scratch and
   * returns a view of the bytes that is valid only until the next encode() call (the caller copies it into its frame).
   */
  encode(status: number, pairs: readonly string[]): Uint8Array {
    let pos = 0;
    if (this.#updateMin >= 0) {
      // A size update was due even if the size came back to where it was: the peer's
      // decoder may have shrunk its table meanwhile (RFC 7541 §4.2).
      if (this.#updateMin < this.#maxSize) pos = writeInteger(scratch, pos, 0x20, 0x1f, this.#updateMin);
      pos = writeInteger(scratch, pos, 0x20, 0x1f, this.#maxSize);
      this.#updateMin = -1;
    }
    if (status >= 0) pos = this.#status(status, pos);
    for (let i = 0; i + 1 < pairs.length; i += 2) pos = this.#field(pairs[i]!, pairs[i + 1]!, pos);
    return scratch.subarray(0, pos);
  }

  #status(status: number, pos: number): number {
    let index: number;
    switch (status) {
      case 200: index = 8; break;
      case 204: index = 9; break;
      case 206: index = 10; break;
      case 304: index = 11; break;
      case 400: index = 12; break;
      case 404: index = 13; break;
      case 500: index = 14; break;
      default:
        // Literal without indexing, name index 8 (":status").
        scratch[pos++] = 0x08;
        return this.#string(String(status), pos);
    }
    scratch[pos++] = 0x80 | index;
    return pos;
  }

  #field(name: string, value: string, pos: number): number {
    // Room for the strings at their raw length (Huffman is used only when shorter) and up to three integers.
    if (pos + name.length + value.length + 20 > scratch.length) this.#grow(pos + name.length + value.length + 20);
    const buf = scratch;
    const info = NAME_INFO.get(name);
    let nameIndex = 0;
    let policy = INDEX;
    if (info !== undefined) {
      const values = info.staticValues;
      for (let k = 0; k < values.length; k++) {
        if (values[k] === value) return writeInteger(buf, pos, 0x80, 0x7f, info.staticIndex + k);
      }
      nameIndex = info.staticIndex;
      policy = info.policy;
    }
    if (policy === NEVER || (policy === NEVER_IF_SHORT && value.length < SHORT_SECRET)) {
      return this.#literal(0x10, 0x0f, nameIndex, name, value, pos);
    }
    // These names never enter the dynamic table, so there is nothing to look up there.
    if (policy === NO_INDEX) return this.#literal(0x00, 0x0f, nameIndex, name, value, pos);
    if (policy === DATE) return this.#date(value, pos);
    const entries = this.#byName.get(name);
    if (entries !== undefined) {
      const seqs = entries.seqs;
      const values = entries.values;
      for (let k = values.length - 1; k >= 0; k--) {
        if (values[k] === value) return writeInteger(buf, pos, 0x80, 0x7f, this.#indexOf(seqs[k]!));
      }
      if (nameIndex === 0) nameIndex = this.#indexOf(seqs[seqs.length - 1]!);
    }
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (value.length > MAX_INDEXED_VALUE || size > this.#maxSize) {
      return this.#literal(0x00, 0x0f, nameIndex, name, value, pos);
    }
    pos = this.#literal(0x40, 0x3f, nameIndex, name, value, pos);
    this.#insert(name, value, size);
    return pos;
  }

  /** `date: value` as a literal without indexing, copied from the last one when the value is the same. */
  #date(value: string, pos: number): number {
    const buf = scratch;
    const cached = this.#dateBytes;
    if (value === this.#dateValue && this.#dateLength !== 0) {
      for (let i = 0; i < this.#dateLength; i++) buf[pos + i] = cached[i]!;
      return pos + this.#dateLength;
    }
    const end = this.#literal(0x00, 0x0f, DATE_INDEX, 'date', value, pos);
    if (end - pos <= cached.length) {
      for (let i = pos; i < end; i++) cached[i - pos] = buf[i]!;
      this.#dateValue = value;
      this.#dateLength = end - pos;
    }
    return end;
  }

  /** Dynamic table index of the entry inserted as number `seq`. */
  #indexOf(seq: number): number {
    return STATIC_TABLE_LENGTH + this.#inserted - seq;
  }

  /** A literal field (§6.2): `flags` and the `prefix` mask say which kind. */
  #literal(flags: number, prefix: number, nameIndex: number, name: string, value: string, pos: number): number {
    if (nameIndex !== 0) {
      pos = writeInteger(scratch, pos, flags, prefix, nameIndex);
    } else {
      scratch[pos++] = flags;
      pos = this.#string(name, pos);
    }
    return this.#string(value, pos);
  }

  /** A string literal (§5.2), Huffman-coded when that is shorter. */
  #string(str: string, pos: number): number {
    const buf = scratch;
    const length = str.length;
    if (length <= MAX_HUFFMAN) {
      const coded = huffmanEncodedLength(str);
      if (coded < length) return huffmanEncode(str, buf, writeInteger(buf, pos, 0x80, 0x7f, coded));
    }
    pos = writeInteger(buf, pos, 0x00, 0x7f, length);
    if (length > 64) return pos + latin1Write.call(buf, str, pos, length);
    for (let i = 0; i < length; i++) buf[pos + i] = str.charCodeAt(i);
    return pos + length;
  }

  /** Adds an entry as the newest (size <= #maxSize), evicting the oldest to make room. */
  #insert(name: string, value: string, size: number): void {
    this.#evict(this.#maxSize - size);
    const seq = this.#inserted++;
    const slot = seq & (RING - 1);
    this.#ringNames[slot] = name;
    this.#ringValues[slot] = value;
    this.#size += size;
    const entries = this.#byName.get(name);
    if (entries === undefined) {
      this.#byName.set(name, { values: [value], seqs: [seq] });
    } else {
      entries.values.push(value);
      entries.seqs.push(seq);
    }
  }

  /** Evicts the oldest entries until the table's size is at most `target`. */
  #evict(target: number): void {
    while (this.#size > target) {
      const slot = this.#oldest++ & (RING - 1);
      const name = this.#ringNames[slot]!;
      const value = this.#ringValues[slot]!;
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
      this.#ringNames[slot] = '';
      this.#ringValues[slot] = '';
      const entries = this.#byName.get(name)!;
      if (entries.values.length === 1) {
        this.#byName.delete(name);
      } else {
        entries.values.shift();
        entries.seqs.shift();
      }
    }
  }

  /** Replaces the scratch with one of at least `min` bytes, keeping what the block has so far. */
  #grow(min: number): void {
    const next = Buffer.allocUnsafeSlow(Math.max(min, scratch.length * 2));
    next.set(scratch);
    scratch = next;
  }
}

/** An integer with an N-bit prefix (RFC 7541 §5.1): `flags` are the first byte's high bits, `max` is 2^N - 1. */
function writeInteger(buf: Uint8Array, pos: number, flags: number, max: number, value: number): number {
  if (value < max) {
    buf[pos++] = flags | value;
    return pos;
  }
  buf[pos++] = flags | max;
  value -= max;
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[pos++] = value;
  return pos;
}

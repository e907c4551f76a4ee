/**
 * @module protocol/http2/hpack/hpack-decoder
 * HPACK decoder (RFC 7541) for mosnode's own HTTP/2 codec: turns one complete header
 * block into a flat name, value, name, value... array of latin1 strings and keeps the
 * connection's dynamic table in step with the peer's encoder.
 *
 * It runs on every request, so: indexed static fields hand out the static table's own
 * string constants; the dynamic table is a ring of (name, value) strings, so an indexed
 * dynamic field is two array reads; Huffman strings decode through the byte-at-a-time
 * state machine in huffman.ts into one reused scratch buffer; every string is made with
 * one call (fixed-arity String.fromCharCode up to 16 chars, which stays in JIT code, or
 * one latin1Slice above that), and nothing else is allocated per field.
 *
 * Any malformed block is an HpackError: the connection must end with
 * GOAWAY(COMPRESSION_ERROR) (RFC 9113 §4.3), since the tables are out of step from then on.
 */
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from './static-table.ts';
import { HUFFMAN_EOS, huffmanDecode, huffmanMaxDecodedLength } from './huffman.ts';

/** A header block that cannot be decoded: the connection must end with GOAWAY(COMPRESSION_ERROR). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;
/** RFC 7540 §6.5.2: the initial SETTINGS_HEADER_TABLE_SIZE. */
const DEFAULT_TABLE_SIZE = 4096;
/** Integers above this are refused (the brief's bound; no sane index, length or size gets near it). */
const MAX_INTEGER = 0x7fffffff;

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;
const fcc = String.fromCharCode;

/**
 * b[p..p+n) as a latin1 string. Node's latin1Slice costs a trip to C++ (~50 ns even for
 * 3 bytes); String.fromCharCode with a fixed argument count stays in V8's builtins and
 * is several times cheaper for the short strings most header values are.
 */
function latin1(b: Uint8Array, p: number, n: number): string {
  switch (n) {
    case 0: return '';
    case 1: return fcc(b[p]!);
    case 2: return fcc(b[p]!, b[p + 1]!);
    case 3: return fcc(b[p]!, b[p + 1]!, b[p + 2]!);
    case 4: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
    case 5: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!);
    case 6: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    case 7: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!);
    case 8: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    case 9: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!);
    case 10: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!);
    case 11: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!);
    case 12: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!);
    case 13: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!);
    case 14: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!);
    case 15: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!);
    case 16: return fcc(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!);
    default: return latin1Slice.call(b, p, p + n);
  }
}

/** Where Huffman strings are decoded before becoming strings; grown on demand, shared (decode is synchronous). */
let scratch = new Uint8Array(4096);

/** Position after the integer or string the last readIntegerTail / readString call read (their second return value). */
let nextPos = 0;

/**
 * The rest of an integer whose prefix (RFC 7541 §5.1) was all ones: `value` is that
 * prefix, the continuation bytes start at `pos`. Sets nextPos.
 */
function readIntegerTail(block: Uint8Array, pos: number, end: number, value: number): number {
  let shift = 0;
  for (;;) {
    if (pos >= end) throw new HpackError('HPACK integer truncated');
    const byte = block[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (value > MAX_INTEGER) throw new HpackError('HPACK integer overflow');
    if ((byte & 0x80) === 0) break;
    shift += 7;
    // 2^31 needs at most 5 continuation bytes; more are zero padding or an attack.
    if (shift > 28) throw new HpackError('HPACK integer overflow');
  }
  nextPos = pos;
  return value;
}

/** The string literal (RFC 7541 §5.2) at `pos`. Sets nextPos. */
function readString(block: Uint8Array, pos: number, end: number): string {
  if (pos >= end) throw new HpackError('HPACK string truncated');
  const first = block[pos++]!;
  let length = first & 0x7f;
  if (length === 0x7f) {
    length = readIntegerTail(block, pos, end, length);
    pos = nextPos;
  }
  const stop = pos + length;
  if (stop > end) throw new HpackError('HPACK string longer than the header block');
  nextPos = stop;
  if ((first & 0x80) === 0) return latin1(block, pos, length);
  const max = huffmanMaxDecodedLength(length);
  if (scratch.length < max) scratch = new Uint8Array(Math.max(max, scratch.length * 2));
  const n = huffmanDecode(block, pos, stop, scratch);
  if (n < 0) throw new HpackError(n === HUFFMAN_EOS ? 'HPACK Huffman string contains EOS' : 'HPACK Huffman string has invalid padding');
  return latin1(scratch, 0, n);
}

export class HpackDecoder {
  /** SETTINGS_HEADER_TABLE_SIZE we advertise: the most a size update may ask for. */
  readonly #limit: number;
  /** Current maximum size of the dynamic table (changed by size updates). */
  #maxSize: number;
  /** Sum of the entries' sizes. */
  #size = 0;
  // Ring of entries: slot #newest holds dynamic index 62, the slot before it 63, and so on.
  #names: string[];
  #values: string[];
  #mask: number;
  #newest: number;
  #count = 0;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE we advertise (default 4096): a size update above it is an HpackError. */
  constructor(maxTableSize = DEFAULT_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) throw new RangeError(`invalid HPACK table size ${maxTableSize}`);
    this.#limit = maxTableSize;
    // The peer's encoder starts at the protocol's initial 4096 whatever we advertise: it may
    // send blocks before it has seen our SETTINGS, and changes size only with a size update
    // (which it owes us once it has, if we advertised less; RFC 7541 §4.2).
    this.#maxSize = DEFAULT_TABLE_SIZE;
    const capacity = 16;
    this.#names = new Array<string>(capacity).fill('');
    this.#values = new Array<string>(capacity).fill('');
    this.#mask = capacity - 1;
    this.#newest = this.#mask;
  }

  /** Number of entries in the dynamic table (for tests and diagnostics). */
  get dynamicTableLength(): number {
    return this.#count;
  }

  /** Size of the dynamic table as RFC 7541 §4.1 counts it (for tests and diagnostics). */
  get dynamicTableSize(): number {
    return this.#size;
  }

  /** Current maximum size of the dynamic table, as last set by a size update. */
  get dynamicTableMaxSize(): number {
    return this.#maxSize;
  }

  /** Dynamic entry `index` (62 = newest) as [name, value], or undefined (for tests and diagnostics). */
  dynamicEntry(index: number): [string, string] | undefined {
    const i = index - STATIC_TABLE_LENGTH - 1;
    if (i < 0 || i >= this.#count) return undefined;
    const slot = (this.#newest - i) & this.#mask;
    return [this.#names[slot]!, this.#values[slot]!];
  }

  /**
   * Decodes one whole header block (the HEADERS fragment plus any CONTINUATION fragments, joined) from
   * block[start..end), appending name, value, name, value... to `out` as latin1 strings.
   * Returns the header list size as RFC 7540 §6.5.2 counts it (sum of name.length + value.length + 32) so the
   * caller can answer 431; the block is always decoded completely so the dynamic table stays in sync.
   * Throws HpackError on any malformed input (bad index, integer overflow beyond 2^31 or beyond the block,
   * truncated string, invalid Huffman padding or EOS, a dynamic table size update that is not at the start of
   * the block or exceeds maxTableSize).
   */
  decode(block: Uint8Array, start: number, end: number, out: string[]): number {
    let pos = start;
    let listSize = 0;
    let fields = false;
    while (pos < end) {
      const first = block[pos++]!;
      let name: string;
      let value: string;
      if ((first & 0x80) !== 0) {
        // Indexed field (§6.1).
        let index = first & 0x7f;
        if (index === 0x7f) {
          index = readIntegerTail(block, pos, end, index);
          pos = nextPos;
        }
        if (index <= STATIC_TABLE_LENGTH) {
          if (index === 0) throw new HpackError('HPACK index 0');
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const i = index - STATIC_TABLE_LENGTH - 1;
          if (i >= this.#count) throw new HpackError(`HPACK index ${index} beyond the table`);
          const slot = (this.#newest - i) & this.#mask;
          name = this.#names[slot]!;
          value = this.#values[slot]!;
        }
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the first field.
        if (fields) throw new HpackError('HPACK table size update after a header field');
        let size = first & 0x1f;
        if (size === 0x1f) {
          size = readIntegerTail(block, pos, end, size);
          pos = nextPos;
        }
        if (size > this.#limit) throw new HpackError(`HPACK table size update ${size} above the advertised ${this.#limit}`);
        this.#maxSize = size;
        this.#evict(size);
        continue;
      } else {
        // Literal field (§6.2): with incremental indexing (01xxxxxx, 6-bit index) or
        // without / never indexed (0000xxxx / 0001xxxx, 4-bit index).
        const indexing = (first & 0x40) !== 0;
        const prefix = indexing ? 0x3f : 0x0f;
        let index = first & prefix;
        if (index === prefix) {
          index = readIntegerTail(block, pos, end, index);
          pos = nextPos;
        }
        if (index === 0) {
          name = readString(block, pos, end);
          pos = nextPos;
        } else if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_NAMES[index]!;
        } else {
          const i = index - STATIC_TABLE_LENGTH - 1;
          if (i >= this.#count) throw new HpackError(`HPACK name index ${index} beyond the table`);
          name = this.#names[(this.#newest - i) & this.#mask]!;
        }
        value = readString(block, pos, end);
        pos = nextPos;
        if (indexing) this.#insert(name, value);
      }
      fields = true;
      out.push(name, value);
      listSize += name.length + value.length + ENTRY_OVERHEAD;
    }
    return listSize;
  }

  /** Adds an entry as the newest (§4.4): evicts to make room; an entry larger than the table empties it. */
  #insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.#maxSize) {
      this.#evict(0);
      return;
    }
    this.#evict(this.#maxSize - size);
    if (this.#count > this.#mask) this.#grow();
    this.#newest = (this.#newest + 1) & this.#mask;
    this.#names[this.#newest] = name;
    this.#values[this.#newest] = value;
    this.#count++;
    this.#size += size;
  }

  /** Evicts oldest entries until the table's size is at most `target`. */
  #evict(target: number): void {
    while (this.#size > target) {
      const slot = (this.#newest - this.#count + 1) & this.#mask;
      this.#size -= this.#names[slot]!.length + this.#values[slot]!.length + ENTRY_OVERHEAD;
      // Drop the references so evicted strings can be collected.
      this.#names[slot] = '';
      this.#values[slot] = '';
      this.#count--;
    }
  }

  /** Doubles the ring, oldest entry first in slot 0 (entries are at least 32 bytes, so this stops at limit/32). */
  #grow(): void {
    const capacity = (this.#mask + 1) * 2;
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    for (let i = 0; i < this.#count; i++) {
      const slot = (this.#newest - this.#count + 1 + i) & this.#mask;
      names[i] = this.#names[slot]!;
      values[i] = this.#values[slot]!;
    }
    this.#names = names;
    this.#values = values;
    this.#mask = capacity - 1;
    this.#newest = this.#count - 1;
  }
}

/**
 * @module shm/cell-name
 * How a cell's name is stored in its fixed 108-byte name field, and the hashes the zone
 * uses. A name of at most MAX_CELL_NAME_BYTES UTF-8 bytes (and no NUL) is stored as is.
 * A longer one follows MOSN's rule, hash plus tail: 16 hex digits of the 64-bit FNV-1a of
 * the whole name, "~", then as much of the name's end as fits; the cell is flagged as
 * shortened, so a shortened name can never equal a natural one. Two long names that share
 * their tail still differ in the hash. The tail is kept because the end of a MOSN name is
 * the informative part (`...host.10.0.0.1:80.request_total`).
 * Pure functions; depends on nothing.
 */

/** The longest name stored verbatim; one byte of the 108-byte field stays NUL. */
export const MAX_CELL_NAME_BYTES = 107;

/** The size of a cell's name field. */
export const CELL_NAME_FIELD_BYTES = 108;

const HASH_PREFIX_CHARS = 16;
const SEPARATOR = '~';

/** A name ready to compare with, or write into, a cell's name field. */
export interface EncodedCellName {
  /** Exactly CELL_NAME_FIELD_BYTES bytes, NUL-padded. */
  readonly field: Uint8Array;
  /** The stored name as text (the name itself, or `hash~tail`). */
  readonly stored: string;
  /** True when the name was too long (or held a NUL) and was shortened to hash plus tail. */
  readonly shortened: boolean;
  /** FNV-1a (32 bit) of the stored field bytes: picks the hash bucket. */
  readonly hash: number;
}

const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** FNV-1a, 32 bits, over `bytes` (MOSN's bucket hash). */
export function fnv1a32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let hash = FNV32_OFFSET;
  for (let i = start; i < end; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, FNV32_PRIME);
  }
  return hash >>> 0;
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits, as 16 hex digits. BigInt arithmetic: only used when a cell is created. */
export function fnv1a64Hex(bytes: Uint8Array): string {
  let hash = FNV64_OFFSET;
  for (const byte of bytes) {
    hash ^= BigInt(byte);
    hash = (hash * FNV64_PRIME) & MASK64;
  }
  return hash.toString(16).padStart(HASH_PREFIX_CHARS, '0');
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes `name` for a cell's name field (see the module comment for the long-name rule). */
export function encodeCellName(name: string): EncodedCellName {
  const bytes = encoder.encode(name);
  const shortened = bytes.length > MAX_CELL_NAME_BYTES || bytes.includes(0);
  let storedBytes = bytes;
  if (shortened) {
    const prefix = encoder.encode(fnv1a64Hex(bytes) + SEPARATOR);
    let tailStart = Math.max(0, bytes.length - (MAX_CELL_NAME_BYTES - prefix.length));
    // Start the tail on a character boundary, not inside a multi-byte UTF-8 sequence.
    while (tailStart < bytes.length && (bytes[tailStart]! & 0xc0) === 0x80) tailStart++;
    // A NUL would end the name early when it is read back; the hash keeps names distinct.
    const tail = bytes.subarray(tailStart).map((byte) => (byte === 0 ? 0x3f : byte));
    storedBytes = new Uint8Array(prefix.length + tail.length);
    storedBytes.set(prefix);
    storedBytes.set(tail, prefix.length);
  }
  const field = new Uint8Array(CELL_NAME_FIELD_BYTES);
  field.set(storedBytes);
  return { field, stored: decoder.decode(storedBytes), shortened, hash: fnv1a32(field) };
}

/** The stored name in a name field (up to its first NUL). */
export function decodeCellName(field: Uint8Array): string {
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

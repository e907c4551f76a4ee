/**
 * @module protocol/http2/hpack/huffman
 * The HPACK Huffman code (RFC 7541 Appendix B): the code table, a table-driven decoder
 * and the encoder. The decoder walks the code tree a whole input byte at a time: a
 * 256-state x 256-byte transition table, built once at module load from the code table,
 * gives for each (state, byte) the next state and the 0, 1 or 2 symbols the byte
 * completes, so decoding is one lookup per input byte and no allocation. A state is an
 * internal node of the code tree (257 leaves, so 256 internal nodes; the root is 0).
 *
 * Strings are latin1 here: one symbol per byte, one byte per char.
 */

/** Code of symbol 0..255 and EOS (256), right-aligned, as RFC 7541 Appendix B lists it. */
export const HUFFMAN_CODES: Int32Array = Int32Array.of(
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
  0x3fffffff);

/** Length in bits of each code in HUFFMAN_CODES. */
export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.of(
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30);

const EOS = 256;

/** The decoded bytes would not be an HPACK string: the EOS symbol appears in it. */
export const HUFFMAN_EOS = -1;
/** The decoded bytes would not be an HPACK string: padding over 7 bits, or not the EOS prefix (all ones). */
export const HUFFMAN_BAD_PADDING = -2;

/**
 * The code tree: child[node * 2 + bit] is an internal node (> 0; the root, 0, is no one's
 * child, so 0 means "not yet made") or a leaf, ~symbol (< 0).
 */
const child = new Int32Array(512);
{
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let bit = HUFFMAN_LENGTHS[sym]! - 1; bit > 0; bit--) {
      const slot = node * 2 + ((code >>> bit) & 1);
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot]!;
    }
    child[node * 2 + (code & 1)] = ~sym;
  }
  // A complete prefix code over 257 symbols has exactly 256 internal nodes.
  if (nodes !== 256) throw new Error(`HPACK Huffman table is corrupt (${nodes} internal nodes)`);
}

// Transition entry layout: bits 0-1 how many symbols the byte completed (0, 1 or 2), bit 2
// the next state may end a string, bit 3 EOS seen, bits 8-15 the next state (so that
// `entry & 0xff00 | byte` is the next lookup), bits 16-23 and 24-31 the symbols.
const ACCEPT = 1 << 2;
const FAIL = 1 << 3;

/** Transition for (state << 8 | byte). Int32: the top symbol may set bit 31. */
const DECODE = buildDecodeTable();

/** Fills the transition table (a function rather than top-level code, so its loops get optimised). */
function buildDecodeTable(): Int32Array {
  const table = new Int32Array(256 * 256);
  // Built from a 4-bit table (16 steps per state, at most one symbol per nibble), two
  // nibbles per byte: a few times fewer steps than walking 8 bits for each of the 65536.
  const nibbleNext = new Uint8Array(256 * 16);
  /** Symbol a nibble completes, or -1 (none), or -2 (EOS: the string is invalid). */
  const nibbleSym = new Int16Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let sym = -1;
      for (let bit = 3; bit >= 0; bit--) {
        const next = child[node * 2 + ((nibble >>> bit) & 1)]!;
        if (next >= 0) {
          node = next;
        } else {
          sym = ~next === EOS ? -2 : ~next;
          node = 0;
        }
      }
      nibbleNext[state * 16 + nibble] = node;
      nibbleSym[state * 16 + nibble] = sym;
    }
  }
  // A string may end mid-code only on a padding prefix: up to 7 one-bits from the root (the start of EOS).
  const accepting = new Uint8Array(256);
  for (let node = 0, ones = 0; ones <= 7; ones++, node = child[node * 2 + 1]!) accepting[node] = 1;
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      const high = state * 16 + (byte >>> 4);
      const low = nibbleNext[high]! * 16 + (byte & 15);
      const first = nibbleSym[high]!;
      const second = nibbleSym[low]!;
      const node = nibbleNext[low]!;
      let entry: number;
      if (first === -2 || second === -2) {
        // Decoding goes on harmlessly from the root; the caller fails at the end.
        entry = FAIL;
      } else {
        let count = 0;
        let syms = 0;
        if (first >= 0) syms = first << (8 * count++);
        if (second >= 0) syms |= second << (8 * count++);
        entry = (syms << 16) | (node << 8) | (accepting[node] === 1 ? ACCEPT : 0) | count;
      }
      table[(state << 8) | byte] = entry;
    }
  }
  return table;
}

/**
 * Room `huffmanDecode` needs in dst for `n` coded bytes: the most they can decode to (the
 * shortest code is 5 bits), plus one byte it may scribble past the end.
 */
export function huffmanMaxDecodedLength(n: number): number {
  return Math.floor((n * 8) / 5) + 1;
}

/**
 * Decodes src[start..end) into dst from 0, which must hold huffmanMaxDecodedLength(end - start)
 * bytes. Returns how many bytes it wrote, or HUFFMAN_EOS / HUFFMAN_BAD_PADDING.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let entry = ACCEPT;
  let seen = 0;
  let out = 0;
  for (let i = start; i < end; i++) {
    entry = DECODE[(entry & 0xff00) | src[i]!]!;
    // Both symbol slots are written and `out` moves by the count: no branch on how many
    // symbols a byte completed, which is data-dependent and mispredicts.
    dst[out] = entry >>> 16;
    dst[out + 1] = entry >>> 24;
    out += entry & 3;
    seen |= entry;
  }
  if ((seen & FAIL) !== 0) return HUFFMAN_EOS;
  return (entry & ACCEPT) !== 0 ? out : HUFFMAN_BAD_PADDING;
}

/** Bytes the Huffman coding of latin1 `str` takes (chars above 0xFF are taken modulo 256). */
export function huffmanEncodedLength(str: string): number {
  let bits = 0;
  for (let i = 0; i < str.length; i++) bits += HUFFMAN_LENGTHS[str.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman coding of latin1 `str` into dst at `pos` (huffmanEncodedLength(str)
 * bytes must fit) and returns the position after it. The last byte is padded with the
 * start of EOS (one-bits), as RFC 7541 §5.2 requires.
 */
export function huffmanEncode(str: string, dst: Uint8Array, pos: number): number {
  // Bits wait in `acc` (at most 7 between symbols); only its low `pending` bits matter.
  let acc = 0;
  let pending = 0;
  for (let i = 0; i < str.length; i++) {
    const sym = str.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[sym]!;
    if (len > 24) {
      // 7 pending + 30 bits would overflow 32: the top of the code first (control and high bytes only).
      const code = HUFFMAN_CODES[sym]!;
      acc = (acc << (len - 16)) | (code >>> 16);
      pending += len - 16;
      while (pending >= 8) {
        pending -= 8;
        dst[pos++] = acc >>> pending;
      }
      acc = (acc << 16) | (code & 0xffff);
      pending += 16;
    } else {
      acc = (acc << len) | HUFFMAN_CODES[sym]!;
      pending += len;
    }
    // At most 31 bits pending: up to three whole bytes, unrolled (a loop is slower here).
    if (pending >= 8) {
      pending -= 8;
      dst[pos++] = acc >>> pending;
      if (pending >= 8) {
        pending -= 8;
        dst[pos++] = acc >>> pending;
        if (pending >= 8) {
          pending -= 8;
          dst[pos++] = acc >>> pending;
        }
      }
    }
  }
  if (pending > 0) dst[pos++] = (acc << (8 - pending)) | (0xff >>> pending);
  return pos;
}

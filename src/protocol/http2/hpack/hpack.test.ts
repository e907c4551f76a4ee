/**
 * HPACK (RFC 7541): the Huffman code table and coder, the decoder against the RFC's
 * Appendix C examples (one decoder per example group, so the dynamic table carries from
 * block to block, eviction included), the decoder's refusal of each kind of malformed
 * block, the encoder's choices and its round trip through the decoder across table size
 * changes, and interop with node:http2 (nghttp2's HPACK) on real sockets both ways: a
 * node:http2 client's request blocks read off the wire and decoded here, and blocks
 * encoded here answered to a node:http2 client that must see the same headers.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import {
  HUFFMAN_BAD_PADDING,
  HUFFMAN_CODES,
  HUFFMAN_EOS,
  HUFFMAN_LENGTHS,
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
  huffmanMaxDecodedLength,
} from './huffman.ts';
import { STATIC_BY_NAME, STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES, staticPairIndex } from './static-table.ts';
import { HpackDecoder, HpackError } from './hpack-decoder.ts';
import { HpackEncoder } from './hpack-encoder.ts';

// ------------------------------------------------------------------ helpers

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Bytes from the RFC's hex dumps (spaces and newlines ignored). */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function decodeBlock(decoder: HpackDecoder, block: Uint8Array): { fields: string[]; size: number } {
  const fields: string[] = [];
  const size = decoder.decode(block, 0, block.length, fields);
  return { fields, size };
}

/** The decoder's dynamic table, newest first, as [name, value] pairs. */
function dynamicTable(decoder: HpackDecoder): [string, string][] {
  const entries: [string, string][] = [];
  for (let i = 0; i < decoder.dynamicTableLength; i++) entries.push(decoder.dynamicEntry(STATIC_TABLE_LENGTH + 1 + i)!);
  return entries;
}

function listSize(fields: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < fields.length; i += 2) size += fields[i]!.length + fields[i + 1]!.length + 32;
  return size;
}

/** A deterministic pseudo-random sequence, so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// ------------------------------------------------------------------ static table

describe('static table', () => {
  test('has the 61 entries of RFC 7541 Appendix A', () => {
    assert.equal(STATIC_NAMES.length, 62);
    assert.equal(STATIC_VALUES.length, 62);
    assert.deepEqual([STATIC_NAMES[1], STATIC_VALUES[1]], [':authority', '']);
    assert.deepEqual([STATIC_NAMES[2], STATIC_VALUES[2]], [':method', 'GET']);
    assert.deepEqual([STATIC_NAMES[8], STATIC_VALUES[8]], [':status', '200']);
    assert.deepEqual([STATIC_NAMES[16], STATIC_VALUES[16]], ['accept-encoding', 'gzip, deflate']);
    assert.deepEqual([STATIC_NAMES[32], STATIC_VALUES[32]], ['cookie', '']);
    assert.deepEqual([STATIC_NAMES[61], STATIC_VALUES[61]], ['www-authenticate', '']);
  });

  test('finds full matches and names for the encoder', () => {
    assert.equal(staticPairIndex(':status', '404'), 13);
    assert.equal(staticPairIndex(':path', '/index.html'), 5);
    assert.equal(staticPairIndex(':path', '/other'), 0);
    assert.equal(staticPairIndex('age', ''), 21);
    assert.equal(staticPairIndex('x-unknown', ''), 0);
    assert.equal(STATIC_BY_NAME.get(':status')?.index, 8);
    assert.equal(STATIC_BY_NAME.get('content-type')?.index, 31);
  });
});

// ------------------------------------------------------------------ Huffman

describe('huffman', () => {
  test('the code table is the complete canonical code of RFC 7541 Appendix B', () => {
    assert.equal(HUFFMAN_CODES.length, 257);
    assert.equal(HUFFMAN_LENGTHS.length, 257);
    // Kraft sum exactly 1 (complete, no gaps), every code fits its length, and codes are
    // assigned in (length, symbol) order: a transcription error breaks one of these.
    let kraft = 0;
    const order = [...Array(257).keys()].sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
    let expected = 0;
    let previousLength = HUFFMAN_LENGTHS[order[0]!]!;
    for (const sym of order) {
      const len = HUFFMAN_LENGTHS[sym]!;
      kraft += 2 ** (30 - len);
      assert.ok(HUFFMAN_CODES[sym]! < 2 ** len, `code of ${sym} longer than ${len} bits`);
      expected *= 2 ** (len - previousLength);
      previousLength = len;
      assert.equal(HUFFMAN_CODES[sym], expected, `code of symbol ${sym}`);
      expected++;
    }
    assert.equal(kraft, 2 ** 30);
    // Spot checks against the RFC's listing.
    assert.deepEqual([HUFFMAN_CODES[48], HUFFMAN_LENGTHS[48]], [0x0, 5]); // '0'
    assert.deepEqual([HUFFMAN_CODES[32], HUFFMAN_LENGTHS[32]], [0x14, 6]); // ' '
    assert.deepEqual([HUFFMAN_CODES[0], HUFFMAN_LENGTHS[0]], [0x1ff8, 13]);
    assert.deepEqual([HUFFMAN_CODES[10], HUFFMAN_LENGTHS[10]], [0x3ffffffc, 30]);
    assert.deepEqual([HUFFMAN_CODES[255], HUFFMAN_LENGTHS[255]], [0x3ffffee, 26]);
    assert.deepEqual([HUFFMAN_CODES[256], HUFFMAN_LENGTHS[256]], [0x3fffffff, 30]);
  });

  test('encodes the RFC examples byte for byte', () => {
    const cases: [string, string][] = [
      ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
      ['no-cache', 'a8eb 1064 9cbf'],
      ['custom-key', '25a8 49e9 5ba9 7d7f'],
      ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
      ['302', '6402'],
      ['private', 'aec3 771a 4b'],
      ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
      ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
    ];
    for (const [text, coded] of cases) {
      const expected = hex(coded);
      assert.equal(huffmanEncodedLength(text), expected.length, text);
      const out = new Uint8Array(64);
      const end = huffmanEncode(text, out, 3);
      assert.deepEqual(Buffer.from(out.subarray(3, end)), expected, text);
      const back = new Uint8Array(huffmanMaxDecodedLength(expected.length));
      const n = huffmanDecode(expected, 0, expected.length, back);
      assert.equal(Buffer.from(back.subarray(0, n)).toString('latin1'), text);
    }
  });

  test('every byte value and random strings round-trip', () => {
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const random = rng(7);
    const samples = [all, '', 'a', '\u00ff\u0000\u00ff', all.split('').reverse().join('')];
    for (let i = 0; i < 300; i++) {
      let s = '';
      const len = Math.floor(random() * 60);
      // Mostly text, some of any byte.
      for (let j = 0; j < len; j++) s += String.fromCharCode(random() < 0.8 ? 32 + Math.floor(random() * 95) : Math.floor(random() * 256));
      samples.push(s);
    }
    for (const s of samples) {
      const coded = new Uint8Array(huffmanEncodedLength(s));
      assert.equal(huffmanEncode(s, coded, 0), coded.length);
      const back = new Uint8Array(huffmanMaxDecodedLength(coded.length));
      const n = huffmanDecode(coded, 0, coded.length, back);
      assert.equal(Buffer.from(back.subarray(0, n)).toString('latin1'), s);
    }
  });

  test('refuses EOS and bad padding', () => {
    const out = new Uint8Array(64);
    // 'a' is 00011: padded with ones it is 0x1f.
    assert.equal(huffmanDecode(Uint8Array.of(0x1f), 0, 1, out), 1);
    assert.equal(huffmanDecode(Uint8Array.of(0x18), 0, 1, out), HUFFMAN_BAD_PADDING); // padding 000
    assert.equal(huffmanDecode(Uint8Array.of(0x1f, 0xff), 0, 2, out), HUFFMAN_BAD_PADDING); // 11 bits of padding
    assert.equal(huffmanDecode(Uint8Array.of(0xff), 0, 1, out), HUFFMAN_BAD_PADDING); // 8 bits, no symbol
    assert.equal(huffmanDecode(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0, 4, out), HUFFMAN_EOS);
    assert.equal(huffmanDecode(Uint8Array.of(0x1f, 0xff, 0xff, 0xff, 0xff), 0, 5, out), HUFFMAN_EOS);
  });
});

// ------------------------------------------------------------------ decoder: RFC 7541 Appendix C

describe('decoder: RFC 7541 Appendix C', () => {
  test('C.2 literal and indexed fields', () => {
    const d1 = new HpackDecoder();
    const r1 = decodeBlock(d1, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.deepEqual(r1.fields, ['custom-key', 'custom-header']);
    assert.equal(r1.size, 55);
    assert.deepEqual(dynamicTable(d1), [['custom-key', 'custom-header']]);
    assert.equal(d1.dynamicTableSize, 55);

    const d2 = new HpackDecoder();
    assert.deepEqual(decodeBlock(d2, hex('040c 2f73 616d 706c 652f 7061 7468')).fields, [':path', '/sample/path']);
    assert.equal(d2.dynamicTableLength, 0);

    const d3 = new HpackDecoder();
    assert.deepEqual(decodeBlock(d3, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).fields, ['password', 'secret']);
    assert.equal(d3.dynamicTableLength, 0);

    const d4 = new HpackDecoder();
    assert.deepEqual(decodeBlock(d4, hex('82')).fields, [':method', 'GET']);
    assert.equal(d4.dynamicTableLength, 0);
  });

  const requests = [
    {
      fields: [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
      table: [[':authority', 'www.example.com']],
      tableSize: 57,
    },
    {
      fields: [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
      table: [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
      tableSize: 110,
    },
    {
      fields: [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'],
      table: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
      tableSize: 164,
    },
  ];

  function checkSequence(decoder: HpackDecoder, blocks: Buffer[], expected: typeof requests): void {
    blocks.forEach((block, i) => {
      const want = expected[i]!;
      const { fields, size } = decodeBlock(decoder, block);
      assert.deepEqual(fields, want.fields, `block ${i + 1}`);
      assert.equal(size, listSize(want.fields), `list size of block ${i + 1}`);
      assert.deepEqual(dynamicTable(decoder), want.table, `table after block ${i + 1}`);
      assert.equal(decoder.dynamicTableSize, want.tableSize, `table size after block ${i + 1}`);
    });
  }

  test('C.3 requests without Huffman, three on one decoder', () => {
    checkSequence(new HpackDecoder(), [
      hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'),
      hex('8286 84be 5808 6e6f 2d63 6163 6865'),
      hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'),
    ], requests);
  });

  test('C.4 requests with Huffman, three on one decoder', () => {
    checkSequence(new HpackDecoder(), [
      hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
      hex('8286 84be 5886 a8eb 1064 9cbf'),
      hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
    ], requests);
  });

  const date21 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date22 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses = [
    {
      fields: [':status', '302', 'cache-control', 'private', 'date', date21, 'location', 'https://www.example.com'],
      table: [['location', 'https://www.example.com'], ['date', date21], ['cache-control', 'private'], [':status', '302']],
      tableSize: 222,
    },
    {
      fields: [':status', '307', 'cache-control', 'private', 'date', date21, 'location', 'https://www.example.com'],
      table: [[':status', '307'], ['location', 'https://www.example.com'], ['date', date21], ['cache-control', 'private']],
      tableSize: 222,
    },
    {
      fields: [':status', '200', 'cache-control', 'private', 'date', date22, 'location', 'https://www.example.com', 'content-encoding', 'gzip', 'set-cookie', cookie],
      table: [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date22]],
      tableSize: 215,
    },
  ];

  /** The examples assume a 256-byte table from the start; a peer sets that with a size update (3f e1 01). */
  function with256(block: Buffer): Buffer {
    return Buffer.concat([hex('3fe101'), block]);
  }

  test('C.5 responses without Huffman, table size 256, with eviction', () => {
    const decoder = new HpackDecoder(256);
    checkSequence(decoder, [
      with256(hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d
        546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`)),
      hex('4803 3330 37c1 c0bf'),
      hex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f
        6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b
        2076 6572 7369 6f6e 3d31`),
    ], responses);
    assert.equal(decoder.dynamicTableMaxSize, 256);
  });

  test('C.6 responses with Huffman, table size 256, with eviction', () => {
    checkSequence(new HpackDecoder(256), [
      with256(hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718
        63c7 8f0b 97c8 e9ae 82ae 43d3`)),
      hex('4883 640e ffc1 c0bf'),
      hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335
        dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`),
    ], responses);
  });
});

// ------------------------------------------------------------------ decoder: the rest

describe('decoder', () => {
  test('decodes from the middle of a buffer and appends to out', () => {
    const block = hex('ffff 8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d ffff');
    const out = ['x', 'y'];
    new HpackDecoder().decode(block, 2, block.length - 2, out);
    assert.deepEqual(out, ['x', 'y', ':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com']);
  });

  test('an empty block decodes to nothing', () => {
    const out: string[] = [];
    assert.equal(new HpackDecoder().decode(new Uint8Array(0), 0, 0, out), 0);
    assert.deepEqual(out, []);
  });

  test('size updates at the start: several, to 0 clearing the table, and back', () => {
    const d = new HpackDecoder();
    decodeBlock(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.equal(d.dynamicTableLength, 1);
    // 20 (size 0), then 3f e1 1f (4096), then an indexed field.
    const { fields } = decodeBlock(d, hex('20 3fe11f 82'));
    assert.deepEqual(fields, [':method', 'GET']);
    assert.equal(d.dynamicTableLength, 0);
    assert.equal(d.dynamicTableMaxSize, 4096);
    // A block of only a size update is fine.
    decodeBlock(d, hex('3f e1 01'));
    assert.equal(d.dynamicTableMaxSize, 256);
  });

  test('an entry larger than the table empties it and is not added', () => {
    const d = new HpackDecoder();
    decodeBlock(d, hex('3f 21')); // table size 62
    decodeBlock(d, hex('4001 6101 62')); // a: b, 34 bytes
    assert.deepEqual(dynamicTable(d), [['a', 'b']]);
    const big = Buffer.concat([hex('4001 6120'), Buffer.from('x'.repeat(32))]); // 65 bytes > 62
    assert.deepEqual(decodeBlock(d, big).fields, ['a', 'x'.repeat(32)]);
    assert.equal(d.dynamicTableLength, 0);
    assert.equal(d.dynamicTableSize, 0);
  });

  test('a literal may name the entry its insertion evicts (RFC 7541 §4.4)', () => {
    const d = new HpackDecoder();
    decodeBlock(d, hex('3f 27')); // table size 70: room for two 33-byte entries
    decodeBlock(d, hex('4001 6100 4001 6200')); // a: '', b: '' -> [b, a], 66 bytes
    // Incremental indexing with name index 63 ('a', the oldest) and a 2-byte value: needs 35 bytes, evicts 'a' only.
    const { fields } = decodeBlock(d, hex('7f00 0278 78'));
    assert.deepEqual(fields, ['a', 'xx']);
    assert.deepEqual(dynamicTable(d), [['a', 'xx'], ['b', '']]);
  });

  test('keeps many entries in a larger table (the ring grows) and evicts in order', () => {
    const d = new HpackDecoder(65536);
    decodeBlock(d, hex('3f e1 ff 03')); // size update to 65536
    assert.equal(d.dynamicTableMaxSize, 65536);
    for (let i = 0; i < 1500; i++) {
      const name = `n${i}`;
      const value = `v${i}`.padEnd(8, '.');
      const block = Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
      decodeBlock(d, block);
    }
    // Entry i is 32 + name + 8 bytes: 1500 of them are more than 65536, so the oldest went.
    let size = 0;
    let count = 0;
    for (let i = 1499; i >= 0; i--) {
      const entry = 32 + `n${i}`.length + 8;
      if (size + entry > 65536) break;
      size += entry;
      count++;
    }
    assert.equal(d.dynamicTableLength, count);
    assert.equal(d.dynamicTableSize, size);
    assert.deepEqual(d.dynamicEntry(62), ['n1499', 'v1499...']);
    assert.deepEqual(d.dynamicEntry(61 + count), [`n${1500 - count}`, `v${1500 - count}`.padEnd(8, '.')]);
    // An indexed reference deep in the table.
    const index = 61 + count;
    const ref = Buffer.from([0xff, ...integerTail(index - 127)]);
    assert.deepEqual(decodeBlock(d, ref).fields, [`n${1500 - count}`, `v${1500 - count}`.padEnd(8, '.')]);
  });

  test('literal without indexing and never indexed leave the table alone; names from either table', () => {
    const d = new HpackDecoder();
    decodeBlock(d, hex('4001 6101 62')); // a: b at 62
    // 0f 2f = without indexing, name index 62 ('a'); 1f 2f = never indexed, same; 1f 10 = never indexed name 31 (content-type).
    const { fields } = decodeBlock(d, hex('0f2f 0163 1f2f 0164 1f10 0265 66'));
    assert.deepEqual(fields, ['a', 'c', 'a', 'd', 'content-type', 'ef']);
    assert.deepEqual(dynamicTable(d), [['a', 'b']]);
  });

  test('latin1 bytes come back as one char per byte', () => {
    const d = new HpackDecoder();
    const value = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x80, 0xff, 0x20, 0x7f]);
    const block = Buffer.concat([hex('0001 78'), Buffer.from([value.length]), value]);
    assert.deepEqual(decodeBlock(d, block).fields, ['x', 'caf\u00e9\u0080\u00ff \u007f']);
  });

  test('strings of every length from 0 to 300, raw and Huffman', () => {
    const d = new HpackDecoder();
    for (let n = 0; n <= 300; n++) {
      const value = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
      const raw = Buffer.concat([hex('0001 78'), lengthPrefix(0x00, n), Buffer.from(value, 'latin1')]);
      assert.deepEqual(decodeBlock(d, raw).fields, ['x', value], `raw ${n}`);
      const coded = new Uint8Array(huffmanEncodedLength(value));
      huffmanEncode(value, coded, 0);
      const huff = Buffer.concat([hex('0001 78'), lengthPrefix(0x80, coded.length), coded]);
      assert.deepEqual(decodeBlock(d, huff).fields, ['x', value], `huffman ${n}`);
    }
  });

  describe('malformed blocks throw HpackError', () => {
    const cases: [string, string, number?][] = [
      ['index 0', '80'],
      ['indexed field beyond the static table with an empty dynamic table', 'be'],
      ['indexed field far beyond the table', 'ff 80 01'],
      ['literal name index beyond the table', '7e 0161'],
      ['literal name index beyond the table (without indexing)', '0f 30 0161'],
      ['truncated integer: prefix all ones, nothing after', 'ff'],
      ['truncated integer: continuation bit set at the end', 'ff 80'],
      ['integer overflow beyond 2^31', 'ff ff ff ff ff 0f'],
      ['integer with too many continuation bytes', 'ff 80 80 80 80 80 00'],
      ['string length integer overflow', '00 7f ff ff ff ff 0f'],
      ['truncated string: name longer than the block', '40 05 61'],
      ['truncated string: value missing', '04'],
      ['truncated string: value longer than the block', '04 03 2f61'],
      ['string length beyond the block end', '04 7f 10 2f'],
      ['Huffman padding longer than 7 bits', '00 0161 82 1fff'],
      ['Huffman padding not all ones', '00 0161 81 18'],
      ['Huffman padding is a whole byte of ones', '00 0161 81 ff'],
      ['EOS inside a Huffman string', '00 0161 84 ffffffff'],
      ['EOS after a symbol', '00 0161 85 1fffffffff'],
      ['size update above the advertised maximum', '3f e2 1f'],
      ['size update after a field', '82 20'],
      ['size update after a literal field', '0001 6101 62 3fe101'],
    ];
    for (const [name, bytes] of cases) {
      test(name, () => {
        const block = hex(bytes);
        assert.throws(() => new HpackDecoder().decode(block, 0, block.length, []), HpackError);
      });
    }

    test('size update above a smaller advertised maximum', () => {
      const block = hex('3f e2 01'); // 257
      assert.throws(() => new HpackDecoder(256).decode(block, 0, block.length, []), HpackError);
      assert.doesNotThrow(() => new HpackDecoder(256).decode(hex('3f e1 01'), 0, 3, []));
    });

    test('the end bound is respected: a field cut by `end` is truncated', () => {
      const block = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
      assert.throws(() => new HpackDecoder().decode(block, 0, block.length - 1, []), HpackError);
    });
  });
});

/** The continuation bytes of an integer whose prefix was all ones, `rest` being what remains. */
function integerTail(rest: number): number[] {
  const bytes: number[] = [];
  while (rest >= 128) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function lengthPrefix(flags: number, n: number): Buffer {
  return Buffer.from(n < 127 ? [flags | n] : [flags | 127, ...integerTail(n - 127)]);
}

// ------------------------------------------------------------------ encoder

/** Pairs as the decoder returns them for encode(status, pairs). */
function expectedFields(status: number, pairs: readonly string[]): string[] {
  return status >= 0 ? [':status', String(status), ...pairs] : [...pairs];
}

const RESPONSES: { status: number; pairs: string[] }[] = [
  { status: 200, pairs: ['server', 'mosnode', 'date', 'Sat, 21 Nov 2026 03:43:54 GMT', 'content-type', 'text/plain', 'content-length', '13'] },
  { status: 404, pairs: ['server', 'mosnode', 'content-type', 'text/html; charset=utf-8', 'cache-control', 'no-cache', 'vary', 'accept-encoding'] },
  { status: 302, pairs: ['location', 'https://example.com/login?next=%2F', 'set-cookie', 'sid=abc', 'set-cookie', 'tracking=0123456789abcdef0123456789abcdef; Path=/; HttpOnly'] },
  { status: 503, pairs: ['retry-after', '30', 'x-request-id', '0b7c5f0e-6a3b-4e0e-9d1c-2f4a6b8c0d1e', 'authorization', 'Bearer xyz'] },
  { status: 200, pairs: ['content-type', 'application/json', 'x-long', 'L'.repeat(300), 'x-custom', 'caf\u00e9 \u00ff', 'x-empty', ''] },
  { status: -1, pairs: ['grpc-status', '0', 'grpc-message', 'OK'] },
  { status: 204, pairs: [] },
  { status: 200, pairs: ['accept-encoding', 'gzip, deflate', 'age', '', 'content-encoding', 'gzip', 'x-dup', 'a', 'x-dup', 'b', 'x-dup', 'a'] },
];

describe('encoder', () => {
  test('static matches are one byte; :status 200/204/206/304/400/404/500 are indexed', () => {
    const e = new HpackEncoder();
    const statuses: [number, number][] = [[200, 0x88], [204, 0x89], [206, 0x8a], [304, 0x8b], [400, 0x8c], [404, 0x8d], [500, 0x8e]];
    for (const [status, byte] of statuses) assert.deepEqual([...e.encode(status, [])], [byte]);
    assert.deepEqual([...e.encode(-1, ['accept-encoding', 'gzip, deflate', ':method', 'GET'])], [0x90, 0x82]);
  });

  test('other statuses are literals with the indexed name :status, not indexed', () => {
    const e = new HpackEncoder();
    const block = e.encode(302, []);
    assert.equal(block[0], 0x08);
    const d = new HpackDecoder();
    assert.deepEqual(decodeBlock(d, block).fields, [':status', '302']);
    assert.equal(d.dynamicTableLength, 0);
    assert.deepEqual(decodeBlock(d, e.encode(999, [])).fields, [':status', '999']);
  });

  test('repeated fields become indexed references to the dynamic table', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const pairs = ['server', 'mosnode', 'content-type', 'text/plain', 'x-powered-by', 'mosnode/1.0'];
    const first = Buffer.from(e.encode(200, pairs));
    assert.deepEqual(decodeBlock(d, first).fields, expectedFields(200, pairs));
    assert.equal(d.dynamicTableLength, 3);
    const second = Buffer.from(e.encode(200, pairs));
    // :status 200, then the three entries, newest first: x-powered-by 62, content-type 63, server 64.
    assert.deepEqual([...second], [0x88, 0x80 | 64, 0x80 | 63, 0x80 | 62]);
    assert.deepEqual(decodeBlock(d, second).fields, expectedFields(200, pairs));
  });

  test('per-response fields are literals without indexing; sensitive ones never indexed', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    /** The representation (RFC 7541 §6) of a one-field block, after checking it decodes back. */
    const kind = (pairs: string[]): string => {
      const block = e.encode(-1, pairs);
      const out: string[] = [];
      d.decode(block, 0, block.length, out);
      assert.deepEqual(out, pairs);
      const first = block[0]!;
      if ((first & 0x80) !== 0) return 'indexed';
      if ((first & 0xc0) === 0x40) return 'incremental';
      if ((first & 0xf0) === 0x10) return 'never';
      if ((first & 0xf0) === 0x00) return 'without';
      return 'other';
    };
    assert.equal(kind(['date', 'Sat, 21 Nov 2026 03:43:54 GMT']), 'without');
    assert.equal(kind(['content-length', '1234']), 'without');
    assert.equal(kind(['etag', '"abc"']), 'without');
    assert.equal(kind(['x-request-id', 'r-1']), 'without');
    assert.equal(kind(['authorization', 'Bearer a-very-long-token-that-is-not-short']), 'never');
    assert.equal(kind(['proxy-authorization', 'Basic Zm9vOmJhcg==']), 'never');
    assert.equal(kind(['cookie', 'sid=1']), 'never');
    assert.equal(kind(['set-cookie', 'sid=1; Path=/']), 'never');
    assert.equal(kind(['set-cookie', 'theme=dark; Path=/; Max-Age=31536000']), 'incremental');
    assert.equal(kind(['x-big', 'v'.repeat(257)]), 'without');
    assert.equal(kind(['x-fine', 'v'.repeat(256)]), 'incremental');
    assert.equal(kind(['x-fine', 'v'.repeat(256)]), 'indexed');
    assert.equal(d.dynamicTableLength, 2);
    // Not indexed, so the same field is a literal again.
    assert.equal(kind(['date', 'Sat, 21 Nov 2026 03:43:54 GMT']), 'without');
    assert.equal(kind(['authorization', 'Bearer a-very-long-token-that-is-not-short']), 'never');
  });

  test('strings are Huffman-coded when shorter, raw when not or when long', () => {
    const e = new HpackEncoder();
    // literal without indexing, name index 28 (content-length): 0f 0d, then the value's length byte.
    const short = e.encode(-1, ['content-length', '1234']);
    assert.equal(short[2]! & 0x80, 0x80);
    const binary = e.encode(-1, ['content-length', '\u00ff\u00fe\u00fd']); // longer in Huffman
    assert.equal(binary[2], 0x03);
    const long = e.encode(-1, ['content-length', '1'.repeat(300)]);
    // Raw: 7f, then 300 - 127 = 173 as ad 01.
    assert.deepEqual([...long.subarray(2, 5)], [0x7f, 0xad, 0x01]);
    assert.equal(Buffer.from(long.subarray(5)).toString('latin1'), '1'.repeat(300));
  });

  test('date fields: the same value reuses the last encoding, a new one is encoded afresh', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const a = 'Sat, 21 Nov 2026 03:43:54 GMT';
    const b = 'Sat, 21 Nov 2026 03:43:55 GMT';
    const blocks: Buffer[] = [];
    for (const date of [a, a, `${a.slice(0, 10)}${a.slice(10)}`, b, a, '', 'x'.repeat(100), 'x'.repeat(100), b]) {
      const block = Buffer.from(e.encode(200, ['date', date, 'server', 'mosnode']));
      blocks.push(block);
      assert.deepEqual(decodeBlock(d, block).fields, [':status', '200', 'date', date, 'server', 'mosnode']);
    }
    // Same date, same bytes for the field (the server field is indexed from the second block on).
    assert.deepEqual(blocks[1], blocks[2]);
    assert.equal(blocks[1]!.length, 1 + 2 + 1 + huffmanEncodedLength(a) + 1);
  });

  test('the returned view is reused by the next encode()', () => {
    const e = new HpackEncoder();
    const first = e.encode(200, ['x-a', 'one']);
    const copy = Buffer.from(first);
    e.encode(404, ['x-b', 'two']);
    assert.notDeepEqual(Buffer.from(first), copy);
  });

  test('table size changes are announced at the start of the next block', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    decodeBlock(d, e.encode(200, ['x-a', 'one', 'x-b', 'two']));
    assert.equal(d.dynamicTableLength, 2);

    e.setPeerMaxTableSize(0);
    const zero = e.encode(200, ['x-a', 'one']);
    assert.deepEqual([...zero.subarray(0, 2)], [0x20, 0x88]);
    assert.deepEqual(decodeBlock(d, zero).fields, [':status', '200', 'x-a', 'one']);
    assert.equal(d.dynamicTableLength, 0);
    assert.equal(d.dynamicTableMaxSize, 0);

    e.setPeerMaxTableSize(256);
    const small = e.encode(-1, ['x-a', 'one']);
    assert.deepEqual([...small.subarray(0, 3)], [0x3f, 0xe1, 0x01]);
    decodeBlock(d, small);
    assert.equal(d.dynamicTableMaxSize, 256);
    assert.equal(d.dynamicTableLength, 1);

    // Larger than 4096 is capped at 4096.
    e.setPeerMaxTableSize(65536);
    const big = e.encode(-1, []);
    assert.deepEqual([...big], [0x3f, 0xe1, 0x1f]);
    decodeBlock(d, big);
    assert.equal(d.dynamicTableMaxSize, 4096);

    // Down and back up between blocks: the smaller size first, then the final one (§4.2).
    e.setPeerMaxTableSize(100);
    e.setPeerMaxTableSize(4096);
    const both = e.encode(-1, ['x-a', 'one']);
    assert.deepEqual([...both.subarray(0, 5)], [0x3f, 0x45, 0x3f, 0xe1, 0x1f]);
    assert.deepEqual(decodeBlock(d, both).fields, ['x-a', 'one']);

    // No change, no update.
    e.setPeerMaxTableSize(4096);
    assert.deepEqual([...e.encode(200, [])], [0x88]);
  });

  test('round trip through the decoder over many blocks and table size changes', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const random = rng(42);
    const names = ['server', 'content-type', 'cache-control', 'vary', 'x-a', 'x-b', 'x-c', 'set-cookie', 'cookie', 'date', 'etag', 'authorization', 'link', 'x-trace'];
    const sizes = [4096, 0, 256, 4096, 100, 1000, 4096, 64, 8192];
    let totalBytes = 0;
    let totalRaw = 0;
    for (let block = 0; block < 2000; block++) {
      if (block % 150 === 149) e.setPeerMaxTableSize(sizes[(block / 150) % sizes.length | 0]!);
      const pairs: string[] = [];
      const count = Math.floor(random() * 12);
      for (let i = 0; i < count; i++) {
        const name = names[Math.floor(random() * names.length)]!;
        // A small pool of values so some repeat, some do not, some are long.
        const r = random();
        const value = r < 0.05 ? 'z'.repeat(200 + Math.floor(random() * 400)) : r < 0.1 ? `\u00e9${Math.floor(random() * 1e9)}\u00ff` : `v${Math.floor(random() * 20)}`;
        pairs.push(name, value);
        totalRaw += name.length + value.length;
      }
      const status = random() < 0.2 ? -1 : [200, 201, 204, 301, 404, 500, 503][Math.floor(random() * 7)]!;
      const bytes = e.encode(status, pairs);
      totalBytes += bytes.length;
      const { fields, size } = decodeBlock(d, bytes);
      assert.deepEqual(fields, expectedFields(status, pairs), `block ${block}`);
      assert.equal(size, listSize(fields));
      assert.ok(d.dynamicTableSize <= d.dynamicTableMaxSize);
    }
    assert.ok(totalBytes < totalRaw, `compressed ${totalBytes} of ${totalRaw}`);
  });

  test('fixed response shapes round-trip over one pair, shrinking after the first', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const lengths: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const { status, pairs } of RESPONSES) {
        const bytes = e.encode(status, pairs);
        if (status === 200 && pairs[0] === 'server') lengths.push(bytes.length);
        assert.deepEqual(decodeBlock(d, bytes).fields, expectedFields(status, pairs));
      }
    }
    assert.ok(lengths[1]! < lengths[0]!, `second block ${lengths[1]} bytes, first ${lengths[0]}`);
  });
});

// ------------------------------------------------------------------ interop with node:http2

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const SETTINGS = 0x4;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/**
 * A raw HTTP/2 server side: reads the client preface and frames, sends its SETTINGS, ACKs
 * the client's, and hands each complete header block (HEADERS + CONTINUATIONs, padding
 * and priority removed) to onBlock.
 */
function rawH2Connection(socket: Socket, options: {
  settings?: Buffer;
  onSettings?: (entries: Map<number, number>) => void;
  onBlock: (streamId: number, block: Buffer) => void;
}): void {
  let pending: Buffer = Buffer.alloc(0);
  let prefaceSeen = false;
  let blockParts: Buffer[] = [];
  let blockStream = 0;
  socket.write(frame(SETTINGS, 0, 0, options.settings));
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (!prefaceSeen) {
      if (pending.length < PREFACE.length) return;
      assert.deepEqual(pending.subarray(0, PREFACE.length), PREFACE);
      pending = pending.subarray(PREFACE.length);
      prefaceSeen = true;
    }
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const f: Frame = { type: pending[3]!, flags: pending[4]!, streamId: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) };
      pending = pending.subarray(9 + length);
      if (f.type === SETTINGS && (f.flags & 0x1) === 0) {
        const entries = new Map<number, number>();
        for (let i = 0; i + 6 <= f.payload.length; i += 6) entries.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
        options.onSettings?.(entries);
        socket.write(frame(SETTINGS, 0x1, 0));
      } else if (f.type === HEADERS) {
        let p = f.payload;
        let padding = 0;
        if ((f.flags & PADDED) !== 0) {
          padding = p[0]!;
          p = p.subarray(1);
        }
        if ((f.flags & PRIORITY) !== 0) p = p.subarray(5);
        blockParts = [p.subarray(0, p.length - padding)];
        blockStream = f.streamId;
        if ((f.flags & END_HEADERS) !== 0) options.onBlock(blockStream, Buffer.concat(blockParts));
      } else if (f.type === CONTINUATION) {
        assert.equal(f.streamId, blockStream);
        blockParts.push(f.payload);
        if ((f.flags & END_HEADERS) !== 0) options.onBlock(blockStream, Buffer.concat(blockParts));
      }
    }
  });
}

async function listen(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, 'close');
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

function connectClient(port: number, options: http2.ClientSessionOptions = {}): http2.ClientHttp2Session {
  const client = http2.connect(`http://127.0.0.1:${port}`, options);
  client.on('error', () => {});
  cleanups.push(async () => {
    if (client.destroyed) return;
    client.destroy();
    await once(client, 'close');
  });
  return client;
}

/** The fields node:http2 sends for request `headers` (pseudo-headers are sorted for comparison). */
function requestFieldsOf(headers: Record<string, string | string[]>, port: number): { pseudo: string[]; regular: string[] } {
  const pseudo: Record<string, string> = { ':method': 'GET', ':scheme': 'http', ':authority': `127.0.0.1:${port}`, ':path': '/' };
  const regular: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':')) pseudo[name] = value as string;
    else for (const v of Array.isArray(value) ? value : [value]) regular.push(name.toLowerCase(), v);
  }
  return { pseudo: Object.entries(pseudo).sort(([a], [b]) => a.localeCompare(b)).flat(), regular };
}

function splitFields(fields: readonly string[]): { pseudo: string[]; regular: string[] } {
  const pseudo: [string, string][] = [];
  const regular: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i]!.startsWith(':')) pseudo.push([fields[i]!, fields[i + 1]!]);
    else regular.push(fields[i]!, fields[i + 1]!);
  }
  return { pseudo: pseudo.sort(([a], [b]) => a.localeCompare(b)).flat(), regular };
}

const REQUESTS: Record<string, string | string[]>[] = [
  { ':path': '/small', 'user-agent': 'h2load nghttp2/1.52.0' },
  { ':path': '/small', 'user-agent': 'h2load nghttp2/1.52.0' },
  {
    ':path': '/catalog?page=3',
    'cache-control': 'max-age=0',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
    'sec-fetch-site': 'same-origin',
    referer: 'https://shop.example.com/catalog?page=2',
    'accept-encoding': 'gzip, deflate, br, zstd',
    'accept-language': 'en-US,en;q=0.9,de;q=0.8',
    cookie: ['session=7f3a9c1e2b4d6f80a1b2c3d4e5f60718', 'theme=dark', 'cart=3'],
  },
  { ':method': 'POST', ':path': '/api', 'content-type': 'application/json', authorization: 'Bearer abc.def.ghi', 'x-multi': ['one', 'two', 'three'] },
  { ':path': '/latin1', 'x-latin1': 'caf\u00e9 na\u00efve \u00ff\u00a0end', 'x-empty': '' },
  { ':path': '/huge', 'x-huge': 'h'.repeat(20_000), 'x-after': 'still here' },
  Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-header-${i}`, `value-${i}-`.padEnd(80, String.fromCharCode(97 + (i % 26)))])),
  Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-header-${i}`, `value-${i}-`.padEnd(80, String.fromCharCode(97 + (i % 26)))])),
  { ':path': '/small', 'user-agent': 'h2load nghttp2/1.52.0', cookie: 'session=7f3a9c1e2b4d6f80a1b2c3d4e5f60718' },
];

describe('interop with node:http2', () => {
  for (const tableSize of [4096, 256, 0]) {
    test(`decodes a node:http2 client's request blocks (we advertise header table size ${tableSize})`, async () => {
      const received: { fields: string[]; size: number }[] = [];
      let notify = (): void => {};
      const { port } = await listen((socket) => {
        const decoder = new HpackDecoder(tableSize);
        const settings = tableSize === 4096 ? undefined : Buffer.from([0, 1, 0, 0, tableSize >> 8, tableSize & 0xff]);
        rawH2Connection(socket, {
          ...(settings === undefined ? {} : { settings }),
          onBlock: (streamId, block) => {
            const fields: string[] = [];
            const size = decoder.decode(block, 0, block.length, fields);
            received.push({ fields, size });
            // Answer with :status 200 from the static table, so the client's request completes.
            socket.write(frame(HEADERS, END_STREAM | END_HEADERS, streamId, Uint8Array.of(0x88)));
            notify();
          },
        });
      });
      const client = connectClient(port, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
      for (const [i, headers] of REQUESTS.entries()) {
        const req = client.request(headers, { endStream: true });
        const [response] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
        assert.equal(response[':status'], 200);
        req.resume();
        await once(req, 'end');
        assert.equal(received.length, i + 1);
        const got = received[i]!;
        assert.deepEqual(splitFields(got.fields), requestFieldsOf(headers, port), `request ${i}`);
        assert.equal(got.size, listSize(got.fields));
      }
      notify = () => {};
    });
  }

  /**
   * A raw server that answers request i (by its :path /r/<i>) with RESPONSES-like
   * header sets encoded by one HpackEncoder for the whole connection.
   */
  async function encoderServer(responses: { status: number; pairs: string[] }[], blockSizes: number[]): Promise<number> {
    const { port } = await listen((socket) => {
      const encoder = new HpackEncoder();
      const decoder = new HpackDecoder();
      rawH2Connection(socket, {
        onSettings: (entries) => {
          const size = entries.get(0x1);
          if (size !== undefined) encoder.setPeerMaxTableSize(size);
        },
        onBlock: (streamId, block) => {
          const fields: string[] = [];
          decoder.decode(block, 0, block.length, fields);
          const path = fields[fields.indexOf(':path') + 1]!;
          const response = responses[Number(path.slice(3))]!;
          const encoded = Buffer.from(encoder.encode(response.status, response.pairs));
          blockSizes.push(encoded.length);
          // A content-length needs that many body bytes (node checks), sent as one DATA frame.
          const lengthAt = response.pairs.indexOf('content-length');
          const body = lengthAt < 0 ? undefined : Buffer.alloc(Number(response.pairs[lengthAt + 1]), 'b');
          const headersEnd = body === undefined ? END_STREAM : 0;
          // Split over HEADERS + CONTINUATION when above the default 16384 frame size.
          const max = 16_384;
          if (encoded.length <= max) {
            socket.write(frame(HEADERS, headersEnd | END_HEADERS, streamId, encoded));
          } else {
            socket.write(frame(HEADERS, headersEnd, streamId, encoded.subarray(0, max)));
            for (let at = max; at < encoded.length; at += max) {
              const end = Math.min(at + max, encoded.length);
              socket.write(frame(CONTINUATION, end === encoded.length ? END_HEADERS : 0, streamId, encoded.subarray(at, end)));
            }
          }
          if (body !== undefined) socket.write(frame(DATA, END_STREAM, streamId, body));
        },
      });
    });
    return port;
  }

  /** What node:http2 gives for a response: lower-case names, :status a number, set-cookie an array, other repeats joined with ", ". */
  function nodeView(status: number, pairs: readonly string[]): Record<string, string | number | string[]> {
    const view: Record<string, string | number | string[]> = { ':status': status };
    for (let i = 0; i < pairs.length; i += 2) {
      const name = pairs[i]!;
      const value = pairs[i + 1]!;
      const had = view[name];
      if (name === 'set-cookie') view[name] = [...((had as string[] | undefined) ?? []), value];
      else view[name] = had === undefined ? value : `${had as string}, ${value}`;
    }
    return view;
  }

  const SERVER_RESPONSES: { status: number; pairs: string[] }[] = [
    ...RESPONSES.filter((r) => r.status >= 0),
    { status: 200, pairs: ['x-huge', 'H'.repeat(20_000), 'x-after', 'still here', 'server', 'mosnode'] },
    { status: 500, pairs: Array.from({ length: 60 }, (_, i) => [`x-header-${i}`, `value-${i}-`.padEnd(80, String.fromCharCode(97 + (i % 26)))]).flat() },
    { status: 200, pairs: ['set-cookie', 'a=1', 'set-cookie', 'b=2; Path=/; Secure; HttpOnly; SameSite=Lax', 'proxy-authorization', 'Basic Zm9vOmJhcg=='] },
  ];

  async function fetchAll(client: http2.ClientHttp2Session, rounds: number, order = SERVER_RESPONSES.map((_, i) => i)): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      for (const i of order) {
        const expected = SERVER_RESPONSES[i]!;
        const req = client.request({ ':path': `/r/${i}` }, { endStream: true });
        const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders & Record<symbol, unknown>];
        req.resume();
        await once(req, 'end');
        assert.deepEqual(Object.fromEntries(Object.entries(headers)), nodeView(expected.status, expected.pairs), `round ${round} response ${i}`);
        // node lists the fields it received never-indexed: exactly the sensitive ones.
        const sensitive = new Set(headers[http2.sensitiveHeaders] as string[]);
        const wanted = new Set<string>();
        for (let k = 0; k < expected.pairs.length; k += 2) {
          const name = expected.pairs[k]!;
          if (name === 'authorization' || name === 'proxy-authorization' || (name === 'set-cookie' && expected.pairs[k + 1]!.length < 20)) wanted.add(name);
        }
        assert.deepEqual([...sensitive].sort(), [...wanted].sort(), `never-indexed fields of response ${i}`);
      }
    }
  }

  test('a node:http2 client reads our encoded responses across many requests on one connection', async () => {
    const blockSizes: number[] = [];
    const port = await encoderServer(SERVER_RESPONSES, blockSizes);
    const client = connectClient(port);
    await fetchAll(client, 3);
    // The same response twice in a row: the second reuses the dynamic table. (Not whole
    // rounds: the 60-header response is larger than the table and evicts everything.)
    blockSizes.length = 0;
    await fetchAll(client, 1, [0, 0, 1, 1, 2, 2, 4, 4]);
    for (let k = 0; k < blockSizes.length; k += 2) {
      assert.ok(blockSizes[k + 1]! < blockSizes[k]!, `repeat ${k / 2}: ${blockSizes[k + 1]} bytes after ${blockSizes[k]}`);
    }
    // Repeated: :status 200, server and content-type are one byte each; date and content-length
    // are literals with a two-byte name index, a length byte and the Huffman-coded value.
    const date = SERVER_RESPONSES[0]!.pairs[3]!;
    assert.equal(blockSizes[1], 1 + 1 + (2 + 1 + huffmanEncodedLength(date)) + 1 + (2 + 1 + huffmanEncodedLength('13')));
  });

  for (const headerTableSize of [0, 100]) {
    test(`... also when the client sets headerTableSize ${headerTableSize}`, async () => {
      const blockSizes: number[] = [];
      const port = await encoderServer(SERVER_RESPONSES, blockSizes);
      const client = connectClient(port, { settings: { headerTableSize } });
      await fetchAll(client, 3);
    });
  }

  test('... and when the client changes headerTableSize mid-connection (0, 256, 4096)', async () => {
    const blockSizes: number[] = [];
    const port = await encoderServer(SERVER_RESPONSES, blockSizes);
    const client = connectClient(port);
    await fetchAll(client, 1);
    for (const headerTableSize of [0, 256, 4096, 100, 4096]) {
      await new Promise<void>((resolve, reject) => {
        client.settings({ headerTableSize }, (err) => (err ? reject(err) : resolve()));
      });
      await fetchAll(client, 2);
    }
  });
});

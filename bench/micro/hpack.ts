/**
 * Micro-benchmark cases: HPACK for mosnode's own HTTP/2 codec (src/protocol/http2/hpack/).
 * Decoding an h2load request block (the first one, literals with incremental indexing
 * and Huffman strings, then the steady state where every field is indexed from the
 * dynamic table), a browser's request (13 fields with cookies, Huffman-coded, first and
 * repeated), and encoding a typical response (200, server, date, content-type,
 * content-length) on a warmed encoder.
 *
 * "First" cases start their block with two size updates (to 0 and back to 4096), so each
 * decode sees an empty table as on a new connection; clearing it is part of the time.
 *
 * Run through bench/micro/run.ts (once registered there), or on its own:
 *   node bench/micro/hpack.ts          each case in its own process, a table of ns/op
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HpackDecoder } from '../../src/protocol/http2/hpack/hpack-decoder.ts';
import { HpackEncoder } from '../../src/protocol/http2/hpack/hpack-encoder.ts';
import { measureCase, type MicroCase, type MicroResult } from '../lib/micro.ts';

const H2LOAD_REQUEST = [
  ':method', 'GET',
  ':path', '/small',
  ':scheme', 'http',
  ':authority', '127.0.0.1:8030',
  'user-agent', 'h2load nghttp2/1.52.0',
];

const BROWSER_REQUEST = [
  ':method', 'GET',
  ':scheme', 'https',
  ':authority', 'shop.example.com',
  ':path', '/catalog?page=3',
  'cache-control', 'max-age=0',
  'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'sec-fetch-site', 'same-origin',
  'sec-fetch-mode', 'navigate',
  'sec-fetch-dest', 'document',
  'referer', 'https://shop.example.com/catalog?page=2',
  'accept-encoding', 'gzip, deflate, br, zstd',
  'accept-language', 'en-US,en;q=0.9,de;q=0.8',
  'cookie', 'session=7f3a9c1e2b4d6f80a1b2c3d4e5f60718',
  'cookie', 'theme=dark; cart=3; _ga=GA1.2.123456789.1700000000',
];

const RESPONSE = ['server', 'mosnode', 'date', 'Sat, 21 Nov 2026 03:43:54 GMT', 'content-type', 'text/plain', 'content-length', '13'];

/** Size update to 0 (empties the table), then back to 4096. */
const RESET = Uint8Array.of(0x20, 0x3f, 0xe1, 0x1f);

/** The blocks a peer's encoder sends for `fields` on a new connection, then for the same fields again. */
function blocks(fields: readonly string[]): { first: Buffer; again: Buffer } {
  const encoder = new HpackEncoder();
  const first = Buffer.concat([RESET, encoder.encode(-1, fields)]);
  const again = Buffer.from(encoder.encode(-1, fields));
  return { first, again };
}

function decodeCase(name: string, fields: readonly string[], which: 'first' | 'again'): MicroCase {
  return {
    group: 'hpack',
    name,
    source: 'protocol/http2/hpack/hpack-decoder.ts HpackDecoder.decode',
    setup: () => {
      const { first, again } = blocks(fields);
      const decoder = new HpackDecoder();
      const out: string[] = [];
      // Check once that the block decodes to what was encoded.
      decoder.decode(first, 0, first.length, out);
      if (out.join('\n') !== fields.join('\n')) throw new Error(`${name}: decoded fields differ`);
      const block = which === 'first' ? first : again;
      return () => {
        out.length = 0;
        return decoder.decode(block, 0, block.length, out);
      };
    },
  };
}

export const cases: MicroCase[] = [
  decodeCase('decode h2load request, first (literals, Huffman)', H2LOAD_REQUEST, 'first'),
  decodeCase('decode h2load request, again (all indexed)', H2LOAD_REQUEST, 'again'),
  decodeCase('decode browser request (13 fields, cookies), first (literals, Huffman)', BROWSER_REQUEST, 'first'),
  decodeCase('decode browser request (13 fields, cookies), again (indexed)', BROWSER_REQUEST, 'again'),
  {
    group: 'hpack',
    name: 'encode response (200, server, date, content-type, content-length), warm table',
    source: 'protocol/http2/hpack/hpack-encoder.ts HpackEncoder.encode',
    setup: () => {
      const encoder = new HpackEncoder();
      encoder.encode(200, RESPONSE);
      return () => encoder.encode(200, RESPONSE).length;
    },
  },
  {
    group: 'hpack',
    name: 'encode response, first on a new connection (fresh encoder)',
    source: 'protocol/http2/hpack/hpack-encoder.ts new HpackEncoder + encode',
    setup: () => () => new HpackEncoder().encode(200, RESPONSE).length,
  },
];

const QUICK = process.env.QUICK === '1';
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? (QUICK ? 5 : 9));
const ROUND_MS = Number(process.env.MICRO_ROUND_MS ?? (QUICK ? 20 : 60));

function fmt(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [flag, index] = process.argv.slice(2);
  if (flag === '--case' && index !== undefined) {
    const c = cases[Number(index)];
    if (c === undefined) throw new Error(`no hpack case #${index}`);
    process.stdout.write(`${JSON.stringify(measureCase(c, { rounds: ROUNDS, roundMs: ROUND_MS }))}\n`);
  } else {
    const lines = ['| case | ns/op (median) | ns/op (fastest) |', '|---|---:|---:|'];
    cases.forEach((c, i) => {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--case', String(i)], { encoding: 'utf8' });
      const r = JSON.parse(out.trim().split('\n').pop() ?? '') as MicroResult;
      lines.push(`| ${c.name} | ${fmt(r.medianNs)} | ${fmt(r.minNs)} |`);
    });
    console.log(`node ${process.version}; each case in its own process, median and fastest of ${ROUNDS} rounds of ~${ROUND_MS} ms.\n`);
    console.log(lines.join('\n'));
  }
}

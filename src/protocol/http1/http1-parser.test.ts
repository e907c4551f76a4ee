/**
 * The HTTP/1.1 parser: head boundaries found across reads and capped at the limit, request
 * and status lines, header lines and the framing fields read from them, the request
 * smuggling corpus (every ambiguous framing refused with the status a server answers),
 * response body framing, and BodyDecoder fed whole, byte by byte and in every split.
 * Cases found wrong in review, and fixed, sit at the end as regressions.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BodyDecoder,
  Http1ParseError,
  decimal,
  findHeadEnd,
  parseRequestHead,
  parseResponseHead,
  responseBodyKind,
  skipLeadingEmptyLines,
  type RequestHeadFields,
  type ResponseHeadFields,
} from './http1-parser.ts';

const MAX_HEAD = 64 * 1024;

/** HTTP bytes from a string whose code units are the bytes (0x00-0xff). */
function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** The head found and parsed as a request, as the server codec will do it. */
function request(text: string): RequestHeadFields {
  const buf = bytes(text);
  const end = findHeadEnd(buf, 0, 0, MAX_HEAD);
  assert.ok(end > 0, 'the test head must be complete');
  return parseRequestHead(buf, 0, end);
}

function response(text: string): ResponseHeadFields {
  const buf = bytes(text);
  const end = findHeadEnd(buf, 0, 0, MAX_HEAD);
  assert.ok(end > 0, 'the test head must be complete');
  return parseResponseHead(buf, 0, end);
}

/** Asserts `fn` throws an Http1ParseError with this status (and code, when given). */
function refuses(fn: () => unknown, status: number, code?: string, message?: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof Http1ParseError, `expected Http1ParseError, got ${String(err)}`);
      assert.equal(err.status, status, `status of ${err.code}: ${err.message}`);
      if (code !== undefined) assert.equal(err.code, code, err.message);
      return true;
    },
    message,
  );
}

/** Deterministic PRNG (mulberry32) so random splits are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('findHeadEnd', () => {
  const head = 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n';

  test('a complete head: the index just past its blank line; bytes after it are not counted', () => {
    assert.equal(findHeadEnd(bytes(head), 0, 0, MAX_HEAD), head.length);
    assert.equal(findHeadEnd(bytes(`${head}BODYBODY`), 0, 0, MAX_HEAD), head.length);
    assert.equal(findHeadEnd(bytes('GET / HTTP/1.1\r\nHost: a\r\n'), 0, 0, MAX_HEAD), -1);
  });

  test('resumed with `from` = bytes already searched: found on the read that completes it, whatever the split', () => {
    const msg = bytes(`${head}next`);
    for (let first = 0; first < head.length; first++) {
      // Two reads: the first ends at `first`, the second brings everything.
      assert.equal(findHeadEnd(msg.subarray(0, first), 0, 0, MAX_HEAD), -1, `first read of ${first} bytes`);
      assert.equal(findHeadEnd(msg, 0, first, MAX_HEAD), head.length, `resumed from ${first}`);
    }
    assert.equal(findHeadEnd(msg.subarray(0, head.length), 0, 0, MAX_HEAD), head.length);
  });

  test('resumed byte by byte: -1 at every byte of "\\r\\n\\r\\n" until the last one arrives', () => {
    const msg = bytes(head);
    let searched = 0;
    for (let len = 1; len <= msg.length; len++) {
      const at = findHeadEnd(msg.subarray(0, len), 0, searched, MAX_HEAD);
      searched = len;
      if (len < msg.length) assert.equal(at, -1, `after ${len} bytes`);
      else assert.equal(at, msg.length);
    }
    // The terminator split at each of its inner positions, resuming right at the split.
    for (let cut = head.length - 3; cut < head.length; cut++) {
      assert.equal(findHeadEnd(msg.subarray(0, cut), 0, 0, MAX_HEAD), -1);
      assert.equal(findHeadEnd(msg, 0, cut, MAX_HEAD), head.length, `terminator split at ${cut - head.length + 4}`);
    }
  });

  test('start > 0 (a pipelined message): searched from start, never before it; index is absolute', () => {
    const first = 'GET /a HTTP/1.1\r\n\r\n';
    const buf = bytes(first + head);
    assert.equal(findHeadEnd(buf, 0, 0, MAX_HEAD), first.length);
    assert.equal(findHeadEnd(buf, first.length, 0, MAX_HEAD), first.length + head.length, 'from before start is clamped');
    assert.equal(findHeadEnd(buf, first.length, first.length, MAX_HEAD), first.length + head.length);
    // The previous message's blank line is not taken for this one's.
    const partial = bytes(`${first}GET /b HTTP/1.1\r\nHo`);
    assert.equal(findHeadEnd(partial, first.length, first.length, MAX_HEAD), -1);
  });

  /** A complete head of exactly `len` bytes. */
  function headOf(len: number): string {
    const base = 'GET / HTTP/1.1\r\nX: \r\n\r\n';
    const h = `GET / HTTP/1.1\r\nX: ${'a'.repeat(len - base.length)}\r\n\r\n`;
    assert.equal(h.length, len);
    return h;
  }

  test('431 at the limit boundary: a head of limit-1 or limit bytes passes, limit+1 is refused', () => {
    const limit = 100;
    assert.equal(findHeadEnd(bytes(headOf(limit - 1)), 0, 0, limit), limit - 1);
    assert.equal(findHeadEnd(bytes(headOf(limit)), 0, 0, limit), limit);
    refuses(() => findHeadEnd(bytes(headOf(limit + 1)), 0, 0, limit), 431, 'HPE_HEADER_OVERFLOW');
    // Body bytes after a head of exactly the limit do not count.
    assert.equal(findHeadEnd(bytes(headOf(limit) + 'x'.repeat(500)), 0, 0, limit), limit);
    // Still refused when the head arrives in pieces and the search resumes.
    const over = bytes(headOf(limit + 1));
    assert.equal(findHeadEnd(over.subarray(0, limit), 0, 0, limit), -1);
    refuses(() => findHeadEnd(over, 0, limit, limit), 431, 'HPE_HEADER_OVERFLOW');
  });

  test('431 for an unfinished head as soon as more than limit bytes are buffered, counted from start', () => {
    const limit = 100;
    const junk = 'GET / HTTP/1.1\r\nX: ' + 'a'.repeat(200);
    assert.equal(findHeadEnd(bytes(junk.slice(0, limit - 1)), 0, 0, limit), -1);
    assert.equal(findHeadEnd(bytes(junk.slice(0, limit)), 0, 0, limit), -1);
    refuses(() => findHeadEnd(bytes(junk.slice(0, limit + 1)), 0, 0, limit), 431);
    // With an earlier message in the buffer, only this message's bytes count.
    const prev = 'p'.repeat(50);
    assert.equal(findHeadEnd(bytes(prev + junk.slice(0, limit)), prev.length, prev.length, limit), -1);
    refuses(() => findHeadEnd(bytes(prev + junk.slice(0, limit + 1)), prev.length, prev.length, limit), 431);
    assert.equal(findHeadEnd(bytes(prev + headOf(limit)), prev.length, prev.length, limit), prev.length + limit);
  });
});

describe('skipLeadingEmptyLines', () => {
  test('skips CRLF pairs before a request line (RFC 9112 §2.2), nothing else', () => {
    assert.equal(skipLeadingEmptyLines(bytes('GET / HTTP/1.1\r\n'), 0), 0);
    assert.equal(skipLeadingEmptyLines(bytes('\r\nGET'), 0), 2);
    assert.equal(skipLeadingEmptyLines(bytes('\r\n\r\n\r\nGET'), 0), 6);
    assert.equal(skipLeadingEmptyLines(bytes('\r\n\r'), 0), 2, 'a lone CR waits for its LF');
    assert.equal(skipLeadingEmptyLines(bytes('\rGET'), 0), 0, 'a bare CR is not an empty line');
    assert.equal(skipLeadingEmptyLines(bytes('\r\rGET'), 0), 0);
    assert.equal(skipLeadingEmptyLines(bytes('\nGET'), 0), 0, 'a bare LF is not an empty line');
    assert.equal(skipLeadingEmptyLines(bytes(' \r\nGET'), 0), 0, 'whitespace is not an empty line');
    assert.equal(skipLeadingEmptyLines(bytes('\r\n'), 0), 2);
    assert.equal(skipLeadingEmptyLines(Buffer.alloc(0), 0), 0);
    assert.equal(skipLeadingEmptyLines(bytes('xx\r\n\r\nGET'), 2), 6, 'from start, not from 0');
  });
});

describe('parseRequestHead: request line', () => {
  test('methods are tokens, kept as sent (case-sensitive, extension methods allowed)', () => {
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'M-SEARCH', 'get', 'X_CUSTOM.1']) {
      assert.equal(request(`${m} / HTTP/1.1\r\n\r\n`).method, m);
    }
  });

  test('targets: origin-form, absolute-form, authority-form, asterisk-form, kept byte for byte', () => {
    const targets: Array<[string, string]> = [
      ['GET', '/'],
      ['GET', '/a/b?x=1&y=%20#frag'],
      ['GET', 'http://example.com:8080/p?q'],
      ['CONNECT', 'example.com:443'],
      ['CONNECT', '[::1]:443'],
      ['OPTIONS', '*'],
      ['GET', "/!$&'()*+,;=:@-._~"],
    ];
    for (const [m, t] of targets) {
      const h = request(`${m} ${t} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.equal(h.method, m);
      assert.equal(h.target, t);
    }
  });

  test('HTTP/1.1 and HTTP/1.0; a head with no header lines', () => {
    const h11 = request('GET / HTTP/1.1\r\n\r\n');
    assert.equal(h11.http10, false);
    assert.deepEqual(h11.headers, []);
    assert.equal(h11.contentLength, -1);
    assert.equal(h11.transferEncoding, undefined);
    assert.equal(h11.chunked, false);
    assert.equal(h11.close, false);
    assert.equal(h11.keepAlive, false);
    assert.equal(h11.connectionUpgrade, false);
    assert.equal(h11.upgrade, false);
    assert.equal(h11.expectContinue, false);
    assert.equal(request('GET / HTTP/1.0\r\n\r\n').http10, true);
  });

  test('other versions: HTTP/2.0, 3.0, 0.9 and 1.2 -> 505; malformed versions -> 400', () => {
    for (const v of ['HTTP/2.0', 'HTTP/3.0', 'HTTP/0.9', 'HTTP/1.2', 'HTTP/9.9']) {
      refuses(() => request(`GET / ${v}\r\n\r\n`), 505, 'HPE_INVALID_VERSION', v);
    }
    for (const v of ['http/1.1', 'HTTP/1', 'HTTP/2', 'HTTP/1.x', 'HTTP/x.1', 'HTTP/11.1', 'HTTP/1.10', 'HTTP-1.1', 'HTTP/1,1', 'HTTPS/1.1', 'HTTP/1.1 ', 'XTTP/1.1']) {
      refuses(() => request(`GET / ${v}\r\n\r\n`), 400, undefined, JSON.stringify(v));
    }
  });

  test('parses a head that starts after an earlier message in the same buffer', () => {
    const first = 'GET /one HTTP/1.1\r\nHost: a\r\n\r\n';
    const buf = bytes(`${first}POST /two HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc`);
    const end1 = findHeadEnd(buf, 0, 0, MAX_HEAD);
    assert.equal(parseRequestHead(buf, 0, end1).target, '/one');
    const end2 = findHeadEnd(buf, end1, end1, MAX_HEAD);
    const h = parseRequestHead(buf, end1, end2);
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/two');
    assert.equal(h.http10, true);
    assert.deepEqual(h.headers, ['content-length', '3']);
    assert.equal(h.contentLength, 3);
    assert.equal(buf.latin1Slice(end2, buf.length), 'abc');
  });
});

describe('parseRequestHead: header lines', () => {
  test('names are lower-cased; already lower-case names are returned as they are', () => {
    const h = request('GET / HTTP/1.1\r\nHOST: a\r\nX-Mixed-Case: b\r\nx-lower: c\r\n#$%&\'*+-.^_`|~09Az: d\r\n\r\n');
    assert.deepEqual(h.headers, ['host', 'a', 'x-mixed-case', 'b', 'x-lower', 'c', "#$%&'*+-.^_`|~09az", 'd']);
  });

  test('OWS (SP and HTAB) around a value is trimmed, inside it is kept; empty values', () => {
    const h = request('GET / HTTP/1.1\r\nA: \t b  c \t \r\nB:x\r\nC:\r\nD: \r\nE:\t\t\r\nF:  \t\r\n\r\n');
    assert.deepEqual(h.headers, ['a', 'b  c', 'b', 'x', 'c', '', 'd', '', 'e', '', 'f', '']);
  });

  test('obs-text (0x80-0xff) in values is kept, one char per byte (latin1)', () => {
    const h = request('GET / HTTP/1.1\r\nX-Name: caf\xe9 \x80\xff\r\n\r\n');
    assert.deepEqual(h.headers, ['x-name', 'caf\u00e9 \u0080\u00ff']);
    assert.equal(Buffer.from(h.headers[1]!, 'latin1').toString('hex'), '636166e920' + '80ff');
  });

  test('repeated headers are all kept, in order, not joined', () => {
    const h = request('GET / HTTP/1.1\r\nSet-Cookie: a=1\r\nX: 1\r\nset-cookie: b=2\r\nX: 2\r\n\r\n');
    assert.deepEqual(h.headers, ['set-cookie', 'a=1', 'x', '1', 'set-cookie', 'b=2', 'x', '2']);
  });

  test('Content-Length: digits, leading zeros allowed, OWS trimmed, up to 15 digits', () => {
    assert.equal(request('POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n').contentLength, 0);
    assert.equal(request('POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n').contentLength, 42);
    assert.equal(request('POST / HTTP/1.1\r\ncontent-length:\t 007 \t\r\n\r\n').contentLength, 7);
    assert.equal(request('POST / HTTP/1.1\r\nContent-Length: 999999999999999\r\n\r\n').contentLength, 999999999999999);
    const h = request('POST / HTTP/1.1\r\nCONTENT-LENGTH: 5\r\n\r\n');
    assert.equal(h.contentLength, 5);
    assert.equal(h.chunked, false);
    assert.deepEqual(h.headers, ['content-length', '5'], 'framing headers stay in the header list');
  });

  test('Transfer-Encoding: chunked in any case, with OWS around it, is chunked', () => {
    for (const v of ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', '\tchunked\t']) {
      const h = request(`POST / HTTP/1.1\r\nTransfer-Encoding:${v}\r\n\r\n`);
      assert.equal(h.chunked, true, JSON.stringify(v));
      assert.equal(h.contentLength, -1);
      assert.equal(h.transferEncoding, v.trim());
    }
  });

  test('Connection: close / keep-alive / upgrade tokens, alone or in lists, any case, several fields', () => {
    const conn = (...values: string[]): RequestHeadFields =>
      request(`GET / HTTP/1.1\r\n${values.map((v) => `Connection: ${v}\r\n`).join('')}\r\n`);
    const flags = (h: RequestHeadFields): [boolean, boolean, boolean] => [h.close, h.keepAlive, h.connectionUpgrade];
    assert.deepEqual(flags(conn('close')), [true, false, false]);
    assert.deepEqual(flags(conn('CLOSE')), [true, false, false]);
    assert.deepEqual(flags(conn('keep-alive')), [false, true, false]);
    assert.deepEqual(flags(conn('Keep-Alive')), [false, true, false]);
    assert.deepEqual(flags(conn('Upgrade')), [false, false, true]);
    assert.deepEqual(flags(conn('keep-alive, Upgrade')), [false, true, true]);
    assert.deepEqual(flags(conn('TE,close')), [true, false, false]);
    assert.deepEqual(flags(conn(' x-foo ,  Close  , bar')), [true, false, false]);
    assert.deepEqual(flags(conn('upgrade', 'close')), [true, false, true]);
    assert.deepEqual(flags(conn('closed, keep-alive-ish, xupgrade')), [false, false, false], 'whole tokens only');
    assert.deepEqual(flags(conn('')), [false, false, false]);
    const h10 = request('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    assert.equal(h10.http10, true);
    assert.equal(h10.keepAlive, true);
  });

  test('Upgrade is noted when present; Expect: 100-continue in any case', () => {
    const up = request('GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(up.upgrade, true);
    assert.equal(up.connectionUpgrade, true);
    assert.equal(request('POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n').expectContinue, true);
    assert.equal(request('POST / HTTP/1.1\r\nexpect:  100-Continue \r\n\r\n').expectContinue, true);
    assert.equal(request('POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n').expectContinue, false);
    assert.equal(request('POST / HTTP/1.1\r\nX-Expect: 100-continue\r\n\r\n').expectContinue, false);
  });

  test('names that only look like framing headers frame nothing', () => {
    const h = request('POST / HTTP/1.1\r\nTransfer_Encoding: chunked\r\nContent-Lengths: x\r\nX-Content-Length: 9\r\n\r\n');
    assert.equal(h.chunked, false);
    assert.equal(h.transferEncoding, undefined);
    assert.equal(h.contentLength, -1);
    assert.deepEqual(h.headers, ['transfer_encoding', 'chunked', 'content-lengths', 'x', 'x-content-length', '9']);
  });
});

describe('parseRequestHead: smuggling corpus (all refused)', () => {
  const line = 'POST / HTTP/1.1\r\nHost: a\r\n';
  /** [what, head text (complete), status, code] */
  const corpus: Array<[string, string, number, string | undefined]> = [
    // Content-Length together with Transfer-Encoding, either order.
    ['CL then TE', `${line}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['TE then CL', `${line}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, 400, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['CL 0 with TE', `${line}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, undefined],
    ['CL with an empty TE', `${line}Content-Length: 5\r\nTransfer-Encoding:\r\n\r\n`, 400, undefined],
    ['CL with TE gzip', `${line}Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n`, 400, undefined],
    // Content-Length repeated.
    ['duplicate CL, same value', `${line}Content-Length: 5\r\nContent-Length: 5\r\n\r\n`, 400, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['duplicate CL, different values', `${line}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, 400, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['duplicate CL, different case', `${line}content-length: 5\r\nCONTENT-LENGTH: 5\r\n\r\n`, 400, undefined],
    // Content-Length values that are not 1*DIGIT.
    ...['+5', '-5', '5 5', '1 0', '5,5', '5, 5', '5,', ',5', '0x5', '5a', 'a', '5.0', '1e3', '', '\xb5', '0000000000000005', '9'.repeat(16), '5\t5'].map(
      (v): [string, string, number, string | undefined] => [`CL ${JSON.stringify(v)}`, `${line}Content-Length: ${v}\r\n\r\n`, 400, 'HPE_INVALID_CONTENT_LENGTH'],
    ),
    // Transfer codings other than chunked alone: cannot be framed; 400 like llhttp (RFC 9112 §6.1 allows 501).
    ['TE chunked, identity', `${line}Transfer-Encoding: chunked, identity\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE identity', `${line}Transfer-Encoding: identity\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE gzip, chunked', `${line}Transfer-Encoding: gzip, chunked\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked twice, two lines', `${line}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked then identity, two lines', `${line}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked;q=1', `${line}Transfer-Encoding: chunked;q=1\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE "chunked,"', `${line}Transfer-Encoding: chunked,\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE xchunked', `${line}Transfer-Encoding: xchunked\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE "chunk ed"', `${line}Transfer-Encoding: chunk ed\r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE empty', `${line}Transfer-Encoding: \r\n\r\n`, 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    // TE whitespace variants that are not OWS around the value.
    ['TE with VT before the value', `${line}Transfer-Encoding:\x0bchunked\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['TE with FF after the value', `${line}Transfer-Encoding: chunked\x0c\r\n\r\n`, 400, undefined],
    ['TE with NUL after the value', `${line}Transfer-Encoding: chunked\x00\r\n\r\n`, 400, undefined],
    ['TE with CR inside', `${line}Transfer-Encoding: chunked\rX: y\r\n\r\n`, 400, undefined],
    ['TE with SP before the colon', `${line}Transfer-Encoding : chunked\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['TE with HTAB before the colon', `${line}Transfer-Encoding\t: chunked\r\n\r\n`, 400, undefined],
    ['TE folded onto the next line', `${line}Transfer-Encoding:\r\n chunked\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['TE hidden in a folded line', `${line}X: y\r\n Transfer-Encoding: chunked\r\n\r\n`, 400, undefined],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE in HTTP/1.0 with CL', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n', 400, undefined],
    // obs-fold (a line starting with SP or HTAB), also as the first header line.
    ['obs-fold with SP', `${line}X: a\r\n b\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['obs-fold with HTAB', `${line}X: a\r\n\tb\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['whitespace before the first header', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 400, 'HPE_INVALID_HEADER_TOKEN'],
    // Whitespace before the colon.
    ['SP before the colon', `${line}Content-Length : 5\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['HTAB before the colon', `${line}Host\t: a\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    // Bare LF line endings.
    ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 400, 'HPE_INVALID_VERSION'],
    ['bare LF after a header line', `${line}X: a\nContent-Length: 5\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['bare LF as the blank line', `${line}X: a\r\n\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['bare LF blank line then CRLF blank line', `${line}X: a\n\r\n\r\n`, 400, undefined],
    ['all bare LF, then CRLFCRLF', 'GET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\r\n\r\n', 400, undefined],
    // Bare CR.
    ['bare CR in the request line', 'GET /\r HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['bare CR ending the request line', 'GET / HTTP/1.1\rHost: a\r\n\r\n', 400, 'HPE_INVALID_VERSION'],
    ['bare CR ending a header line', `${line}X: a\rContent-Length: 5\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['bare CR in a header name', `${line}X\r: a\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['CR CR LF', `${line}X: a\r\r\n\r\n`, 400, undefined],
    // Control characters.
    ['NUL in a value', `${line}X: a\x00b\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['DEL in a value', `${line}X: a\x7fb\r\n\r\n`, 400, undefined],
    ['SOH in a value', `${line}X: \x01\r\n\r\n`, 400, undefined],
    ['US in a value', `${line}X: a\x1f\r\n\r\n`, 400, undefined],
    ['ESC in a value', `${line}X: \x1b[31m\r\n\r\n`, 400, undefined],
    ['NUL in a name', `${line}Ho\x00st: a\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['DEL in a name', `${line}Ho\x7fst: a\r\n\r\n`, 400, undefined],
    ['NUL in the target', 'GET /a\x00b HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['DEL in the target', 'GET /a\x7f HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['HTAB in the target', 'GET /a\tb HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['obs-text in the target', 'GET /caf\xe9 HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['NUL in the method', 'G\x00T / HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_METHOD'],
    // Header names that are not tokens.
    ...['a(b', 'a)b', 'a/b', 'a"b', 'a@b', 'a[b', 'a]b', 'a{b', 'a}b', 'a=b', 'a?b', 'a,b', 'a;b', 'a<b', 'a\\b', '\xe4', 'a\x80'].map(
      (n): [string, string, number, string | undefined] => [`name ${JSON.stringify(n)}`, `${line}${n}: x\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ),
    // Missing colon or name.
    ['missing colon', `${line}Host a\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['name only', `${line}Host\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    ['empty name', `${line}: a\r\n\r\n`, 400, 'HPE_INVALID_HEADER_TOKEN'],
    // Malformed request lines.
    ['two spaces after the method', 'GET  / HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['two spaces after the target', 'GET /  HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_VERSION'],
    ['space after the version', 'GET / HTTP/1.1 \r\n\r\n', 400, 'HPE_INVALID_VERSION'],
    ['space before the method', ' GET / HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_METHOD'],
    ['HTAB separators', 'GET\t/\tHTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_METHOD'],
    ['no version', 'GET /\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['no target', 'GET HTTP/1.1\r\n\r\n', 400, 'HPE_INVALID_URL'],
    ['method only', 'GET\r\n\r\n', 400, 'HPE_INVALID_METHOD'],
    ['empty request line', '\r\n\r\n', 400, 'HPE_INVALID_METHOD'],
    ['space in the target', 'GET /a b HTTP/1.1\r\n\r\n', 400, undefined],
    ['a response line as a request', 'HTTP/1.1 200 OK\r\n\r\n', 400, undefined],
  ];
  for (const [what, text, status, code] of corpus) {
    test(`${what} -> ${status}`, () => refuses(() => request(text), status, code));
  }

  test('obs-fold is named as such in the error (logs tell folding from a bad name)', () => {
    for (const text of ['GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n', 'GET / HTTP/1.1\r\n\tX: a\r\n\r\n']) {
      assert.throws(() => request(text), /obsolete line folding/);
    }
    assert.throws(() => request('GET / HTTP/1.1\r\nX a\r\n\r\n'), /invalid header name/);
  });

  test('TE " chunked" / "chunked " / "\\tchunked": accepted as chunked, which is safe', () => {
    // SP and HTAB around a field value are OWS, not part of it (RFC 9110 §5.5), so every
    // conforming parser reads "chunked"; other whitespace (VT, FF, CR) is refused above.
    for (const v of [' chunked', 'chunked ', '\tchunked', ' \t chunked \t ']) {
      const h = request(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:${v}\r\n\r\n`);
      assert.equal(h.chunked, true);
      assert.equal(h.transferEncoding, 'chunked');
    }
  });

  test('a response may repeat an equal Content-Length; a request may not (stricter on the way in)', () => {
    refuses(() => request('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n'), 400);
    assert.equal(response('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n').contentLength, 5);
  });
});

describe('parseResponseHead', () => {
  test('status lines with and without a reason phrase', () => {
    const cases: Array<[string, number]> = [
      ['HTTP/1.1 200 OK', 200],
      ['HTTP/1.1 404 Not Found', 404],
      ['HTTP/1.1 200', 200],
      ['HTTP/1.1 200 ', 200],
      ['HTTP/1.1 599 Whatever \t it says', 599],
      ['HTTP/1.1 100 Continue', 100],
      ['HTTP/1.1 201 caf\xe9', 201],
      ['HTTP/1.1 302  two spaces', 302],
    ];
    for (const [statusLine, status] of cases) {
      const h = response(`${statusLine}\r\nX: y\r\n\r\n`);
      assert.equal(h.status, status, statusLine);
      assert.equal(h.http10, false);
      assert.deepEqual(h.headers, ['x', 'y']);
    }
    assert.equal(response('HTTP/1.0 200 OK\r\n\r\n').http10, true);
  });

  test('bad status lines: missing SP, not 3 digits, out of 100-599, control characters', () => {
    for (const statusLine of [
      'HTTP/1.1200 OK',
      'HTTP/1.1  200 OK',
      'HTTP/1.1\t200 OK',
      'HTTP/1.1 099 Low',
      'HTTP/1.1 000',
      'HTTP/1.1 600 High',
      'HTTP/1.1 999',
      'HTTP/1.1 1000 Long',
      'HTTP/1.1 2000',
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2 OK',
      'HTTP/1.1 2x0 OK',
      'HTTP/1.1 -20 OK',
      'HTTP/1.1 200OK',
      'HTTP/1.1 OK',
      'HTTP/1.1',
      'HTTP/1.1 200 O\x00K',
      'HTTP/1.1 200 O\rK',
      'HTTP/1.1 200 OK\nX: y',
      ' HTTP/1.1 200 OK',
    ]) {
      refuses(() => response(`${statusLine}\r\n\r\n`), 400, undefined, JSON.stringify(statusLine));
    }
    refuses(() => response('HTTP/2.0 200 OK\r\n\r\n'), 505, 'HPE_INVALID_VERSION');
    refuses(() => response('HTTP/1.1 099 Low\r\n\r\n'), 400, 'HPE_INVALID_STATUS');
  });

  test('header lines follow the request rules (obs-fold, bare LF, SP before colon, CTLs)', () => {
    for (const hdr of ['X: a\r\n b', 'X: a\nY: b', 'X : a', 'X: a\x00', 'X\x01: a', 'Content-Length: 5a', 'Content-Length: -1']) {
      refuses(() => response(`HTTP/1.1 200 OK\r\n${hdr}\r\n\r\n`), 400, undefined, JSON.stringify(hdr));
    }
  });

  test('Content-Length repeated with an equal value is fine (leading zeros compare as numbers); differing is refused', () => {
    assert.equal(response('HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n').contentLength, 3);
    assert.equal(response('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\n').contentLength, 3);
    refuses(() => response('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'), 400, 'HPE_UNEXPECTED_CONTENT_LENGTH');
    refuses(() => response('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n'), 400, 'HPE_INVALID_CONTENT_LENGTH');
  });

  test('framing fields: TE and CL together are kept for responseBodyKind (TE wins); Connection noted', () => {
    const h = response('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    assert.equal(h.contentLength, 5);
    assert.equal(h.transferEncoding, 'chunked');
    assert.equal(h.close, true);
    assert.equal(responseBodyKind(h, 'GET'), 'chunked');
    const up = response('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(up.connectionUpgrade, true);
    assert.equal(up.upgrade, true);
    const joined = response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.equal(joined.transferEncoding, 'gzip, chunked');
  });
});

describe('responseBodyKind', () => {
  const kind = (head: string, method = 'GET'): string => responseBodyKind(response(`${head}\r\n\r\n`), method);

  test('1xx, 204, 304 and any answer to HEAD have no body, whatever they declare', () => {
    for (const s of [100, 101, 103, 199, 204, 304]) {
      assert.equal(kind(`HTTP/1.1 ${s} X\r\nContent-Length: 10`), 'none', String(s));
      assert.equal(kind(`HTTP/1.1 ${s} X\r\nTransfer-Encoding: chunked`), 'none', String(s));
    }
    assert.equal(kind('HTTP/1.1 200 OK\r\nContent-Length: 10', 'HEAD'), 'none');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked', 'HEAD'), 'none');
    assert.equal(kind('HTTP/1.1 200 OK', 'HEAD'), 'none');
  });

  test('Transfer-Encoding: chunked last -> chunked; any other final coding -> close (RFC 9112 §6.3)', () => {
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked'), 'chunked');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED'), 'chunked');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked'), 'chunked');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,chunked '), 'chunked');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip'), 'close');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip'), 'close');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked'), 'close');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding:'), 'close');
    assert.equal(kind('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5'), 'close', 'TE overrides CL');
  });

  test('Content-Length: 0 -> none, n -> length; nothing -> close', () => {
    assert.equal(kind('HTTP/1.1 200 OK\r\nContent-Length: 0'), 'none');
    assert.equal(kind('HTTP/1.1 200 OK\r\nContent-Length: 12'), 'length');
    assert.equal(kind('HTTP/1.1 404 Not Found\r\nContent-Length: 12', 'POST'), 'length');
    assert.equal(kind('HTTP/1.1 200 OK'), 'close');
    assert.equal(kind('HTTP/1.0 200 OK'), 'close');
    assert.equal(kind('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5'), 'length');
  });
});

/** What a decoder produced from a sequence of pushes. */
interface Decoded {
  body: string;
  /** Input bytes used, over all pushes. */
  used: number;
  done: boolean;
  trailers: string[] | undefined;
  chunks: Buffer[];
}

/**
 * Pushes each part; each part is placed inside junk bytes (`pad`) and pushed by
 * [start, end) to check the decoder keeps to its bounds.
 */
function decode(decoder: BodyDecoder, parts: readonly Buffer[], pad = 0): Decoded {
  const chunks: Buffer[] = [];
  let used = 0;
  for (const part of parts) {
    const buf = pad === 0 ? part : Buffer.concat([Buffer.alloc(pad, 'Z'), part, Buffer.alloc(pad, 'Z')]);
    const end = pad + part.length;
    const at = decoder.push(buf, pad, end, { onBody: (c) => chunks.push(c) });
    assert.ok(at >= pad && at <= end, `push returned ${at}, outside [${pad}, ${end}]`);
    used += at - pad;
    if (at < end) assert.equal(decoder.done, true, 'only a finished body leaves input unused');
  }
  return { body: Buffer.concat(chunks).toString('latin1'), used, done: decoder.done, trailers: decoder.trailers, chunks };
}

/** Splits `buf` at the given cut positions. */
function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const parts: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(buf.subarray(from, cut));
    from = cut;
  }
  parts.push(buf.subarray(from));
  return parts;
}

const refusesBody = (decoder: BodyDecoder, text: string, status = 400, code?: string): void =>
  refuses(() => decode(decoder, [bytes(text)]), status, code, JSON.stringify(text));

describe('BodyDecoder.length', () => {
  test('exactly n bytes, split at every position; the rest of the input is left for the next message', () => {
    const msg = bytes('hello world|GET / HTTP/1.1');
    const n = 11;
    for (let cut = 0; cut <= msg.length; cut++) {
      const r = decode(BodyDecoder.length(n), [msg.subarray(0, cut), msg.subarray(cut)]);
      assert.equal(r.body, 'hello world', `cut at ${cut}`);
      assert.equal(r.used, n);
      assert.equal(r.done, true);
      assert.equal(r.trailers, undefined);
    }
    const byByte = decode(BodyDecoder.length(n), [...msg.subarray(0, n)].map((b) => Buffer.from([b])), 3);
    assert.equal(byByte.body, 'hello world');
    assert.equal(byByte.chunks.length, n);
  });

  test('push returns the index after the body; a finished decoder uses nothing more', () => {
    const d = BodyDecoder.length(3);
    const buf = bytes('xxabcGET');
    assert.equal(d.push(buf, 2, buf.length, { onBody: () => {} }), 5);
    assert.equal(d.done, true);
    let called = false;
    assert.equal(d.push(buf, 5, buf.length, { onBody: () => (called = true) }), 5);
    assert.equal(called, false);
  });

  test('length(0) is done at once and uses no input', () => {
    const d = BodyDecoder.length(0);
    assert.equal(d.done, true);
    assert.equal(d.endsWithClose, false);
    assert.equal(d.push(bytes('GET'), 0, 3, { onBody: () => assert.fail('no body') }), 0);
  });

  test('the whole input at pos 0 is passed as is (same Buffer); parts are views on it, not copies', () => {
    const whole = bytes('12345');
    const r = decode(BodyDecoder.length(5), [whole]);
    assert.equal(r.chunks.length, 1);
    assert.equal(r.chunks[0], whole, 'the identical Buffer object');
    // Body at pos 0 but shorter than the buffer: a view of its first bytes.
    const longer = bytes('12345NEXT');
    const views: Buffer[] = [];
    BodyDecoder.length(5).push(longer, 0, longer.length, { onBody: (c) => views.push(c) });
    const v = views[0]!;
    assert.notEqual(v, longer);
    assert.equal(v.buffer, longer.buffer);
    assert.equal(v.byteOffset, longer.byteOffset);
    assert.equal(v.length, 5);
    // Body in the middle: a view, and writes through it show in the input.
    const mid = bytes('__abc__');
    const got: Buffer[] = [];
    BodyDecoder.length(3).push(mid, 2, 5, { onBody: (c) => got.push(c) });
    got[0]![0] = 0x41;
    assert.equal(mid.toString('latin1'), '__Abc__');
  });
});

describe('BodyDecoder.untilClose', () => {
  test('passes everything, never finishes, uses all input; whole buffers as is, ranges as views', () => {
    const d = BodyDecoder.untilClose();
    assert.equal(d.endsWithClose, true);
    assert.equal(d.done, false);
    const whole = bytes('0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n');
    const got: Buffer[] = [];
    assert.equal(d.push(whole, 0, whole.length, { onBody: (c) => got.push(c) }), whole.length);
    assert.equal(got[0], whole);
    const framed = bytes('..abc..');
    assert.equal(d.push(framed, 2, 5, { onBody: (c) => got.push(c) }), 5);
    assert.equal(got[1]!.buffer, framed.buffer);
    assert.equal(got[1]!.byteOffset, framed.byteOffset + 2);
    assert.equal(got[1]!.toString(), 'abc');
    assert.equal(d.push(framed, 3, 3, { onBody: () => assert.fail('nothing to pass') }), 3);
    assert.equal(d.done, false);
    assert.equal(d.endsWithClose, true);
  });
});

describe('BodyDecoder.chunked', () => {
  const MAX_TRAILERS = 4096;

  test('one chunk, last chunk, no trailers; bytes after the end are not consumed', () => {
    const text = '5\r\nhello\r\n0\r\n\r\n';
    const d = BodyDecoder.chunked(MAX_TRAILERS);
    assert.equal(d.endsWithClose, false);
    const buf = bytes(`${text}GET / HTTP/1.1\r\n\r\n`);
    const got: Buffer[] = [];
    assert.equal(d.push(buf, 0, buf.length, { onBody: (c) => got.push(c) }), text.length);
    assert.equal(Buffer.concat(got).toString(), 'hello');
    assert.equal(d.done, true);
    assert.equal(d.trailers, undefined);
    assert.equal(d.push(buf, text.length, buf.length, { onBody: () => assert.fail() }), text.length);
  });

  test('several chunks in one push; sizes in upper- and lower-case hex, with leading zeros', () => {
    const r = decode(BodyDecoder.chunked(MAX_TRAILERS), [
      bytes(`A\r\n${'a'.repeat(10)}\r\na\r\n${'b'.repeat(10)}\r\nfF\r\n${'c'.repeat(255)}\r\n00010\r\n${'d'.repeat(16)}\r\n1\r\n\xff\r\n0\r\n\r\n`),
    ]);
    assert.equal(r.body, `${'a'.repeat(10)}${'b'.repeat(10)}${'c'.repeat(255)}${'d'.repeat(16)}\xff`);
    assert.equal(r.done, true);
    assert.equal(r.chunks.length, 5);
  });

  test('chunk extensions are skipped (with BWS before ";", quoted strings, several)', () => {
    for (const ext of [';name', ';name=value', ';a=1;b=2', ';a="quoted; \\"value\\""', ' ;a', '\t;a', ';\xe9']) {
      const r = decode(BodyDecoder.chunked(MAX_TRAILERS), [bytes(`3${ext}\r\nabc\r\n0${ext}\r\n\r\n`)]);
      assert.equal(r.body, 'abc', JSON.stringify(ext));
      assert.equal(r.done, true);
    }
  });

  test('last chunk as "0", "000", or with an extension; nothing after the last chunk is body', () => {
    for (const last of ['0', '000', '0;ext=1']) {
      const r = decode(BodyDecoder.chunked(MAX_TRAILERS), [bytes(`${last}\r\n\r\nbody?`)]);
      assert.equal(r.body, '');
      assert.equal(r.used, last.length + 4);
      assert.equal(r.done, true);
    }
  });

  test('trailers: parsed with lower-case names, in order; available once done', () => {
    const d = BodyDecoder.chunked(MAX_TRAILERS);
    const text = '3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nServer-Timing:  db;dur=5 \r\nx-checksum: again\r\n\r\n';
    const r = decode(d, [bytes(`${text}NEXT`)]);
    assert.equal(r.used, text.length);
    assert.equal(r.body, 'abc');
    assert.deepEqual(r.trailers, ['x-checksum', '1234', 'server-timing', 'db;dur=5', 'x-checksum', 'again']);
  });

  test('trailers follow header-line rules: obs-fold, bare LF, SP before colon, CTLs, bad Content-Length -> 400', () => {
    for (const t of ['X: a\r\n b\r\n', 'X: a\nY: b\r\n', 'X : a\r\n', 'X: \x00\r\n', 'X(: a\r\n', 'no-colon\r\n', 'Content-Length: x\r\n']) {
      refusesBody(BodyDecoder.chunked(MAX_TRAILERS), `0\r\n${t}\r\n`, 400, undefined);
    }
  });

  /** A chunked body with extensions and trailers, followed by the next message's bytes. */
  const BODY = '4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Sum: 9\r\n\r\n';
  const NEXT = 'GET /next HTTP/1.1\r\n\r\n';
  const WHOLE = bytes(BODY + NEXT);

  function oneShot(): Decoded {
    return decode(BodyDecoder.chunked(MAX_TRAILERS), [WHOLE]);
  }

  /** Same body, trailers, use and completion as the one-shot decode. */
  function sameAsOneShot(r: Decoded, what: string): void {
    const expected = oneShot();
    assert.equal(r.body, expected.body, what);
    assert.equal(r.used, expected.used, what);
    assert.equal(r.done, true, what);
    assert.deepEqual(r.trailers, expected.trailers, what);
  }

  test('one shot: the reference result', () => {
    const r = oneShot();
    assert.equal(r.body, 'Wikipedia in\r\n\r\nchunks.');
    assert.equal(r.used, BODY.length);
    assert.deepEqual(r.trailers, ['expires', 'never', 'x-sum', '9']);
  });

  test('split at every position (2 parts) and at every pair of positions (3 parts): same as one shot', () => {
    for (let i = 0; i <= WHOLE.length; i++) {
      sameAsOneShot(decode(BodyDecoder.chunked(MAX_TRAILERS), splitAt(WHOLE, [i])), `cut at ${i}`);
      for (let j = i; j <= WHOLE.length; j++) {
        sameAsOneShot(decode(BodyDecoder.chunked(MAX_TRAILERS), splitAt(WHOLE, [i, j])), `cuts at ${i}, ${j}`);
      }
    }
  });

  test('byte by byte, and inside padding pushed by range: same as one shot', () => {
    const single = [...WHOLE].map((b) => Buffer.from([b]));
    sameAsOneShot(decode(BodyDecoder.chunked(MAX_TRAILERS), single), 'byte by byte');
    sameAsOneShot(decode(BodyDecoder.chunked(MAX_TRAILERS), single, 7), 'byte by byte, padded');
  });

  test('500 random splits (seeded), some padded: same as one shot', () => {
    const random = prng(0x5eed);
    for (let round = 0; round < 500; round++) {
      const cuts: number[] = [];
      const count = 1 + Math.floor(random() * 12);
      for (let k = 0; k < count; k++) cuts.push(Math.floor(random() * (WHOLE.length + 1)));
      cuts.sort((a, b) => a - b);
      const pad = round % 3 === 0 ? 5 : 0;
      sameAsOneShot(decode(BodyDecoder.chunked(MAX_TRAILERS), splitAt(WHOLE, cuts), pad), `round ${round}: cuts ${cuts.join(',')}`);
    }
  });

  test('chunk data is handed on as views of the input (whole buffer as is), never copied', () => {
    const d = BodyDecoder.chunked(MAX_TRAILERS);
    const noBody = { onBody: () => assert.fail('no data yet') };
    d.push(bytes('5\r\n'), 0, 3, noBody);
    const data = bytes('hello');
    const got: Buffer[] = [];
    assert.equal(d.push(data, 0, 5, { onBody: (c) => got.push(c) }), 5);
    assert.equal(got[0], data, 'chunk data that is the whole input: the same Buffer');
    const rest = bytes('\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.equal(d.push(rest, 0, rest.length, { onBody: (c) => got.push(c) }), rest.length);
    assert.equal(got[1]!.buffer, rest.buffer);
    assert.equal(got[1]!.byteOffset, rest.byteOffset + 5);
    assert.equal(got[1]!.toString(), 'abc');
    assert.equal(d.done, true);
  });

  test('missing or wrong CRLF after chunk data -> 400', () => {
    for (const text of ['5\r\nhelloX\r\n0\r\n\r\n', '5\r\nhelloX\n0\r\n\r\n', '5\r\nhello\n0\r\n\r\n', '5\r\nhello\r0\r\n\r\n', '5\r\nhello0\r\n\r\n', '3\r\nhello\r\n0\r\n\r\n']) {
      refusesBody(BodyDecoder.chunked(MAX_TRAILERS), text, 400, 'HPE_STRICT');
    }
    // Also when the bad byte arrives on its own.
    const d = BodyDecoder.chunked(MAX_TRAILERS);
    decode(d, [bytes('1\r\nx\r')]);
    refuses(() => decode(d, [bytes('x')]), 400, 'HPE_STRICT');
  });

  test('bad chunk-size lines -> 400 (signs, prefixes, whitespace first, bare LF/CR, CTLs, empty)', () => {
    for (const text of [
      'g\r\n',
      '-1\r\n',
      '+5\r\n',
      '0x5\r\n',
      ' 5\r\n',
      '\t5\r\n',
      '\r\n',
      ';ext\r\n',
      '5\n',
      '5\nhello\r\n0\r\n\r\n',
      '5\rhello',
      '5;ext\nhello',
      '5;a\rb\r\n',
      '5;a\x00\r\n',
      '5;a\x7f\r\n',
      '5;a\x01\r\n',
      '5\x00\r\n',
      '5,\r\n',
      '5.0\r\n',
      '5_0\r\n',
      '\xb5\r\n',
    ]) {
      refusesBody(BodyDecoder.chunked(MAX_TRAILERS), text, 400, 'HPE_INVALID_CHUNK_SIZE');
    }
  });

  test('every chunk needs its own size: an empty or digit-less size line after a chunk -> 400', () => {
    for (const text of ['1\r\na\r\n\r\n', '1\r\na\r\n;x\r\n', '1\r\na\r\n \r\n', '1;x\r\na\r\n\r\n0\r\n\r\n']) {
      refusesBody(BodyDecoder.chunked(MAX_TRAILERS), text, 400, 'HPE_INVALID_CHUNK_SIZE');
    }
  });

  test('no trailers, split anywhere (also between the blank line\'s CR and LF): ends after "0\\r\\n\\r\\n"', () => {
    const wire = bytes(`2\r\nok\r\n0\r\n\r\n${NEXT}`);
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = decode(BodyDecoder.chunked(MAX_TRAILERS), splitAt(wire, [cut]));
      assert.equal(r.body, 'ok', `cut at ${cut}`);
      assert.equal(r.used, wire.length - NEXT.length, `cut at ${cut}`);
      assert.equal(r.done, true);
      assert.equal(r.trailers, undefined);
    }
  });

  test('chunk size overflow -> 400; 12 hex digits (2^48-1) still accepted', () => {
    refusesBody(BodyDecoder.chunked(MAX_TRAILERS), `${'f'.repeat(13)}\r\n`, 400, 'HPE_INVALID_CHUNK_SIZE');
    refusesBody(BodyDecoder.chunked(MAX_TRAILERS), `${'1'.repeat(40)}\r\n`, 400, 'HPE_INVALID_CHUNK_SIZE');
    const d = BodyDecoder.chunked(MAX_TRAILERS);
    const r = decode(d, [bytes(`${'f'.repeat(12)}\r\nabc`)]);
    assert.equal(r.body, 'abc');
    assert.equal(r.done, false);
  });

  test('a chunk-size line over 4 KiB -> 400, also when it arrives in pieces', () => {
    refusesBody(BodyDecoder.chunked(MAX_TRAILERS), `1;${'a'.repeat(5000)}\r\n`, 400, 'HPE_INVALID_CHUNK_SIZE');
    refusesBody(BodyDecoder.chunked(MAX_TRAILERS), `${'0'.repeat(5000)}1\r\n`, 400, 'HPE_INVALID_CHUNK_SIZE');
    const d = BodyDecoder.chunked(MAX_TRAILERS);
    refuses(() => {
      for (let i = 0; i < 10; i++) decode(d, [bytes(i === 0 ? '1;' : 'a'.repeat(1000))]);
    }, 400, 'HPE_INVALID_CHUNK_SIZE');
    // Just under the limit is fine, and the count restarts with each chunk.
    const ok = decode(BodyDecoder.chunked(MAX_TRAILERS), [bytes(`1;${'a'.repeat(4000)}\r\nx\r\n1;${'a'.repeat(4000)}\r\ny\r\n0\r\n\r\n`)]);
    assert.equal(ok.body, 'xy');
    assert.equal(ok.done, true);
  });

  test('trailers over maxTrailerBytes -> 431; exactly at the limit one shot is fine', () => {
    const trailer = 'x-a: 12345\r\n'; // 12 bytes, the size counted
    const ok = decode(BodyDecoder.chunked(trailer.length), [bytes(`0\r\n${trailer}\r\n`)]);
    assert.deepEqual(ok.trailers, ['x-a', '12345']);
    refusesBody(BodyDecoder.chunked(trailer.length - 1), `0\r\n${trailer}\r\n`, 431, 'HPE_HEADER_OVERFLOW');
    refusesBody(BodyDecoder.chunked(16), `0\r\nx-long: ${'a'.repeat(40)}\r\n\r\n`, 431, 'HPE_HEADER_OVERFLOW');
    // An endless trailer section is refused before it ends: memory stays bounded.
    const d = BodyDecoder.chunked(64);
    decode(d, [bytes('0\r\nx: ')]);
    refuses(() => {
      for (let i = 0; i < 100; i++) decode(d, [bytes('aaaaaaaaaa')]);
    }, 431, 'HPE_HEADER_OVERFLOW');
  });

  test('no trailers with maxTrailerBytes 0, in one piece', () => {
    const r = decode(BodyDecoder.chunked(0), [bytes('2\r\nok\r\n0\r\n\r\n')]);
    assert.equal(r.body, 'ok');
    assert.equal(r.done, true);
    refusesBody(BodyDecoder.chunked(0), '0\r\nx: y\r\n\r\n', 431);
  });
});

describe('regressions found in review', () => {
  // 1. Trailer size: an unfinished trailer section is measured with the first byte of its
  //    closing blank line, a finished one without it; the same trailers pass or fail with
  //    the split. http1-parser.ts, #pushTrailer: `endAt === -1 ? all.length > max ...`.
  test('maxTrailerBytes 0 accepts "0\\r\\n\\r\\n" when the last LF arrives in its own read', () => {
    const body = bytes('0\r\n\r\n');
    for (let cut = 0; cut <= body.length; cut++) {
      const r = decode(BodyDecoder.chunked(0), splitAt(body, [cut]));
      assert.equal(r.done, true, `cut at ${cut}`);
      assert.equal(r.used, body.length);
    }
  });

  test('trailers of exactly maxTrailerBytes pass whatever the split', () => {
    const trailer = 'x-a: 12345\r\n';
    const body = bytes(`0\r\n${trailer}\r\n`);
    for (let cut = 0; cut <= body.length; cut++) {
      const r = decode(BodyDecoder.chunked(trailer.length), splitAt(body, [cut]));
      assert.deepEqual(r.trailers, ['x-a', '12345'], `cut at ${cut}`);
    }
  });

  // 2. The chunk-size line: after SP/HTAB the CHUNK_EXT state takes any bytes, so text that
  //    is neither BWS ";" chunk-ext nor the line end is accepted (llhttp answers 400).
  //    http1-parser.ts, BodyDecoder.push case CHUNK_SIZE: `c === SP || c === HTAB` -> CHUNK_EXT.
  test('"5 6\\r\\n" is refused, not read as size 5', () => {
    refusesBody(BodyDecoder.chunked(4096), '5 6\r\nhello\r\n0\r\n\r\n', 400);
  });

  test('whitespace after the size with no ";" ("5 \\r\\n", "5\\t\\r\\n") is refused; before ";" it is allowed', () => {
    refusesBody(BodyDecoder.chunked(4096), '5 \r\nhello\r\n0\r\n\r\n', 400);
    refusesBody(BodyDecoder.chunked(4096), '5\t\r\nhello\r\n0\r\n\r\n', 400);
    const r = decode(BodyDecoder.chunked(4096), [bytes('5 ;a=b\r\nhello\r\n0\r\n\r\n')]);
    assert.equal(r.done, true);
  });

  // 3. chunk-ext is skipped, not checked against its grammar: bodies are re-framed, never
  //    forwarded raw, so a lenient extension cannot desync the next hop. Control bytes still fail.
  test('chunk extensions are skipped leniently (re-framed, never forwarded), but not control bytes', () => {
    for (const ext of [';a=b c', ';=x', '; ', ';a="unterminated']) {
      const r = decode(BodyDecoder.chunked(4096), [bytes(`5${ext}\r\nhello\r\n0\r\n\r\n`)]);
      assert.equal(r.done, true, ext);
    }
    refusesBody(BodyDecoder.chunked(4096), '5;a\x00\r\nhello\r\n0\r\n\r\n', 400);
  });

  // 4. BodyDecoder.length takes any number; -1 (Framing.contentLength for "absent") makes push
  //    emit buf.subarray(pos, pos - 1) - the input minus its last byte - and return pos - 1.
  //    http1-parser.ts, BodyDecoder.length: no check on n.
  test('BodyDecoder.length refuses a negative or non-integer length', () => {
    assert.throws(() => BodyDecoder.length(-1), RangeError);
    assert.throws(() => BodyDecoder.length(Number.NaN), RangeError);
    assert.throws(() => BodyDecoder.length(1.5), RangeError);
  });

  // 5. Method length is bounded only by maxHeadBytes (the brief asks for a refusal).
  //    http1-parser.ts, parseRequestHead: `while (TOKEN[buf[pos]!] !== 0) pos++;`.
  test('a 1000-byte method is refused (RFC 9112 §3: SHOULD answer 501)', () => {
    assert.throws(
      () => request(`${'A'.repeat(1000)} / HTTP/1.1\r\nHost: a\r\n\r\n`),
      (err: unknown) => err instanceof Http1ParseError && err.status === 501,
    );
  });
});

describe('Host', () => {
  test('two Host lines are refused (RFC 9112 §3.2); one, or none, is accepted', () => {
    refuses(() => request('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 400, 'HPE_DUPLICATE_HOST');
    refuses(() => request('GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n'), 400, 'HPE_DUPLICATE_HOST');
    assert.equal(request('GET / HTTP/1.1\r\nHost: a\r\n\r\n').hostSeen, true);
    assert.equal(request('GET / HTTP/1.1\r\n\r\n').hostSeen, false);
    // A response may carry anything named host; it routes nothing.
    assert.deepEqual(response('HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n').headers, ['host', 'a', 'host', 'b']);
  });
});

describe('decimal (Content-Length values)', () => {
  test('1 to 15 ASCII digits read as a number; anything else is -1', () => {
    assert.equal(decimal('0'), 0);
    assert.equal(decimal('13'), 13);
    assert.equal(decimal('007'), 7);
    assert.equal(decimal('999999999999999'), 999_999_999_999_999);
    for (const bad of ['', '1000000000000000', '+1', '-1', ' 1', '1 ', '1e3', '0x10', '1.0', '1,2', '١']) {
      assert.equal(decimal(bad), -1, JSON.stringify(bad));
    }
  });

  test('a request line and header names read from one string: mixed-case names lowered, values kept', () => {
    const head = request('PATCH /a?b=c HTTP/1.0\r\nX-Mixed-Case: Value\r\nCONNECTION: Keep-Alive\r\n\r\n');
    assert.deepEqual([head.method, head.target, head.http10], ['PATCH', '/a?b=c', true]);
    assert.deepEqual(head.headers, ['x-mixed-case', 'Value', 'connection', 'Keep-Alive']);
    assert.equal(head.keepAlive, true);
  });
});

/**
 * The HTTP/1.1 writer: header lines refused when a name is not a token or a value could
 * split the message (CR, LF, NUL, other controls, or chars above 0xff that latin1 would
 * truncate into one), status lines, the cached Date value, head-and-body joining byte for
 * byte, and chunk framing; what it writes is read back with the parser.
 */
import { test, describe, mock } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import {
  InvalidHeaderError,
  chunkHeader,
  httpDate,
  joinHeadAndBody,
  lastChunk,
  serializeHeaderLines,
  serializeHeaders,
  statusLine,
} from './http1-writer.ts';
import { HeaderMap } from '../../api/headers.ts';
import { BodyDecoder, findHeadEnd, parseRequestHead, parseResponseHead } from './http1-parser.ts';

function refusesHeader(flat: string[], code: 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR'): void {
  assert.throws(
    () => serializeHeaderLines(flat),
    (err: unknown) => {
      assert.ok(err instanceof InvalidHeaderError, `expected InvalidHeaderError, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.equal(err.name, 'InvalidHeaderError');
      return true;
    },
    JSON.stringify(flat),
  );
}

describe('serializeHeaderLines', () => {
  test('"name: value\\r\\n" per pair, in order, names as given (case kept), repeats kept', () => {
    assert.equal(serializeHeaderLines([]), '');
    assert.equal(
      serializeHeaderLines(['Content-Type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', "x-!#$%&'*+-.^_`|~09", 'v']),
      "Content-Type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-!#$%&'*+-.^_`|~09: v\r\n",
    );
  });

  test('accepts empty values, HTAB, SP, every visible ASCII char and obs-text (0x80-0xff)', () => {
    assert.equal(serializeHeaderLines(['x', '']), 'x: \r\n');
    assert.equal(serializeHeaderLines(['x', 'a\tb c']), 'x: a\tb c\r\n');
    let visible = '';
    for (let c = 0x20; c <= 0x7e; c++) visible += String.fromCharCode(c);
    assert.equal(serializeHeaderLines(['x', visible]), `x: ${visible}\r\n`);
    let obsText = '';
    for (let c = 0x80; c <= 0xff; c++) obsText += String.fromCharCode(c);
    assert.equal(serializeHeaderLines(['x', obsText]), `x: ${obsText}\r\n`);
  });

  test('values with CR, LF, NUL, DEL or another control char -> ERR_INVALID_CHAR (no response splitting)', () => {
    const bad = ['a\r\nSet-Cookie: evil=1', 'a\rb', 'a\nb', '\r\n', 'a\0b', '\x7f', '\x01', '\x08', '\x0b', '\x0c', '\x1b', '\x1f', 'ok\r'];
    for (const v of bad) refusesHeader(['x-test', v], 'ERR_INVALID_CHAR');
  });

  test('values with chars above 0xff -> ERR_INVALID_CHAR (latin1 would keep only the low byte: U+010A -> LF)', () => {
    for (const v of ['\u010a', '\u010d', 'caf\u0100', '\u20ac', '\u{1f600}', '\ud800']) refusesHeader(['x', v], 'ERR_INVALID_CHAR');
    // Why it matters: this is what latin1 would have written.
    assert.equal(Buffer.from('\u010a', 'latin1')[0], 0x0a);
  });

  test('names that are not tokens -> ERR_INVALID_HTTP_TOKEN', () => {
    for (const n of ['', ' ', 'a b', 'a:b', 'a\r\nb', 'x\n', 'a\tb', 'a(b', 'a"b', 'a/b', 'a@b', 'a=b', 'a{b', 'a,b', 'a;b', 'caf\u00e9', '\u0100', 'a\0']) {
      refusesHeader([n, 'v'], 'ERR_INVALID_HTTP_TOKEN');
    }
  });

  test('a bad pair anywhere refuses the whole set', () => {
    refusesHeader(['a', '1', 'b', '2', 'c', 'x\ny'], 'ERR_INVALID_CHAR');
    refusesHeader(['a', '1', 'b c', '2'], 'ERR_INVALID_HTTP_TOKEN');
  });

  test('what it writes, the parser reads back: lower-case names, the same values (obs-text byte for byte)', () => {
    const flat = ['Host', 'example.com', 'X-Obs', 'caf\u00e9 \u00ff', 'X-Tab', 'a\tb', 'Empty', ''];
    const head = Buffer.from(`GET / HTTP/1.1\r\n${serializeHeaderLines(flat)}\r\n`, 'latin1');
    const parsed = parseRequestHead(head, 0, findHeadEnd(head, 0, 0, 8192));
    assert.deepEqual(parsed.headers, ['host', 'example.com', 'x-obs', 'caf\u00e9 \u00ff', 'x-tab', 'a\tb', 'empty', '']);
  });
});

describe('statusLine', () => {
  test('known codes carry node:http\'s reason phrase', () => {
    assert.equal(statusLine(200), 'HTTP/1.1 200 OK\r\n');
    assert.equal(statusLine(404), 'HTTP/1.1 404 Not Found\r\n');
    assert.equal(statusLine(101), 'HTTP/1.1 101 Switching Protocols\r\n');
    for (const s of [100, 204, 304, 418, 431, 502, 503, 505]) {
      assert.equal(statusLine(s), `HTTP/1.1 ${s} ${STATUS_CODES[s]}\r\n`);
    }
  });

  test('unknown codes say "Unknown"; the line is cached (same string each time)', () => {
    assert.equal(STATUS_CODES[299], undefined);
    assert.equal(statusLine(299), 'HTTP/1.1 299 Unknown\r\n');
    assert.equal(statusLine(599), 'HTTP/1.1 599 Unknown\r\n');
    assert.equal(statusLine(599), statusLine(599));
  });

  test('every line it writes for 100-599 is a valid status line to the parser', () => {
    for (let s = 100; s <= 599; s++) {
      const head = Buffer.from(`${statusLine(s)}\r\n`, 'latin1');
      const parsed = parseResponseHead(head, 0, head.length);
      assert.equal(parsed.status, s);
      assert.equal(parsed.http10, false);
    }
  });
});

describe('httpDate', () => {
  const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

  test('an IMF-fixdate (RFC 9110 §5.6.7) close to now', () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const value = httpDate();
    const after = Date.now();
    assert.match(value, IMF_FIXDATE);
    const at = Date.parse(value);
    assert.ok(at >= before && at <= after, `${value} is not now`);
  });

  test('recomputed when the second changes, not within it (mocked clock)', (t) => {
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2024, 1, 29, 23, 59, 58, 500) });
    t.after(() => mock.timers.reset());
    assert.equal(httpDate(), 'Thu, 29 Feb 2024 23:59:58 GMT');
    mock.timers.tick(499);
    assert.equal(httpDate(), 'Thu, 29 Feb 2024 23:59:58 GMT');
    mock.timers.tick(1);
    assert.equal(httpDate(), 'Thu, 29 Feb 2024 23:59:59 GMT');
    mock.timers.tick(1000);
    assert.equal(httpDate(), 'Fri, 01 Mar 2024 00:00:00 GMT');
    mock.timers.setTime(Date.UTC(1999, 0, 3, 4, 5, 6));
    assert.equal(httpDate(), 'Sun, 03 Jan 1999 04:05:06 GMT', 'the clock going back is followed too');
    assert.match(httpDate(), IMF_FIXDATE);
  });
});

describe('joinHeadAndBody', () => {
  test('head (latin1) then body, byte for byte, nothing more', () => {
    const head = 'HTTP/1.1 200 OK\r\ncontent-length: 256\r\nx-obs: caf\u00e9\r\n\r\n';
    const body = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) body[i] = i;
    const out = joinHeadAndBody(head, body);
    assert.deepEqual(out, Buffer.concat([Buffer.from(head, 'latin1'), body]));
    assert.equal(out.length, head.length + 256, 'one byte per char: é is 0xe9');
    assert.equal(out[head.indexOf('\u00e9')], 0xe9);
  });

  test('with a suffix: head, body, suffix (a chunk and its CRLF, or a body and the last chunk)', () => {
    const body = Buffer.from('hello');
    const out = joinHeadAndBody(chunkHeader(body.length), body, '\r\n');
    assert.equal(out.toString('latin1'), '5\r\nhello\r\n');
    const withLast = joinHeadAndBody('a\r\n', Buffer.from('0123456789'), `\r\n${lastChunk(undefined)}`);
    assert.equal(withLast.toString('latin1'), 'a\r\n0123456789\r\n0\r\n\r\n');
    assert.equal(joinHeadAndBody('x', Buffer.alloc(0), 'y').toString('latin1'), 'xy');
  });

  test('empty body and empty text; the body is copied (a new buffer, not a view)', () => {
    assert.equal(joinHeadAndBody('HTTP/1.1 204 No Content\r\n\r\n', Buffer.alloc(0)).toString('latin1'), 'HTTP/1.1 204 No Content\r\n\r\n');
    const body = Buffer.from('abc');
    const out = joinHeadAndBody('', body);
    assert.deepEqual(out, body);
    body[0] = 0x7a;
    assert.equal(out.toString(), 'abc', 'later changes to the body do not show');
  });
});

describe('chunk framing', () => {
  test('chunkHeader: lower-case hex size and CRLF', () => {
    const cases: Array<[number, string]> = [
      [0, '0\r\n'],
      [1, '1\r\n'],
      [10, 'a\r\n'],
      [15, 'f\r\n'],
      [16, '10\r\n'],
      [255, 'ff\r\n'],
      [4096, '1000\r\n'],
      [16384, '4000\r\n'],
      [65535, 'ffff\r\n'],
      [0x7fffffff, '7fffffff\r\n'],
    ];
    for (const [n, line] of cases) assert.equal(chunkHeader(n), line);
  });

  test('lastChunk: "0" and the blank line, with trailers between when given', () => {
    assert.equal(lastChunk(undefined), '0\r\n\r\n');
    assert.equal(lastChunk([]), '0\r\n\r\n');
    assert.equal(lastChunk(['X-Checksum', 'abc']), '0\r\nX-Checksum: abc\r\n\r\n');
    assert.equal(lastChunk(['a', '1', 'b', '2']), '0\r\na: 1\r\nb: 2\r\n\r\n');
  });

  test('lastChunk refuses trailers that could split the message', () => {
    assert.throws(() => lastChunk(['x', 'a\r\n\r\nGET /evil HTTP/1.1']), InvalidHeaderError);
    assert.throws(() => lastChunk(['bad name', 'v']), InvalidHeaderError);
  });

  test('a body framed by the writer is decoded by BodyDecoder: same bytes, same trailers, nothing left over', () => {
    const pieces = [Buffer.from('Wiki'), Buffer.alloc(300, 0xab), Buffer.from('\r\n0\r\n\r\n'), Buffer.alloc(17, 0x00)];
    const parts: Buffer[] = [];
    for (const p of pieces) parts.push(joinHeadAndBody(chunkHeader(p.length), p, '\r\n'));
    parts.push(Buffer.from(lastChunk(['Server-Timing', 'total;dur=1', 'X-Sum', 'f00d']), 'latin1'));
    const wire = Buffer.concat([...parts, Buffer.from('NEXT')]);
    const decoder = BodyDecoder.chunked(1024);
    const got: Buffer[] = [];
    const used = decoder.push(wire, 0, wire.length, { onBody: (c) => got.push(c) });
    assert.equal(used, wire.length - 4);
    assert.equal(decoder.done, true);
    assert.deepEqual(Buffer.concat(got), Buffer.concat(pieces));
    assert.deepEqual(decoder.trailers, ['server-timing', 'total;dur=1', 'x-sum', 'f00d']);
  });
});

describe('validated lines', () => {
  test('the validated prefix is written as it is; every line after it is checked', () => {
    // What a parser hands over is valid; these "invalid" strings stand for lines it vouched for.
    assert.equal(serializeHeaderLines(['a b', 'x', 'c', 'd'], 2), 'a b: x\r\nc: d\r\n');
    assert.throws(() => serializeHeaderLines(['a', 'x', 'c', 'bad\nvalue'], 2), InvalidHeaderError);
    assert.throws(() => serializeHeaderLines(['a', 'x', 'b d', 'v'], 2), InvalidHeaderError);
  });

  test('serializeHeaders checks what was added or changed since parsing', () => {
    const parsed = new HeaderMap(['server', 'x', 'date', 'y'], 4);
    assert.equal(serializeHeaders(parsed), 'server: x\r\ndate: y\r\n');
    parsed.set('server', 'evil\r\nset-cookie: a=b');
    assert.throws(() => serializeHeaders(parsed), InvalidHeaderError);
    const added = new HeaderMap(['server', 'x'], 2);
    added.add('x-bad', 'a\rb');
    assert.throws(() => serializeHeaders(added), InvalidHeaderError);
    const changed = new HeaderMap(['server', 'x'], 2);
    changed.toFlat()[1] = 'a\nb';
    assert.throws(() => serializeHeaders(changed), InvalidHeaderError);
  });
});

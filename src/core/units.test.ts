import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

test('parseDuration reads Go duration strings into milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['30s', 30_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['300us', 0.3],
    ['300\u00b5s', 0.3],
    ['300\u03bcs', 0.3],
    ['10ns', 0.00001],
    ['0', 0],
    ['-0', 0],
    ['+5s', 5000],
    ['-1.5s', -1500],
    ['.5s', 500],
    ['5.s', 5000],
    ['1h2m3s4ms', 3_723_004],
    ['2h45m', 9_900_000],
    ['0s', 0],
    ['1.000000001s', 1000.000001],
  ];
  for (const [input, ms] of cases) {
    assert.equal(parseDuration(input), ms, input);
  }
});

test('parseDuration reads a number as nanoseconds, as a Go time.Duration from JSON', () => {
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1_000_000), 1);
  assert.equal(parseDuration(30_000_000_000), 30_000);
  assert.equal(parseDuration(1500), 0.0015);
});

test('parseDuration refuses what Go refuses, naming the input', () => {
  const bad: Array<[string | number, RegExp]> = [
    ['', /empty/],
    ['-', /empty/],
    ['10', /missing unit/],
    ['00', /missing unit/],
    ['1.5', /missing unit/],
    ['10x', /unknown unit "x"/],
    ['10 s', /unknown unit " s"/],
    ['s', /expected a number/],
    ['.s', /expected a number/],
    ['1s.', /expected a number/],
    ['abc', /expected a number/],
    ['1S', /unknown unit "S"/],
    ['3000000h', /too large/],
    [1.5, /must be an integer/],
    [Number.NaN, /must be an integer/],
  ];
  for (const [input, pattern] of bad) {
    assert.throws(() => parseDuration(input), pattern, String(input));
  }
  assert.throws(() => parseDuration('10x'), /"10x"/);
  assert.throws(() => parseDuration(true as unknown as string), /invalid duration/);
});

test('formatDuration writes what Go Duration.String() writes', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [90_000, '1m30s'],
    [500, '500ms'],
    [1500, '1.5s'],
    [30_000, '30s'],
    [3_600_000, '1h0m0s'],
    [5_400_000, '1h30m0s'],
    [0.3, '300\u00b5s'],
    [0.0015, '1.5\u00b5s'],
    [0.00001, '10ns'],
    [1.25, '1.25ms'],
    [-1500, '-1.5s'],
    [61_001, '1m1.001s'],
  ];
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text, String(ms));
    assert.equal(parseDuration(text), ms, text);
  }
  assert.throws(() => formatDuration(Number.POSITIVE_INFINITY), /cannot format/);
});

test('MAX_TIMER_MS is the longest delay a Node timer honours (2^31-1 ms)', () => {
  // One millisecond more and setTimeout fires after 1 ms, with a TimeoutOverflowWarning.
  assert.equal(MAX_TIMER_MS, 2_147_483_647);
  assert.equal(formatDuration(MAX_TIMER_MS), '596h31m23.647s');
  assert.equal(parseDuration('596h31m23.647s'), MAX_TIMER_MS);
});

test('parseSize reads datasize strings with binary units', () => {
  const cases: Array<[string | number, number]> = [
    ['10MB', 10 * 1024 * 1024],
    ['10 MB', 10 * 1024 * 1024],
    ['10mb', 10 * 1024 * 1024],
    ['10M', 10 * 1024 * 1024],
    ['10m', 10 * 1024 * 1024],
    ['32KB', 32 * 1024],
    ['32K', 32 * 1024],
    ['32kilobytes', 32 * 1024],
    ['1GB', 1024 ** 3],
    ['1g', 1024 ** 3],
    ['2TB', 2 * 1024 ** 4],
    ['512B', 512],
    ['512b', 512],
    ['512', 512],
    ['512 bytes', 512],
    ['0', 0],
    [' 64KB ', 64 * 1024],
    [4096, 4096],
    [0, 0],
  ];
  for (const [input, bytes] of cases) {
    assert.equal(parseSize(input), bytes, String(input));
  }
});

test('parseSize refuses bad sizes, bits and fractions', () => {
  const bad: Array<[string | number, RegExp]> = [
    ['', /expected digits/],
    ['MB', /expected digits/],
    ['1.5MB', /unknown unit/],
    ['10XB', /unknown unit "XB"/],
    ['10Mb', /means bits/],
    ['10Kb', /means bits/],
    ['-1', /expected digits/],
    ['99999999999EB', /too large/],
    [-1, /non-negative integer/],
    [1.5, /non-negative integer/],
  ];
  for (const [input, pattern] of bad) {
    assert.throws(() => parseSize(input), pattern, String(input));
  }
});

test('formatSize writes the largest exact unit', () => {
  assert.equal(formatSize(0), '0B');
  assert.equal(formatSize(10 * 1024 * 1024), '10MB');
  assert.equal(formatSize(1536), '1536B');
  assert.equal(formatSize(2048), '2KB');
  assert.equal(formatSize(1024 ** 3), '1GB');
  assert.equal(parseSize(formatSize(12 * 1024 * 1024)), 12 * 1024 * 1024);
  assert.throws(() => formatSize(-1), /cannot format/);
});

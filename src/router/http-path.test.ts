import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapePath, normalizePath, splitHostPort } from './http-path.ts';

test('normalizePath: a clean path is returned as it is', () => {
  const clean = '/api/v1/users';
  assert.equal(normalizePath(clean), clean);
  assert.equal(normalizePath('/a.b/c.d'), '/a.b/c.d');
});

test('normalizePath: fasthttp rules (decode, "//", "/./", "/x/../", trailing "/x/..")', () => {
  const cases: Array<[string, string]> = [
    ['', '/'],
    ['a/b', '/a/b'],
    ['/%61%62', '/ab'],
    ['/a%2Fb', '/a/b'],
    ['/a%2F%2Fb', '/a/b'],
    ['/%zz/%4', '/%zz/%4'],
    ['/a+b', '/a+b'],
    ['/%C3%A9', '/é'],
    ['//a///b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/./././a', '/a'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/../../c', '/c'],
    ['/../../../../../foo', '/foo'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/a/.', '/a/.'],
  ];
  for (const [raw, want] of cases) assert.equal(normalizePath(raw), want, raw);
});

test('escapePath: Go url.URL.EscapedPath rules', () => {
  assert.equal(escapePath('/a-b_c.d~e$&+,/:;=@'), '/a-b_c.d~e$&+,/:;=@');
  assert.equal(escapePath('/a b?c#d%e'), '/a%20b%3Fc%23d%25e');
  assert.equal(escapePath("/!'()*"), '/%21%27%28%29%2A');
  assert.equal(escapePath('/é'), '/%C3%A9');
});

test('splitHostPort: Go net.SplitHostPort, a missing port forgiven', () => {
  assert.deepEqual(splitHostPort('example.com'), { host: 'example.com', port: '' });
  assert.deepEqual(splitHostPort('example.com:8080'), { host: 'example.com', port: '8080' });
  assert.deepEqual(splitHostPort('example.com:'), { host: 'example.com', port: '' });
  assert.deepEqual(splitHostPort('*:*'), { host: '*', port: '*' });
  assert.deepEqual(splitHostPort('[::1]:80'), { host: '::1', port: '80' });
  assert.deepEqual(splitHostPort('[::1]'), { host: '[::1]', port: '' });
  assert.equal(splitHostPort('a:b:c'), undefined);
  assert.equal(splitHostPort('::1'), undefined);
  assert.equal(splitHostPort('[::1]:80:90'), undefined);
  assert.equal(splitHostPort('[::1:80'), undefined);
  assert.equal(splitHostPort('a]:80'), undefined);
});

process.env.TZ = 'Asia/Shanghai';

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeaderMap } from '../../api/headers.ts';
import { isMosnError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { RequestInfo } from '../request-info.ts';
import { AccessLog, createAccessLogs, releaseAccessLogs } from './access-log.ts';
import { compileAccessLogFormat } from './access-log-format.ts';
import { AccessLogWriter, AccessLogWriters } from './access-log-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosnode-access-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const LISTENER = 'servers[0].listeners[0]';

function requestInfo(overrides: Partial<RequestInfo> = {}): RequestInfo {
  return {
    startTime: 1_700_000_000_123,
    startedAt: 500,
    requestReceivedAt: 501,
    responseReceivedAt: 510,
    finishedAt: 512.25,
    bytesSent: 12,
    bytesReceived: 0,
    protocol: 'HTTP/1.1',
    responseCode: 200,
    responseFlags: 0,
    upstreamLocalAddress: '127.0.0.1:51000',
    downstreamLocalAddress: '127.0.0.1:2046',
    downstreamRemoteAddress: '127.0.0.1:33000',
    upstreamHost: '127.0.0.1:8080',
    upstreamCluster: 'c1',
    listenerName: 'l1',
    routeName: '',
    method: 'GET',
    path: '/',
    authority: 'localhost',
    requestHeaders: HeaderMap.fromRaw(['User-Agent', 'curl/8']),
    responseHeaders: undefined,
    ...overrides,
  };
}

function collectingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message), error: () => {} } as unknown as Logger;
  return { logger, warnings };
}

test('AccessLog writes one formatted line per request', async () => {
  const path = join(dir, 'one.log');
  const writer = new AccessLogWriter(path);
  const log = new AccessLog(compileAccessLogFormat('%response_code% %duration% %request_header_user-agent%', 'x'), writer);
  log.log(requestInfo());
  log.log(requestInfo({ responseCode: 502, finishedAt: 1500.5 }));
  await writer.close();
  assert.equal(readFileSync(path, 'utf8'), '200 12.25ms curl/8\n502 1.0005s curl/8\n');
});

test('createAccessLogs: default format, one writer per path shared across listeners', async () => {
  const writers = new AccessLogWriters();
  const shared = join(dir, 'shared', 'access.log');
  const own = join(dir, 'own.log');
  const first = createAccessLogs(
    [
      { log_path: shared, log_format: undefined },
      { log_path: own, log_format: '%listener_name% %upstream_cluster%' },
    ],
    LISTENER,
    { writers },
  );
  const second = createAccessLogs([{ log_path: shared, log_format: '%protocol% %response_code%' }], 'servers[0].listeners[1]', { writers });
  assert.equal(first.length, 2);
  assert.equal(first[0]!.writer, second[0]!.writer);
  assert.notEqual(first[0]!.writer, first[1]!.writer);

  for (const log of first) log.log(requestInfo());
  second[0]!.log(requestInfo());
  await writers.flushAll();
  assert.equal(
    readFileSync(shared, 'utf8'),
    '2023/11/15 06:13:20.123 -  - - 1ms 10ms 12 0 Http1 200 12.25ms false 200 127.0.0.1:51000 127.0.0.1:2046 127.0.0.1:33000 127.0.0.1:8080\n' +
      'Http1 200\n',
  );
  assert.equal(readFileSync(own, 'utf8'), 'l1 c1\n');

  // The shared file stays open until its last user gives it back.
  await releaseAccessLogs(first, writers);
  assert.equal(second[0]!.writer.closed, false);
  await releaseAccessLogs(second, writers);
  assert.equal(second[0]!.writer.closed, true);
  await writers.closeAll();
});

test('createAccessLogs: a bad format is an error naming its path, and opens no file', () => {
  const writers = new AccessLogWriters();
  const path = join(dir, 'never-opened.log');
  assert.throws(
    () =>
      createAccessLogs(
        [
          { log_path: path, log_format: '%start_time%' },
          { log_path: path, log_format: '%start_time% %%' },
        ],
        LISTENER,
        { writers },
      ),
    (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith(`${LISTENER}.access_logs[1].log_format: `),
  );
  assert.equal(existsSync(path), false);
  assert.deepEqual(writers.list(), []);
});

test('createAccessLogs: an unwritable path names the file and the config path; writers taken are given back', async () => {
  const writers = new AccessLogWriters();
  const good = join(dir, 'good.log');
  const blocker = join(dir, 'blocker');
  writeFileSync(blocker, '');
  const bad = join(blocker, 'access.log');
  assert.throws(
    () =>
      createAccessLogs(
        [
          { log_path: good, log_format: undefined },
          { log_path: bad, log_format: undefined },
        ],
        LISTENER,
        { writers },
      ),
    (err: unknown) =>
      isMosnError(err, 'MOSN_ERR_LOG_FILE') && err.message.includes(bad) && err.message.includes(`${LISTENER}.access_logs[1].log_path`),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writers.list(), []);
  await writers.closeAll();
});

test('createAccessLogs: unknown variables are warned with their path; strict makes them errors', async () => {
  const writers = new AccessLogWriters();
  const { logger, warnings } = collectingLogger();
  const path = join(dir, 'unknown.log');
  const [log] = createAccessLogs([{ log_path: path, log_format: '%response_code% %x-mosn-host%' }], LISTENER, { writers, logger });
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0]!.startsWith(`${LISTENER}.access_logs[0].log_format: `), warnings[0]);
  log!.log(requestInfo());
  await writers.closeAll();
  assert.equal(readFileSync(path, 'utf8'), '200 -\n');

  assert.throws(
    () => createAccessLogs([{ log_path: path, log_format: '%x-mosn-host%' }], LISTENER, { writers, strict: true }),
    (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.includes(`${LISTENER}.access_logs[0].log_format`),
  );
});

test('createAccessLogs: syslog outputs are refused as not supported', () => {
  const writers = new AccessLogWriters();
  assert.throws(
    () => createAccessLogs([{ log_path: 'syslog+udp://127.0.0.1:514', log_format: undefined }], LISTENER, { writers }),
    (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_UNSUPPORTED') && err.message.startsWith(`${LISTENER}.access_logs[0].log_path: `),
  );
});

// A fixed zone without daylight saving (MOSN's home zone), set before any Date is used,
// so start_time has one expected text.
process.env.TZ = 'Asia/Shanghai';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../../api/headers.ts';
import { isMosnError } from '../../core/errors.ts';
import { formatDuration } from '../../core/units.ts';
import { ResponseFlags, type RequestInfo } from '../request-info.ts';
import {
  ACCESS_LOG_VARIABLES,
  DEFAULT_ACCESS_LOG_FORMAT,
  compileAccessLogFormat,
  formatStartTime,
  goDurationString,
  msToGoDuration,
  parseAccessLogFormat,
} from './access-log-format.ts';

const PATH = 'servers[0].listeners[0].access_logs[0].log_format';

/** 2023-11-14T22:13:20.123Z, which is 2023/11/15 06:13:20.123 in Asia/Shanghai. */
const START = 1_700_000_000_123;

function requestInfo(overrides: Partial<RequestInfo> = {}): RequestInfo {
  return {
    startTime: START,
    startedAt: 1000,
    requestReceivedAt: 1000.5,
    responseReceivedAt: 1012.345678,
    finishedAt: 1013.5,
    bytesSent: 512,
    bytesReceived: 128,
    protocol: 'HTTP/1.1',
    responseCode: 200,
    responseFlags: 0,
    upstreamLocalAddress: '127.0.0.1:50000',
    downstreamLocalAddress: '127.0.0.1:2045',
    downstreamRemoteAddress: '10.0.0.7:40000',
    upstreamHost: '127.0.0.1:8080',
    upstreamCluster: 'serverCluster',
    listenerName: 'serverListener',
    routeName: 'default-route',
    method: 'GET',
    path: '/hello',
    authority: 'example.com',
    requestHeaders: HeaderMap.fromRaw(['Host', 'example.com', 'X-Request-Id', 'abc-123', 'X-Multi', 'one', 'x-multi', 'two', 'X-Empty', '']),
    responseHeaders: HeaderMap.fromRaw(['Content-Type', 'text/plain', 'Server', 'upstream']),
    ...overrides,
  };
}

/** One variable printed alone. */
function print(variable: string, info: RequestInfo = requestInfo()): string {
  return compileAccessLogFormat(`%${variable}%`, PATH).format(info);
}

test('every variable prints as MOSN prints it', () => {
  const expected: Record<string, string> = {
    start_time: '2023/11/15 06:13:20.123',
    request_received_duration: '500\u00b5s',
    response_received_duration: '12.345678ms',
    request_finished_duration: '13.5ms',
    process_time_duration: '1.654322ms',
    bytes_sent: '512',
    bytes_received: '128',
    protocol: 'Http1',
    response_code: '200',
    duration: '13.5ms',
    response_flag: 'false',
    response_flags: 'false',
    upstream_transport_failure_reason: '0x0',
    upstream_local_address: '127.0.0.1:50000',
    downstream_local_address: '127.0.0.1:2045',
    downstream_remote_address: '10.0.0.7:40000',
    upstream_host: '127.0.0.1:8080',
    upstream_cluster: 'serverCluster',
    listener_name: 'serverListener',
    route_name: 'default-route',
    trace_id: '-',
    'request_header_x-request-id': 'abc-123',
    'response_header_content-type': 'text/plain',
  };
  for (const name of ACCESS_LOG_VARIABLES) assert.ok(name in expected, `no expectation for %${name}%`);
  for (const [name, value] of Object.entries(expected)) assert.equal(print(name), value, `%${name}%`);
});

test("MOSN's default format is used when log_format is absent or empty", () => {
  const line =
    '2023/11/15 06:13:20.123 -  - - 500\u00b5s 12.345678ms 512 128 Http1 200 13.5ms false 200 ' +
    '127.0.0.1:50000 127.0.0.1:2045 10.0.0.7:40000 127.0.0.1:8080';
  for (const format of [undefined, '']) {
    const compiled = compileAccessLogFormat(format, PATH);
    assert.equal(compiled.source, DEFAULT_ACCESS_LOG_FORMAT);
    assert.equal(compiled.format(requestInfo()), line);
    assert.equal(compiled.line(requestInfo()), line + '\n');
  }
  // connection_id and upstream_connection_id are not recorded: "-" without a warning.
  const warnings: string[] = [];
  const compiled = compileAccessLogFormat(undefined, PATH, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(compiled.unknown, ['connection_id', 'upstream_connection_id']);
  assert.deepEqual(warnings, []);
});

test('header variables: names in any case, the first value, "-" when absent', () => {
  assert.equal(print('request_header_X-Request-Id'), 'abc-123');
  assert.equal(print('request_header_X-REQUEST-ID'), 'abc-123');
  assert.equal(print('request_header_host'), 'example.com');
  assert.equal(print('request_header_x-multi'), 'one');
  assert.equal(print('request_header_x-empty'), '');
  assert.equal(print('request_header_x-missing'), '-');
  assert.equal(print('request_header_'), '-');
  assert.equal(print('response_header_Server'), 'upstream');
  assert.equal(print('response_header_x-missing'), '-');
  assert.equal(print('response_header_server', requestInfo({ responseHeaders: undefined })), '-');
  // The prefix itself is case-sensitive in MOSN: this is an unknown variable.
  assert.equal(print('REQUEST_HEADER_x-request-id'), '-');
});

test('absent values: "-" for what was never known, "0s" for stages that never happened', () => {
  const info = requestInfo({
    requestReceivedAt: 0,
    responseReceivedAt: 0,
    responseCode: 0,
    responseFlags: ResponseFlags.UpstreamConnectionFailure | ResponseFlags.NoHealthyUpstream,
    upstreamLocalAddress: '',
    downstreamLocalAddress: '',
    downstreamRemoteAddress: '',
    upstreamHost: '',
    upstreamCluster: '',
    listenerName: '',
    routeName: '',
  });
  const expected: Record<string, string> = {
    request_received_duration: '0s',
    response_received_duration: '0s',
    process_time_duration: '0s',
    request_finished_duration: '13.5ms',
    response_code: '0',
    response_flag: 'true',
    upstream_transport_failure_reason: '0x22',
    upstream_local_address: '-',
    downstream_local_address: '-',
    downstream_remote_address: '-',
    upstream_host: '-',
    upstream_cluster: '-',
    listener_name: '-',
    route_name: '-',
  };
  for (const [name, value] of Object.entries(expected)) assert.equal(print(name, info), value, `%${name}%`);
});

test('duration is measured to the finish, or to now while the stream is still open', () => {
  assert.equal(print('duration', requestInfo({ startedAt: 10, finishedAt: 2010 })), '2s');
  const open = requestInfo({ startedAt: performance.now() - 5000, finishedAt: 0 });
  assert.match(print('duration', open), /^5(\.\d+)?s$/);
});

test('protocol prints MOSN protocol names', () => {
  assert.equal(print('protocol', requestInfo({ protocol: 'HTTP/1.0' })), 'Http1');
  assert.equal(print('protocol', requestInfo({ protocol: 'HTTP/2' })), 'Http2');
  assert.equal(print('protocol', requestInfo({ protocol: 'bolt' })), 'bolt');
});

test('an unknown variable prints "-" as in MOSN, with a warning naming the path', () => {
  const warnings: string[] = [];
  const compiled = compileAccessLogFormat('%start_time% %no_such_var% %bytes_sent%', PATH, { onWarning: (m) => warnings.push(m) });
  assert.equal(compiled.format(requestInfo()), '2023/11/15 06:13:20.123 - 512');
  assert.deepEqual(compiled.unknown, ['no_such_var']);
  assert.deepEqual(compiled.variables, ['start_time', 'no_such_var', 'bytes_sent']);
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0]!.startsWith(`${PATH}: `), warnings[0]);
  assert.ok(warnings[0]!.includes('%no_such_var%'), warnings[0]);
  // Variable names are case-sensitive (Istio's %START_TIME% is unknown to MOSN too).
  assert.equal(compileAccessLogFormat('%START_TIME%', PATH).format(requestInfo()), '-');
});

test('strict: an unknown variable is a config error naming the path', () => {
  assert.throws(
    () => compileAccessLogFormat('%start_time% %no_such_var%', PATH, { strict: true }),
    (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith(`${PATH}: `) && err.message.includes('%no_such_var%'),
  );
});

test('format syntax errors are config errors naming the path, as in MOSN', () => {
  for (const [format, what] of [
    ['%start_time% %%', 'empty variable'],
    ['%%', 'empty variable'],
    ['%start_time% %bytes_sent', 'unclosed'],
    ['100%', 'unclosed'],
  ] as const) {
    assert.throws(
      () => compileAccessLogFormat(format, PATH),
      (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_INVALID') && err.message.startsWith(`${PATH}: `) && err.message.includes(what),
      format,
    );
  }
});

test('literal text, escaped percent signs and adjacent variables', () => {
  const info = requestInfo();
  assert.equal(compileAccessLogFormat('plain text', PATH).format(info), 'plain text');
  assert.equal(compileAccessLogFormat('plain text', PATH).line(info), 'plain text\n');
  assert.equal(compileAccessLogFormat('[%response_code%]', PATH).format(info), '[200]');
  assert.equal(compileAccessLogFormat('%bytes_sent%%bytes_received%', PATH).format(info), '512128');
  // MOSN keeps the backslash: "\%" prints "\%".
  assert.equal(compileAccessLogFormat('100\\% %response_code%', PATH).format(info), '100\\% 200');
  assert.equal(compileAccessLogFormat('%response_code% \\%', PATH).format(info), '200 \\%');
  assert.deepEqual(parseAccessLogFormat('a%b%c', PATH), [{ text: 'a' }, { variable: 'b' }, { text: 'c' }]);
  assert.deepEqual(parseAccessLogFormat('%b%', PATH), [{ variable: 'b' }]);
});

test("durations print as Go's time.Duration.String()", () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [1, '1ns'],
    [999, '999ns'],
    [1100, '1.1\u00b5s'],
    [2_200_000, '2.2ms'],
    [3_300_000_000, '3.3s'],
    [4 * 60e9 + 5e9, '4m5s'],
    [4 * 60e9 + 5_001e6, '4m5.001s'],
    [5 * 3600e9 + 6 * 60e9 + 7_001e6, '5h6m7.001s'],
    [8 * 60e9 + 1, '8m0.000000001s'],
    [3600e9, '1h0m0s'],
    [60e9, '1m0s'],
    [-1_500_000, '-1.5ms'],
  ];
  for (const [ns, text] of cases) assert.equal(goDurationString(ns), text, String(ns));
  // The same text as the general formatter in core/units, over a spread of values.
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const ms = Math.round(random() * 10 ** Math.floor(random() * 10)) / 10 ** Math.floor(random() * 7);
    assert.equal(msToGoDuration(ms), formatDuration(ms), String(ms));
  }
});

test('start_time is local time with milliseconds truncated, within and across seconds', () => {
  assert.equal(formatStartTime(START), '2023/11/15 06:13:20.123');
  assert.equal(formatStartTime(START + 0.9), '2023/11/15 06:13:20.123');
  assert.equal(formatStartTime(START - 123), '2023/11/15 06:13:20.000');
  assert.equal(formatStartTime(START + 877), '2023/11/15 06:13:21.000');
  assert.equal(formatStartTime(START + 886), '2023/11/15 06:13:21.009');
  assert.equal(formatStartTime(START - 124), '2023/11/15 06:13:19.999');
  assert.equal(formatStartTime(Date.UTC(2024, 0, 1, 0, 0, 0, 45)), '2024/01/01 08:00:00.045');
});

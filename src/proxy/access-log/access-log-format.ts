/**
 * @module proxy/access-log/access-log-format
 * Compiles a MOSN access log format (`%var%` items between literal text) once into a
 * function of a RequestInfo. At log time a line is literal strings and getter results
 * concatenated: no parsing, no regex, no lookups by name.
 *
 * Output follows MOSN 1.6 (mosn.io/mosn pkg/log/accesslog.go, pkg/proxy/var.go,
 * pkg/network/requestinfo.go; mosn.io/pkg variable/types.go):
 * - `start_time` is local time as Go's "2006/01/02 15:04:05.000" (milliseconds truncated);
 * - durations print as Go's `time.Duration.String()` ("0s", "850µs", "1.5ms", "2m3.4s"),
 *   and a stage that never happened prints "0s";
 * - `response_flag` prints "true" when any response flag is set, else "false" (MOSN
 *   prints `GetResponseFlag(^0)`), `upstream_transport_failure_reason` prints the flags
 *   as "0x<hex>";
 * - `protocol` prints MOSN's protocol names ("Http1", "Http2");
 * - a value that is absent (no upstream host yet, header missing) prints "-";
 * - a variable that is not known prints "-" too (MOSN: "adapt istio unknown fields"),
 *   which mosnode also reports as a warning naming the config path (or an error when
 *   `strict`); `%%` and an unclosed `%` are config errors, as in MOSN;
 * - `\%` keeps both characters in the output (MOSN does not remove the backslash).
 */
import type { RequestInfo } from '../request-info.ts';
import { ConfigError } from '../../config/config-error.ts';

/** Produces one field of a line. */
export type AccessLogGetter = (info: RequestInfo) => string;

/** A format compiled by compileAccessLogFormat. */
export interface CompiledAccessLogFormat {
  /** The format string that was compiled (MOSN's default when the config had none). */
  readonly source: string;
  /** The line without its newline. */
  readonly format: (info: RequestInfo) => string;
  /** The line with its trailing "\n", built in the same pass (what writers get). */
  readonly line: (info: RequestInfo) => string;
  /** The variable names in order of appearance, unknown ones included. */
  readonly variables: readonly string[];
  /** The variable names mosnode does not know (each prints "-"). */
  readonly unknown: readonly string[];
}

export interface CompileOptions {
  /** Called once per unknown variable (not for MOSN's default format). */
  onWarning?: (message: string) => void;
  /** Unknown variables are config errors instead of "-". Default false (MOSN's way). */
  strict?: boolean;
}

/** What MOSN prints for a value it does not have (mosn.io/pkg variable.ValueNotFound). */
export const VALUE_NOT_FOUND = '-';

/**
 * MOSN's format when `log_format` is empty (pkg/types/accesslog.go), character for
 * character, including the two spaces after %trace_id% and %response_code% twice.
 */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '%start_time% %trace_id%  %connection_id% %upstream_connection_id% %request_received_duration% ' +
  '%response_received_duration% %bytes_sent% %bytes_received% %protocol% %response_code% %duration% ' +
  '%response_flag% %response_code% %upstream_local_address% %downstream_local_address% ' +
  '%downstream_remote_address% %upstream_host%';

export const REQUEST_HEADER_PREFIX = 'request_header_';
export const RESPONSE_HEADER_PREFIX = 'response_header_';

// ---------------------------------------------------------------------------------------
// Value formatting, written for the hot path (numbers, no BigInt, no regex).

/**
 * Go's `time.Duration.String()` for a whole number of nanoseconds: "0s", "999ns",
 * "1.5µs", "12.345ms", "1.000000001s" -> "1.000000001s", "1m0s", "1h2m3.5s".
 * Exact below 2^53 ns (104 days).
 */
export function goDurationString(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 0) return '-' + goDurationString(-ns);
  if (ns < 1e3) return ns + 'ns';
  if (ns < 1e6) return decimal(ns, 1e3, 3) + '\u00b5s';
  if (ns < 1e9) return decimal(ns, 1e6, 6) + 'ms';
  const totalSeconds = Math.floor(ns / 1e9);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor(totalSeconds / 60) % 60;
  const seconds = decimal(ns - (totalSeconds - (totalSeconds % 60)) * 1e9, 1e9, 9) + 's';
  if (hours > 0) return hours + 'h' + minutes + 'm' + seconds;
  if (minutes > 0) return minutes + 'm' + seconds;
  return seconds;
}

/** `value / unit` with up to `digits` decimals and no trailing zeros. */
function decimal(value: number, unit: number, digits: number): string {
  let whole = Math.floor(value / unit);
  let rest = value - whole * unit;
  if (rest < 0) {
    whole -= 1;
    rest += unit;
  }
  if (rest === 0) return String(whole);
  while (rest % 10 === 0) {
    rest /= 10;
    digits--;
  }
  return whole + '.' + String(rest).padStart(digits, '0');
}

/** A duration in milliseconds (performance.now() differences) as Go prints it. */
export function msToGoDuration(ms: number): string {
  return goDurationString(Math.round(ms * 1e6));
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

let cachedSecond = Number.NaN;
let cachedSecondText = '';

/**
 * Epoch milliseconds as Go's "2006/01/02 15:04:05.000" in local time. The text up to the
 * second is cached, so requests within one second cost a concatenation.
 */
export function formatStartTime(epochMs: number): string {
  const ms = Math.floor(epochMs);
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    cachedSecondText =
      String(d.getFullYear()).padStart(4, '0') + '/' + pad2(d.getMonth() + 1) + '/' + pad2(d.getDate()) + ' ' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()) + '.';
    cachedSecond = second;
  }
  const milli = ms - second * 1000;
  return cachedSecondText + (milli < 10 ? '00' + milli : milli < 100 ? '0' + milli : String(milli));
}

/** MOSN's protocol names (mosn pkg/protocol/types.go) for what RequestInfo records. */
export function mosnProtocolName(protocol: string): string {
  switch (protocol) {
    case 'HTTP/1.1':
    case 'HTTP/1.0':
    case 'Http1':
      return 'Http1';
    case 'HTTP/2':
    case 'HTTP/2.0':
    case 'Http2':
      return 'Http2';
    default:
      return protocol;
  }
}

const orDash = (value: string): string => (value === '' ? VALUE_NOT_FOUND : value);

/** A stage time (performance.now(), 0 = never) minus the start, as Go prints it. */
const since = (at: number, startedAt: number): string => (at > 0 ? msToGoDuration(at - startedAt) : '0s');

// ---------------------------------------------------------------------------------------
// The variables.

/**
 * Every variable mosnode prints, by MOSN name. The header prefixes are handled apart.
 * Not here, so printing "-": MOSN's connection_id, upstream_connection_id, stream_id and
 * the protocol variables (x-mosn-*, Http1_request_path, ...), which RequestInfo does not
 * record yet.
 */
const GETTERS: ReadonlyMap<string, AccessLogGetter> = new Map<string, AccessLogGetter>([
  ['start_time', (i) => formatStartTime(i.startTime)],
  ['request_received_duration', (i) => since(i.requestReceivedAt, i.startedAt)],
  ['response_received_duration', (i) => since(i.responseReceivedAt, i.startedAt)],
  ['request_finished_duration', (i) => since(i.finishedAt, i.startedAt)],
  // MOSN: request received + (finished - response received), or request received alone
  // when no response came (pkg/proxy/downstream.go requestMetrics).
  ['process_time_duration', (i) => {
    const received = i.requestReceivedAt > 0 ? i.requestReceivedAt - i.startedAt : 0;
    const tail = i.responseReceivedAt > 0 && i.finishedAt > 0 ? i.finishedAt - i.responseReceivedAt : 0;
    return msToGoDuration(received + tail);
  }],
  ['bytes_sent', (i) => String(i.bytesSent)],
  ['bytes_received', (i) => String(i.bytesReceived)],
  ['protocol', (i) => mosnProtocolName(i.protocol)],
  ['response_code', (i) => String(i.responseCode)],
  // MOSN: now - start at log time; the log is written when the stream finishes.
  ['duration', (i) => msToGoDuration((i.finishedAt > 0 ? i.finishedAt : performance.now()) - i.startedAt)],
  ['response_flag', (i) => (i.responseFlags !== 0 ? 'true' : 'false')],
  ['response_flags', (i) => (i.responseFlags !== 0 ? 'true' : 'false')],
  ['upstream_transport_failure_reason', (i) => '0x' + i.responseFlags.toString(16)],
  // MOSN 1.6 fills its upstream_local_address with the upstream host's address and its
  // upstream_host with the host's configured `hostname` (pkg/proxy/downstream.go,
  // pkg/upstream/cluster/host.go). mosnode prints what the names say: the local address
  // of the upstream connection, and the chosen host as RequestInfo records it.
  ['upstream_local_address', (i) => orDash(i.upstreamLocalAddress)],
  ['downstream_local_address', (i) => orDash(i.downstreamLocalAddress)],
  ['downstream_remote_address', (i) => orDash(i.downstreamRemoteAddress)],
  ['upstream_host', (i) => orDash(i.upstreamHost)],
  ['upstream_cluster', (i) => orDash(i.upstreamCluster)],
  ['listener_name', (i) => orDash(i.listenerName)],
  // MOSN 1.6 declares route_name but never registers it, so it always prints "-" there.
  ['route_name', (i) => orDash(i.routeName)],
  // mosnode has no tracing: no trace id is ever set, so MOSN's "not found" value.
  ['trace_id', () => VALUE_NOT_FOUND],
]);

/** The names compileAccessLogFormat knows, header prefixes aside. */
export const ACCESS_LOG_VARIABLES: readonly string[] = [...GETTERS.keys()];

function requestHeaderGetter(name: string): AccessLogGetter {
  return (info) => info.requestHeaders.get(name) ?? VALUE_NOT_FOUND;
}

function responseHeaderGetter(name: string): AccessLogGetter {
  return (info) => info.responseHeaders?.get(name) ?? VALUE_NOT_FOUND;
}

/** The getter for a variable name, or undefined when mosnode does not know it. */
export function accessLogGetter(name: string): AccessLogGetter | undefined {
  const fixed = GETTERS.get(name);
  if (fixed !== undefined) return fixed;
  // Header names match in any case (MOSN's header maps are case-insensitive); ours keep
  // names lower-case, so the lookup key is lower-cased once, here.
  if (name.startsWith(REQUEST_HEADER_PREFIX)) return requestHeaderGetter(name.slice(REQUEST_HEADER_PREFIX.length).toLowerCase());
  if (name.startsWith(RESPONSE_HEADER_PREFIX)) return responseHeaderGetter(name.slice(RESPONSE_HEADER_PREFIX.length).toLowerCase());
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Parsing and compiling.

type Item = { text: string } | { variable: string };

/**
 * Splits a format the way MOSN's parseFormat does: `%` toggles between text and a
 * variable name, a `%` right after a backslash is plain text (backslash kept), empty
 * text is skipped. Throws a ConfigError (MOSN_ERR_CONFIG_INVALID) for `%%` and for an
 * unclosed variable.
 */
export function parseAccessLogFormat(format: string, path: string): Item[] {
  const items: Item[] = [];
  let inVariable = false;
  let lastMark = -1;
  for (let pos = 0; pos < format.length; pos++) {
    if (format.charCodeAt(pos) !== 0x25 /* % */) continue;
    if (pos > 0 && format.charCodeAt(pos - 1) === 0x5c /* \ */) continue;
    if (inVariable) {
      if (pos === lastMark + 1) {
        throw new ConfigError('MOSN_ERR_CONFIG_INVALID', [
          { path, message: `access log format error: empty variable definition "%%" at character ${pos}` },
        ]);
      }
      items.push({ variable: format.slice(lastMark + 1, pos) });
    } else if (pos > lastMark + 1) {
      items.push({ text: format.slice(lastMark + 1, pos) });
    }
    lastMark = pos;
    inVariable = !inVariable;
  }
  if (inVariable) {
    throw new ConfigError('MOSN_ERR_CONFIG_INVALID', [
      { path, message: `access log format error: unclosed variable definition starting at character ${lastMark}` },
    ]);
  }
  if (lastMark < format.length - 1) items.push({ text: format.slice(lastMark + 1) });
  return items;
}

/**
 * Compiles `format` (MOSN's default when undefined or "") once. `path` is the JSON path
 * of the format in the config, used in errors and warnings, e.g.
 * `servers[0].listeners[0].access_logs[0].log_format`.
 */
export function compileAccessLogFormat(format: string | undefined, path: string, options: CompileOptions = {}): CompiledAccessLogFormat {
  const isDefault = format === undefined || format === '';
  const source = isDefault ? DEFAULT_ACCESS_LOG_FORMAT : format;
  const literals: string[] = [''];
  const getters: AccessLogGetter[] = [];
  const variables: string[] = [];
  const unknown: string[] = [];
  for (const item of parseAccessLogFormat(source, path)) {
    if ('text' in item) {
      literals[literals.length - 1] += item.text;
      continue;
    }
    variables.push(item.variable);
    const getter = accessLogGetter(item.variable);
    if (getter !== undefined) {
      getters.push(getter);
      literals.push('');
      continue;
    }
    unknown.push(item.variable);
    if (options.strict === true) {
      throw new ConfigError('MOSN_ERR_CONFIG_INVALID', [
        { path, message: `unknown access log variable %${item.variable}%` },
      ]);
    }
    if (!isDefault) options.onWarning?.(`${path}: unknown access log variable %${item.variable}%: it prints "-" (as MOSN does)`);
    literals[literals.length - 1] += VALUE_NOT_FOUND;
  }
  return {
    source,
    format: build(literals, getters),
    line: build(literals.slice(0, -1).concat(literals[literals.length - 1] + '\n'), getters),
    variables,
    unknown,
  };
}

/** The line function: lits[0] + g[0](info) + lits[1] + ... + lits[n]. */
function build(literals: readonly string[], getters: readonly AccessLogGetter[]): (info: RequestInfo) => string {
  const first = literals[0]!;
  const n = getters.length;
  if (n === 0) return () => first;
  const lits = literals.slice(1);
  const gets = getters.slice();
  return (info) => {
    let out = first;
    for (let i = 0; i < n; i++) out += gets[i]!(info) + lits[i]!;
    return out;
  };
}

/**
 * @module config/schema
 * The zod schemas of MOSN's v2 config: each one validates a canonical document (keys
 * already spelled as MOSN spells them, see config/keys) and builds the typed, normalized
 * objects of config/types: durations in ms, sizes in bytes, defaults filled, TLS that is
 * off turned into undefined. Every message says what was expected and what was found.
 * Rules that span several values (one server, one filter chain, unique names, address
 * shape by network) live in config/checks, which always runs, even when a value here fails.
 *
 * Durations, one rule for every duration field (built with `durationOr` or
 * `optionalDuration`, never by hand):
 *   - a Go duration string ("30s", "1m30s", "300us") or a JSON number of NANOSECONDS, as a
 *     Go time.Duration decodes it (MOSN's rule); a number below 1 ms (30 is 30 ns) is
 *     accepted with a warning naming the path, as it is almost surely a mistake for "30s";
 *   - zero ("0s", "0", 0) is Go's zero value, which MOSN reads as "not set": a field with
 *     a default takes the default (graceful_timeout, connect_timeout, health-check timeout
 *     and interval), an optional one becomes undefined (route timeout, retry_timeout,
 *     cluster idle_timeout, listener connection_idle_timeout, cookie ttl);
 *   - negative durations are refused, and so is anything above MAX_TIMER_MS (2^31-1 ms,
 *     "596h31m23s"): a longer Node timer fires after 1 ms instead of never.
 * Depends on zod, core/units and config/keys.
 */
import { z } from 'zod';
import { MAX_TIMER_MS, formatDuration, parseDuration, parseSize } from '../core/units.ts';
import { showValue } from './config-error.ts';
import { withMosnKeys, withValueWarning } from './keys.ts';
import type {
  AccessLogConfig,
  AdminConfig,
  CircuitBreakerConfig,
  ClusterConfig,
  ClusterManagerConfig,
  ClusterType,
  DirectResponseConfig,
  FilterChainConfig,
  FilterConfig,
  HeaderMatcherConfig,
  HeaderValueOption,
  HostConfig,
  LbType,
  ListenerConfig,
  LogLevelName,
  MetricsConfig,
  MetricsSinkConfig,
  MirrorPolicyConfig,
  MosnConfig,
  OriginalDstMode,
  RedirectConfig,
  RegexRewriteConfig,
  RetryPolicyConfig,
  RouteActionConfig,
  RouteConfig,
  RouteMatchConfig,
  RouterConfig,
  ServerConfig,
  StatsMatcherConfig,
  TlsContextConfig,
  VirtualHostConfig,
  WeightedClusterConfig,
} from './types.ts';

export const LB_TYPES: readonly LbType[] = [
  'LB_ROUNDROBIN',
  'LB_RANDOM',
  'LB_WEIGHTED_ROUNDROBIN',
  'LB_LEAST_REQUEST',
  'LB_LEAST_CONNECTION',
  'LB_MAGLEV',
  'LB_REQUEST_ROUNDROBIN',
  'LB_PEAK_EWMA',
  'LB_ORIGINAL_DST',
];
export const CLUSTER_TYPES: readonly ClusterType[] = ['SIMPLE', 'STRICT_DNS', 'ORIGINAL_DST', 'EDS'];
export const LOG_LEVEL_NAMES: readonly LogLevelName[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
export const NETWORKS = ['tcp', 'udp', 'unix'] as const;

/** Defaults the schema fills in (see config/types for what each field means). */
export const DEFAULTS = {
  gracefulTimeoutMs: 30_000,
  connectTimeoutMs: 3_000,
  maxRequestPerConn: 1024,
  bufferLimitBytes: 16_384,
  choiceCount: 2,
  hostWeight: 1,
  maxHostWeight: 128,
  healthCheckTimeoutMs: 1_000,
  healthCheckIntervalMs: 15_000,
  shmZone: 'mosn_metrics',
  shmSizeBytes: 10 * 1024 * 1024,
} as const;

/** The shape a listener address must have, as messages spell it. */
export const LISTEN_ADDRESS_SHAPE = '"ip:port", "[ipv6]:port" or a unix socket path';

// ---------------------------------------------------------------------------------------
// Messages

/** An error function for a schema: "expected <what>, got <value>" ("missing; ..." when absent). */
export function expected(what: string): (issue: { input?: unknown }) => string {
  return (issue) =>
    issue.input === undefined ? `missing; expected ${what}` : `expected ${what}, got ${showValue(issue.input)}`;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'an array',
};

/**
 * The parse-wide error map for the issues a schema did not word itself: zod's codes
 * become "expected ..., got ..." sentences. Returns undefined to keep zod's own text.
 */
export function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  const got = (what: string): string => expected(what)(issue);
  switch (issue.code) {
    case 'invalid_type':
      return got(TYPE_NAMES[issue.expected] ?? issue.expected);
    case 'too_small':
      return issue.origin === 'array'
        ? got(`at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}`)
        : got(`a value >= ${String(issue.minimum)}`);
    case 'too_big':
      return issue.origin === 'array'
        ? got(`at most ${String(issue.maximum)} entries`)
        : got(`a value <= ${String(issue.maximum)}`);
    case 'invalid_value':
      return got(`one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Leaf schemas

/**
 * A value read by a function: `parse` returns the normalized value or throws an Error
 * whose message (possibly empty) says why; the issue reads "expected <what>, got <value>: <why>".
 */
function parsed<T>(what: string, parse: (value: unknown) => T) {
  return z.unknown().transform((value, ctx): T => {
    if (value === undefined) {
      ctx.issues.push({ code: 'custom', message: `missing; expected ${what}`, input: value });
      return z.NEVER;
    }
    try {
      return parse(value);
    } catch (err) {
      const why = err instanceof Error && err.message !== '' ? `: ${err.message}` : '';
      ctx.issues.push({ code: 'custom', message: `expected ${what}, got ${showValue(value)}${why}`, input: value });
      return z.NEVER;
    }
  });
}

/** Why a units parser refused a value, without the value it repeats. */
function reason(err: unknown): string {
  return err instanceof Error ? err.message.replace(/^invalid (duration|size) .*?: /, '') : '';
}

const text = (what = 'a string') => z.string({ error: expected(what) });
const optionalText = (what = 'a string') => text(what).optional();
const flag = (fallback = false) => z.boolean({ error: expected('true or false') }).default(fallback);
const uint = (what = 'an integer >= 0') => z.number({ error: expected(what) }).int().min(0).max(4_294_967_295);
const port = () => z.number({ error: expected('a port number 0..65535') }).int().min(0).max(65_535);
const freeObject = () => z.record(z.string(), z.unknown(), { error: expected('an object') });
const list = <T extends z.ZodType>(item: T, what = 'an array') => z.array(item, { error: expected(what) }).default([]);
const texts = () => list(text(), 'an array of strings');

const DURATION_SHAPE = 'a duration such as "30s", "500ms" or "1m30s"';
/** The longest duration accepted, as messages spell it (whole seconds: "596h31m23s"). */
export const MAX_DURATION_TEXT = formatDuration(Math.floor(MAX_TIMER_MS / 1000) * 1000);

/** A JSON number is nanoseconds (MOSN's rule): below 1 ms it is almost surely a mistake for seconds. */
function nanosecondsWarning(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value >= 1e6) return undefined;
  return `${value} is read as ${value} ns (a JSON number is nanoseconds, as in MOSN); did you mean "${value}s"?`;
}

/**
 * A duration field in ms, following the rule in this module's comment; `zero` is what an
 * absent or zero duration becomes (the field's default, or undefined for "not set").
 */
function durationField<Zero extends number | undefined>(zero: Zero) {
  // `.optional()` on the input lets an absent key through to the transform, which fills `zero`.
  const schema = z.unknown().optional().transform((value, ctx): number | Zero => {
    if (value === undefined) return zero;
    const refuse = (message: string): never => {
      ctx.issues.push({ code: 'custom', message, input: value });
      return z.NEVER;
    };
    if (typeof value !== 'string' && typeof value !== 'number') return refuse(`expected ${DURATION_SHAPE}, got ${showValue(value)}`);
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      return refuse(`expected ${DURATION_SHAPE}, got ${showValue(value)}: ${reason(err)}`);
    }
    if (ms < 0) return refuse(`expected ${DURATION_SHAPE}, got ${showValue(value)}: must not be negative`);
    if (ms > MAX_TIMER_MS) {
      return refuse(
        `expected a duration up to ${MAX_DURATION_TEXT}, got ${showValue(value)}: Node timers cannot wait longer than 2^31-1 ms`,
      );
    }
    return ms === 0 ? zero : ms;
  });
  return withValueWarning(schema, nanosecondsWarning);
}

/** A duration in ms whose absence or zero means `fallbackMs`. */
export const durationOr = (fallbackMs: number) => durationField(fallbackMs);

/** A duration in ms whose absence or zero means "not set" (undefined). */
export const optionalDuration = () => durationField(undefined);

/** A data size ("10MB", "32K") or a number of bytes, as bytes. */
export const size = () =>
  parsed('a size such as "10MB" or a number of bytes', (value) => {
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error('');
    try {
      return parseSize(value);
    } catch (err) {
      throw new Error(reason(err));
    }
  });

/** One of `values`, matched ignoring case and returned in canonical spelling. */
function oneOf<T extends string>(values: readonly T[], what = `one of ${values.join(', ')}`) {
  return parsed(what, (value) => {
    const found = typeof value === 'string' ? values.find((v) => v.toLowerCase() === value.toLowerCase()) : undefined;
    if (found === undefined) throw new Error('');
    return found;
  });
}

/**
 * Route and host metadata. MOSN reads `{"filter_metadata": {"mosn.lb": {k: "v"}}}` and
 * keeps the string values; a flat `{k: "v"}` object is accepted too.
 */
const metadata = () =>
  freeObject().transform((raw): Record<string, unknown> => {
    const filterMetadata = raw['filter_metadata'];
    if (typeof filterMetadata !== 'object' || filterMetadata === null) return raw;
    const lb = (filterMetadata as Record<string, unknown>)['mosn.lb'];
    if (typeof lb !== 'object' || lb === null) return {};
    return Object.fromEntries(Object.entries(lb).filter(([, v]) => typeof v === 'string'));
  });

/** Copies the entries whose value is defined (the `[key]: unknown` part of a config type). */
function definedEntries(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

// ---------------------------------------------------------------------------------------
// Listeners and filters

export const filterSchema = withMosnKeys(
  z.object(
    {
      type: text('a filter type name'),
      config: freeObject().default({}),
    },
    { error: expected('a filter {"type", "config"}') },
  ),
  ['go_plugin_config'],
).transform((f): FilterConfig => ({ type: f.type, config: f.config }));

/** `{}` or `status: false` means TLS off, which becomes undefined. */
export const tlsContextSchema = withMosnKeys(
  z.object(
    {
      status: flag(),
      type: optionalText(),
      server_name: optionalText(),
      ca_cert: optionalText(),
      cert_chain: optionalText(),
      private_key: optionalText(),
      verify_client: z.boolean({ error: expected('true or false') }).optional(),
      require_client_cert: z.boolean({ error: expected('true or false') }).optional(),
      insecure_skip: z.boolean({ error: expected('true or false') }).optional(),
      cipher_suites: optionalText(),
      ecdh_curves: optionalText(),
      min_version: optionalText(),
      max_version: optionalText(),
      alpn: optionalText(),
      ticket: optionalText(),
      fall_back: z.boolean({ error: expected('true or false') }).optional(),
      extend_verify: freeObject().optional(),
      callbacks: z.array(text(), { error: expected('an array of strings') }).optional(),
    },
    { error: expected('an object') },
  ),
  ['sds_source'],
).transform((tls): TlsContextConfig | undefined => {
  if (!tls.status) return undefined;
  return { ...definedEntries(tls), status: true };
});

const filterChainSchema = z
  .object(
    {
      match: z.unknown().optional(),
      tls_context: tlsContextSchema.optional(),
      tls_context_set: z.array(tlsContextSchema, { error: expected('an array of TLS contexts') }).optional(),
      filters: list(filterSchema, 'an array of filters'),
    },
    { error: expected('a filter chain {"filters": [...]}') },
  )
  .transform(
    (chain): FilterChainConfig => ({
      match: chain.match,
      // mosnode keeps one certificate per chain: the first enabled entry of a set (checks warns).
      tls_context: chain.tls_context ?? chain.tls_context_set?.find((tls) => tls !== undefined),
      filters: chain.filters,
    }),
  );

const accessLogSchema = z
  .object(
    { log_path: text('a log file path'), log_format: optionalText('an access log format') },
    { error: expected('an access log {"log_path", "log_format"}') },
  )
  .transform((log): AccessLogConfig => ({ log_path: log.log_path, log_format: log.log_format }));

/**
 * MOSN 1.x wrote `use_original_dst` as a boolean (true read SO_ORIGINAL_DST, which 1.6
 * calls "redirect"); MOSN 1.6 as "redirect" / "tproxy" ("" = off).
 */
const originalDst = parsed('true, false, "redirect" or "tproxy"', (value): OriginalDstMode => {
  if (typeof value === 'boolean') return value ? 'redirect' : false;
  if (typeof value === 'string') {
    const mode = value.toLowerCase();
    if (mode === '') return false;
    if (mode === 'redirect' || mode === 'tproxy') return mode;
  }
  throw new Error('');
});

export const listenerSchema = withMosnKeys(
  z.object(
    {
      name: optionalText('a listener name'),
      address: text(LISTEN_ADDRESS_SHAPE),
      network: oneOf(NETWORKS, 'one of "tcp", "udp", "unix"').optional(),
      bind_port: flag(),
      reuseport: flag(),
      use_original_dst: originalDst.default(false),
      inspector: flag(),
      access_logs: list(accessLogSchema),
      listener_filters: list(filterSchema, 'an array of filters'),
      filter_chains: z
        .array(filterChainSchema, { error: expected('an array with exactly one filter chain') })
        .min(1, { error: "expected exactly one filter chain (MOSN's rule), got none" }),
      stream_filters: list(filterSchema, 'an array of filters'),
      connection_idle_timeout: optionalDuration(),
      per_connection_buffer_limit_bytes: uint().default(DEFAULTS.bufferLimitBytes),
    },
    { error: expected('a listener object') },
  ),
  ['type', 'default_read_buffer_size'],
).transform(
  (l): ListenerConfig => ({
    name: l.name === undefined || l.name === '' ? l.address : l.name,
    address: l.address,
    network: l.network ?? (l.address.startsWith('/') || l.address.startsWith('@') ? 'unix' : 'tcp'),
    bind_port: l.bind_port,
    reuseport: l.reuseport,
    use_original_dst: l.use_original_dst,
    inspector: l.inspector,
    access_logs: l.access_logs,
    listener_filters: l.listener_filters,
    filter_chains: l.filter_chains,
    stream_filters: l.stream_filters,
    connection_idle_timeout: l.connection_idle_timeout,
    per_connection_buffer_limit_bytes: l.per_connection_buffer_limit_bytes,
  }),
);

// ---------------------------------------------------------------------------------------
// Routers

const headerValueOptionSchema = z
  .object(
    {
      header: z.object(
        { key: text('a header name'), value: text('a header value').default('') },
        { error: expected('{"key", "value"}') },
      ),
      // MOSN appends unless told otherwise.
      append: flag(true),
    },
    { error: expected('{"header": {"key", "value"}, "append"}') },
  )
  .transform((o): HeaderValueOption => ({ header: { key: o.header.key, value: o.header.value }, append: o.append }));

/** The four header add/remove lists shared by routers, virtual hosts and route actions. */
const headerEdits = {
  request_headers_to_add: list(headerValueOptionSchema),
  request_headers_to_remove: texts(),
  response_headers_to_add: list(headerValueOptionSchema),
  response_headers_to_remove: texts(),
};

const headerMatcherSchema = z
  .object(
    { name: text('a header name'), value: text().default(''), regex: flag() },
    { error: expected('{"name", "value", "regex"}') },
  )
  .transform((h): HeaderMatcherConfig => ({ name: h.name, value: h.value, regex: h.regex }));

const routeMatchSchema = z
  .object(
    {
      prefix: optionalText(),
      path: optionalText(),
      regex: optionalText(),
      headers: list(headerMatcherSchema),
      variables: z
        .array(
          z.object({ name: text(), value: optionalText(), regex: optionalText(), model: optionalText() }),
          { error: expected('an array of {"name", "value", "regex", "model"}') },
        )
        .optional(),
      dsl_expressions: z.array(z.object({ expression: text() }), { error: expected('an array') }).optional(),
    },
    { error: expected('a route match object') },
  )
  .transform(
    (m): RouteMatchConfig => ({
      prefix: m.prefix,
      path: m.path,
      regex: m.regex,
      headers: m.headers,
      ...definedEntries({ variables: m.variables, dsl_expressions: m.dsl_expressions }),
    }),
  );

const weightedClusterSchema = z
  .object(
    {
      cluster: z.object(
        { name: text('a cluster name'), weight: uint('a weight >= 0'), metadata_match: metadata().optional() },
        { error: expected('{"name", "weight"}') },
      ),
    },
    { error: expected('{"cluster": {"name", "weight"}}') },
  )
  .transform(
    (w): WeightedClusterConfig => ({
      cluster: { name: w.cluster.name, weight: w.cluster.weight, metadata_match: w.cluster.metadata_match },
    }),
  );

/**
 * MOSN draws a number below the total weight: a total of 0 would make it fail on every
 * request, and a name listed twice skews the draw, so both are refused here.
 */
const weightedClustersSchema = z
  .array(weightedClusterSchema, { error: expected('an array of {"cluster": {"name", "weight"}}') })
  .default([])
  .superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      if (seen.has(entry.cluster.name)) {
        const message = `expected each cluster once, got ${showValue(entry.cluster.name)} again`;
        ctx.addIssue({ code: 'custom', path: [i, 'cluster', 'name'], message });
      }
      seen.add(entry.cluster.name);
    });
    if (entries.length > 0 && entries.every((entry) => entry.cluster.weight === 0)) {
      ctx.addIssue({ code: 'custom', message: 'expected weights that sum to more than 0, got a total of 0' });
    }
  });

const hashPolicySchema = z.object(
  {
    header: z.object({ key: text('a header name') }).optional(),
    cookie: z
      .object({ name: text(), path: optionalText(), ttl: optionalDuration() })
      .transform((c) => definedEntries(c))
      .optional(),
    source_ip: z.object({}).optional(),
  },
  { error: expected('one of {"header"}, {"cookie"}, {"source_ip"}') },
);

const statusCode = (what: string) => z.number({ error: expected(what) }).int().min(100).max(599);

const retryPolicySchema = z
  .object(
    {
      retry_on: flag(),
      retry_timeout: optionalDuration(),
      num_retries: uint().default(0),
      status_codes: list(statusCode('an HTTP status code 100..599'), 'an array of HTTP status codes'),
    },
    { error: expected('a retry policy object') },
  )
  .transform(
    (r): RetryPolicyConfig => ({
      retry_on: r.retry_on,
      retry_timeout: r.retry_timeout,
      num_retries: r.num_retries,
      status_codes: r.status_codes,
    }),
  );

const regexRewriteSchema = z
  .object(
    {
      pattern: z.object(
        { regex: text('a regular expression'), google_re2: z.object({ max_program_size: uint().optional() }).optional() },
        { error: expected('{"regex"}') },
      ),
      substitution: text().default(''),
    },
    { error: expected('{"pattern": {"regex"}, "substitution"}') },
  )
  .transform((r): RegexRewriteConfig => ({ pattern: { regex: r.pattern.regex }, substitution: r.substitution }));

const routeActionSchema = z
  .object(
    {
      cluster_name: optionalText('a cluster name'),
      cluster_variable: optionalText(),
      upstream_protocol: optionalText(),
      cluster_header: optionalText('a header name'),
      weighted_clusters: weightedClustersSchema,
      hash_policy: z.array(hashPolicySchema, { error: expected('an array') }).optional(),
      metadata_match: metadata().optional(),
      timeout: optionalDuration(),
      retry_policy: retryPolicySchema.optional(),
      prefix_rewrite: optionalText(),
      regex_rewrite: regexRewriteSchema.optional(),
      host_rewrite: optionalText(),
      auto_host_rewrite: flag(),
      auto_host_rewrite_header: optionalText('a header name'),
      ...headerEdits,
    },
    { error: expected('a route action object') },
  )
  .transform(
    (a): RouteActionConfig => ({
      ...definedEntries({
        cluster_variable: a.cluster_variable,
        upstream_protocol: a.upstream_protocol,
        hash_policy: a.hash_policy,
        metadata_match: a.metadata_match,
      }),
      cluster_name: a.cluster_name,
      cluster_header: a.cluster_header,
      weighted_clusters: a.weighted_clusters,
      timeout: a.timeout,
      retry_policy: a.retry_policy,
      prefix_rewrite: a.prefix_rewrite,
      regex_rewrite: a.regex_rewrite,
      host_rewrite: a.host_rewrite,
      auto_host_rewrite: a.auto_host_rewrite,
      auto_host_rewrite_header: a.auto_host_rewrite_header,
      request_headers_to_add: a.request_headers_to_add,
      request_headers_to_remove: a.request_headers_to_remove,
      response_headers_to_add: a.response_headers_to_add,
      response_headers_to_remove: a.response_headers_to_remove,
    }),
  );

const directResponseSchema = z
  .object(
    {
      status: z.number({ error: expected('an HTTP status code 100..999') }).int().min(100).max(999),
      body: optionalText(),
    },
    { error: expected('{"status", "body"}') },
  )
  .transform((d): DirectResponseConfig => ({ status: d.status, body: d.body }));

/** The redirect codes MOSN accepts; 0 or absent means 301. */
export const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;
const REDIRECT_CODE_SHAPE = `one of ${REDIRECT_CODES.join(', ')}`;

const redirectSchema = z
  .object(
    {
      response_code: z
        .number({ error: expected(REDIRECT_CODE_SHAPE) })
        .refine((code) => code === 0 || (REDIRECT_CODES as readonly number[]).includes(code), {
          error: (issue) => `expected ${REDIRECT_CODE_SHAPE}, got ${showValue(issue.input)}: MOSN supports no other redirect code`,
        })
        .default(0),
      path_redirect: optionalText(),
      host_redirect: optionalText(),
      // MOSN lower-cases the scheme and checks it against RFC 3986's syntax.
      scheme_redirect: optionalText()
        .transform((scheme) => (scheme === undefined || scheme === '' ? undefined : scheme.toLowerCase()))
        .refine((scheme) => scheme === undefined || /^[a-z][a-z0-9.+-]*$/.test(scheme), {
          error: (issue) => `expected a URI scheme such as "https", got ${showValue(issue.input)}`,
        }),
    },
    { error: expected('a redirect object') },
  )
  .transform(
    (r): RedirectConfig => ({
      response_code: r.response_code === 0 ? 301 : r.response_code,
      path_redirect: r.path_redirect === '' ? undefined : r.path_redirect,
      host_redirect: r.host_redirect === '' ? undefined : r.host_redirect,
      scheme_redirect: r.scheme_redirect,
    }),
  );

const mirrorPolicySchema = z
  .object(
    { cluster: text('a cluster name'), percent: uint('a percentage 0..100').default(0), trace_sampled: flag() },
    { error: expected('{"cluster", "percent"}') },
  )
  .transform((m): MirrorPolicyConfig => ({ cluster: m.cluster, percent: m.percent, trace_sampled: m.trace_sampled }));

export const routeSchema = z
  .object(
    {
      match: routeMatchSchema.prefault({}),
      route: routeActionSchema.optional(),
      redirect: redirectSchema.optional(),
      direct_response: directResponseSchema.optional(),
      metadata: metadata().optional(),
      per_filter_config: freeObject().default({}),
      request_mirror_policies: mirrorPolicySchema.optional(),
    },
    { error: expected('a route object') },
  )
  .transform(
    (r): RouteConfig => ({
      ...definedEntries({ metadata: r.metadata }),
      match: r.match,
      route: r.route,
      direct_response: r.direct_response,
      redirect: r.redirect,
      request_mirror_policies: r.request_mirror_policies,
      per_filter_config: r.per_filter_config,
    }),
  );

export const virtualHostSchema = withMosnKeys(
  z.object(
    {
      name: text('a virtual host name').default(''),
      domains: texts(),
      routers: list(routeSchema, 'an array of routes'),
      ...headerEdits,
      per_filter_config: freeObject().default({}),
    },
    { error: expected('a virtual host object') },
  ),
  ['require_tls'],
).transform(
  (v): VirtualHostConfig => ({
    name: v.name,
    domains: v.domains,
    routers: v.routers,
    request_headers_to_add: v.request_headers_to_add,
    request_headers_to_remove: v.request_headers_to_remove,
    response_headers_to_add: v.response_headers_to_add,
    response_headers_to_remove: v.response_headers_to_remove,
    per_filter_config: v.per_filter_config,
  }),
);

/** `router_configs` (a folder of virtual host files) is read by the loader before validation. */
export const routerSchema = z
  .object(
    {
      router_config_name: text('a router name'),
      virtual_hosts: list(virtualHostSchema, 'an array of virtual hosts'),
      router_configs: optionalText('a folder of virtual host files'),
      ...headerEdits,
    },
    { error: expected('a router config object') },
  )
  .transform(
    (r): RouterConfig => ({
      router_config_name: r.router_config_name,
      virtual_hosts: r.virtual_hosts,
      request_headers_to_add: r.request_headers_to_add,
      request_headers_to_remove: r.request_headers_to_remove,
      response_headers_to_add: r.response_headers_to_add,
      response_headers_to_remove: r.response_headers_to_remove,
    }),
  );

// ---------------------------------------------------------------------------------------
// Server

/** A worker count: an integer >= 1, a string of one (MOSN allows "4"), or "auto". */
const processorSchema = parsed('an integer >= 1 or "auto"', (value): number | 'auto' => {
  if (typeof value === 'string' && value.toLowerCase() === 'auto') return 'auto';
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1) return n;
  throw new Error('');
});

/** MOSN's level names in any case; anything else is INFO, as MOSN does (config/checks warns). */
const logLevelSchema = text('a log level').transform((level): LogLevelName => {
  const upper = level.toUpperCase();
  return LOG_LEVEL_NAMES.find((name) => name === upper) ?? (upper === 'WARNING' ? 'WARN' : 'INFO');
});

export const serverSchema = withMosnKeys(
  z.object(
    {
      default_log_path: text('"stdout", "stderr" or a file path').default('stdout'),
      default_log_level: logLevelSchema.default('INFO'),
      graceful_timeout: durationOr(DEFAULTS.gracefulTimeoutMs),
      processor: processorSchema.default(1),
      listeners: list(listenerSchema, 'an array of listeners'),
      routers: list(routerSchema, 'an array of router configs'),
    },
    { error: expected('a server object') },
  ),
  ['mosn_server_name', 'global_log_roller', 'use_netpoll_mode'],
).transform(
  (s): ServerConfig => ({
    default_log_path: s.default_log_path,
    default_log_level: s.default_log_level,
    graceful_timeout: s.graceful_timeout,
    processor: s.processor,
    listeners: s.listeners,
    routers: s.routers,
  }),
);

// ---------------------------------------------------------------------------------------
// Clusters

/** "host:port", "[ipv6]:port", or a unix socket path. */
const hostAddress = parsed('"ip:port", "host:port" or "[ipv6]:port"', (value) => {
  if (typeof value !== 'string') throw new Error('');
  if (value.startsWith('/') || value.startsWith('@')) return value;
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65_535) throw new Error('');
  return value;
});

/** MOSN reads an absent weight or 0 as 1 and clamps above 128 (config/checks warns). */
const hostWeight = z
  .number({ error: expected('a host weight 1..128') })
  .int()
  .min(0)
  .transform((w) => Math.min(Math.max(w, DEFAULTS.hostWeight), DEFAULTS.maxHostWeight));

const hostSchema = withMosnKeys(
  z.object(
    {
      address: hostAddress,
      hostname: optionalText('a host name'),
      weight: hostWeight.default(DEFAULTS.hostWeight),
      metadata: metadata().default({}),
    },
    { error: expected('a host {"address", "weight"}') },
  ),
  ['tls_disable'],
).transform(
  (h): HostConfig => ({ address: h.address, hostname: h.hostname, weight: h.weight, metadata: h.metadata }),
);

const circuitBreakerSchema = z
  .object(
    {
      max_connections: uint().default(0),
      max_pending_requests: uint().default(0),
      max_requests: uint().default(0),
      max_retries: uint().default(0),
    },
    { error: expected('a circuit breaker object') },
  )
  .transform((c): CircuitBreakerConfig => ({ ...c }));

/** Health check, durations in ms and MOSN's defaults filled in. */
const healthCheckSchema = z
  .object(
    {
      protocol: optionalText('a protocol name'),
      timeout: durationOr(DEFAULTS.healthCheckTimeoutMs),
      interval: durationOr(DEFAULTS.healthCheckIntervalMs),
      interval_jitter: durationOr(0),
      initial_delay_seconds: durationOr(0),
      healthy_threshold: uint().default(1),
      unhealthy_threshold: uint().default(1),
      service_name: optionalText(),
      check_config: freeObject().default({}),
      event_log_path: optionalText(),
      common_callbacks: texts(),
    },
    { error: expected('a health check object') },
  )
  .transform((h): Record<string, unknown> => definedEntries(h));

/** `0` for the two MOSN defaults below means "not set", as in MOSN. */
const orDefault = (value: number, fallback: number): number => (value === 0 ? fallback : value);

export const clusterSchema = withMosnKeys(
  z.object(
    {
      name: text('a cluster name'),
      type: oneOf(CLUSTER_TYPES).default('SIMPLE'),
      lb_type: oneOf(LB_TYPES).default('LB_ROUNDROBIN'),
      lbconfig: withMosnKeys(
        z.object({ choice_count: uint().default(DEFAULTS.choiceCount) }, { error: expected('an object') }),
        ['active_request_bias', 'client_error_bias', 'server_error_bias'],
      ).prefault({}),
      max_request_per_conn: uint().default(0),
      conn_buffer_limit_bytes: uint().default(0),
      connect_timeout: durationOr(DEFAULTS.connectTimeoutMs),
      idle_timeout: optionalDuration(),
      circuit_breakers: list(circuitBreakerSchema, 'an array of circuit breakers'),
      health_check: healthCheckSchema.optional(),
      tls_context: tlsContextSchema.optional(),
      hosts: list(hostSchema, 'an array of hosts'),
    },
    { error: expected('a cluster object') },
  ),
  [
    'sub_type',
    'mark',
    'spec',
    'lb_subset_config',
    'original_dst_lb_config',
    'cluster_manager_tls',
    'keepalive',
    'dns_refresh_rate',
    'respect_dns_ttl',
    'dns_lookup_family',
    'dns_resolvers',
    'dns_resolver_file',
    'dns_resolver_port',
    'slow_start',
    'cluster_pool_enable',
  ],
).transform(
  (c): ClusterConfig => ({
    name: c.name,
    type: c.type,
    lb_type: c.lb_type,
    lbconfig: { choice_count: c.lbconfig.choice_count },
    max_request_per_conn: orDefault(c.max_request_per_conn, DEFAULTS.maxRequestPerConn),
    conn_buffer_limit_bytes: orDefault(c.conn_buffer_limit_bytes, DEFAULTS.bufferLimitBytes),
    connect_timeout: c.connect_timeout,
    idle_timeout: c.idle_timeout,
    circuit_breakers: c.circuit_breakers,
    hosts: c.hosts,
    tls_context: c.tls_context,
    health_check: c.health_check,
  }),
);

/** `clusters_configs` (a folder of cluster files) is read by the loader before validation. */
const clusterManagerSchema = withMosnKeys(
  z.object(
    {
      clusters: list(clusterSchema, 'an array of clusters'),
      clusters_configs: optionalText('a folder of cluster files'),
    },
    { error: expected('an object') },
  ),
  ['tls_context', 'cluster_pool_enable'],
).transform((m): ClusterManagerConfig => ({ clusters: m.clusters }));

// ---------------------------------------------------------------------------------------
// Admin, metrics, top level

const adminSchema = z
  .object(
    {
      address: z.object(
        {
          socket_address: z.object(
            { address: text('an IP address'), port_value: port() },
            { error: expected('{"address", "port_value"}') },
          ),
        },
        { error: expected('{"socket_address": {"address", "port_value"}}') },
      ),
    },
    { error: expected('{"address": {"socket_address": {"address", "port_value"}}}') },
  )
  .transform(
    (a): AdminConfig => ({
      address: { socket_address: { address: a.address.socket_address.address, port_value: a.address.socket_address.port_value } },
    }),
  );

const sinkSchema = z
  .object({ type: text('a sink type'), config: freeObject().default({}) }, { error: expected('a sink {"type", "config"}') })
  .transform((s): MetricsSinkConfig => ({ type: s.type, config: s.config }));

const statsMatcherSchema = z
  .object(
    { reject_all: flag(), exclusion_labels: texts(), exclusion_keys: texts() },
    { error: expected('a stats matcher object') },
  )
  .transform((m): StatsMatcherConfig => ({ ...m }));

const metricsSchema = withMosnKeys(
  z.object(
    {
      sinks: list(sinkSchema, 'an array of sinks'),
      stats_matcher: statsMatcherSchema.prefault({}),
      shm_zone: text('a shared memory zone name').default(DEFAULTS.shmZone),
      shm_size: size().default(DEFAULTS.shmSizeBytes),
    },
    { error: expected('a metrics object') },
  ),
  ['flush_mosn', 'lazy_flush', 'sample', 'ewma'],
).transform(
  (m): MetricsConfig => ({
    sinks: m.sinks,
    stats_matcher: m.stats_matcher,
    shm_zone: m.shm_zone === '' ? DEFAULTS.shmZone : m.shm_zone,
    shm_size: m.shm_size === 0 ? DEFAULTS.shmSizeBytes : m.shm_size,
  }),
);

/** Top-level MOSN keys of areas mosnode does not implement yet: kept, warned about once. */
export const LATER_TOP_LEVEL_KEYS = [
  'tracing',
  'pprof',
  'plugin',
  'third_part_codec',
  'extends',
  'dynamic_resources',
  'static_resources',
  'node',
  'wasm_global_plugins',
] as const;

/** The whole config. The returned `uds_dir`, `pid` and `plugins` are still as written: the loader resolves them. */
export const mosnConfigSchema = withMosnKeys(
  z.object(
    {
      servers: z
        .array(serverSchema, { error: expected('an array with exactly one server') })
        .min(1, { error: 'expected exactly one server (MOSN supports one), got none' }),
      cluster_manager: clusterManagerSchema.prefault({}),
      admin: adminSchema.optional(),
      metrics: metricsSchema.prefault({}),
      disable_upgrade: flag(),
      // MOSN's deprecated spelling of disable_upgrade.
      close_graceful: flag(),
      inherit_old_mosnconfig: flag(),
      uds_dir: optionalText('a folder path'),
      pid: optionalText('a file path'),
      plugins: list(text('a module path or package name'), 'an array of module paths or package names'),
    },
    { error: expected('a MOSN config object') },
  ),
  LATER_TOP_LEVEL_KEYS,
).transform(
  (c): MosnConfig => ({
    // One server is guaranteed by `min(1)` here and by config/checks for more than one.
    servers: [c.servers[0] as ServerConfig],
    cluster_manager: c.cluster_manager,
    admin: c.admin,
    metrics: c.metrics,
    disable_upgrade: c.disable_upgrade || c.close_graceful,
    inherit_old_mosnconfig: c.inherit_old_mosnconfig,
    uds_dir: c.uds_dir,
    pid: c.pid,
    plugins: c.plugins,
  }),
);

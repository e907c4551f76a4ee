/**
 * @module filters/network/proxy/proxy-factory
 * The `proxy` network filter factory (MOSN's name and config): validates the config,
 * compiles its router (with each stream filter's per_filter_config) once at load time,
 * and builds the L7 proxy of this filter entry on its first connection. Each connection
 * is handed to the codec its protocol asks for (Auto: sniffed from the first bytes).
 */
import type { Socket } from 'node:net';
import { defineNetworkFilter, type FilterFactoryContext } from '../../../api/filter-factory.ts';
import type { Connection, FilterStatus, ReadFilter } from '../../../api/network-filter.ts';
import type { FilterRegistry } from '../../../api/registry.ts';
import { MosnError } from '../../../core/errors.ts';
import type { ListenerConfig, RouterConfig } from '../../../config/types.ts';
import { RouteTable } from '../../../router/route-table.ts';
import type { MetricsRegistry } from '../../../metrics/metrics-registry.ts';
import { downstreamListenerMetrics, downstreamProxyMetrics } from '../../../metrics/metric-bundles.ts';
import { MIGRATION_KEY, type FilterMigration, type MigrationProvider } from '../../../network/migration.ts';
import { Http1Server, DEFAULT_HTTP1_LIMITS, type Http1ConnectionControl } from '../../../protocol/http1/http1-server.ts';
import { NodeHttp1Server } from '../../../protocol/http1/node-http1-server.ts';
import { useNodeHttp1 } from '../../../protocol/http1/codec-choice.ts';
import { Http2Server } from '../../../protocol/http2/http2-server.ts';
import { NodeHttp2Server } from '../../../protocol/http2/node-http2-server.ts';
import { useNodeHttp2 } from '../../../protocol/http2/codec-choice.ts';
import { sniffHttpProtocol } from '../../../protocol/sniff.ts';
import { Cluster } from '../../../upstream/cluster.ts';
import { HttpPoolManager } from '../../../upstream/pools/pool-manager.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, type ProxyContext } from '../../../proxy/proxy-context.ts';
import { ProxyStream } from '../../../proxy/proxy-stream.ts';
import type { PreparedStreamFilter } from '../../../proxy/stream-filter-chain.ts';
import { tunnelUpgrade } from '../../../proxy/upgrade-tunnel.ts';
import { createAccessLogs, releaseAccessLogs, type AccessLog } from '../../../proxy/access-log/access-log.ts';
import { compileAccessLogFormat } from '../../../proxy/access-log/access-log-format.ts';
import { AccessLogWriters } from '../../../proxy/access-log/access-log-writer.ts';
import { parseProxyConfig, type ProxyConfig } from './proxy-config.ts';

/** The listener's per_connection_buffer_limit_bytes when MOSN's default (1 MiB) is not set. */
const DEFAULT_BUFFER_LIMIT = 1 << 20;

interface ParsedProxy {
  config: ProxyConfig;
  context: ProxyContext;
}

/** The codecs of one filter entry, made on its first connection. */
interface Codecs {
  http1: { accept(socket: Socket): Http1ConnectionControl };
  http2: Http2Server | NodeHttp2Server;
}

const codecsOf = new WeakMap<ParsedProxy, Codecs>();

function parse(raw: unknown, context: FilterFactoryContext): ParsedProxy {
  const routers = (context.services.get('routers') as RouterConfig[] | undefined) ?? [];
  const config = parseProxyConfig(raw, context.path, (name) => routers.some((r) => r.router_config_name === name), context.warn);
  const index = routers.findIndex((r) => r.router_config_name === config.routerConfigName);
  const streamFilters = (context.services.get('streamFilters') as PreparedStreamFilter[] | undefined) ?? [];
  const registry = context.services.get('streamFilterRegistry') as FilterRegistry | undefined;
  const listener = context.services.get('listener') as { config: ListenerConfig; path: string } | undefined;
  let routes: RouteTable;
  try {
    routes = new RouteTable(routers[index]!, `servers[0].routers[${index}]`, {
      parsePerFilterConfig(type, rawConfig, path) {
        const factory = registry?.getStreamFilter(type);
        if (factory === undefined) {
          context.warn(`${path}: stream filter "${type}" is not registered; ignored`);
          return undefined;
        }
        return factory.parsePerRouteConfig === undefined ? rawConfig : factory.parsePerRouteConfig(rawConfig, { ...context, path });
      },
    });
  } catch (err) {
    // The router's own message already names its JSON path.
    throw new MosnError('MOSN_ERR_CONFIG_INVALID', (err as Error).message, { cause: err });
  }
  for (const warning of routes.warnings) context.warn(warning);
  const metrics = context.services.get('metrics') as MetricsRegistry | undefined;
  const pools = new HttpPoolManager((cluster) => {
    const c = cluster instanceof Cluster ? cluster : undefined;
    return {
      idleTimeoutMs: c?.idleTimeoutMs,
      maxRequestsPerConnection: c?.maxRequestPerConn ?? 0,
      maxConnections: c?.circuitBreakers.maxConnections ?? Infinity,
    };
  });
  const writers = (context.services.get('accessLogWriters') as AccessLogWriters | undefined) ?? new AccessLogWriters();
  let accessLogs: AccessLog[] = [];
  if (listener !== undefined && context.services.get('validateOnly') === true) {
    // validate: formats are checked, no file is opened or created.
    listener.config.access_logs.forEach((log, i) => compileAccessLogFormat(log.log_format, `${listener.path}.access_logs[${i}].log_format`));
  } else if (listener !== undefined) {
    accessLogs = createAccessLogs(listener.config.access_logs, listener.path, { writers, logger: context.logger });
  }
  const hooks = context.services.get('shutdownHooks') as Array<() => Promise<void>> | undefined;
  hooks?.push(() => pools.close());
  hooks?.push(() => releaseAccessLogs(accessLogs, writers));
  const upstream = config.upstreamProtocol;
  return {
    config,
    context: {
      listenerName: context.listenerName,
      routes,
      clusters: context.clusters,
      pools,
      upstreamProtocol: upstream === 'Http1' ? 'HTTP/1.1' : upstream === 'Http2' ? 'HTTP/2' : undefined,
      logger: context.logger,
      metrics: metrics === undefined ? [] : [downstreamListenerMetrics(metrics, context.listenerName), downstreamProxyMetrics(metrics)],
      streamFilters,
      accessLogs,
      bufferLimitBytes: listener?.config.per_connection_buffer_limit_bytes || DEFAULT_BUFFER_LIMIT,
      defaultTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    },
  };
}

function codecs(parsed: ParsedProxy): Codecs {
  let c = codecsOf.get(parsed);
  if (c === undefined) {
    const ctx = parsed.context;
    const onRequest = (stream: ConstructorParameters<typeof ProxyStream>[1]): void => new ProxyStream(ctx, stream).start();
    c = {
      http1: new (useNodeHttp1() ? NodeHttp1Server : Http1Server)(
        { onRequest, onUpgrade: (head, socket, first) => tunnelUpgrade(ctx, head, socket, first) },
        ctx.logger,
      ),
      http2: new (useNodeHttp2() ? NodeHttp2Server : Http2Server)(onRequest, ctx.logger),
    };
    codecsOf.set(parsed, c);
  }
  return c;
}

function serveHttp1(http: Codecs['http1'], connection: Connection, socket: Socket): void {
  const control = http.accept(socket);
  connection.onDrain(() => control.drain());
  connection.state.set(MIGRATION_KEY, new Http1Migration(control));
}

/** An HTTP/1 connection's MigrationProvider: a class, not closures (10k idle connections each hold one). */
class Http1Migration implements MigrationProvider {
  readonly #control: Http1ConnectionControl;

  constructor(control: Http1ConnectionControl) {
    this.#control = control;
  }

  worthWaiting(): boolean {
    return this.#control.isIdle();
  }

  prepareMigration(): FilterMigration | undefined {
    const m = this.#control.prepareMigration();
    return m === undefined ? undefined : { kind: 'http1', extraSockets: [], commit: m.commit, abort: m.abort };
  }
}

function serveHttp2(http: Codecs['http2'], connection: Connection, socket: Socket): void {
  connection.onDrain(() => http.drain(socket));
  http.accept(socket);
}

/** The `proxy` read filter of one connection: hands the socket to a codec and steps aside. */
class ProxyReadFilter implements ReadFilter {
  readonly #parsed: ParsedProxy;
  readonly #connection: Connection;

  constructor(parsed: ParsedProxy, connection: Connection) {
    this.#parsed = parsed;
    this.#connection = connection;
  }

  onNewConnection(): FilterStatus {
    const connection = this.#connection;
    const { http1, http2 } = codecs(this.#parsed);
    const downstream = this.#parsed.config.downstreamProtocol;
    const socket = connection.detachSocket();
    if (downstream === 'Http1') serveHttp1(http1, connection, socket);
    else if (downstream === 'Http2') serveHttp2(http2, connection, socket);
    else {
      // Until the first bytes decide, a drain just closes the connection.
      let decided = false;
      connection.onDrain(() => {
        if (!decided) socket.destroy();
      });
      sniffHttpProtocol(socket, DEFAULT_HTTP1_LIMITS.headersTimeoutMs, (protocol) => {
        decided = true;
        if (protocol === 'HTTP/2') serveHttp2(http2, connection, socket);
        else if (protocol === 'HTTP/1.1') serveHttp1(http1, connection, socket);
      });
    }
    return 'Stop';
  }

  onData(): FilterStatus {
    return 'Stop';
  }
}

export const proxyFactory = defineNetworkFilter<ParsedProxy>({
  type: 'proxy',
  parseConfig: parse,
  createFilters(parsed, chain, connection) {
    chain.addReadFilter(new ProxyReadFilter(parsed, connection));
  },
});

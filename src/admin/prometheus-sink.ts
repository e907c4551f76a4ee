/**
 * @module admin/prometheus-sink
 * MOSN's Prometheus sink (`metrics.sinks[{type: "prometheus", config: {port, endpoint}}]`):
 * its own HTTP server serving the registry in the text exposition format at `endpoint`
 * (default /metrics). Like MOSN it listens on every interface at `port`; on a hot upgrade
 * the successor inherits the listening socket by port. Unknown sink types are reported
 * and skipped. May import core/, config/types, metrics/.
 */
import http from 'node:http';
import type { MetricsSinkConfig } from '../config/types.ts';
import type { Logger } from '../core/logger.ts';
import { MosnError, describeError } from '../core/errors.ts';
import type { MetricsRegistry } from '../metrics/metrics-registry.ts';
import { renderPrometheusText } from '../metrics/prometheus-text.ts';
import { drainHttpServer } from './drain-http-server.ts';

export interface PrometheusSinkConfig {
  port: number;
  endpoint: string;
}

/**
 * The Prometheus sinks of `metrics.sinks`, validated with MOSN's rules (a port is required,
 * the endpoint starts with "/"); other sink types are reported through `warn` and skipped.
 */
export function parsePrometheusSinks(sinks: readonly MetricsSinkConfig[], warn: (message: string) => void): PrometheusSinkConfig[] {
  const out: PrometheusSinkConfig[] = [];
  sinks.forEach((sink, i) => {
    const path = `metrics.sinks[${i}]`;
    if (sink.type.toLowerCase() !== 'prometheus') {
      warn(`${path}.type: sink "${sink.type}" is not supported yet; skipped`);
      return;
    }
    const lower = new Map(Object.entries(sink.config).map(([k, v]) => [k.toLowerCase(), v]));
    const port = lower.get('port');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new MosnError('MOSN_ERR_CONFIG_INVALID', `${path}.config.port: expected a port 1..65535, got ${JSON.stringify(port)}`);
    }
    const endpoint = lower.get('endpoint') ?? '/metrics';
    if (typeof endpoint !== 'string' || !endpoint.startsWith('/')) {
      throw new MosnError('MOSN_ERR_CONFIG_INVALID', `${path}.config.endpoint: expected a path starting with "/", got ${JSON.stringify(endpoint)}`);
    }
    if (lower.has('export_url')) warn(`${path}.config.export_url: push gateway mode is not supported (as in MOSN); serving ${endpoint} on port ${port}`);
    out.push({ port, endpoint });
  });
  return out;
}

export class PrometheusSink {
  readonly config: PrometheusSinkConfig;
  readonly #server: http.Server;

  constructor(registry: MetricsRegistry, config: PrometheusSinkConfig, logger: Logger) {
    this.config = config;
    this.#server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== config.endpoint) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${config.endpoint}\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      const body = renderPrometheusText(registry);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    this.#server.on('error', (err) => logger.error({ err: describeError(err) }, 'prometheus sink error'));
  }

  /** Listens on every interface at the port, or on an inherited socket. */
  listen(inherited?: { fd: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new MosnError('MOSN_ERR_ADMIN_BIND', `prometheus sink could not listen on port ${this.config.port}: ${err.code ?? err.message}`, { cause: err }));
      };
      this.#server.once('error', onError);
      this.#server.listen(inherited ?? { port: this.config.port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  /** The bound port. */
  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : this.config.port;
  }

  /** The listening socket's fd, for a successor. */
  get fd(): number | undefined {
    const handle = (this.#server as unknown as { _handle?: { fd?: number } })._handle;
    return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** After a hot upgrade: scrapers on open connections finish; the successor serves the socket. */
  drain(): Promise<void> {
    return this.#server.listening ? drainHttpServer(this.#server, 5_000) : Promise.resolve();
  }
}

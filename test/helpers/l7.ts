/**
 * Helpers for L7 tests: a MOSN config with one `proxy` listener, and small HTTP/1.1 and
 * HTTP/2 clients that return status, headers, body and trailers.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect } from 'node:net';

export interface ProxyConfigOptions {
  downstream?: string;
  upstream?: string;
  /** virtual_hosts of the router (default: every path to cluster "backend"). */
  virtualHosts?: unknown[];
  /** cluster name -> host ports (or full cluster objects). */
  clusters: Record<string, number[] | Record<string, unknown>>;
  streamFilters?: unknown[];
  accessLogs?: unknown[];
  listener?: Record<string, unknown>;
}

export function proxyConfig(o: ProxyConfigOptions): Record<string, unknown> {
  return {
    servers: [
      {
        default_log_level: 'INFO',
        routers: [
          {
            router_config_name: 'r',
            virtual_hosts: o.virtualHosts ?? [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'backend' } }] }],
          },
        ],
        listeners: [
          {
            name: 'l7',
            address: '127.0.0.1:0',
            bind_port: true,
            filter_chains: [
              {
                filters: [
                  {
                    type: 'proxy',
                    config: { downstream_protocol: o.downstream ?? 'Http1', upstream_protocol: o.upstream ?? 'Http1', router_config_name: 'r' },
                  },
                ],
              },
            ],
            ...(o.streamFilters !== undefined && { stream_filters: o.streamFilters }),
            ...(o.accessLogs !== undefined && { access_logs: o.accessLogs }),
            ...o.listener,
          },
        ],
      },
    ],
    cluster_manager: {
      clusters: Object.entries(o.clusters).map(([name, c]) =>
        Array.isArray(c)
          ? { name, type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: c.map((port) => ({ address: `127.0.0.1:${port}` })) }
          : { name, type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', ...c },
      ),
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    disable_upgrade: true,
  };
}

export interface H1Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: Record<string, string | undefined>;
}

export function h1(
  port: number,
  path: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: Buffer | string; agent?: false } = {},
): Promise<H1Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

/** One request on a fresh h2c (prior knowledge) session, closed afterwards. */
export async function h2(port: number, path: string, options: { method?: string; headers?: http2.OutgoingHttpHeaders; body?: Buffer | string } = {}): Promise<H2Response> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await h2On(session, path, options);
  } finally {
    session.close();
  }
}

export function h2On(
  session: http2.ClientHttp2Session,
  path: string,
  options: { method?: string; headers?: http2.OutgoingHttpHeaders; body?: Buffer | string } = {},
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    session.once('error', reject);
    const stream = session.request({ ':method': options.method ?? 'GET', ':path': path, ...options.headers }, { endStream: options.body === undefined });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), trailers }));
    stream.on('error', reject);
    if (options.body !== undefined) stream.end(options.body);
  });
}

/** Sends raw bytes and returns everything the server wrote until it closed (or `waitMs`). */
export function rawExchange(port: number, text: string, waitMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (d) => (out += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.write(text);
  });
}

/**
 * An HTTP/1.1 upstream that reads each whole request and answers 200 with the JSON that
 * `describe` makes of it, and `x-upstream: h1`.
 */
export async function startJsonUpstream(describe: (req: IncomingMessage, body: Buffer) => string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', 'h1');
      res.end(describe(req, Buffer.concat(chunks)));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

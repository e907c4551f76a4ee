/**
 * @module admin/admin-server
 * The admin HTTP server (node:http): routes a request to its handler in ADMIN_ROUTES,
 * answers 404 for unknown paths and 405 for wrong methods, reads POST bodies up to a
 * limit, logs every request at debug level. It can listen on an address (port 0 allowed)
 * or on an already-bound socket inherited during a hot upgrade, and close() lets the port
 * go at once. Depends on admin/ and core/ only; the server layer builds the AdminContext.
 */
import { drainHttpServer } from './drain-http-server.ts';
import * as http from 'node:http';
import * as net from 'node:net';
import { MosnError, describeError } from '../core/errors.ts';
import type { AdminContext } from './admin-context.ts';
import { textReply, type AdminReply, type AdminRequest } from './admin-reply.ts';
import { ADMIN_ROUTES, type AdminMethod, type AdminRoute } from './admin-routes.ts';

/**
 * Where to listen: an address, an inherited file descriptor, or a bound socket object
 * (a listening net.Server, or anything node:http's listen(handle) takes).
 */
export type AdminListenTarget =
  | { readonly host: string; readonly port: number }
  | { readonly fd: number }
  | net.Server
  | net.Socket;

export interface AdminAddress {
  readonly host: string;
  /** 0 for a unix socket (then `host` is its path). */
  readonly port: number;
}

export interface AdminServerOptions {
  /** Larger POST bodies get 413. Default 64 KiB: admin bodies are a few bytes of JSON. */
  readonly maxBodyBytes?: number;
  /** After close(), connections still busy are cut after this long. Default 1000 ms. */
  readonly closeGraceMs?: number;
}

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_CLOSE_GRACE_MS = 1000;

export class AdminServer {
  readonly #context: AdminContext;
  readonly #server: http.Server;
  readonly #routes: ReadonlyMap<string, AdminRoute>;
  readonly #maxBodyBytes: number;
  readonly #closeGraceMs: number;
  #closing: Promise<void> | undefined;

  constructor(context: AdminContext, options: AdminServerOptions = {}) {
    this.#context = context;
    this.#routes = new Map(ADMIN_ROUTES.map((route) => [route.path, route]));
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#closeGraceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    // Short timeouts: a slow or idle admin client must not hold a socket for long.
    this.#server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) =>
      this.#onRequest(req, res),
    );
    // An accept error after listen (EMFILE, ...) must be logged, not kill the proxy.
    this.#server.on('error', (err) => context.logger.error({ err }, 'admin server error'));
  }

  /** The listening socket's fd (for handing it to a successor), or undefined. */
  get fd(): number | undefined {
    const handle = (this.#server as unknown as { _handle?: { fd?: number } })._handle;
    return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
  }

  /** The node:http server, for tests and for handing its listening fd to a successor. */
  get server(): http.Server {
    return this.#server;
  }

  /**
   * Starts listening. Resolves with the bound address (the real port when 0 was asked);
   * rejects with MOSN_ERR_ADMIN_BIND when the address cannot be bound.
   */
  listen(target: AdminListenTarget): Promise<AdminAddress> {
    this.#closing = undefined;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.#server.off('listening', onListening);
        reject(new MosnError('MOSN_ERR_ADMIN_BIND', `admin server could not listen on ${describeTarget(target)}: ${describeError(err)}`, { cause: err }));
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        const address = this.address();
        this.#context.logger.info({ address: `${address.host}:${address.port}` }, 'admin server listening');
        resolve(address);
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      if (target instanceof net.Server || target instanceof net.Socket) this.#server.listen(target);
      else if ('fd' in target) this.#server.listen({ fd: target.fd });
      else this.#server.listen({ host: target.host, port: target.port });
    });
  }

  /** The bound address; throws when not listening. */
  address(): AdminAddress {
    const address = this.#server.address();
    if (address === null) throw new Error('the admin server is not listening');
    return typeof address === 'string' ? { host: address, port: 0 } : { host: address.address, port: address.port };
  }

  /**
   * Stops accepting, closes idle keep-alive sockets at once and busy ones after the grace
   * time. Resolves when the listening socket is closed; calling it again returns the same promise.
   */
  /** After a hot upgrade: let admin clients finish on the successor without failing a request. */
  drain(): Promise<void> {
    this.#closing ??= this.#server.listening ? drainHttpServer(this.#server, this.#closeGraceMs * 5) : Promise.resolve();
    return this.#closing;
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      const cutBusy = setTimeout(() => this.#server.closeAllConnections(), this.#closeGraceMs);
      cutBusy.unref();
      this.#server.close(() => {
        clearTimeout(cutBusy);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
    return this.#closing;
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = req.url ?? '/';
    const queryStart = target.indexOf('?');
    const path = queryStart === -1 ? target : target.slice(0, queryStart);
    const query = new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1));
    const route = this.#routes.get(path);
    if (route === undefined) {
      this.#send(req, res, path, textReply(`no admin API at ${path}; GET / lists them\n`, 404));
      return;
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
    if (!route.methods.includes(method as AdminMethod)) {
      res.setHeader('allow', route.methods.includes('GET') ? [...route.methods, 'HEAD'].join(', ') : route.methods.join(', '));
      this.#send(req, res, path, textReply(`method ${req.method} not allowed on ${path}; use ${route.methods.join(' or ')}\n`, 405));
      return;
    }
    if (method !== 'POST') {
      req.resume(); // a body on a GET is ignored, but must be drained for keep-alive
      this.#dispatch(req, res, route, { method, path, query, body: '' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > this.#maxBodyBytes) {
        tooLarge = true;
        res.setHeader('connection', 'close');
        this.#send(req, res, path, textReply(`request body over ${this.#maxBodyBytes} bytes\n`, 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) this.#dispatch(req, res, route, { method, path, query, body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', () => {
      // The client went away mid-body: there is nobody to answer.
    });
  }

  #dispatch(req: http.IncomingMessage, res: http.ServerResponse, route: AdminRoute, request: AdminRequest): void {
    let reply: AdminReply;
    try {
      reply = route.handle(request, this.#context);
    } catch (err) {
      this.#context.logger.error({ path: request.path, err: describeError(err) }, 'admin handler failed');
      reply = textReply('internal error\n', 500);
    }
    this.#send(req, res, request.path, reply);
  }

  #send(req: http.IncomingMessage, res: http.ServerResponse, path: string, reply: AdminReply): void {
    res.statusCode = reply.status;
    res.setHeader('content-type', reply.contentType);
    res.setHeader('content-length', Buffer.byteLength(reply.body));
    res.end(reply.body);
    this.#context.logger.debug({ method: req.method, path, status: reply.status }, 'admin request');
  }
}

function describeTarget(target: AdminListenTarget): string {
  if (target instanceof net.Server || target instanceof net.Socket) return 'an inherited socket';
  if ('fd' in target) return `inherited fd ${target.fd}`;
  return `${target.host}:${target.port}`;
}

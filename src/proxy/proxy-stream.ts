/**
 * @module proxy/proxy-stream
 * The L7 state machine for one request (MOSN's downStream): receive filters around
 * routing and host choice, the upstream exchange with timeouts and retries, send filters,
 * the response streamed back with backpressure, then access log and metrics. Every way
 * out goes through #finish, once.
 *
 * Bodies stream unless something needs them whole: a filter added with `needsBody`, a
 * retry policy or a mirror (then up to `bufferLimitBytes`; a retry or mirror of a bigger
 * or unknown-length body is given up, the request still streams).
 */
import { Readable, type Duplex } from 'node:stream';
import { HeaderMap } from '../api/headers.ts';
import type {
  RequestHead,
  ResponseHead,
  StreamFilterStatus,
  StreamInfo,
  StreamReceiverFilterHandler,
  StreamSenderFilterHandler,
  ReceiverFilterPhase,
} from '../api/stream-filter.ts';
import type { UpstreamCluster, UpstreamHost } from '../api/upstream.ts';
import type { Logger } from '../core/logger.ts';
import { describeError } from '../core/errors.ts';
import { countResponseStatus } from '../metrics/metric-bundles.ts';
import type { UpstreamClusterMetrics, UpstreamHostMetrics } from '../metrics/metric-bundles.ts';
import { HOP_BY_HOP_HEADERS, IDEMPOTENT_METHODS, statusHasNoBody } from '../protocol/http-semantics.ts';
import type { ServerStream } from '../protocol/server-stream.ts';
import type { MatchedRoute } from '../router/route-table.ts';
import { Cluster } from '../upstream/cluster.ts';
import { Host } from '../upstream/host.ts';
import type { UpstreamProtocol } from '../upstream/pools/pool-manager.ts';
import type { UpstreamBody, UpstreamExchange, UpstreamFailure, UpstreamResponseHandler } from '../upstream/pools/upstream-exchange.ts';
import type { Phase } from './phases.ts';
import type { ProxyContext } from './proxy-context.ts';
import { ResponseFlags, type RequestInfo } from './request-info.ts';
import { FilterTimeoutError, StreamFilterChain } from './stream-filter-chain.ts';
import { sendMirror } from './mirror.ts';
import { deadlineQueue, type Deadline } from '../core/deadline-queue.ts';

/** Retries of a connection failure when the route has no retry_policy (MOSN's default). */
const DEFAULT_CONNECT_RETRIES = 3;

/** A filter returning RetryMatchRoute more often than this in one request is looping. */
const MAX_ROUTE_RETRIES = 3;

/** gRPC status for a local HTTP status (gRPC's HTTP-to-gRPC mapping). */
function grpcStatusOf(status: number): number {
  switch (status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 413: return 8;
    case 429: case 502: case 503: return 14;
    case 504: return 4;
    default: return status >= 200 && status < 300 ? 0 : 2;
  }
}

export class ProxyStream implements StreamReceiverFilterHandler, StreamSenderFilterHandler, UpstreamResponseHandler, StreamInfo {
  readonly #ctx: ProxyContext;
  readonly #ds: ServerStream;
  readonly request: RequestHead;
  readonly logger: Logger;
  readonly #info: RequestInfo;
  phase: Phase = 'Init';

  #chain: StreamFilterChain | undefined;
  #route: MatchedRoute | undefined;
  #routeRetries = 0;
  #cluster: UpstreamCluster | undefined;
  /** The name the route gave, kept for the 503 when no such cluster exists. */
  #clusterName: string | undefined;
  #host: UpstreamHost | undefined;
  #clusterMetrics: UpstreamClusterMetrics | undefined;
  #hostMetrics: UpstreamHostMetrics | undefined;
  #triedHosts: Set<UpstreamHost> | undefined;
  #attempts = 0;
  #prepared = false;

  #requestBody: Buffer | undefined;
  #requestTrailers: HeaderMap | undefined;
  /** The body is (being) streamed to the upstream: it cannot be sent again. */
  #bodyConsumed = false;

  #exchange: UpstreamExchange | undefined;
  #hostActive = false;
  #tryStartedAt = 0;
  /** The route's request timeout, while armed. */
  #requestDeadline: Deadline | undefined;
  #tryTimer: NodeJS.Timeout | undefined;

  /** The response head: the upstream's, or an empty one made when read before it came. */
  #response: ResponseHead | undefined;
  #responseBody: Buffer[] | undefined;
  #responseBytes = 0;
  #responseBuffered: Buffer | undefined;
  #responseEndStream = false;
  #responseStarted = false;
  #replied = false;
  #finished = false;
  /** Response chunks (and the end) held while send filters run without needing the body. */
  #held: Buffer[] | undefined;
  #heldEnd: { trailers: HeaderMap | undefined } | undefined;
  #variables: Map<string, unknown> | undefined;
  /** Filters' body transforms (transformRequestBody / transformResponseBody), in order. */
  #requestTransforms: Duplex[] | undefined;
  #responseTransforms: Duplex[] | undefined;
  /** Where upstream response bytes go once the response transforms are piped. */
  #responseTransformIn: Duplex | undefined;

  constructor(ctx: ProxyContext, ds: ServerStream) {
    this.#ctx = ctx;
    this.#ds = ds;
    this.request = ds.head;
    this.logger = ctx.logger;
    const now = performance.now();
    this.#info = {
      startTime: Date.now(),
      startedAt: now,
      requestReceivedAt: ds.body === undefined ? now : 0,
      responseReceivedAt: 0,
      finishedAt: 0,
      bytesSent: 0,
      bytesReceived: 0,
      protocol: ds.protocol,
      responseCode: 0,
      responseFlags: 0,
      upstreamLocalAddress: '',
      downstreamLocalAddress: '',
      downstreamRemoteAddress: '',
      upstreamHost: '',
      upstreamCluster: '',
      listenerName: ctx.listenerName,
      routeName: '',
      method: ds.head.method,
      path: ds.head.path,
      authority: ds.head.authority,
      requestHeaders: ds.head.headers,
      responseHeaders: undefined,
    };
  }

  get response(): ResponseHead {
    return (this.#response ??= { status: 0, headers: new HeaderMap() });
  }

  // ---------------------------------------------------------------- StreamInfo
  get info(): StreamInfo {
    return this;
  }
  get protocol(): string {
    return this.#ds.protocol;
  }
  get listenerName(): string {
    return this.#ctx.listenerName;
  }
  get downstreamRemoteAddress(): string {
    return this.#ds.remoteAddress;
  }
  get downstreamLocalAddress(): string {
    return this.#ds.localAddress;
  }
  get routeName(): string | undefined {
    return this.#route?.name;
  }
  get clusterName(): string | undefined {
    return this.#cluster?.name;
  }
  get upstreamHost(): string | undefined {
    return this.#host?.address;
  }
  get variables(): Map<string, unknown> {
    return (this.#variables ??= new Map());
  }

  // ---------------------------------------------------------------- handlers
  get requestBody(): Buffer | undefined {
    return this.#requestBody;
  }
  get requestTrailers(): HeaderMap | undefined {
    return this.#requestTrailers;
  }
  get responseBody(): Buffer | undefined {
    return this.#responseBuffered;
  }
  get responseTrailers(): HeaderMap | undefined {
    return this.#upstreamTrailers;
  }
  #upstreamTrailers: HeaderMap | undefined;

  perRouteConfig(): unknown {
    const type = this.#chain?.current;
    return type === undefined || type === '' ? undefined : this.#route?.perFilterConfig(type);
  }

  setRequestBody(body: Buffer | string): void {
    this.#requestBody = typeof body === 'string' ? Buffer.from(body) : body;
    this.request.headers.set('content-length', String(this.#requestBody.length));
  }

  setResponseBody(body: Buffer | string): void {
    this.#responseBuffered = typeof body === 'string' ? Buffer.from(body) : body;
    this.response.headers.set('content-length', String(this.#responseBuffered.length));
  }

  transformRequestBody(transform: Duplex): void {
    if (this.#ds.body === undefined && this.#requestBody === undefined) return;
    if (this.#exchange !== undefined || this.#bodyConsumed) throw new Error('transformRequestBody called after the request body started upstream');
    (this.#requestTransforms ??= []).push(transform);
    this.request.headers.delete('content-length');
  }

  transformResponseBody(transform: Duplex): void {
    if (this.#responseEndStream) return;
    if (this.#ds.headersSent) throw new Error('transformResponseBody called after the response head was sent');
    (this.#responseTransforms ??= []).push(transform);
    this.response.headers.delete('content-length');
  }

  sendDirectResponse(status: number, headers?: Record<string, string>, body?: string | Buffer): void {
    const map = new HeaderMap();
    if (headers !== undefined) for (const name of Object.keys(headers)) map.add(name, headers[name]!);
    this.#reply(status, map, body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body);
  }

  // ---------------------------------------------------------------- start
  start(): void {
    const ds = this.#ds;
    for (const m of this.#ctx.metrics) {
      m.requestTotal.inc();
      m.requestActive.inc();
    }
    ds.onClose((completed) => this.#finish(completed));
    this.#info.downstreamRemoteAddress = ds.remoteAddress;
    this.#info.downstreamLocalAddress = ds.localAddress;
    stripHopByHop(this.request.headers);
    if (this.#ctx.streamFilters.length > 0) {
      try {
        this.#chain = StreamFilterChain.create(this.#ctx.streamFilters, this.#ctx.defaultTimeoutMs);
      } catch (err) {
        this.#filterFailed(err as Error, '');
        return;
      }
      if (this.#chain.needsRequestBody) {
        this.#bufferRequestBody(() => this.#runReceivers('BeforeRoute', 'DownFilter', () => this.#matchRoute()));
        return;
      }
    }
    if (this.#hasReceivers()) this.#runReceivers('BeforeRoute', 'DownFilter', () => this.#matchRoute());
    else this.#matchRoute();
  }

  /** Receive filters to run (the closures for #runReceivers are made only then). */
  #hasReceivers(): boolean {
    const chain = this.#chain;
    return chain !== undefined && chain.receivers.length > 0;
  }

  /** Runs receive filters of `phase`, then `next` on Continue. */
  #runReceivers(phase: ReceiverFilterPhase, name: Phase, next: () => void): void {
    const chain = this.#chain;
    if (chain === undefined || chain.receivers.length === 0) return next();
    this.phase = name;
    chain.runReceivers(phase, (filter) => filter.onReceive(this), (outcome, type) => {
      if (this.#finished) return;
      if (outcome instanceof Error) return this.#filterFailed(outcome, type);
      this.#onFilterStatus(outcome, type, phase, next);
    });
  }

  #onFilterStatus(status: StreamFilterStatus, type: string, phase: ReceiverFilterPhase | 'BeforeSend', next: () => void): void {
    switch (status) {
      case 'Continue':
        return next();
      case 'Stop':
        if (!this.#replied) this.#filterFailed(new Error('returned Stop without sending a response'), type);
        return;
      case 'Termination':
        this.logger.debug({ filter: type }, 'proxy: stream terminated by a filter');
        this.#info.responseFlags |= ResponseFlags.DownStreamTerminate;
        this.#ds.reset();
        return;
      case 'RetryMatchRoute':
        if (phase === 'BeforeRoute' || phase === 'BeforeSend') break;
        if (++this.#routeRetries > MAX_ROUTE_RETRIES) return this.#filterFailed(new Error(`asked to match the route again more than ${MAX_ROUTE_RETRIES} times`), type);
        return this.#matchRoute();
      case 'RetryChooseHost':
        if (phase !== 'AfterChooseHost') break;
        if (++this.#routeRetries > MAX_ROUTE_RETRIES) return this.#filterFailed(new Error(`asked to choose the host again more than ${MAX_ROUTE_RETRIES} times`), type);
        return this.#chooseHost();
    }
    this.#filterFailed(new Error(`returned ${status}, which phase ${phase} cannot honour`), type);
  }

  #filterFailed(err: Error, type: string): void {
    for (const f of this.#ctx.streamFilters) if (f.type === type) f.failures?.inc();
    if (err instanceof FilterTimeoutError) {
      this.logger.error({ filter: type, phase: this.phase, err: err.message }, 'proxy: stream filter timed out; answering 504');
      this.#localReply(504, `stream filter "${type}" timed out`);
      return;
    }
    this.logger.error({ filter: type, phase: this.phase, err: describeError(err) }, 'proxy: stream filter failed; answering 500');
    this.#localReply(500, type === '' ? 'stream filter error' : `stream filter "${type}" failed`);
  }

  // ---------------------------------------------------------------- routing
  #matchRoute(): void {
    this.phase = 'MatchRoute';
    const route = this.#ctx.routes.match(this.request);
    this.#route = route;
    if (route === undefined) {
      this.#info.responseFlags |= ResponseFlags.NoRouteFound;
      return this.#localReply(404, 'no route');
    }
    this.#info.routeName = route.name;
    if (route.directResponse !== undefined) {
      const headers = new HeaderMap();
      route.applyResponseHeaders(headers);
      const body = route.directResponse.body;
      return this.#reply(route.directResponse.status, headers, body === '' ? undefined : Buffer.from(body));
    }
    const redirect = route.redirect(this.request);
    if (redirect !== undefined) {
      const headers = new HeaderMap(['location', redirect.location]);
      route.applyResponseHeaders(headers);
      return this.#reply(redirect.status, headers, undefined);
    }
    // The cluster is picked with the route (MOSN), so AfterRoute filters see it; a filter
    // that changes what picks it (cluster_header) asks for RetryMatchRoute.
    const name = route.clusterName(this.request.headers);
    this.#clusterName = name;
    this.#cluster = name === undefined ? undefined : this.#ctx.clusters.getCluster(name);
    this.#info.upstreamCluster = this.#cluster?.name ?? '';
    if (this.#hasReceivers()) this.#runReceivers('AfterRoute', 'DownFilterAfterRoute', () => this.#chooseCluster());
    else this.#chooseCluster();
  }

  #chooseCluster(): void {
    if (this.#cluster === undefined) {
      this.#info.responseFlags |= ResponseFlags.NoHealthyUpstream;
      return this.#localReply(503, `no cluster "${this.#clusterName ?? ''}"`);
    }
    this.#chooseHost();
  }

  #chooseHost(): void {
    this.phase = 'ChooseHost';
    const cluster = this.#cluster!;
    // After an attempt, the hosts tried so far (made at the first retry: most requests have none).
    const tried = this.#attempts > 0 ? (this.#triedHosts ??= new Set([this.#host!])) : undefined;
    let host = cluster.chooseHost(tried === undefined ? undefined : { excludeHosts: tried });
    // Every host tried already: a retry goes to any host rather than nowhere.
    if (host === undefined && tried !== undefined) host = cluster.chooseHost();
    if (host === undefined) {
      this.#info.responseFlags |= ResponseFlags.NoHealthyUpstream;
      return this.#localReply(503, `no healthy host in cluster "${cluster.name}"`);
    }
    this.#host = host;
    this.#info.upstreamHost = host.address;
    // Looked up once per chosen host, not at every count.
    this.#clusterMetrics = cluster instanceof Cluster && host instanceof Host ? cluster.metrics : undefined;
    this.#hostMetrics = cluster instanceof Cluster && host instanceof Host ? cluster.hostMetrics(host) : undefined;
    if (this.#attempts > 0) return this.#send();
    if (this.#hasReceivers()) this.#runReceivers('AfterChooseHost', 'DownFilterAfterChooseHost', () => this.#prepareUpstream());
    else this.#prepareUpstream();
  }

  /** Once, before the first attempt: rewrites, header mutations, body buffering for retries and mirrors. */
  #prepareUpstream(): void {
    if (this.#prepared) return this.#send();
    this.#prepared = true;
    const route = this.#route!;
    const request = this.request;
    route.rewrite(request);
    route.applyRequestHeaders(request.headers);
    if (route.autoHostRewrite) {
      const host = this.#host!;
      request.authority = host.hostname ?? host.address;
    }
    const headers = request.headers;
    const remote = this.#ds.remoteAddress;
    const ip = remote.startsWith('[') ? remote.slice(1, remote.indexOf(']')) : remote.slice(0, remote.lastIndexOf(':'));
    const xff = headers.get('x-forwarded-for');
    headers.set('x-forwarded-for', xff === undefined ? ip : `${xff}, ${ip}`);
    if (!headers.has('x-forwarded-proto')) headers.add('x-forwarded-proto', request.scheme);

    // A retry or a mirror needs the body whole: buffered when its length is known and small.
    const body = this.#ds.body;
    const wantsReplay = route.retryPolicy !== undefined || route.mirrors.length > 0;
    if (wantsReplay && body !== undefined && this.#requestBody === undefined && !this.#bodyConsumed && this.#requestTransforms === undefined) {
      const length = this.#ds.contentLength;
      if (length >= 0 && length <= this.#ctx.bufferLimitBytes) return this.#bufferRequestBody(() => this.#startUpstream());
    }
    this.#startUpstream();
  }

  #startUpstream(): void {
    const route = this.#route!;
    for (const mirror of route.mirrors) {
      if (Math.random() * 100 >= mirror.percent) continue;
      // Only a request whose body is known whole can be copied without slowing the original.
      if (this.#ds.body !== undefined && this.#requestBody === undefined) continue;
      sendMirror(this.#ctx, mirror.cluster, this.request, this.#requestBody, this.#upstreamProtocol());
    }
    const timeout = route.timeoutMs ?? this.#ctx.defaultTimeoutMs;
    const now = performance.now();
    if (timeout > 0 && timeout !== Infinity) this.#requestDeadline = deadlineQueue(timeout).arm(this, now);
    this.#send(now);
  }

  #upstreamProtocol(): UpstreamProtocol {
    return this.#ctx.upstreamProtocol ?? this.#ds.protocol;
  }

  // ---------------------------------------------------------------- upstream
  #send(now = performance.now()): void {
    if (this.#finished) return;
    this.phase = 'DownRecvHeader';
    const cluster = this.#cluster!;
    const host = this.#host!;
    this.#attempts++;
    this.#triedHosts?.add(host);
    if (host instanceof Host) host.onRequestStart();
    this.#hostActive = true;
    this.#tryStartedAt = now;
    const clusterMetrics = this.#clusterMetrics;
    const hostMetrics = this.#hostMetrics;
    clusterMetrics?.requestTotal.inc();
    clusterMetrics?.requestActive.inc();
    hostMetrics?.requestTotal.inc();
    hostMetrics?.requestActive.inc();

    let body: UpstreamBody;
    if (this.#requestTransforms !== undefined) {
      body = this.#pipeRequestTransforms(this.#requestTransforms);
      this.#bodyConsumed = true;
    } else if (this.#requestBody !== undefined) body = this.#requestBody;
    else if (this.#ds.body !== undefined) {
      body = this.#ds.body;
      this.#bodyConsumed = true;
    }
    const protocol = this.#upstreamProtocol();
    const headers = this.request.headers;
    // gRPC servers require `te: trailers` (the only te value HTTP/2 allows); HTTP/1 upstreams get none.
    if (protocol === 'HTTP/2' && isGrpc(headers)) headers.set('te', 'trailers');
    else headers.delete('te');
    const pool = this.#ctx.pools.pool(cluster, host, protocol);
    const perTry = this.#route?.retryPolicy?.perTryTimeoutMs;
    if (perTry !== undefined && perTry > 0) this.#tryTimer = setTimeout(() => this.#onTimeout(true), perTry);
    this.#exchange = pool.send(
      { method: this.request.method, path: this.request.path, authority: this.request.authority, scheme: 'http', headers },
      body,
      this,
    );
  }

  /** Ends the current attempt's accounting on the host (once per #send). */
  #endAttempt(success: boolean | undefined): void {
    if (!this.#hostActive) return;
    this.#hostActive = false;
    clearTimeout(this.#tryTimer);
    this.#tryTimer = undefined;
    const host = this.#host;
    if (host instanceof Host) host.onRequestEnd();
    const clusterMetrics = this.#clusterMetrics;
    const hostMetrics = this.#hostMetrics;
    const ms = Math.round(performance.now() - this.#tryStartedAt);
    if (clusterMetrics !== undefined) countAttemptEnd(clusterMetrics, ms, success);
    if (hostMetrics !== undefined) countAttemptEnd(hostMetrics, ms, success);
  }

  onRequestBodySent(bytes: number): void {
    if (this.#requestBody === undefined) this.#info.bytesReceived += bytes;
  }

  onRequestSent(): void {
    this.#info.requestReceivedAt ||= performance.now();
    this.#requestTrailers ??= this.#ds.requestTrailers();
  }

  #onTimeout(perTry: boolean): void {
    if (this.#finished) return;
    const clusterMetrics = this.#clusterMetrics;
    const hostMetrics = this.#hostMetrics;
    clusterMetrics?.requestTimeout.inc();
    hostMetrics?.requestTimeout.inc();
    this.#exchange?.abort();
    this.#exchange = undefined;
    this.#endAttempt(false);
    if (perTry && !this.#responseStarted && this.#canRetry()) return this.#retry('per-try timeout');
    this.#disarmRequestTimeout();
    this.#info.responseFlags |= ResponseFlags.UpstreamRequestTimeout;
    this.logger.warn({ cluster: this.#cluster?.name, host: this.#host?.address, path: this.request.path }, 'proxy: upstream request timeout');
    this.#localReply(504, 'upstream request timeout');
  }

  #disarmRequestTimeout(): void {
    const deadline = this.#requestDeadline;
    if (deadline === undefined) return;
    this.#requestDeadline = undefined;
    deadline.cancel();
  }

  /** The route's request timeout expired (called by its DeadlineQueue). */
  onDeadline(): void {
    this.#requestDeadline = undefined;
    this.#onTimeout(false);
  }

  /** True when another attempt is allowed and the request can be sent again. */
  #canRetry(): boolean {
    const policy = this.#route?.retryPolicy;
    if (policy === undefined || this.#attempts > policy.numRetries) return false;
    return this.#bodyReplayable();
  }

  /** True when the request body (if any) can be sent again: absent, or held whole and not transformed. */
  #bodyReplayable(): boolean {
    return this.#requestTransforms === undefined && (this.#ds.body === undefined || this.#requestBody !== undefined);
  }

  #retry(reason: string): void {
    const clusterMetrics = this.#clusterMetrics;
    clusterMetrics?.requestRetry.inc();
    this.phase = 'Retry';
    this.logger.debug({ reason, attempt: this.#attempts, cluster: this.#cluster?.name }, 'proxy: retrying upstream request');
    this.#chooseHost();
  }

  onResponseHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.#finished) return;
    this.phase = 'UpRecvHeader';
    const policy = this.#route?.retryPolicy;
    if (policy !== undefined && policy.retryOnStatus.has(status) && this.#canRetry()) {
      this.#exchange?.abort();
      this.#exchange = undefined;
      this.#endAttempt(false);
      return this.#retry(`status ${status}`);
    }
    clearTimeout(this.#tryTimer);
    this.#responseStarted = true;
    this.#info.responseReceivedAt = performance.now();
    stripHopByHop(headers);
    this.#response = { status, headers };
    this.#route?.applyResponseHeaders(headers);
    this.#responseEndStream = endStream || statusHasNoBody(status, this.request.method);
    const chain = this.#chain;
    if (chain !== undefined && chain.senders.length > 0) {
      if (chain.needsResponseBody && !this.#responseEndStream) {
        this.#responseBody = [];
        return;
      }
      this.#held = [];
      return this.#runSenders();
    }
    this.#sendResponseHead();
  }

  /** After send filters that did not need the body: the head, then what arrived meanwhile. */
  #releaseHeld(): void {
    const held = this.#held ?? [];
    const end = this.#heldEnd;
    this.#held = undefined;
    this.#heldEnd = undefined;
    this.#sendResponseHead();
    if (this.#responseEndStream) return;
    let ok = true;
    for (const chunk of held) ok = this.#forward(chunk);
    if (end !== undefined) this.#forwardEnd(end.trailers);
    else if (ok) this.#exchange?.resume();
    else this.#resumeWhenDrained();
  }

  /**
   * One response chunk towards the client, through the filters' transforms if any. False
   * means wait (see #resumeWhenDrained).
   */
  #forward(chunk: Buffer): boolean {
    const into = this.#responseTransformIn;
    return into !== undefined ? into.write(chunk) : this.#ds.write(chunk);
  }

  /** Resumes the upstream once the client (or the first transform) has room again. */
  #resumeWhenDrained(): void {
    const into = this.#responseTransformIn;
    if (into !== undefined) into.once('drain', () => this.#exchange?.resume());
    else this.#ds.onceDrain(() => this.#exchange?.resume());
  }

  #forwardEnd(trailers: HeaderMap | undefined): void {
    // With transforms, the client's end (and trailers) follow the last transform's end.
    if (this.#responseTransformIn !== undefined) {
      this.#upstreamTrailers = trailers;
      this.#responseTransformIn.end();
      return;
    }
    this.#ds.end(trailers);
  }

  #runSenders(): void {
    this.phase = 'UpFilter';
    this.#chain!.runSenders((filter) => filter.onSend(this), (outcome, type) => {
      if (this.#finished) return;
      if (outcome instanceof Error) {
        this.#exchange?.abort();
        return this.#filterFailed(outcome, type);
      }
      if (outcome !== 'Continue') {
        this.#exchange?.abort();
        this.#exchange = undefined;
        this.#endAttempt(true);
      }
      this.#onFilterStatus(outcome, type, 'BeforeSend', () => {
        if (this.#responseBody !== undefined) this.#sendBufferedResponse();
        else this.#releaseHeld();
      });
    });
  }

  #sendResponseHead(): void {
    const { status, headers } = this.response;
    this.#info.responseCode = status;
    this.#info.responseHeaders = headers;
    this.phase = 'UpRecvData';
    const trailersFollow = !this.#responseEndStream && (isGrpc(headers) || (this.#ds.protocol === 'HTTP/2' && this.#upstreamProtocol() === 'HTTP/2'));
    this.#ds.sendHeaders(status, headers, this.#responseEndStream, trailersFollow);
    const transforms = this.#responseTransforms;
    if (transforms !== undefined && !this.#responseEndStream) this.#pipeResponseTransforms(transforms);
  }

  /** Pipes the response transforms into one another, the last one into the client. */
  #pipeResponseTransforms(transforms: Duplex[]): void {
    const first = transforms[0]!;
    const last = this.#chainTransforms(transforms, 'response');
    const ds = this.#ds;
    last.on('data', (chunk: Buffer) => {
      if (!ds.write(chunk)) {
        last.pause();
        ds.onceDrain(() => last.resume());
      }
    });
    last.once('end', () => {
      if (!this.#finished) ds.end(this.#upstreamTrailers);
    });
    this.#responseTransformIn = first;
  }

  /** The request body (streamed, or held whole) through the request transforms; returns the last. */
  #pipeRequestTransforms(transforms: Duplex[]): Readable {
    const held = this.#requestBody;
    const source = held !== undefined ? Readable.from([held]) : this.#ds.body!;
    const last = this.#chainTransforms(transforms, 'request');
    source.pipe(transforms[0]!);
    return last;
  }

  /** `a.pipe(b).pipe(c)`; an error in any of them ends the request (see #transformFailed). */
  #chainTransforms(transforms: Duplex[], side: 'request' | 'response'): Duplex {
    let last = transforms[0]!;
    for (let i = 0; i < transforms.length; i++) {
      const t = transforms[i]!;
      t.once('error', (err: Error) => this.#transformFailed(err, side));
      if (i > 0) last = last.pipe(t);
    }
    return last;
  }

  #transformFailed(err: Error, side: 'request' | 'response'): void {
    if (this.#finished) return;
    const wanted = (err as { status?: unknown }).status;
    const status = typeof wanted === 'number' && Number.isInteger(wanted) && wanted >= 400 && wanted <= 599 ? wanted : 500;
    if (status === 413) this.#info.responseFlags |= ResponseFlags.ReqEntityTooLarge;
    const log = { side, status, path: this.request.path, err: describeError(err) };
    if (status >= 500) this.logger.error(log, 'proxy: a stream filter body transform failed');
    else this.logger.info(log, 'proxy: a stream filter body transform refused the body');
    this.#localReply(status, status === 500 ? 'stream filter body transform failed' : (err.message || 'request refused'));
  }

  #sendBufferedResponse(): void {
    const body = this.#responseBuffered ?? Buffer.concat(this.#responseBody ?? []);
    this.#responseBody = undefined;
    const { headers } = this.response;
    const trailers = this.#upstreamTrailers;
    // An empty body is not worth a transform (gzip would turn nothing into 20 bytes).
    if (body.length === 0) this.#responseTransforms = undefined;
    if (this.#responseTransforms === undefined) headers.set('content-length', String(body.length));
    this.#responseEndStream = body.length === 0 && trailers === undefined;
    this.#sendResponseHead();
    if (!this.#responseEndStream) {
      if (body.length > 0) this.#forward(body);
      this.#forwardEnd(trailers);
    }
  }

  onResponseData(chunk: Buffer): boolean {
    if (this.#finished) return true;
    if (this.#responseBody !== undefined) {
      this.#responseBytes += chunk.length;
      if (this.#responseBytes > this.#ctx.bufferLimitBytes) {
        this.#exchange?.abort();
        this.#exchange = undefined;
        this.#endAttempt(false);
        this.logger.warn({ limit: this.#ctx.bufferLimitBytes }, 'proxy: response body over the buffer limit of a filter that needs it');
        this.#localReply(502, 'upstream response too large to buffer');
        return true;
      }
      this.#responseBody.push(chunk);
      return true;
    }
    if (this.#held !== undefined) {
      this.#held.push(chunk);
      return false;
    }
    if (this.#responseEndStream) return true;
    const ok = this.#forward(chunk);
    if (!ok) this.#resumeWhenDrained();
    return ok;
  }

  onResponseEnd(trailers: HeaderMap | undefined): void {
    if (this.#finished) return;
    this.#exchange = undefined;
    this.#endAttempt(true);
    this.#disarmRequestTimeout();
    this.#upstreamTrailers = trailers;
    if (this.#responseBody !== undefined) {
      // What `responseBody` shows the send filters that asked for the whole body.
      this.#responseBuffered = Buffer.concat(this.#responseBody, this.#responseBytes);
      return this.#runSenders();
    }
    if (this.#held !== undefined) {
      this.#heldEnd = { trailers };
      return;
    }
    if (!this.#responseEndStream) this.#forwardEnd(trailers);
  }

  onError(err: Error, failure: UpstreamFailure): void {
    if (this.#finished) return;
    this.#exchange = undefined;
    this.#endAttempt(false);
    const clusterMetrics = this.#clusterMetrics;
    const hostMetrics = this.#hostMetrics;
    if (failure === 'reset' || failure === 'protocol') {
      clusterMetrics?.requestRemoteReset.inc();
      hostMetrics?.requestRemoteReset.inc();
    }
    if (!this.#responseStarted) {
      const policy = this.#route?.retryPolicy;
      const retryable =
        policy !== undefined
          ? // A circuit breaker's refusal is never retried (MOSN): another try would only add load.
            (failure === 'connect' ? policy.retryOnConnectFailure : failure === 'overflow' ? false : policy.retryOnReset) && this.#canRetry()
          : // No policy: MOSN's default retries a connection failure up to 3 times (nothing
            // was sent, so any method), when the body can be sent again; and one more try
            // for a bodiless idempotent request whose connection broke before an answer (a
            // keep-alive connection the upstream closed as we reused it).
            (failure === 'connect' && this.#attempts <= DEFAULT_CONNECT_RETRIES && this.#bodyReplayable()) ||
            (failure === 'reset' && this.#attempts === 1 && this.#ds.body === undefined && IDEMPOTENT_METHODS.has(this.request.method));
      if (retryable) return this.#retry(`${failure}: ${err.message}`);
    }
    this.#disarmRequestTimeout();
    const status = failure === 'connect' || failure === 'overflow' ? 503 : 502;
    this.#info.responseFlags |=
      failure === 'connect'
        ? ResponseFlags.UpstreamConnectionFailure
        : failure === 'overflow'
          ? ResponseFlags.UpstreamOverflow
          : ResponseFlags.UpstreamRemoteReset;
    this.logger.warn(
      { cluster: this.#cluster?.name, host: this.#host?.address, failure, status, err: describeError(err) },
      'proxy: upstream failure',
    );
    this.#localReply(status, failure === 'connect' ? 'upstream connect failure' : failure === 'overflow' ? 'upstream overflow' : 'upstream reset');
  }

  // ---------------------------------------------------------------- bodies
  /** Reads the whole request body (up to the buffer limit, else 413), then `next`. */
  #bufferRequestBody(next: () => void): void {
    const body = this.#ds.body;
    if (body === undefined || this.#requestBody !== undefined) return next();
    this.#bodyConsumed = true;
    const chunks: Buffer[] = [];
    let size = 0;
    const limit = this.#ctx.bufferLimitBytes;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        body.off('data', onData);
        body.off('end', onEnd);
        this.#info.responseFlags |= ResponseFlags.ReqEntityTooLarge;
        this.#localReply(413, 'request body too large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      this.#info.bytesReceived = size;
      this.#info.requestReceivedAt = performance.now();
      this.#requestBody = Buffer.concat(chunks, size);
      this.#requestTrailers = this.#ds.requestTrailers();
      if (!this.#finished) next();
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', () => {});
  }

  // ---------------------------------------------------------------- replies
  /** An error answer made by the proxy itself (gRPC requests get a gRPC status instead). */
  #localReply(status: number, reason: string): void {
    if (status >= 500) for (const m of this.#ctx.metrics) m.requestFailed.inc();
    if (isGrpc(this.request.headers)) {
      const headers = new HeaderMap(['content-type', 'application/grpc', 'grpc-status', String(grpcStatusOf(status)), 'grpc-message', encodeURIComponent(reason)]);
      return this.#reply(200, headers, undefined, status);
    }
    this.#reply(status, new HeaderMap(['content-type', 'text/plain']), Buffer.from(`${reason}\n`));
  }

  /** Sends a whole response made here; a response already started is reset instead. */
  #reply(status: number, headers: HeaderMap, body: Buffer | undefined, logStatus = status): void {
    if (this.#finished) return;
    this.#replied = true;
    this.#disarmRequestTimeout();
    this.#exchange?.abort();
    this.#exchange = undefined;
    this.#endAttempt(undefined);
    const ds = this.#ds;
    if (ds.headersSent) {
      ds.reset();
      return;
    }
    this.#info.responseCode = logStatus;
    this.#info.responseHeaders = headers;
    const noBody = body === undefined || statusHasNoBody(status, this.request.method);
    headers.set('content-length', String(noBody ? 0 : body.length));
    ds.sendHeaders(status, headers, noBody, false);
    if (!noBody) {
      ds.write(body);
      ds.end();
    }
    // The request body is not needed any more: let it flow so the connection stays usable.
    const requestBody = ds.body;
    if (requestBody !== undefined && !this.#bodyConsumed) {
      this.#bodyConsumed = true;
      requestBody.resume();
    }
  }

  // ---------------------------------------------------------------- end
  #finish(completed: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.phase = 'End';
    this.#disarmRequestTimeout();
    clearTimeout(this.#tryTimer);
    const info = this.#info;
    if (this.#exchange !== undefined) {
      // The client left before the response ended: stop the upstream request too.
      this.#exchange.abort();
      this.#exchange = undefined;
      const clusterMetrics = this.#clusterMetrics;
      const hostMetrics = this.#hostMetrics;
      clusterMetrics?.requestLocalReset.inc();
      hostMetrics?.requestLocalReset.inc();
      info.responseFlags |= ResponseFlags.DownStreamTerminate;
    }
    this.#endAttempt(undefined);
    info.finishedAt = performance.now();
    info.bytesSent = this.#ds.bytesSent;
    const elapsed = info.finishedAt - info.startedAt;
    for (const m of this.#ctx.metrics) {
      m.requestActive.dec();
      m.requestTime.observe(elapsed);
      if (info.responseCode !== 0) countResponseStatus(m, info.responseCode);
      if (!completed) m.requestReset.inc();
    }
    if (!completed && info.responseCode === 0) info.responseFlags |= ResponseFlags.DownStreamTerminate;
    // Transforms may hold native memory (zlib): never leave one to the garbage collector.
    if (this.#requestTransforms !== undefined) for (const t of this.#requestTransforms) if (!t.destroyed) t.destroy();
    if (this.#responseTransforms !== undefined) for (const t of this.#responseTransforms) if (!t.destroyed) t.destroy();
    this.#chain?.destroy((type, err) => this.logger.warn({ filter: type, err: describeError(err) }, 'proxy: stream filter onDestroy threw'));
    for (const log of this.#ctx.accessLogs) {
      try {
        log.log(info);
      } catch (err) {
        this.logger.warn({ err: describeError(err) }, 'proxy: access log failed');
      }
    }
  }
}

/** HOP_BY_HOP_HEADERS by name length: most names are ruled out by their length, without a Set lookup. */
const HOP_BY_HOP_BY_LENGTH: (string[] | undefined)[] = [];
for (const name of HOP_BY_HOP_HEADERS) (HOP_BY_HOP_BY_LENGTH[name.length] ??= []).push(name);

function isHopByHop(name: string): boolean {
  const candidates = HOP_BY_HOP_BY_LENGTH[name.length];
  if (candidates === undefined) return false;
  for (let i = 0; i < candidates.length; i++) if (candidates[i] === name) return true;
  return false;
}

/** Removes hop-by-hop headers (and those Connection names) in place. Exported for bench/micro. */
export function stripHopByHop(headers: HeaderMap): void {
  // Headers named by Connection are hop-by-hop too (RFC 9110 §7.6.1); "keep-alive" and
  // "close" (nearly every HTTP/1 message) name nothing else, so they cost no extra pass.
  const connection = headers.get('connection');
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') {
    for (const name of connection.split(',')) {
      const n = name.trim().toLowerCase();
      if (n !== '' && n !== 'keep-alive' && n !== 'close') headers.delete(n);
    }
  }
  headers.deleteWhere(isHopByHop);
}

function countAttemptEnd(m: UpstreamHostMetrics, ms: number, success: boolean | undefined): void {
  m.requestActive.dec();
  m.requestDurationTotal.inc(ms);
  if (success === true) m.responseSuccess.inc();
  else if (success === false) m.responseFailed.inc();
}

function isGrpc(headers: HeaderMap): boolean {
  const type = headers.get('content-type');
  return type !== undefined && type.startsWith('application/grpc');
}

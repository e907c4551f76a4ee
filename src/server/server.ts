/**
 * @module server/server
 * One mosnode server: builds clusters, the filter registry and every listener from a
 * loaded config (validating everything before anything binds), starts listeners and the
 * admin API, and stops gracefully (stop accepting, let connections drain up to a
 * deadline, then close what is left) or at once. A failure while starting closes
 * whatever was already opened: a config error never leaves a half-started process.
 */
import type { LoadedConfig, MosnConfig } from '../config/types.ts';
import type { Logger, LoggerHandle } from '../core/logger.ts';
import { toMosnLevel, toPinoLevel } from '../core/logger.ts';
import { MosnError } from '../core/errors.ts';
import { FilterRegistry } from '../api/registry.ts';
import { registerBuiltinFilters } from '../filters/index.ts';
import { ClusterManager } from '../upstream/cluster-manager.ts';
import { Listener } from '../network/listener.ts';
import { ListenerDirectory } from '../network/listener-directory.ts';
import { MetricsRegistry, type MetricStorage } from '../metrics/metrics-registry.ts';
import { downstreamListenerMetrics } from '../metrics/metric-bundles.ts';
import { AdminServer } from '../admin/admin-server.ts';
import { PrometheusSink, parsePrometheusSinks } from '../admin/prometheus-sink.ts';
import { buildListenerHandlers, listenerPath } from './listener-builder.ts';
import { Stage, stateCodeOf } from './stages.ts';
import { MosnStates } from '../admin/admin-context.ts';
import { sameListener, type ListenerIdentity } from './upgrade/listener-identity.ts';
import type { Socket } from 'node:net';
import type { ConnectionMigration, DownstreamConnection } from '../network/connection.ts';
import { MIGRATED_UPSTREAM_KEY, type MigrationKind } from '../network/migration.ts';

/** Which built-in network filter owns each kind of migrated connection. */
const MIGRATION_FILTER_TYPE: Record<MigrationKind, string> = { http1: 'proxy', tcp_proxy: 'tcp_proxy' };

/** Sends one connection to the successor; true when it was adopted there. */
export type MigrateConnection = (listener: ListenerIdentity, migration: ConnectionMigration) => Promise<boolean>;
import { VERSION } from './version.ts';
import { loadPlugins, type LoadedPlugin } from './plugin-loader.ts';
import { dirname } from 'node:path';
import { AccessLogWriters } from '../proxy/access-log/access-log-writer.ts';
import { WorkerSupervisor, type WorkerStatus } from './workers/worker-supervisor.ts';
import { sharedBytePool } from '../buffer/byte-pool.ts';

/**
 * `single`: one process does everything (processor 1). `primary`: holds the listening
 * sockets, serves admin, metrics and hot upgrades, and runs `workers` worker processes
 * that accept and carry the traffic. `worker`: listeners only, on sockets from the primary.
 */
export type ServerRole = 'single' | 'primary' | 'worker';

/** Listening sockets handed over by a predecessor (hot upgrade), taken by identity. */
export interface InheritedSockets {
  /** The fd of an inherited socket that can serve `wanted`, removing it from the set; or undefined. */
  take(wanted: ListenerIdentity): number | undefined;
}

/** A listening socket of this server, for handing to a successor. */
export interface ListeningSocket {
  identity: ListenerIdentity;
  fd: number;
}

export interface ServerOptions {
  logging: LoggerHandle;
  /** Overrides `graceful_timeout` for the drain (CLI --drain-time-s), ms. */
  drainTimeMs?: number | undefined;
  /** Where metric values live; default: this process (a shared-memory zone in production). */
  metricsStorage?: MetricStorage | undefined;
  /** `mosnode validate`: check everything, open nothing (no access log file is created). */
  validateOnly?: boolean;
  /** Default `single`. */
  role?: ServerRole;
  /** Primary only: how many worker processes, and the log settings they get (CLI overrides included). */
  workers?: { count: number; logPath: string | undefined; logLevel: string | undefined };
}

export class MosnServer {
  readonly loaded: LoadedConfig;
  readonly config: MosnConfig;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly registry = new FilterRegistry();
  /** What prepare() noticed and skipped (each names the JSON path); also logged. */
  readonly warnings: string[] = [];
  readonly #logging: LoggerHandle;
  readonly #drainTimeMs: number;
  readonly #listeners: Listener[] = [];
  /** Every listener, virtual ones too, for use_original_dst hand-overs (original_dst). */
  readonly #listenerDirectory = new ListenerDirectory<Listener>();
  #clusters: ClusterManager | undefined;
  #admin: AdminServer | undefined;
  #sinks: PrometheusSink[] = [];
  #stage: Stage = Stage.Init;
  /** True while handing the listeners to a successor: /api/v1/states says Upgrading (13). */
  #upgrading = false;
  /** A successor serves on our sockets: leave their files alone on the way out. */
  #handedOver = false;
  #hotUpgradeAvailable = false;
  readonly #sharedMetrics: boolean;
  #stopping: Promise<void> | undefined;
  /** Filters register here what must close on a final stop (upstream pools, access logs). */
  readonly #shutdownHooks: Array<() => Promise<void>> = [];
  /** Access log outputs, shared by every listener naming the same path. */
  readonly #accessLogWriters = new AccessLogWriters();
  readonly #validateOnly: boolean;
  #plugins: LoadedPlugin[] | undefined;
  readonly #role: ServerRole;
  readonly #workerOptions: ServerOptions['workers'];
  #supervisor: WorkerSupervisor | undefined;

  constructor(loaded: LoadedConfig, options: ServerOptions) {
    this.loaded = loaded;
    // Built-ins first: a plugin that takes a built-in's name is refused, never an override.
    registerBuiltinFilters(this.registry);
    this.config = loaded.config;
    this.#logging = options.logging;
    this.logger = options.logging.logger;
    this.#drainTimeMs = options.drainTimeMs ?? this.config.servers[0].graceful_timeout;
    this.#sharedMetrics = options.metricsStorage !== undefined;
    this.#validateOnly = options.validateOnly === true;
    this.#role = options.role ?? 'single';
    this.#workerOptions = options.workers;
    if (this.#role === 'primary' && (options.workers === undefined || options.workers.count < 1)) {
      throw new Error('a primary server needs workers.count >= 1');
    }
    const matcher = this.config.metrics.stats_matcher;
    // A buffer given back twice is a bug somewhere: refused by the pool, logged here.
    if (!this.#validateOnly) sharedBytePool.onProblem((kind, message) => this.logger.error({ pool: 'shared', kind }, message));
    this.metrics = new MetricsRegistry(options.metricsStorage === undefined ? { statsMatcher: matcher } : { statsMatcher: matcher, storage: options.metricsStorage });
  }

  get stage(): Stage {
    return this.#stage;
  }

  get listeners(): readonly Listener[] {
    return this.#listeners;
  }

  get role(): ServerRole {
    return this.#role;
  }

  /** The worker processes of a primary (empty otherwise). */
  get workers(): WorkerStatus[] {
    return this.#supervisor?.workers ?? [];
  }

  get adminAddress(): { host: string; port: number } | undefined {
    return this.#admin?.address();
  }

  /**
   * Imports the config's `plugins` and registers their filters (once; before prepare(),
   * which needs their types). Package names are looked up from the config file's folder.
   */
  async loadPlugins(): Promise<void> {
    if (this.#plugins !== undefined) return;
    const baseDir = this.loaded.path === undefined ? process.cwd() : dirname(this.loaded.path);
    this.#plugins = await loadPlugins(this.config.plugins, baseDir, this.registry);
    for (const p of this.#plugins) {
      this.logger.info({ plugin: p.name, file: p.file, filters: p.filters.map((f) => `${f.kind}:${f.type}`) }, 'plugin loaded');
    }
  }

  /** Plugins loaded from the config, in order. */
  get plugins(): readonly LoadedPlugin[] {
    return this.#plugins ?? [];
  }

  /**
   * Builds everything from the config without binding: clusters, filters (each factory
   * validates its config), listeners. Throws MosnError naming the JSON path. `validate`
   * stops here.
   */
  prepare(): void {
    if (this.#clusters !== undefined) return;
    const server = this.config.servers[0];
    const clusters = new ClusterManager(this.config.cluster_manager.clusters, { metrics: this.metrics });
    const services = new Map<string, unknown>([
      ['routers', server.routers],
      ['metrics', this.metrics],
      ['shutdownHooks', this.#shutdownHooks],
      ['accessLogWriters', this.#accessLogWriters],
      ['validateOnly', this.#validateOnly],
    ]);
    const warn = (message: string): void => {
      this.warnings.push(message);
      this.logger.warn(message);
    };
    server.listeners.forEach((listenerConfig, index) => {
      const path = listenerPath(index);
      if (listenerConfig.network === 'udp') {
        throw new MosnError('MOSN_ERR_CONFIG_UNSUPPORTED', `${path}.network: "udp" listeners are not supported yet`);
      }
      const handlers = buildListenerHandlers(listenerConfig, index, {
        registry: this.registry,
        clusters,
        logger: this.logger,
        services,
        warn,
      });
      // original_dst: a virtual listener (bind_port false) is built like the others; it takes
      // the connections a use_original_dst listener hands over.
      if (!listenerConfig.bind_port && !server.listeners.some((l) => l.bind_port && l.use_original_dst !== false)) {
        warn(`${path}: bind_port is false and no listener has use_original_dst, so "${listenerConfig.name}" receives no connection`);
      }
      const stats = downstreamListenerMetrics(this.metrics, listenerConfig.name);
      this.#listeners.push(
        new Listener(listenerConfig, handlers, this.logger, {
          onConnectionOpen(adopted) {
            if (!adopted) stats.connectionTotal.inc();
            stats.connectionActive.inc();
          },
          onBytes(read, written) {
            if (read > 0) stats.bytesReadTotal.inc(read);
            if (written > 0) stats.bytesWriteTotal.inc(written);
          },
          onConnectionClose(migrated) {
            if (!migrated) stats.connectionDestroy.inc();
            stats.connectionActive.dec();
          },
        }, this.#listenerDirectory),
      );
    });
    this.#sinks = parsePrometheusSinks(this.config.metrics.sinks, warn).map((c) => new PrometheusSink(this.metrics, c, this.logger));
    this.#clusters = clusters;
  }

  /**
   * prepare(), then listen on every listener and the admin API: on a socket `inherited`
   * from a predecessor where one matches (hot upgrade), else on a newly bound one. On
   * failure, closes what it opened.
   */
  async start(inherited?: InheritedSockets): Promise<void> {
    this.#stage = Stage.Start;
    const started = Date.now();
    try {
      await this.loadPlugins();
      this.prepare();
      for (const listener of this.#listeners) {
        const fd = listener.virtual ? undefined : inherited?.take({ kind: 'listener', name: listener.name, address: listener.config.address });
        if (this.#role === 'primary') await listener.hold(fd);
        else await listener.listen(fd === undefined ? undefined : { fd });
        if (fd !== undefined && this.#role !== 'worker') this.logger.info({ listener: listener.name, fd }, 'listener inherited from the previous process');
      }
      if (this.#role === 'primary') await this.#startWorkers();
      // Workers carry traffic only: admin, metrics and hot upgrade are the primary's.
      const admin = this.#role === 'worker' ? undefined : this.config.admin?.address.socket_address;
      if (admin !== undefined) {
        this.#admin = new AdminServer(this.#adminContext());
        const address = `${admin.address.includes(':') ? `[${admin.address}]` : admin.address}:${admin.port_value}`;
        const fd = inherited?.take({ kind: 'admin', name: 'admin', address });
        await this.#admin.listen(fd === undefined ? { host: admin.address, port: admin.port_value } : { fd });
        this.logger.info({ address: this.#admin.address(), inherited: fd !== undefined }, 'admin API started');
      }
      for (const sink of this.#role === 'worker' ? [] : this.#sinks) {
        const fd = inherited?.take({ kind: 'metrics', name: 'prometheus', address: `0.0.0.0:${sink.config.port}` });
        await sink.listen(fd === undefined ? undefined : { fd });
        this.logger.info({ port: sink.port, endpoint: sink.config.endpoint, inherited: fd !== undefined }, 'prometheus sink started');
      }
    } catch (err) {
      // Listeners may have accepted connections before a later bind failed.
      for (const listener of this.#listeners) listener.closeAllConnections();
      await this.#closeEverything();
      this.#stage = Stage.Stopped;
      throw err;
    }
    this.#stage = Stage.Running;
    this.logger.info({ listeners: this.#listeners.map((l) => l.boundAddress), ms: Date.now() - started }, this.#role === 'worker' ? 'worker is running' : 'mosnode is running');
  }

  async #startWorkers(): Promise<void> {
    const options = this.#workerOptions!;
    // `workers.server.0`: the worker processes of servers[0] (a group needs a label to be shown).
    const group = this.metrics.group('workers', { server: '0' });
    this.#supervisor = new WorkerSupervisor({
      count: options.count,
      sockets: this.#listeners.flatMap((l) => (l.fd === undefined ? [] : [{ name: l.name, address: l.config.address, fd: l.fd }])),
      init: {
        configPath: this.loaded.path,
        configText: JSON.stringify(this.loaded.document),
        logPath: options.logPath,
        logLevel: options.logLevel,
        drainTimeMs: this.#drainTimeMs,
      },
      logger: this.logger,
      metrics: { restarts: group.counter('restart_total'), active: group.gauge('active') },
    });
    await this.#supervisor.start();
  }

  /**
   * Graceful stop: stop accepting, tell every connection to drain, wait for them up to the
   * drain time, then close what is left. Resolves when everything is closed.
   */
  gracefulStop(): Promise<void> {
    this.#stopping ??= this.#gracefulStop();
    return this.#stopping;
  }

  /** Every listening socket (listeners, then admin) with its identity, for a successor. */
  listeningSockets(): ListeningSocket[] {
    const sockets: ListeningSocket[] = [];
    for (const listener of this.#listeners) {
      const fd = listener.fd;
      if (fd !== undefined && listener.accepting) {
        sockets.push({ identity: { kind: 'listener', name: listener.name, address: listener.boundAddress }, fd });
      }
    }
    for (const sink of this.#sinks) {
      const fd = sink.fd;
      if (fd !== undefined) sockets.push({ identity: { kind: 'metrics', name: 'prometheus', address: `0.0.0.0:${sink.port}` }, fd });
    }
    const adminFd = this.#admin?.fd;
    const adminAddress = this.#admin?.address();
    if (adminFd !== undefined && adminAddress !== undefined) {
      const host = adminAddress.host.includes(':') ? `[${adminAddress.host}]` : adminAddress.host;
      sockets.push({ identity: { kind: 'admin', name: 'admin', address: `${host}:${adminAddress.port}` }, fd: adminFd });
    }
    return sockets;
  }

  /** Marks the hand-over to a successor as under way (true) or abandoned (false). */
  setUpgrading(upgrading: boolean): void {
    this.#upgrading = upgrading;
  }

  /** Whether the hot-upgrade machinery is on (for /api/v1/features). */
  setHotUpgradeAvailable(available: boolean): void {
    this.#hotUpgradeAvailable = available;
  }

  /**
   * After a successor took over: close the admin API at once (the successor serves it on
   * the same socket), then drain like a graceful stop.
   */
  async handOverAndDrain(migrate?: MigrateConnection): Promise<void> {
    this.#handedOver = true;
    // The successor serves admin and metrics on the same sockets: ours drain meanwhile.
    const operatorServers = Promise.all([this.#admin?.drain(), ...this.#sinks.map((s) => s.drain())]);
    this.#admin = undefined;
    this.#sinks = [];
    this.#upgrading = false;
    this.#stopping ??= this.#gracefulStop(migrate);
    await Promise.all([this.#stopping, operatorServers]);
  }

  /** Immediate stop: every socket closed now. */
  async stop(): Promise<void> {
    for (const listener of this.#listeners) listener.closeAllConnections();
    await this.#closeEverything();
    this.#stage = Stage.Stopped;
  }

  async #gracefulStop(migrate?: MigrateConnection): Promise<void> {
    const started = Date.now();
    this.#stage = Stage.GracefulStopping;
    this.logger.info({ drainMs: this.#drainTimeMs }, 'graceful stop: draining');
    if (this.#supervisor !== undefined) {
      // The workers hold the connections: they stop accepting and drain; then we close.
      const drained = this.#supervisor.drain(this.#drainTimeMs);
      await Promise.all(this.#listeners.map((l) => l.stopAccepting()));
      await drained;
      await this.stop();
      this.logger.info({ ms: Date.now() - started }, 'stopped');
      return;
    }
    await Promise.all(this.#listeners.map((l) => l.stopAccepting()));
    const deadline = started + this.#drainTimeMs;
    for (const listener of this.#listeners) {
      const identity: ListenerIdentity = { kind: 'listener', name: listener.name, address: listener.boundAddress };
      for (const c of listener.connections) {
        if (migrate === undefined) c.drain();
        else void this.#migrateOrDrain(c, identity, migrate, deadline - this.#drainTimeMs / 5);
      }
    }
    while (Date.now() < deadline && this.#activeConnections() > 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const left = this.#activeConnections();
    if (left > 0) this.logger.warn({ connections: left }, 'graceful stop: drain time is up; closing the connections left');
    await this.stop();
    this.logger.info({ ms: Date.now() - started }, 'stopped');
  }

  /**
   * Moves a connection to the successor at the first moment it is idle in userland,
   * retrying until `giveUpAt`; drains it if it never is, or if the successor refuses.
   */
  async #migrateOrDrain(c: DownstreamConnection, listener: ListenerIdentity, migrate: MigrateConnection, giveUpAt: number): Promise<void> {
    for (let delay = 5; !c.closed; delay = Math.min(delay * 2, 100)) {
      const migration = c.prepareMigration();
      if (migration !== undefined) {
        if (!(await migrate(listener, migration))) c.drain();
        return;
      }
      if (!c.migrationWorthWaiting() || Date.now() + delay >= giveUpAt) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    c.drain();
  }

  /**
   * The listener that can take a connection migrated from the previous process: the one
   * it belonged to (same identity rules as inherited sockets) whose filter chain still
   * runs the protocol that owns it. Undefined: the old process keeps and drains it.
   */
  #adoptingListener(identity: ListenerIdentity, kind: MigrationKind): Listener | undefined {
    // A primary's connections live in its workers, which a migration cannot reach (yet).
    if (this.#role === 'primary') return undefined;
    const filterType = MIGRATION_FILTER_TYPE[kind];
    return this.#listeners.find(
      (l) =>
        l.accepting &&
        sameListener({ kind: 'listener', name: l.name, address: l.config.address }, identity) &&
        (l.config.filter_chains[0]?.filters ?? []).some((f) => f.type === filterType),
    );
  }

  /** Phase one of a migration: could this process take such a connection? */
  canAdopt(identity: ListenerIdentity, kind: MigrationKind): boolean {
    return this.#adoptingListener(identity, kind) !== undefined;
  }

  /**
   * Phase two: the old process let go of these sockets (created paused): hand them to the
   * listener, then let them read. Sockets no listener takes any more are closed (our fd only).
   */
  adopt(identity: ListenerIdentity, kind: MigrationKind, sockets: Socket[]): void {
    const listener = this.#adoptingListener(identity, kind);
    const [downstream, upstream] = sockets;
    if (listener === undefined || downstream === undefined || (kind === 'tcp_proxy') !== (upstream !== undefined)) {
      for (const s of sockets) s.destroy();
      return;
    }
    const state = new Map<string, unknown>();
    if (upstream !== undefined) state.set(MIGRATED_UPSTREAM_KEY, upstream);
    listener.adopt(downstream, state);
    upstream?.resume();
  }

  #activeConnections(): number {
    let n = 0;
    for (const listener of this.#listeners) n += listener.connections.size;
    return n;
  }

  async #closeEverything(): Promise<void> {
    await this.#supervisor?.stopNow();
    await Promise.all(this.#listeners.map((l) => l.stopAccepting()));
    if (!this.#handedOver) for (const listener of this.#listeners) listener.removeSocketFile();
    await this.#admin?.close();
    await Promise.all(this.#sinks.map((s) => s.close()));
    await Promise.allSettled(this.#shutdownHooks.splice(0).map((hook) => hook()));
    await this.#accessLogWriters.closeAll();
  }

  /** SIGUSR1: access logs reopen their files (after a rotation renamed them). */
  reopenLogs(): void {
    this.#accessLogWriters.reopenAll();
    this.#supervisor?.broadcast({ type: 'reopen-logs' });
  }

  #adminContext(): ConstructorParameters<typeof AdminServer>[0] {
    return {
      version: VERSION,
      logger: this.logger,
      configDocument: () => this.loaded.document,
      state: () => (this.#upgrading ? MosnStates.Upgrading : stateCodeOf(this.#stage)),
      getLogLevel: () => toMosnLevel(this.logger.level),
      setLogLevel: (level: string) => {
        const pinoLevel = toPinoLevel(level);
        if (pinoLevel === undefined) return false;
        this.logger.level = pinoLevel;
        this.#supervisor?.broadcast({ type: 'log-level', level });
        return true;
      },
      metrics: this.metrics,
      logPath: this.config.servers[0].default_log_path,
      features: () => ({ hot_upgrade: this.#hotUpgradeAvailable, shared_memory_metrics: this.#sharedMetrics }),
      plugins: () => this.plugins.map((p) => ({ name: p.name, enable: true, on: true })),
      workers: () => this.workers,
    };
  }

  /** Flushes the logger (before exit). */
  flushLogs(): void {
    this.#logging.flush();
  }
}

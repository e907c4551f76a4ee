/**
 * @module cli/main
 * The `mosnode` command. Exit codes: 0 ok; 1 the command failed (bad config, port in use,
 * nothing to stop); 2 bad command line. Every failure prints one line on stderr.
 * This is the top layer: it may use every other one.
 */
import { resolve } from 'node:path';
import { parseArgs, USAGE, type CliArgs } from './args.ts';
import { describeError, isMosnError } from '../core/errors.ts';
import { createLogger, silentLogger } from '../core/logger.ts';
import { loadConfigFile, defaultConfig, parseConfigText } from '../config/load.ts';
import { fetchRunningConfig } from '../server/upgrade/inherit-config.ts';
import type { ShmZone } from '../shm/shm-zone.ts';
import { openMetricsZone } from '../server/metrics-zone.ts';
import { shmStorage } from '../metrics/shm-storage.ts';
import type { LoadedConfig } from '../config/types.ts';
import { MosnServer } from '../server/server.ts';
import { workerCount } from '../server/workers/worker-supervisor.ts';
import { VERSION } from '../server/version.ts';
import { pidFilePath, writePidFile, readPidFile, removePidFileIfOurs, isProcessAlive } from '../server/pid-file.ts';
import { native, nativeLoadError } from '../core/native.ts';
import { upgradePaths, DEFAULT_UPGRADE_TIMEOUTS, type UpgradePaths } from '../server/upgrade/upgrade-paths.ts';
import { takeOverFromPredecessor, type Takeover } from '../server/upgrade/takeover.ts';
import { ReconfigServer } from '../server/upgrade/reconfig-server.ts';
import { spawnSuccessor } from '../server/upgrade/successor.ts';
import { ConnectionMigrator } from '../server/upgrade/connection-migrator.ts';
import { MigrationReceiver } from '../server/upgrade/migration-receiver.ts';

/**
 * How long a successor accepts migrated connections: the predecessor migrates during its
 * drain, which graceful_timeout bounds in the usual configs; a drain longer than this
 * just drains the rest.
 */
const MIGRATION_WINDOW_MS = 120_000;

function fail(message: string, code = 1): number {
  process.stderr.write(`mosnode: ${message.replace(/\n/g, '; ')}\n`);
  return code;
}

function load(args: CliArgs): LoadedConfig {
  return args.config === undefined ? defaultConfig() : loadConfigFile(resolve(args.config));
}

/**
 * MOSN's inherit_old_mosnconfig: take the running process's effective config (served on
 * mosnconfig.sock) instead of the file's. Without a running process, the file's config.
 */
async function inheritConfigIfAsked(fromFile: LoadedConfig, logger: import('../core/logger.ts').Logger): Promise<LoadedConfig> {
  const { inherit_old_mosnconfig: inherit, disable_upgrade: disabled, uds_dir: udsDir } = fromFile.config;
  if (!inherit || disabled || udsDir === undefined) return fromFile;
  const text = await fetchRunningConfig(upgradePaths(udsDir).mosnconfig, DEFAULT_UPGRADE_TIMEOUTS.reconfigMs);
  if (text === undefined) {
    logger.warn('inherit_old_mosnconfig: no running mosnode answered on mosnconfig.sock; using the config file');
    return fromFile;
  }
  const inherited = parseConfigText(text, { format: 'json', ...(fromFile.path !== undefined && { path: fromFile.path }) });
  for (const warning of inherited.warnings) logger.warn(`inherited config: ${warning}`);
  logger.info('inherit_old_mosnconfig: using the running process\'s config');
  return inherited;
}

/** Runs a command. Resolves with an exit code, or undefined while `start` keeps running. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    return fail(isMosnError(err) ? err.message : describeError(err), 2);
  }
  try {
    switch (args.command) {
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return 0;
      case 'version':
        process.stdout.write(`mosnode version ${VERSION} (node ${process.version})\n`);
        return 0;
      case 'validate':
        return await validate(args);
      case 'stop':
        return await stop(args);
      case 'start':
        return await start(args);
    }
  } catch (err) {
    return fail(isMosnError(err) ? err.message : describeError(err));
  }
}

async function validate(args: CliArgs): Promise<number> {
  const loaded = load(args);
  const server = new MosnServer(loaded, {
    logging: { logger: silentLogger(), flush() {}, flushThen(done: () => void) { done(); }, reopen() {} },
    validateOnly: true,
  });
  // Plugins are imported: a config naming a missing or broken plugin is not valid.
  await server.loadPlugins();
  server.prepare();
  for (const warning of [...loaded.warnings, ...server.warnings]) process.stderr.write(`warning: ${warning}\n`);
  const c = loaded.config;
  process.stdout.write(
    `config ${loaded.path ?? '(built-in default)'} is valid: ${c.servers[0].listeners.length} listener(s), ${c.cluster_manager.clusters.length} cluster(s)` +
      `${server.plugins.length > 0 ? `, plugin(s): ${server.plugins.map((p) => p.name).join(', ')}` : ''}\n`,
  );
  return 0;
}

async function stop(args: CliArgs): Promise<number> {
  const loaded = load(args);
  const path = pidFilePath(loaded.config.pid, loaded.path);
  if (path === undefined) return fail('the config names no pid file');
  const pid = readPidFile(path);
  if (pid === undefined || !isProcessAlive(pid)) {
    return fail(`no running mosnode for ${loaded.path} (pid file ${path} ${pid === undefined ? 'is absent' : `names ${pid}, which is not running`})`);
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + loaded.config.servers[0].graceful_timeout + 10_000;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) {
      process.stdout.write(`stopped mosnode pid ${pid}\n`);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return fail(`pid ${pid} got SIGTERM but is still running after the graceful timeout`);
}

async function start(args: CliArgs): Promise<number | undefined> {
  const fromFile = load(args);
  const serverConfig = fromFile.config.servers[0];
  const logging = createLogger({ path: serverConfig.default_log_path, level: args.logLevel ?? serverConfig.default_log_level });
  const logger = logging.logger;
  for (const warning of fromFile.warnings) logger.warn(warning);
  // SIGHUP is handled from the first moment: Node's default action would kill a process
  // that has just taken over, while its predecessor is already draining. Until the
  // reconfig server listens, one SIGHUP is kept and acted on then.
  let onHangup: (() => void) | undefined;
  let hangupQueued = false;
  process.on('SIGHUP', () => {
    if (onHangup !== undefined) onHangup();
    else if (!hangupQueued) {
      hangupQueued = true;
      logger.info('SIGHUP: still starting; the hot upgrade follows once this process serves');
    }
  });
  const loaded = await inheritConfigIfAsked(fromFile, logger);

  // Hot upgrade: on unless disable_upgrade, and possible with a uds_dir and the addon.
  let paths: UpgradePaths | undefined;
  if (loaded.config.disable_upgrade) {
    logger.info('hot upgrade is off (disable_upgrade)');
  } else if (loaded.config.uds_dir === undefined) {
    logger.info('hot upgrade is off: no uds_dir (start with -c FILE, or set uds_dir)');
  } else if (native === undefined) {
    logger.warn({ reason: nativeLoadError }, 'hot upgrade is off: the native addon did not load');
  } else {
    paths = upgradePaths(loaded.config.uds_dir);
  }

  let takeover: Takeover | undefined;
  if (paths !== undefined) takeover = await takeOverFromPredecessor(paths, logger, DEFAULT_UPGRADE_TIMEOUTS);

  // Metrics in a shared-memory zone: a successor re-attaches (counters continue), a plain
  // start clears it, and a second instance on the same zone is refused before it binds.
  let zone: ShmZone | undefined;
  try {
    zone = openMetricsZone(loaded, takeover !== undefined ? 'attach' : 'fresh', logger);
  } catch (err) {
    takeover?.abort(describeError(err));
    logging.flush();
    return fail(describeError(err));
  }
  // processor > 1: this process becomes the primary of that many worker processes.
  const runningConfig = loaded.config.servers[0];
  const workers = workerCount(runningConfig.processor);
  const server = new MosnServer(loaded, {
    logging,
    drainTimeMs: args.drainTimeS === undefined ? undefined : args.drainTimeS * 1000,
    ...(zone !== undefined && { metricsStorage: shmStorage(zone) }),
    ...(workers > 1 && {
      role: 'primary' as const,
      workers: { count: workers, logPath: runningConfig.default_log_path, logLevel: args.logLevel ?? runningConfig.default_log_level },
    }),
  });
  server.setHotUpgradeAvailable(paths !== undefined);
  try {
    await server.start(takeover);
  } catch (err) {
    takeover?.abort(describeError(err));
    zone?.close();
    logger.error({ err: describeError(err) }, 'start failed');
    logging.flush();
    return fail(describeError(err));
  }
  // Written as soon as this process serves, before a predecessor is told to go: the pid
  // file never goes missing during a hand-over (the old process removes it only if it
  // still names the old process).
  const pidPath = pidFilePath(loaded.config.pid, loaded.path);
  if (pidPath !== undefined) {
    try {
      writePidFile(pidPath);
    } catch (err) {
      logger.warn({ path: pidPath, err: describeError(err) }, 'cannot write the pid file; "mosnode stop" will not find this process');
    }
  }

  if (takeover !== undefined && paths !== undefined) {
    // Open conn.sock before confirming, so the old process finds it as soon as it drains;
    // it stays open for as long as the old process may drain.
    const receiver = MigrationReceiver.open(paths.conn, server, logger, MIGRATION_WINDOW_MS, DEFAULT_UPGRADE_TIMEOUTS.frameMs);
    await takeover.confirm();
    logger.info({ from: takeover.predecessorPid }, 'hot upgrade: done, this process serves');
    void receiver;
  }


  let reconfig: ReconfigServer | undefined;
  const exit = (code: number): void => {
    reconfig?.closeSync();
    zone?.close();
    if (pidPath !== undefined) removePidFileIfOurs(pidPath);
    // The asynchronous writer may still hold the last lines: exit once they are out.
    logging.flushThen(() => process.exit(code));
  };
  process.on('SIGTERM', () => {
    logger.info('SIGTERM: graceful stop');
    server.gracefulStop().then(() => exit(0), () => exit(1));
  });
  const immediate = (signal: string) => () => {
    logger.info(`${signal}: immediate stop`);
    server.stop().then(() => exit(0), () => exit(1));
  };
  process.on('SIGINT', immediate('SIGINT'));
  process.on('SIGQUIT', immediate('SIGQUIT'));
  if (paths !== undefined) {
    const candidate = new ReconfigServer({
      paths,
      target: server,
      logger,
      timeouts: DEFAULT_UPGRADE_TIMEOUTS,
      document: () => loaded.document,
      onHandedOver() {
        void (async () => {
          const migrator = await ConnectionMigrator.connect(paths.conn, logger, DEFAULT_UPGRADE_TIMEOUTS);
          await server.handOverAndDrain(migrator && ((listener, migration) => migrator.migrate(listener, migration)));
          if (migrator !== undefined) {
            logger.info({ migrated: migrator.migrated, refused: migrator.refused }, 'connection migration: done');
            migrator.close();
          }
        })().then(() => exit(0), () => exit(1));
      },
    });
    try {
      await candidate.listen();
      reconfig = candidate;
    } catch (err) {
      server.setHotUpgradeAvailable(false);
      logger.warn({ err: describeError(err) }, 'hot upgrade is off: cannot listen on reconfig.sock');
    }
  }
  let successorPending = false;
  onHangup = () => {
    const current = reconfig;
    if (current === undefined) {
      logger.warn('SIGHUP: hot upgrade is off; ignored');
    } else if (current.handedOver) {
      logger.info('SIGHUP: this process has handed over and is draining; ignored (signal the new process)');
    } else if (current.busy || successorPending) {
      logger.info('SIGHUP: a hot upgrade is already under way; ignored');
    } else {
      successorPending = true;
      const before = current.requests;
      spawnSuccessor(logger, () => current.requests > before, () => {
        successorPending = false;
      });
    }
  };
  if (hangupQueued) onHangup();
  process.on('SIGUSR1', () => {
    logging.reopen();
    server.reopenLogs();
    logger.info('SIGUSR1: log file reopened');
  });
  process.on('uncaughtException', (err) => {
    // A bug escaped every containment boundary: state may be corrupt, so stop now. Also
    // on stderr, in case the logger itself is what failed.
    process.stderr.write(`mosnode: uncaught exception, exiting: ${err.stack ?? String(err)}\n`);
    try {
      logger.fatal({ err }, 'uncaught exception; exiting');
    } finally {
      exit(1);
    }
  });
  return undefined;
}

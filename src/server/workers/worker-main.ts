/**
 * @module server/workers/worker-main
 * A worker process (spawned by WorkerSupervisor, never by hand): waits for its `init`
 * message, builds a server from the primary's config, listens on the inherited sockets
 * (fds 4...) and carries traffic until told to drain or stop. Metrics go to the same
 * shared-memory zone as the primary's, so the admin API (served by the primary) sees
 * every worker's counts. If the primary goes away without a word, the worker drains and
 * exits rather than serving on unsupervised.
 */
import { createLogger, toPinoLevel, type LoggerHandle } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { parseConfigText } from '../../config/load.ts';
import { shmStorage } from '../../metrics/shm-storage.ts';
import type { ShmZone } from '../../shm/shm-zone.ts';
import { MosnServer, type InheritedSockets } from '../server.ts';
import { openMetricsZone } from '../metrics-zone.ts';
import { isPrimaryMessage, type WorkerInit, type WorkerMessage } from './worker-messages.ts';

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

async function run(init: WorkerInit): Promise<void> {
  const base = createLogger({ ...(init.logPath !== undefined && { path: init.logPath }), ...(init.logLevel !== undefined && { level: init.logLevel }) });
  const logger = base.logger.child({ worker: init.index });
  const logging: LoggerHandle = { ...base, logger };
  let zone: ShmZone | undefined;
  let server: MosnServer | undefined;
  const exit = (code: number): void => {
    zone?.close();
    logging.flushThen(() => process.exit(code));
  };
  try {
    const loaded = parseConfigText(init.configText, { format: 'json', ...(init.configPath !== undefined && { path: init.configPath }) });
    zone = openMetricsZone(loaded, 'attach', logger);
    server = new MosnServer(loaded, {
      logging,
      role: 'worker',
      drainTimeMs: init.drainTimeMs,
      ...(zone !== undefined && { metricsStorage: shmStorage(zone) }),
    });
    const fds = [...init.listenerFds];
    const inherited: InheritedSockets = {
      take(wanted) {
        const i = wanted.kind === 'listener' ? fds.findIndex((f) => f.name === wanted.name) : -1;
        return i < 0 ? undefined : fds.splice(i, 1)[0]!.fd;
      },
    };
    await server.start(inherited);
  } catch (err) {
    logger.error({ err: describeError(err) }, 'worker could not start');
    send({ type: 'failed', message: describeError(err) });
    exit(1);
    return;
  }
  const running = server;
  let stopping = false;
  const graceful = (why: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${why}: graceful stop`);
    running.gracefulStop().then(() => exit(0), () => exit(1));
  };
  const immediate = (why: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${why}: immediate stop`);
    running.stop().then(() => exit(0), () => exit(1));
  };
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    switch (message.type) {
      case 'drain': graceful('primary asked'); break;
      case 'stop': immediate('primary asked'); break;
      case 'reopen-logs': logging.reopen(); running.reopenLogs(); break;
      case 'log-level': {
        const level = toPinoLevel(message.level);
        if (level !== undefined) logger.level = level;
        break;
      }
      case 'init': break;
    }
  });
  process.on('disconnect', () => graceful('the primary process is gone'));
  // Signals sent to the whole process group (a terminal's Ctrl-C, a service manager).
  process.on('SIGTERM', () => graceful('SIGTERM'));
  process.on('SIGINT', () => immediate('SIGINT'));
  process.on('uncaughtException', (err) => {
    process.stderr.write(`mosnode worker ${init.index}: uncaught exception, exiting: ${err.stack ?? String(err)}\n`);
    try {
      logger.fatal({ err }, 'uncaught exception; exiting (the primary starts a new worker)');
    } finally {
      exit(1);
    }
  });
  send({ type: 'ready' });
}

// Hot upgrades are the primary's business; a SIGHUP to the process group must not kill us.
process.on('SIGHUP', () => {});
process.once('message', (message: unknown) => {
  if (isPrimaryMessage(message) && message.type === 'init') void run(message);
  else {
    process.stderr.write('mosnode worker: the first message was not "init"; exiting\n');
    process.exit(1);
  }
});

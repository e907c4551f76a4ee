/**
 * @module server/workers/worker-messages
 * What the primary and its worker processes say to each other over the IPC channel of
 * child_process (JSON messages). The listening sockets themselves travel as the worker's
 * inherited fds (spawn's stdio), not in messages: `listenerFds` says which fd is which.
 */

/** The first message a worker gets: everything it needs to build its server. */
export interface WorkerInit {
  type: 'init';
  /** 0..processor-1; stays the same when a crashed worker is replaced. */
  index: number;
  /** The config file (plugins and uds_dir are resolved against its folder). */
  configPath: string | undefined;
  /** The primary's effective config document, JSON: every worker runs exactly what the primary validated. */
  configText: string;
  /** Listener name -> the fd it has in the worker. */
  listenerFds: Array<{ name: string; address: string; fd: number }>;
  logPath: string | undefined;
  logLevel: string | undefined;
  drainTimeMs: number;
}

export type PrimaryMessage =
  | WorkerInit
  /** Stop accepting, drain, exit (graceful stop, or a hot upgrade handed the sockets on). */
  | { type: 'drain' }
  /** Close every connection now and exit. */
  | { type: 'stop' }
  /** SIGUSR1 on the primary: reopen log files. */
  | { type: 'reopen-logs' }
  /** The admin API changed the log level. */
  | { type: 'log-level'; level: string };

export type WorkerMessage =
  /** The worker listens on every socket. */
  | { type: 'ready' }
  /** The worker could not start (the reason, one line); it exits. */
  | { type: 'failed'; message: string };

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'ready' || type === 'failed';
}

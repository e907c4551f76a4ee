/**
 * @module admin/admin-context
 * What the admin API reads and changes, provided by the server layer (which builds an
 * AdminContext and hands it to AdminServer), plus MOSN's process state codes, which
 * /api/v1/states reports. Depends on core/ and metrics/ only; never on server/.
 */
import type { Logger } from '../core/logger.ts';
import type { MetricsRegistry } from '../metrics/metrics-registry.ts';

/**
 * MOSN's process states (mosn/mosn pkg/stagemanager/stage_manager.go), the number
 * /api/v1/states prints as `state=<code>`. Upgrade scripts poll for Running (6).
 */
export const MosnStates = {
  Nil: 0,
  ParamsParsed: 1,
  Initing: 2,
  PreStart: 3,
  Starting: 4,
  AfterStart: 5,
  Running: 6,
  BeforeStop: 7,
  GracefulStopping: 8,
  Stopping: 9,
  AfterStop: 10,
  Stopped: 11,
  /** The old process forked a new one after SIGHUP and waits for it. */
  StartingNewServer: 12,
  /** The old process is handing its listeners and connections to the new one. */
  Upgrading: 13,
} as const;

export type MosnStateName = keyof typeof MosnStates;
export type MosnStateCode = (typeof MosnStates)[MosnStateName];

/** One entry of /api/v1/plugin?status=. */
export interface PluginStatus {
  readonly name: string;
  /** Configured to be enabled. */
  readonly enable: boolean;
  /** Actually loaded and running. */
  readonly on: boolean;
}

/** Everything the admin handlers need. Every call must be synchronous and cheap. */
export interface AdminContext {
  /** Printed by /api/v1/version as `mosn version: <version>`. */
  readonly version: string;
  /** Admin requests are logged here at debug level. */
  readonly logger: Logger;
  /** The effective config document (MOSN v2 shape, canonical keys), NOT yet redacted: the admin API redacts it. */
  configDocument(): Record<string, unknown>;
  /** MOSN state code (`MosnStates`: 6 Running, 13 Upgrading, ...). */
  state(): number;
  /** The process logger's level, by its MOSN name ("INFO"...). */
  getLogLevel(): string;
  /** Sets the process logger's level from a MOSN name; false = unknown level (nothing changed). */
  setLogLevel(level: string): boolean;
  readonly metrics: MetricsRegistry;
  /**
   * The process logger's output as configured (`default_log_path`), the key of
   * /api/v1/get_loglevel and the `log_path` update_loglevel, enable_log and disable_log
   * accept. Default "stdout".
   */
  readonly logPath?: string;
  /**
   * Turns the process logger's output off (false) or back on (true), keeping its level.
   * Default: the admin API sets the pino logger to "silent" and restores the level it had.
   */
  setLogEnabled?(enabled: boolean): void;
  /** Feature gates and whether each is on, for /api/v1/features. Default: none. */
  features?(): Record<string, boolean>;
  /** Loaded plugins, for /api/v1/plugin. Default: none. */
  plugins?(): readonly PluginStatus[];
  /** Worker processes (servers[0].processor > 1), for /api/v1/workers. Default: none (one process). */
  workers?(): readonly WorkerProcessStatus[];
}

/** One entry of /api/v1/workers (a mosnode addition). */
export interface WorkerProcessStatus {
  readonly index: number;
  /** Undefined while the worker is being replaced. */
  readonly pid: number | undefined;
  /** How many times this worker died and was replaced. */
  readonly restarts: number;
  /** When the current process started (ms since the epoch). */
  readonly startedAt: number;
}

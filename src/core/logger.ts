/**
 * @module core/logger
 * The structured logger (pino). MOSN's level names (TRACE, DEBUG, INFO, WARN, ERROR,
 * FATAL) map onto pino's; `default_log_path` may be "stdout", "stderr" or a file path,
 * written asynchronously so logging never blocks the event loop on disk.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { MosnError } from './errors.ts';
import { dirname } from 'node:path';

export type Logger = PinoLogger;

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export type MosnLogLevel = (typeof LOG_LEVELS)[number];

/** Turns a MOSN level name (any case; "WARNING" too) into pino's, or undefined. */
export function toPinoLevel(level: string): pino.Level | undefined {
  switch (level.toUpperCase()) {
    case 'TRACE': return 'trace';
    case 'DEBUG': return 'debug';
    case 'INFO': return 'info';
    case 'WARN': case 'WARNING': return 'warn';
    case 'ERROR': return 'error';
    case 'FATAL': case 'CRITICAL': return 'fatal';
    default: return undefined;
  }
}

/** The MOSN name of a pino level. */
export function toMosnLevel(level: string): MosnLogLevel {
  switch (level) {
    case 'trace': return 'TRACE';
    case 'debug': return 'DEBUG';
    case 'warn': return 'WARN';
    case 'error': return 'ERROR';
    case 'fatal': return 'FATAL';
    default: return 'INFO';
  }
}

export interface LoggerOptions {
  /** "stdout" (default), "stderr", or a file path (its folder is created). */
  path?: string;
  /** A MOSN level name; default INFO. */
  level?: string;
}

export interface LoggerHandle {
  logger: Logger;
  /** Flushes buffered lines now, as far as possible (may miss a write in flight). */
  flush(): void;
  /**
   * Calls `done` once every buffered line is written (or after `timeoutMs`): the way to
   * exit without losing the last lines, which an asynchronous writer may still hold.
   */
  flushThen(done: () => void, timeoutMs?: number): void;
  /** Reopens the file (after log rotation; SIGUSR1). */
  reopen(): void;
}

/** Creates the process logger. Writes to files are asynchronous; stdout/stderr too. */
export function createLogger(options: LoggerOptions = {}): LoggerHandle {
  const path = options.path ?? 'stdout';
  let destination: DestinationStream & { flushSync?: () => void; reopen?: () => void; flush?: (cb: (err?: Error) => void) => void };
  if (path === 'stdout' || path === '') {
    destination = pino.destination({ dest: 1, sync: false });
  } else if (path === 'stderr') {
    destination = pino.destination({ dest: 2, sync: false });
  } else {
    // Open once synchronously so a bad path is a clear startup error, not a crash later
    // inside the asynchronous writer.
    try {
      mkdirSync(dirname(path), { recursive: true });
      closeSync(openSync(path, 'a'));
    } catch (err) {
      throw new MosnError('MOSN_ERR_LOG_FILE', `cannot open log file ${path}: ${(err as Error).message}`, { cause: err });
    }
    destination = pino.destination({ dest: path, sync: false, mkdir: true });
  }
  const logger = pino(
    {
      level: toPinoLevel(options.level ?? 'INFO') ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    logger,
    flushThen(done, timeoutMs = 1000) {
      let called = false;
      const once = (): void => {
        if (called) return;
        called = true;
        clearTimeout(timer);
        done();
      };
      const timer = setTimeout(once, timeoutMs);
      try {
        if (destination.flush !== undefined) destination.flush(() => once());
        else once();
      } catch {
        once();
      }
    },
    flush() {
      try { destination.flushSync?.(); } catch { /* not ready yet or closed: nothing buffered */ }
    },
    reopen() {
      destination.reopen?.();
    },
  };
}

/** A logger that drops everything, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

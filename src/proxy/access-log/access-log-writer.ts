/**
 * @module proxy/access-log/access-log-writer
 * One asynchronous writer per access log output (MOSN shares one logger per `log_path`
 * the same way: mosn.io/pkg log.GetOrCreateLogger), never blocking the event loop:
 *
 * - Lines logged during one turn of the event loop are joined and handed to a SonicBoom
 *   (pino's asynchronous fd writer, the copy pino itself loads) once, at `setImmediate`
 *   or as soon as 16 KiB are waiting. Handing SonicBoom line by line costs ~1-2 µs a line
 *   under load (it re-measures its growing buffer on each write); a batch costs ~0.1 µs.
 * - Memory is bounded: when the lines not yet written reach `maxBufferBytes` (the disk or
 *   the pipe behind stdout cannot keep up), further lines are dropped and counted
 *   (`dropped`) instead of queued. MOSN drops too: its access log channel holds 500 lines
 *   and `Print(buf, discard=true)` gives up when it is full.
 * - `reopen()` reopens a file by its path (log rotation: rename, then SIGUSR1); lines
 *   already handed over go to the old file, later ones to the new file.
 * - `flush()` resolves once every line accepted so far is written; `close()` writes what
 *   is waiting and closes the file. Both wait for the disk: callers that must not wait
 *   forever (shutdown) race them against their own deadline. At process exit, lines
 *   still waiting are written synchronously.
 *
 * Outputs: "stdout" and "/dev/stdout" write to fd 1, "stderr" and "/dev/stderr" to fd 2
 * (MOSN's names); "" means stdout (mosnode's default, as for `default_log_path`; MOSN
 * writes `<logs dir>/<listener>_access.log`); MOSN's "syslog", "syslog://",
 * "syslog+udp://" and "syslog+tcp://" outputs are refused as not supported; anything else
 * is a file, its folder created, opened for append.
 */
import type { pino } from 'pino';
import { createRequire } from 'node:module';
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MosnError, describeError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

type Destination = ReturnType<typeof pino.destination>;

/**
 * SonicBoom as pino resolves it: pino depends on it, mosnode does not declare it, so it
 * is loaded from pino's folder rather than imported by name. Not through
 * `pino.destination`: its exit hook throws for a file not open yet, which would skip
 * ours, and it silences EPIPE, which we want to see.
 */
const SonicBoom = createRequire(import.meta.resolve('pino'))('sonic-boom') as new (options: {
  fd?: number;
  dest?: string;
  sync?: boolean;
  mkdir?: boolean;
  append?: boolean;
  retryEAGAIN?: (err: Error, writeBufferLen: number, remainingBufferLen: number) => boolean;
}) => Destination;

/** Bytes of lines not yet written above which lines are dropped, per output. */
export const DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024;

/** A batch is handed to the file writer as soon as it is this long (SonicBoom's write size). */
const HANDOVER_CHARS = 16 * 1024;

/** Errors of one writer are logged at most this often (the first one at once). */
const ERROR_LOG_INTERVAL_MS = 60_000;

/** Writers not closed yet: at process exit their waiting lines are written synchronously. */
const openWriters = new Set<AccessLogWriter>();
let exitHookInstalled = false;
/** Set while exiting: a full pipe (EAGAIN) then fails the write instead of waiting forever. */
let exiting = false;
const retryEAGAIN = (): boolean => !exiting;

function trackOpen(writer: AccessLogWriter): void {
  openWriters.add(writer);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    exiting = true;
    for (const open of openWriters) open.flushSync();
  });
}

export interface AccessLogWriterOptions {
  /** Default DEFAULT_MAX_BUFFER_BYTES (1 MiB). */
  maxBufferBytes?: number;
  /** Where write and reopen failures are reported (rate limited). */
  logger?: Logger;
  /** The JSON path of the `log_path`, named in errors. */
  configPath?: string;
}

/** The key under which an output is shared: "stdout", "stderr" or an absolute path. */
export function accessLogOutputKey(logPath: string, configPath?: string): string {
  switch (logPath) {
    case '':
    case 'stdout':
    case '/dev/stdout':
      return 'stdout';
    case 'stderr':
    case '/dev/stderr':
      return 'stderr';
  }
  if (logPath === 'syslog' || logPath.startsWith('syslog://') || logPath.startsWith('syslog+udp://') || logPath.startsWith('syslog+tcp://')) {
    throw new MosnError(
      'MOSN_ERR_CONFIG_UNSUPPORTED',
      `${configPath === undefined ? '' : `${configPath}: `}access log output "${logPath}": syslog outputs are not supported; use a file, "stdout" or "stderr"`,
    );
  }
  return resolve(logPath);
}

/**
 * Writes lines to one output. Create through AccessLogWriters so that listeners naming
 * the same output share one writer (and one file descriptor).
 */
export class AccessLogWriter {
  /** "stdout", "stderr" or the absolute file path. */
  readonly output: string;
  readonly maxBufferBytes: number;
  readonly #logger: Logger | undefined;
  readonly #destination: Destination;
  readonly #isFile: boolean;
  /** Lines accepted but not handed over yet. */
  #batch = '';
  #handoverScheduled = false;
  /** A file is opened asynchronously; lines wait in the batch until it is open. */
  #ready: boolean;
  /** A reopen was asked before the first open finished. */
  #reopenWhenReady = false;
  /** Between reopen() and the new file being open (or the reopen failing). */
  #reopening = false;
  /** What close() does once a reopen in progress has finished. */
  #afterReopen: (() => void) | undefined;
  #finishClose: (() => void) | undefined;
  /** Bytes handed to SonicBoom and not yet reported written. */
  #inFlightBytes = 0;
  #dropped = 0;
  #written = 0;
  #errors = 0;
  #lastErrorLoggedAt = Number.NEGATIVE_INFINITY;
  #state: 'open' | 'closing' | 'closed' | 'broken' = 'open';
  #closed: Promise<void> | undefined;
  /** flush() calls waiting until `writtenBytes` reaches their target, oldest first. */
  #waiters: Array<{ target: number; resolve: () => void; reject: (err: Error) => void }> = [];

  /**
   * Opens the output. A file is opened once synchronously first, so a path that cannot
   * be written is a MosnError MOSN_ERR_LOG_FILE naming it, at startup, not a failure
   * later inside the asynchronous writer.
   */
  constructor(logPath: string, options: AccessLogWriterOptions = {}) {
    this.output = accessLogOutputKey(logPath, options.configPath);
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.#logger = options.logger;
    this.#isFile = this.output !== 'stdout' && this.output !== 'stderr';
    if (this.#isFile) {
      try {
        mkdirSync(dirname(this.output), { recursive: true });
        closeSync(openSync(this.output, 'a'));
      } catch (err) {
        const where = options.configPath === undefined ? '' : ` (${options.configPath})`;
        throw new MosnError('MOSN_ERR_LOG_FILE', `cannot open access log file ${this.output}${where}: ${describeError(err)}`, { cause: err });
      }
      this.#destination = new SonicBoom({ dest: this.output, sync: false, mkdir: true, append: true, retryEAGAIN });
      this.#ready = false;
      this.#destination.on('ready', this.#onOpened);
    } else {
      this.#destination = new SonicBoom({ fd: this.output === 'stdout' ? 1 : 2, sync: false, retryEAGAIN });
      this.#ready = true;
    }
    this.#destination.on('write', this.#onWritten);
    this.#destination.on('error', this.#onError);
    trackOpen(this);
  }

  /** Lines dropped because the buffer was full, or logged after close(). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Bytes written to the output so far. */
  get writtenBytes(): number {
    return this.#written;
  }

  /** Bytes accepted and not yet written (the part waiting for a batch counts its characters). */
  get pendingBytes(): number {
    return this.#inFlightBytes + this.#batch.length;
  }

  /** Write and reopen failures seen. */
  get errors(): number {
    return this.#errors;
  }

  get closed(): boolean {
    return this.#state === 'closed' || this.#state === 'broken';
  }

  /**
   * Queues one line (with its "\n"). Returns false when it was dropped: buffer full,
   * or the writer is closing or closed.
   */
  write(line: string): boolean {
    // The batch counts UTF-16 units, at most the UTF-8 bytes it becomes, and it is never
    // longer than HANDOVER_CHARS, so the bound holds to within one batch.
    if (this.#state !== 'open' || this.#inFlightBytes + this.#batch.length + line.length > this.maxBufferBytes) {
      this.#dropped++;
      return false;
    }
    this.#batch += line;
    if (this.#batch.length >= HANDOVER_CHARS) {
      this.#handOver();
    } else if (!this.#handoverScheduled) {
      this.#handoverScheduled = true;
      setImmediate(this.#scheduledHandOver);
    }
    return true;
  }

  /** Reopens a file by its path (after rotation); nothing to do for stdout and stderr. */
  reopen(): void {
    if (!this.#isFile || this.#state !== 'open') return;
    if (!this.#ready) {
      this.#reopenWhenReady = true;
      return;
    }
    // Lines accepted so far go to the file open now; SonicBoom reopens after its write.
    this.#handOver();
    this.#reopening = true;
    try {
      this.#destination.reopen();
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /**
   * Resolves once every line accepted before the call is written (lines logged later do
   * not delay it); rejects with a MosnError MOSN_ERR_LOG_FILE if a write fails meanwhile.
   */
  flush(): Promise<void> {
    this.#handOver();
    if ((this.#inFlightBytes === 0 && this.#batch === '') || this.#state === 'closed' || this.#state === 'broken') return Promise.resolve();
    // Not open yet, the batch is still ours; it is written before anything logged later.
    const target = this.#written + this.#inFlightBytes + (this.#batch === '' ? 0 : Buffer.byteLength(this.#batch));
    return new Promise((resolve, reject) => this.#waiters.push({ target, resolve, reject }));
  }

  /**
   * Stops accepting lines, writes what is waiting, closes the file (never fd 1 or 2).
   * Idempotent. Does not reject: a failure to write the last lines is logged.
   */
  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#handOver();
    if (this.#state === 'broken') {
      this.#state = 'closed';
      openWriters.delete(this);
      this.#closed = Promise.resolve();
      return this.#closed;
    }
    this.#state = 'closing';
    this.#closed = new Promise<void>((resolve) => {
      this.#finishClose = () => {
        this.#finishClose = undefined;
        openWriters.delete(this);
        this.#state = 'closed';
        this.#inFlightBytes = 0;
        this.#batch = '';
        this.#settleWaiters();
        resolve();
      };
    });
    this.#destination.once('close', () => this.#finishClose?.());
    // SonicBoom's end() during a reopen would never finish (the reopen is skipped once
    // it is ending, and so is the close): end after the reopen.
    if (this.#reopening) this.#afterReopen = this.#end;
    else this.#end();
    return this.#closed;
  }

  /** Hands over the batch and lets SonicBoom write it and close (at once if not open yet). */
  readonly #end = (): void => {
    this.#handOver();
    this.#destination.end();
  };

  /**
   * Writes everything waiting synchronously (for an exit that cannot wait). Blocks the
   * event loop; meant for the last moment of the process only.
   */
  flushSync(): void {
    if (this.#state === 'closed' || this.#state === 'broken') return;
    try {
      if (!this.#ready) {
        // Not open yet: nothing was handed over, everything is in the batch.
        if (this.#batch !== '') appendFileSync(this.output, this.#batch);
        this.#written += Buffer.byteLength(this.#batch);
        this.#batch = '';
        this.#settleWaiters();
        return;
      }
      this.#handOver();
      this.#destination.flushSync();
      this.#written += this.#inFlightBytes;
      this.#inFlightBytes = 0;
      this.#settleWaiters();
    } catch {
      // not open yet or the output is gone: nothing more can be done at exit
    }
  }

  /** SonicBoom opened the file: first open or reopen. */
  readonly #onOpened = (): void => {
    const first = !this.#ready;
    this.#ready = true;
    this.#reopening = false;
    if (first && this.#reopenWhenReady) {
      this.#reopenWhenReady = false;
      if (this.#state === 'open') {
        this.reopen();
        return;
      }
    }
    this.#handOver();
    const after = this.#afterReopen;
    this.#afterReopen = undefined;
    after?.();
  };

  readonly #scheduledHandOver = (): void => {
    this.#handoverScheduled = false;
    this.#handOver();
  };

  #handOver(): void {
    const batch = this.#batch;
    if (batch === '' || !this.#ready || this.#state === 'closed' || this.#state === 'broken') return;
    this.#batch = '';
    this.#inFlightBytes += Buffer.byteLength(batch);
    this.#destination.write(batch);
  }

  readonly #onWritten = (n: number): void => {
    this.#written += n;
    this.#inFlightBytes -= n;
    if (this.#inFlightBytes < 0) this.#inFlightBytes = 0;
    const waiters = this.#waiters;
    let done = 0;
    while (done < waiters.length && waiters[done]!.target <= this.#written) done++;
    if (done === 0) return;
    for (const waiter of waiters.splice(0, done)) waiter.resolve();
  };

  readonly #onError = (err: Error): void => {
    this.#errors++;
    const now = Date.now();
    if (now - this.#lastErrorLoggedAt >= ERROR_LOG_INTERVAL_MS) {
      this.#lastErrorLoggedAt = now;
      this.#logger?.error({ err, output: this.output, errors: this.#errors, dropped: this.#dropped }, `access log ${this.output}: write failed`);
    }
    const failure = new MosnError('MOSN_ERR_LOG_FILE', `access log ${this.output}: ${describeError(err)}`, { cause: err });
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(failure);
    if ((err as NodeJS.ErrnoException).code === 'EPIPE' || !this.#ready) {
      // The reader of the pipe (stdout, stderr) is gone, or the file never opened:
      // nothing more can be written.
      const closing = this.#finishClose;
      this.#state = 'broken';
      openWriters.delete(this);
      this.#dropped += countLines(this.#batch);
      this.#batch = '';
      this.#inFlightBytes = 0;
      closing?.();
      return;
    }
    // A failed reopen leaves the old file open (SonicBoom keeps its descriptor).
    const reopenFailed = this.#reopening;
    this.#reopening = false;
    // SonicBoom keeps the unwritten bytes and retries them with the next write.
    if (this.#state !== 'closing') return;
    if (reopenFailed && this.#afterReopen !== undefined) {
      const after = this.#afterReopen;
      this.#afterReopen = undefined;
      after();
      return;
    }
    // end() does not finish after a failed write: give up on the last bytes. A file
    // that never opened has nothing to close.
    this.#afterReopen = undefined;
    if (this.#ready) this.#destination.destroy();
    else this.#finishClose?.();
  };

  #settleWaiters(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * The writers of one server, by output: listeners that name the same output share one
 * writer. reopenAll() is SIGUSR1's; flushAll() and closeAll() are for shutdown.
 */
export class AccessLogWriters {
  readonly #writers = new Map<string, { writer: AccessLogWriter; refs: number }>();
  readonly #options: Omit<AccessLogWriterOptions, 'configPath'>;

  constructor(options: Omit<AccessLogWriterOptions, 'configPath'> = {}) {
    this.#options = options;
  }

  /**
   * The writer for `logPath`, created on first use (MosnError MOSN_ERR_LOG_FILE when a
   * file cannot be opened; MOSN_ERR_CONFIG_UNSUPPORTED for syslog). Each call takes a
   * reference that release() gives back.
   */
  acquire(logPath: string, configPath?: string): AccessLogWriter {
    const key = accessLogOutputKey(logPath, configPath);
    const entry = this.#writers.get(key);
    if (entry !== undefined && !entry.writer.closed) {
      entry.refs++;
      return entry.writer;
    }
    const writer = new AccessLogWriter(logPath, configPath === undefined ? this.#options : { ...this.#options, configPath });
    this.#writers.set(key, { writer, refs: 1 });
    return writer;
  }

  /** Gives back a reference; the last one closes the writer. */
  async release(writer: AccessLogWriter): Promise<void> {
    const entry = this.#writers.get(writer.output);
    if (entry === undefined || entry.writer !== writer) return writer.close();
    if (--entry.refs > 0) return;
    this.#writers.delete(writer.output);
    return writer.close();
  }

  /** Every open writer (for stats: dropped, pendingBytes, errors). */
  list(): AccessLogWriter[] {
    return [...this.#writers.values()].map((entry) => entry.writer);
  }

  /** Reopens every file (log rotation). */
  reopenAll(): void {
    for (const { writer } of this.#writers.values()) writer.reopen();
  }

  /** Flushes every writer; rejects with the first failure after all have settled. */
  async flushAll(): Promise<void> {
    const results = await Promise.allSettled(this.list().map((writer) => writer.flush()));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  /** Closes every writer and forgets them. */
  async closeAll(): Promise<void> {
    const writers = this.list();
    this.#writers.clear();
    await Promise.all(writers.map((writer) => writer.close()));
  }

  /** Writes everything waiting synchronously (process exit). */
  flushAllSync(): void {
    for (const { writer } of this.#writers.values()) writer.flushSync();
  }
}

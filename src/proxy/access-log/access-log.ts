/**
 * @module proxy/access-log/access-log
 * A listener's access logs: each `access_logs` entry is a compiled format and a shared
 * writer. The proxy calls createAccessLogs once per listener (while the server prepares,
 * so a bad format or an unwritable path stops the start) and `log(info)` once per
 * finished request, as MOSN does when the stream is cleaned up.
 */
import type { AccessLogConfig } from '../../config/types.ts';
import type { Logger } from '../../core/logger.ts';
import type { RequestInfo } from '../request-info.ts';
import { compileAccessLogFormat, type CompiledAccessLogFormat } from './access-log-format.ts';
import type { AccessLogWriter, AccessLogWriters } from './access-log-writer.ts';

export class AccessLog {
  readonly format: CompiledAccessLogFormat;
  readonly writer: AccessLogWriter;
  readonly #line: (info: RequestInfo) => string;

  constructor(format: CompiledAccessLogFormat, writer: AccessLogWriter) {
    this.format = format;
    this.writer = writer;
    this.#line = format.line;
  }

  /** Formats and queues one line; never throws, never waits (a full buffer drops it). */
  log(info: RequestInfo): void {
    this.writer.write(this.#line(info));
  }
}

export interface CreateAccessLogsOptions {
  /** The server's writers; listeners naming the same output share one. */
  writers: AccessLogWriters;
  /** Receives config warnings (unknown variables). */
  logger?: Logger;
  /** Unknown variables are config errors instead of printing "-". */
  strict?: boolean;
}

/**
 * The access logs of one listener. `listenerPath` is the listener's JSON path (e.g.
 * `servers[0].listeners[0]`); errors name `<listenerPath>.access_logs[i].log_format` or
 * `.log_path`. Every format is compiled before any output is opened, so a bad format
 * opens no file. Throws ConfigError / MosnError (MOSN_ERR_CONFIG_INVALID,
 * MOSN_ERR_CONFIG_UNSUPPORTED, MOSN_ERR_LOG_FILE); on a failure the writers already
 * taken are given back.
 */
export function createAccessLogs(configs: readonly AccessLogConfig[], listenerPath: string, options: CreateAccessLogsOptions): AccessLog[] {
  const formats = configs.map((config, i) =>
    compileAccessLogFormat(config.log_format, `${listenerPath}.access_logs[${i}].log_format`, {
      ...(options.strict === undefined ? {} : { strict: options.strict }),
      onWarning: (message) => options.logger?.warn(message),
    }),
  );
  const logs: AccessLog[] = [];
  try {
    configs.forEach((config, i) => {
      const writer = options.writers.acquire(config.log_path, `${listenerPath}.access_logs[${i}].log_path`);
      logs.push(new AccessLog(formats[i]!, writer));
    });
  } catch (err) {
    for (const log of logs) void options.writers.release(log.writer);
    throw err;
  }
  return logs;
}

/** Gives back the writers of a listener's access logs (listener removed or server stopped). */
export async function releaseAccessLogs(logs: readonly AccessLog[], writers: AccessLogWriters): Promise<void> {
  await Promise.all(logs.map((log) => writers.release(log.writer)));
}

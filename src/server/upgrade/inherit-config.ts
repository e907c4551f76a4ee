/**
 * @module server/upgrade/inherit-config
 * MOSN's `inherit_old_mosnconfig`: a new process whose config file sets it takes the
 * running process's effective config instead of the file's (useful when the running
 * config was changed at run time). The running process serves its config document as
 * JSON on mosnconfig.sock, one connection per request; the socket file is readable by
 * its owner only, since the document holds secrets.
 */
import { createServer, connect, type Server } from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../core/logger.ts';
import { describeError } from '../../core/errors.ts';
import { isUnixSocketLive } from '../../network/listener.ts';

/** A config over this size is refused rather than buffered. */
const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

/** Serves `document()` on `path` until close(). */
export class ConfigServer {
  readonly #server: Server;
  readonly #path: string;

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.#path = path;
  }

  static async listen(path: string, document: () => Record<string, unknown>, logger: Logger): Promise<ConfigServer> {
    if (existsSync(path)) {
      if (await isUnixSocketLive(path)) throw new Error(`${path}: another mosnode is listening here (same uds_dir)`);
      unlinkSync(path);
    }
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end(JSON.stringify(document()));
    });
    server.on('error', (err) => logger.error({ err: describeError(err) }, 'mosnconfig.sock error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path }, () => resolve());
    });
    chmodSync(path, 0o600);
    return new ConfigServer(server, path);
  }

  close(): void {
    try {
      unlinkSync(this.#path);
    } catch {
      // already gone
    }
    this.#server.close();
  }
}

/**
 * The running process's config document as JSON text, or undefined when none answers on
 * `path` within `timeoutMs` (or it sent more than the limit, or not JSON).
 */
export function fetchRunningConfig(path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(undefined);
    const socket = connect({ path });
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (text: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_CONFIG_BYTES) return done(undefined);
      chunks.push(chunk);
    });
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        JSON.parse(text);
        done(text);
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
  });
}

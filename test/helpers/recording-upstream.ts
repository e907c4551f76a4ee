/**
 * A real HTTP/1.1 upstream for L7 tests on 127.0.0.1 port 0 that records every request
 * and answers with what it saw as JSON (plus `x-upstream: <name>`). Paths it treats
 * specially:
 *   /hang...      never answered (held in `hanging` until the client or proxy leaves);
 *   /big/<n>...   answers n bytes of "b";
 *   /slow/<ms>... answers after ms milliseconds.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';

export interface SeenRequest {
  upstream: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingUpstream {
  readonly name: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  /** Requests to /hang still open. */
  readonly hanging: Set<ServerResponse>;
  /** Requests to /hang or /slow whose other side left before the answer. */
  readonly aborted: number;
  close(): Promise<void>;
}

/** `hangAll`: every request is held like /hang (a mirror that never answers). */
export async function startRecordingUpstream(name: string, options: { hangAll?: boolean } = {}): Promise<RecordingUpstream> {
  const seen: SeenRequest[] = [];
  const hanging = new Set<ServerResponse>();
  let aborted = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: SeenRequest = { upstream: name, method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(entry);
      res.on('close', () => {
        if (!res.writableFinished) aborted++;
      });
      const url = req.url!;
      if (options.hangAll === true || url.startsWith('/hang')) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      res.setHeader('x-upstream', name);
      const big = /^\/big\/(\d+)/.exec(url);
      if (big !== null) {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(Buffer.alloc(Number(big[1]), 'b'));
        return;
      }
      const answer = (): void => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(entry));
      };
      const slow = /\/slow\/(\d+)/.exec(url);
      if (slow !== null) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) answer();
        }, Number(slow[1]));
        timers.add(timer);
        return;
      }
      answer();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    name,
    port: (server.address() as { port: number }).port,
    seen,
    hanging,
    get aborted() {
      return aborted;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}

export function parseSeen(body: Buffer | string): SeenRequest {
  return JSON.parse(body.toString()) as SeenRequest;
}

/**
 * A MosnServer in this process, from a config object, with its logs captured: for tests
 * of filters through a real running proxy (real sockets), with metrics readable directly.
 */
import pino from 'pino';
import { parseConfigText } from '../../src/config/load.ts';
import { MosnServer } from '../../src/server/server.ts';
import type { FilterRegistry } from '../../src/api/registry.ts';

export interface InProcessServer {
  server: MosnServer;
  /** Port of listener 0. */
  port: number;
  logs: Array<Record<string, unknown>>;
  /** `/api/v1/stats` shape: `stats()[type][namespace][key]`. */
  stats(): Record<string, Record<string, Record<string, string>>>;
  stop(): Promise<void>;
}

/** Starts a server; `register` may add test filters to its registry before it starts. */
export async function startInProcess(config: unknown, register?: (registry: FilterRegistry) => void): Promise<InProcessServer> {
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const server = new MosnServer(parseConfigText(JSON.stringify(config)), {
    logging: { logger, flush() {}, flushThen: (done: () => void) => done(), reopen() {} },
  });
  register?.(server.registry);
  await server.start();
  const address = server.listeners[0]!.boundAddress;
  return {
    server,
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    logs,
    stats: () => server.metrics.snapshot(),
    stop: () => server.stop(),
  };
}

/**
 * @module server/upgrade/successor
 * SIGHUP's half of a hot upgrade: start a copy of this process (same Node, same flags,
 * same argv, so the same config file and uds_dir), detached so it outlives us. It then
 * takes over through reconfig.sock like any second `mosnode start`.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../../core/logger.ts';

/** How long the successor has to begin the hand-over before we say so (MOSN: 5 s). */
const SUCCESSOR_CONNECT_MS = 5_000;

/**
 * Starts the successor. `handOverBegan()` tells whether a hand-over started since; the
 * old process keeps serving whatever the successor does. `onSettled` runs once, when the
 * successor exits or has not begun the hand-over in time: another SIGHUP may try again.
 */
export function spawnSuccessor(logger: Logger, handOverBegan: () => boolean, onSettled: () => void): void {
  let settled = false;
  const settle = (): void => {
    if (settled) return;
    settled = true;
    onSettled();
  };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: 'inherit',
    env: process.env,
  });
  child.unref();
  logger.info({ successor: child.pid }, 'SIGHUP: started a successor for a hot upgrade');
  child.once('error', (err) => {
    logger.error({ err }, 'SIGHUP: could not start the successor; this process keeps serving');
    settle();
  });
  child.once('exit', (code, signal) => {
    if (code !== 0) logger.error({ successor: child.pid, code, signal }, 'SIGHUP: the successor exited; this process keeps serving');
    settle();
  });
  setTimeout(() => {
    if (!handOverBegan()) {
      logger.warn({ successor: child.pid }, `SIGHUP: the successor did not ask for the hand-over within ${SUCCESSOR_CONNECT_MS} ms; carrying on`);
      settle();
    }
  }, SUCCESSOR_CONNECT_MS).unref();
}

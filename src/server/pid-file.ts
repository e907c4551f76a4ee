/**
 * @module server/pid-file
 * The pid file: written once the server runs, removed at exit only if it still names this
 * process (a successor may have replaced it), and read by `mosnode stop`.
 */
import { readFileSync, writeFileSync, unlinkSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MosnError } from '../core/errors.ts';

/** The pid file for a config: `pid` from the config, else `mosnode.pid` beside the config file. */
export function pidFilePath(configuredPid: string | undefined, configPath: string | undefined): string | undefined {
  if (configuredPid !== undefined) return configuredPid;
  return configPath === undefined ? undefined : join(dirname(configPath), 'mosnode.pid');
}

export function writePidFile(path: string, pid = process.pid): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`);
  renameSync(tmp, path); // readers never see a half-written file
}

/** The pid in the file, or undefined when there is no file. Throws on garbage. */
export function readPidFile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MosnError('MOSN_ERR_PID_FILE', `cannot read pid file ${path}: ${(err as Error).message}`);
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new MosnError('MOSN_ERR_PID_FILE', `pid file ${path} does not hold a pid`);
  return pid;
}

export function removePidFileIfOurs(path: string, pid = process.pid): void {
  try {
    if (readPidFile(path) === pid) unlinkSync(path);
  } catch {
    // Nothing to clean up, or someone else's file: leave it.
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

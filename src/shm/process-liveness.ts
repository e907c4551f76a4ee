/**
 * @module shm/process-liveness
 * Whether the process behind a pid written in the zone (a lock holder, a slot owner) is
 * still the one that wrote it. `process.kill(pid, 0)` answers "gone" (ESRCH) cheaply; two
 * cases need /proc (Linux, like the addon): a zombie (killed but not yet reaped by its
 * parent: kill() still succeeds on it) and a reused pid (the writer died and an unrelated
 * process got its number), told apart by the start time recorded with the pid.
 * Every process attached to one zone must share a pid namespace (same host or container).
 * Depends only on node: built-ins.
 */
import { readFileSync } from 'node:fs';

/** What became of a pid: running, gone (no such process, or a zombie), or reused by another process. */
export type PidState = 'running' | 'gone' | 'reused';

/**
 * The kernel's start time of `pid` (clock ticks since boot, field 22 of /proc/<pid>/stat),
 * or undefined when the process does not exist or /proc is unreadable. With the pid it
 * names one process for the machine's uptime.
 */
export function processStartTicks(pid: number): number | undefined {
  return readStat(pid)?.startTicks;
}

/** This process's start time (see processStartTicks); 0 when /proc is unreadable. */
export const OWN_START_TICKS = processStartTicks(process.pid) ?? 0;

/** True unless `pid` certainly does not exist (ESRCH). A process of another user (EPERM) exists. */
export function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * The state of `pid`. `recordedStartTicks` (0 = unknown) is what the writer recorded for
 * itself; when given, a different start time means the pid was reused. Reads /proc only
 * when the pid exists, so the common "gone" answer is one system call.
 */
export function pidState(pid: number, recordedStartTicks = 0): PidState {
  if (!pidExists(pid)) return 'gone';
  const stat = readStat(pid);
  // kill() said it exists but /proc does not show it: it exited in between.
  if (stat === undefined) return process.platform === 'linux' ? 'gone' : 'running';
  if (stat.state === 'Z' || stat.state === 'X') return 'gone';
  if (recordedStartTicks !== 0 && stat.startTicks !== recordedStartTicks) return 'reused';
  return 'running';
}

function readStat(pid: number): { state: string; startTicks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = Number(fields[19]);
  if (state === undefined || !Number.isFinite(startTicks)) return undefined;
  return { state, startTicks };
}

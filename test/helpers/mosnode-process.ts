/**
 * Starts real `mosnode` processes for integration tests: writes the config into a fresh
 * temp folder, runs bin/mosnode.js (the built CLI) with it, reads the structured log from
 * stdout to learn the bound addresses (configs use port 0, so tests never race for
 * ports), and cleans up the process and the folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MOSNODE_BIN = join(REPO_ROOT, 'bin', 'mosnode.js');

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (validate, stop, version, bad usage). */
export function runMosnode(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MOSNODE_BIN, ...args], { cwd: options.cwd ?? REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mosnode ${args.join(' ')} did not finish in time; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export class MosnodeProcess {
  readonly child: ChildProcess;
  readonly dir: string;
  readonly configPath: string;
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly #waiters: Array<{ test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** False when the folder belongs to another MosnodeProcess (a successor on the same uds_dir). */
  readonly ownsDir: boolean;

  constructor(child: ChildProcess, dir: string, configPath: string, ownsDir = true) {
    this.ownsDir = ownsDir;
    this.child = child;
    this.dir = dir;
    this.configPath = configPath;
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          continue;
        }
        this.logs.push(parsed);
        for (let i = this.#waiters.length - 1; i >= 0; i--) {
          const w = this.#waiters[i]!;
          if (w.test(parsed)) {
            this.#waiters.splice(i, 1);
            w.resolve(parsed);
          }
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with the first log line (past or future) that passes `test`. */
  waitForLog(test: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const seen = this.logs.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${this.stderr}; logs: ${JSON.stringify(this.logs.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ test, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      this.exited.then(({ code }) => reject(new Error(`mosnode exited (${code}) before the log line; stderr: ${this.stderr}`)));
    });
  }

  /** The bound "host:port" of a listener, from its "listener started" log line. */
  listenerAddress(name: string): { host: string; port: number } {
    const line = this.logs.find((l) => l.msg === 'listener started' && l.listener === name);
    if (!line) throw new Error(`listener ${name} has not started`);
    const address = String(line.address);
    const colon = address.lastIndexOf(':');
    return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
  }

  adminAddress(): { host: string; port: number } {
    const line = this.logs.find((l) => l.msg === 'admin API started');
    if (!line) throw new Error('admin API has not started');
    return line.address as { host: string; port: number };
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /**
   * Kills the process if still running, and any successor it started (SIGHUP successors
   * are detached: found through the pid file), then removes its folder. Safe to call twice.
   */
  async cleanup(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    killProcessesUsing(this.dir);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * SIGKILLs every process whose command line names a file in `dir` (a mosnode started with
 * `-c <dir>/...`, including detached SIGHUP successors the test never saw), found in /proc.
 */
export function killProcessesUsing(dir: string): void {
  const needle = `${dir}/`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!cmdline.includes(needle)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Writes `config` (an object, or raw text) into a new temp folder and starts mosnode on it. */
export async function startMosnode(
  config: object | string,
  options: { args?: string[]; fileName?: string; waitRunning?: boolean; dir?: string; env?: Record<string, string> } = {},
): Promise<MosnodeProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'mosnode-test-'));
  const configPath = join(dir, options.fileName ?? 'config.json');
  writeFileSync(configPath, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [MOSNODE_BIN, 'start', '-c', configPath, ...(options.args ?? [])], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env === undefined ? process.env : { ...process.env, ...options.env },
  });
  const proc = new MosnodeProcess(child, dir, configPath, options.dir === undefined);
  if (options.waitRunning !== false) {
    try {
      await proc.waitForLog((l) => l.msg === 'mosnode is running');
    } catch (err) {
      await proc.cleanup();
      throw err;
    }
  }
  return proc;
}

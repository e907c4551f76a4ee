/**
 * @module shm/zone-lock
 * The zone's structural lock: one i32 word holding the holder's pid (0 = free), taken
 * with Atomics.compareExchange. It guards allocation and initialization only, never a
 * counter or gauge update, so it is held for microseconds and waiting is a short sleep
 * loop with a bounded total time.
 *
 * A crashed holder cannot wedge it: a waiter that finds the holder's pid gone (ESRCH, or
 * a zombie) swaps its own pid in with compareExchange; if two waiters race, one wins. A
 * word holding our own pid after the wait limit is stale too (a previous process with the
 * same pid, e.g. a container's pid 1 that restarted): it is taken over. A live holder
 * past the limit is an error (ShmZoneError MOSN_ERR_SHM_LOCK_TIMEOUT), not a steal:
 * stealing from a live process would let two writers relink the same chain. (So a holder
 * that crashed AND whose pid was reused by an unrelated process within the wait blocks
 * allocation until that process exits; the word has no room for a start time.)
 * Depends only on shm/process-liveness and shm/shm-zone-error.
 */
import { pidState } from './process-liveness.ts';
import { ShmZoneError } from './shm-zone-error.ts';

/** The default bound on one wait for the lock. */
export const DEFAULT_LOCK_TIMEOUT_MS = 2000;

const FIRST_SLEEP_MS = 0.02;
const MAX_SLEEP_MS = 1;
/** How long to wait before asking whether the holder is alive: most holds end sooner. */
const LIVENESS_CHECK_AFTER_MS = 1;

// Atomics.wait needs shared memory; nobody ever notifies this cell, so a wait is a sleep.
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function sleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** What acquire() had to do, for the caller's log. */
export interface LockAcquired {
  /** The pid the lock was taken from, when its holder was gone; undefined for a plain acquire. */
  readonly stolenFrom: number | undefined;
}

/** A pid lock at `index` of `words`. */
export class ZoneLock {
  readonly #words: Int32Array;
  readonly #index: number;
  readonly #timeoutMs: number;
  readonly #pid: number;

  /** `pid` defaults to this process's; tests pass others to play a second process. */
  constructor(words: Int32Array, index: number, timeoutMs = DEFAULT_LOCK_TIMEOUT_MS, pid = process.pid) {
    this.#words = words;
    this.#index = index;
    this.#timeoutMs = timeoutMs;
    this.#pid = pid;
  }

  /** The pid in the lock word now (0 = free). */
  get holder(): number {
    return Atomics.load(this.#words, this.#index);
  }

  /**
   * Takes the lock, waiting up to the timeout. Throws MOSN_ERR_SHM_LOCK_TIMEOUT when a
   * live process kept it that long. `describe` names the zone in messages.
   */
  acquire(describe: string): LockAcquired {
    const started = performance.now();
    let sleepMs = FIRST_SLEEP_MS;
    for (;;) {
      const holder = Atomics.compareExchange(this.#words, this.#index, 0, this.#pid);
      if (holder === 0) return { stolenFrom: undefined };
      const waitedMs = performance.now() - started;
      const overdue = waitedMs >= this.#timeoutMs;
      if (waitedMs >= LIVENESS_CHECK_AFTER_MS || overdue) {
        // A pid <= 0 is not one any process could have written: garbage, take it over.
        const stale = holder <= 0 || (holder === this.#pid ? overdue : pidState(holder) === 'gone');
        if (stale) {
          if (Atomics.compareExchange(this.#words, this.#index, holder, this.#pid) === holder) return { stolenFrom: holder };
          continue; // someone else changed it first: look again at once
        }
        if (overdue) {
          throw new ShmZoneError('MOSN_ERR_SHM_LOCK_TIMEOUT', `${describe}: the zone lock is still held by live pid ${holder} after ${Math.round(waitedMs)} ms`, { pids: [holder] });
        }
      }
      sleep(sleepMs);
      sleepMs = Math.min(sleepMs * 2, MAX_SLEEP_MS);
    }
  }

  /** Releases the lock if this process still holds it (it may have been taken over as stale). */
  release(): void {
    Atomics.compareExchange(this.#words, this.#index, this.#pid, 0);
  }
}

/**
 * @module filters/network/fault_inject/fault-inject-filter
 * The `fault_inject` read filter, with MOSN's semantics (pkg/filter/network/faultinject):
 * whenever bytes arrive and no delay is running, a die is rolled; with probability
 * `delayPercent`/100 those bytes, and every byte after them until the delay ends, are
 * held for `delayMs` and then passed on, in order, to the filters after this one. The
 * next bytes after that roll again. A delay holds this connection only (a timer, never a
 * blocked loop).
 *
 * As in MOSN, the connection keeps reading during a delay (so a peer that closes is seen
 * at once, and what it sends joins the delayed bytes); unlike MOSN, at most
 * `maxHeldBytes` are held: beyond that, reading stops until the delay ends (backpressure
 * to the peer), so a delayed connection cannot grow without bound.
 * Depends on api/ only (held bytes go on with ReadFilterCallbacks.injectReadData).
 */
import type { Connection, FilterStatus, ReadFilter, ReadFilterCallbacks } from '../../../api/network-filter.ts';
import type { StatsCounter, StatsGauge } from '../../../api/filter-factory.ts';

export interface FaultInjectConfig {
  /** 0..100: the share of reads (outside a delay) that start one. */
  readonly delayPercent: number;
  /** ms each delay lasts (may be fractional: "300us" is 0.3). */
  readonly delayMs: number;
  /** Bytes held during a delay before reading stops (the listener's per-connection buffer limit). */
  readonly maxHeldBytes: number;
}

export interface FaultInjectStats {
  /** Delays started. */
  readonly delaysInjected: StatsCounter;
  /** Delays cut short because the connection closed first. */
  readonly delaysCancelled: StatsCounter;
  /** Delays running now. */
  readonly activeFaults: StatsGauge;
}

export class FaultInjectFilter implements ReadFilter {
  readonly #config: FaultInjectConfig;
  readonly #stats: FaultInjectStats;
  readonly #random: () => number;
  #callbacks!: ReadFilterCallbacks;
  #connection!: Connection;
  /** While a delay runs: what arrived since it started, in order. */
  #held: Array<{ data: Buffer; endStream: boolean }> | undefined;
  #heldBytes = 0;
  /** True while this filter has reading disabled (held bytes reached the limit). */
  #readStopped = false;
  #timer: NodeJS.Timeout | undefined;

  /** `random`: a uniform number in [0, 1) (Math.random; tests pass their own). */
  constructor(config: FaultInjectConfig, stats: FaultInjectStats, random: () => number = Math.random) {
    this.#config = config;
    this.#stats = stats;
    this.#random = random;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.#callbacks = callbacks;
    this.#connection = callbacks.connection;
    this.#connection.onClose(() => this.#cancel());
  }

  onData(data: Buffer, endStream: boolean): FilterStatus {
    if (this.#held === undefined) {
      // Only bytes roll the die (MOSN's OnData sees data only); a bare FIN goes on.
      if (data.length === 0 || !this.#rollDelay()) return 'Continue';
      this.#held = [];
      this.#heldBytes = 0;
      this.#stats.delaysInjected.inc();
      this.#stats.activeFaults.inc();
      this.#timer = setTimeout(() => this.#release(), this.#config.delayMs);
    }
    this.#held.push({ data, endStream });
    this.#heldBytes += data.length;
    if (!this.#readStopped && this.#heldBytes >= this.#config.maxHeldBytes) {
      this.#readStopped = true;
      this.#connection.readDisable(true);
    }
    return 'Stop';
  }

  /** MOSN's die: a delay when a number in 1..100 is at most delayPercent. */
  #rollDelay(): boolean {
    const { delayPercent, delayMs } = this.#config;
    if (delayPercent <= 0 || delayMs <= 0) return false;
    return Math.floor(this.#random() * 100) + 1 <= delayPercent;
  }

  #release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    this.#timer = undefined;
    this.#stats.activeFaults.dec();
    for (const { data, endStream } of held) {
      if (this.#connection.closed) return;
      this.#callbacks.injectReadData(data, endStream);
    }
    if (this.#readStopped) {
      this.#readStopped = false;
      if (!this.#connection.closed) this.#connection.readDisable(false);
    }
  }

  #cancel(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held = undefined;
    this.#stats.activeFaults.dec();
    this.#stats.delaysCancelled.inc();
  }
}

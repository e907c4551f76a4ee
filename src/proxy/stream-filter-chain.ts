/**
 * @module proxy/stream-filter-chain
 * The stream filters of one request, and the runner that walks them. A filter may answer
 * synchronously (the runner loops, allocating nothing) or with a promise (the runner
 * resumes at the next filter when it settles). A throw, a rejection or a status that is
 * not one of the five becomes an Error handed to `done`, with the filter's type, so the
 * proxy answers 500 and counts it: a filter never crashes the proxy.
 */
import type {
  ReceiverFilterPhase,
  StreamFilterChainBuilder,
  StreamFilterFactory,
  StreamFilterOptions,
  StreamFilterResult,
  StreamFilterStatus,
  StreamReceiverFilter,
  StreamSenderFilter,
} from '../api/stream-filter.ts';
import type { StatsCounter } from '../api/filter-factory.ts';

/** A `stream_filters` entry whose config was parsed at load time. */
export interface PreparedStreamFilter {
  readonly type: string;
  readonly factory: StreamFilterFactory<unknown>;
  readonly config: unknown;
  /** Counts this entry's throws, rejections, invalid statuses and timeouts (`<type>.listener.<l>.filter_failures`). */
  readonly failures?: StatsCounter;
}

/** A filter's promise that did not settle in time; the proxy answers 504. */
export class FilterTimeoutError extends Error {}

/**
 * Chains that have waited on a filter's promise, checked by one shared sweep rather than
 * a timer per promise: a timer costs ~300 ns to arm and clear, three times the promise
 * itself (bench/stream-filter-chain.ts), and a clock read or a Set update per promise
 * would cost half of it again. A chain joins the set at its first promise and leaves it
 * when destroyed; per promise, only a counter moves. The sweep runs every quarter of the
 * shortest deadline (10 ms..1 s) and counts how many sweeps have seen the same wait, so a
 * deadline fires between its time and one sweep later, never early.
 */
const waiting = new Set<StreamFilterChain>();
let sweepTimer: NodeJS.Timeout | undefined;
let sweepEveryMs = 1000;

interface ReceiverEntry {
  readonly type: string;
  readonly filter: StreamReceiverFilter;
  readonly phase: ReceiverFilterPhase;
  readonly needsBody: boolean;
}

interface SenderEntry {
  readonly type: string;
  readonly filter: StreamSenderFilter;
  readonly needsBody: boolean;
}

const PHASES: ReadonlySet<string> = new Set(['BeforeRoute', 'AfterRoute', 'AfterChooseHost']);
const STATUSES: ReadonlySet<string> = new Set(['Continue', 'Stop', 'Termination', 'RetryMatchRoute', 'RetryChooseHost']);

/** `done` gets a status, or the Error a filter threw (or an invalid status it returned). */
export type ChainDone = (outcome: StreamFilterStatus | Error, filterType: string) => void;

export class StreamFilterChain implements StreamFilterChainBuilder {
  readonly receivers: ReceiverEntry[] = [];
  readonly senders: SenderEntry[] = [];
  /** The type whose factory is adding filters now. */
  #adding = '';
  /** The type of the filter running now (for perRouteConfig()). */
  current = '';
  /** Where the next run of a phase starts, after a filter asked to route or choose the host again. */
  #resume: { phase: ReceiverFilterPhase; index: number } | undefined;
  /** How long a filter's promise may take (0 = forever). */
  readonly #asyncTimeoutMs: number;
  /** How to fail the promise being waited for (undefined: none), and which wait it is. */
  #failPending: (() => void) | undefined;
  #waitId = 0;
  /** What the sweep last saw: the wait id, and in how many sweeps. */
  #sweptId = -1;
  #sweeps = 0;
  #watched = false;

  constructor(asyncTimeoutMs = 0) {
    this.#asyncTimeoutMs = asyncTimeoutMs;
  }

  /**
   * Builds the chain of one request; a throwing factory rejects with its type in the message.
   * A filter's promise that has not settled after `asyncTimeoutMs` fails the request
   * (FilterTimeoutError) rather than hold it forever.
   */
  static create(prepared: readonly PreparedStreamFilter[], asyncTimeoutMs = 0): StreamFilterChain {
    const chain = new StreamFilterChain(asyncTimeoutMs);
    for (const p of prepared) {
      chain.#adding = p.type;
      try {
        p.factory.createFilters(p.config, chain);
      } catch (err) {
        chain.destroy();
        throw new Error(`stream filter "${p.type}" failed to create its filters: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
    }
    return chain;
  }

  addReceiver(filter: StreamReceiverFilter, phase: ReceiverFilterPhase = 'BeforeRoute', options?: StreamFilterOptions): void {
    if (!PHASES.has(phase)) throw new Error(`unknown receive phase "${String(phase)}" (expected BeforeRoute, AfterRoute or AfterChooseHost)`);
    if (typeof filter?.onReceive !== 'function') throw new Error('a receive filter needs an onReceive(handler) method');
    this.receivers.push({ type: this.#adding, filter, phase, needsBody: options?.needsBody === true });
  }

  addSender(filter: StreamSenderFilter, options?: StreamFilterOptions): void {
    if (typeof filter?.onSend !== 'function') throw new Error('a send filter needs an onSend(handler) method');
    this.senders.push({ type: this.#adding, filter, needsBody: options?.needsBody === true });
  }

  get needsRequestBody(): boolean {
    return this.receivers.some((r) => r.needsBody);
  }

  get needsResponseBody(): boolean {
    return this.senders.some((s) => s.needsBody);
  }

  /** Calls every filter's onDestroy once; a throwing one is reported, the others still run. */
  destroy(report?: (type: string, err: unknown) => void): void {
    this.#failPending = undefined;
    if (this.#watched) waiting.delete(this);
    for (const entry of [...this.receivers, ...this.senders]) {
      try {
        entry.filter.onDestroy?.();
      } catch (err) {
        report?.(entry.type, err);
      }
    }
    this.receivers.length = 0;
    this.senders.length = 0;
  }

  /**
   * Runs the receive filters of `phase` in order; `done` once with the first non-Continue
   * outcome, or Continue. After a filter returned RetryMatchRoute or RetryChooseHost, the
   * next run of its phase starts at that filter, not at the first one (MOSN keeps its
   * filter index "until no retry is required"): the filters before it ran already and do
   * not run twice (they would append a header twice, call an auth service twice).
   */
  runReceivers(phase: ReceiverFilterPhase, invoke: (filter: StreamReceiverFilter) => StreamFilterResult, done: ChainDone): void {
    let from = 0;
    const resume = this.#resume;
    if (resume !== undefined && resume.phase === phase) {
      from = resume.index;
      this.#resume = undefined;
    }
    this.#run(this.receivers, from, (e) => e.phase === phase, (e) => invoke(e.filter), (outcome, type, index) => {
      if (outcome === 'RetryMatchRoute' || outcome === 'RetryChooseHost') this.#resume = { phase, index };
      done(outcome, type);
    });
  }

  runSenders(invoke: (filter: StreamSenderFilter) => StreamFilterResult, done: ChainDone): void {
    this.#run(this.senders, 0, () => true, (e) => invoke(e.filter), done);
  }

  #run<E extends { type: string }>(
    entries: readonly E[],
    from: number,
    applies: (entry: E) => boolean,
    invoke: (entry: E) => StreamFilterResult,
    done: (outcome: StreamFilterStatus | Error, filterType: string, index: number) => void,
  ): void {
    for (let i = from; i < entries.length; i++) {
      const entry = entries[i]!;
      if (!applies(entry)) continue;
      this.current = entry.type;
      let result: StreamFilterResult;
      try {
        result = invoke(entry);
      } catch (err) {
        done(asError(err), entry.type, i);
        return;
      }
      if (typeof result === 'string') {
        if (result === 'Continue') continue;
        done(STATUSES.has(result) ? result : invalid(result), entry.type, i);
        return;
      }
      if (result === null || typeof (result as Promise<unknown>)?.then !== 'function') {
        done(invalid(result), entry.type, i);
        return;
      }
      const next = i + 1;
      // A thenable whose then() throws is the filter's failure, not the runner's; a
      // thenable may also settle more than once: only the first outcome counts.
      let settled = false;
      const timeoutMs = this.#asyncTimeoutMs;
      if (timeoutMs > 0) {
        this.#startWaiting(() => {
          if (settled) return;
          settled = true;
          done(new FilterTimeoutError(`did not settle within ${timeoutMs} ms`), entry.type, i);
        });
      }
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        this.#stopWaiting();
        return true;
      };
      try {
        result.then(
          (status) => {
            if (!settle()) return;
            if (status === 'Continue') this.#run(entries, next, applies, invoke, done);
            else done(STATUSES.has(status) ? status : invalid(status), entry.type, i);
          },
          (err: unknown) => {
            if (settle()) done(asError(err), entry.type, i);
          },
        );
      } catch (err) {
        if (settle()) done(asError(err), entry.type, i);
      }
      return;
    }
    this.current = '';
    done('Continue', '', entries.length);
  }

  #startWaiting(fail: () => void): void {
    this.#failPending = fail;
    this.#waitId++;
    if (this.#watched) return;
    this.#watched = true;
    waiting.add(this);
    const every = Math.min(1000, Math.max(10, this.#asyncTimeoutMs / 4));
    if (sweepTimer !== undefined && every >= sweepEveryMs) return;
    clearInterval(sweepTimer);
    sweepEveryMs = every;
    sweepTimer = setInterval(StreamFilterChain.#sweep, every);
    sweepTimer.unref();
  }

  #stopWaiting(): void {
    this.#failPending = undefined;
  }

  static #sweep(): void {
    for (const chain of waiting) {
      const fail = chain.#failPending;
      if (fail === undefined) continue;
      if (chain.#sweptId !== chain.#waitId) {
        // A wait this sweep sees first began at most one sweep ago.
        chain.#sweptId = chain.#waitId;
        chain.#sweeps = 1;
        continue;
      }
      chain.#sweeps++;
      if ((chain.#sweeps - 1) * sweepEveryMs < chain.#asyncTimeoutMs) continue;
      chain.#failPending = undefined;
      fail();
    }
    if (waiting.size === 0) {
      clearInterval(sweepTimer);
      sweepTimer = undefined;
      sweepEveryMs = 1000;
    }
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function invalid(status: unknown): Error {
  return new Error(`returned ${show(status)}, not a stream filter status (Continue, Stop, Termination, RetryMatchRoute, RetryChooseHost)`);
}

/** The returned value for the message; never throws (a BigInt or a circular object made JSON.stringify throw out of the runner). */
function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return typeof value === 'object' ? 'an object that is not JSON' : typeof value;
  }
}

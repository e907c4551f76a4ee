/**
 * @module network/filter-manager
 * Runs a connection's read filters in order on every event, honouring `Stop` and
 * `continueReading()`, and its write filters on every write. A filter that throws is
 * contained: the connection is closed and the error is reported, the process goes on.
 * Depends on api/ types only.
 */
import type { Connection, FilterStatus, ReadFilter, ReadFilterCallbacks, WriteFilter } from '../api/network-filter.ts';


/** Told when a filter throws (an object rather than a closure: one per connection). */
export interface FilterErrorSink {
  onFilterError(err: unknown, filter: unknown): void;
}

export class NetworkFilterManager {
  readonly #connection: Connection;
  readonly #errors: FilterErrorSink;
  readonly #readFilters: ReadFilter[] = [];
  // Made on first use (most connections have no write filter and never hold an event).
  #writeFilters: WriteFilter[] | undefined;
  /** Read filters [0, #initialized) have run onNewConnection (always a prefix of the chain). */
  #initialized = 0;
  /** Reading is held while a filter has stopped the chain in onNewConnection. */
  #heldForInit = false;
  /**
   * Events that reached a filter not yet set up (bytes a listener filter handed to
   * `start()`): replayed from that filter on once the chain has continued.
   */
  #heldEvents: Array<{ from: number; data: Buffer; endStream: boolean }> | undefined;

  constructor(connection: Connection, errors: FilterErrorSink) {
    this.#connection = connection;
    this.#errors = errors;
  }

  get readFilterCount(): number {
    return this.#readFilters.length;
  }

  get hasWriteFilters(): boolean {
    return this.#writeFilters !== undefined;
  }

  addReadFilter(filter: ReadFilter): void {
    const index = this.#readFilters.length;
    this.#readFilters.push(filter);
    // Only a filter that asks for callbacks gets them: two closures per connection otherwise.
    if (filter.initializeReadFilterCallbacks === undefined) return;
    const callbacks: ReadFilterCallbacks = {
      connection: this.#connection,
      continueReading: () => this.#continueFrom(index + 1),
      // Envoy's injectReadDataToFilterChain: held bytes released past the filter that held them.
      injectReadData: (data, endStream) => {
        if (!this.#connection.closed) this.#runRead(index + 1, data, endStream);
      },
    };
    filter.initializeReadFilterCallbacks(callbacks);
  }

  addWriteFilter(filter: WriteFilter): void {
    (this.#writeFilters ??= []).push(filter);
  }

  /** Runs onNewConnection through the chain, stopping at the first `Stop`. */
  initializeReadFilters(): void {
    this.#continueFrom(0);
  }

  /** Passes bytes (or the peer's half-close) through the read filters. */
  onRead(data: Buffer, endStream: boolean): void {
    this.#runRead(0, data, endStream);
  }

  #runRead(start: number, data: Buffer, endStream: boolean): void {
    const filters = this.#readFilters;
    for (let i = start; i < filters.length; i++) {
      if (i >= this.#initialized) {
        // An earlier filter has not continued yet: keep the event for the rest of the chain.
        (this.#heldEvents ??= []).push({ from: i, data, endStream });
        return;
      }
      let status: FilterStatus;
      try {
        status = filters[i]!.onData(data, endStream);
      } catch (err) {
        this.#errors.onFilterError(err, filters[i]);
        return;
      }
      if (status === 'Stop' || this.#connection.closed) return;
    }
  }

  /** Passes outgoing bytes through the write filters; false = a filter stopped them. */
  onWrite(data: Buffer, endStream: boolean): boolean {
    for (const filter of this.#writeFilters ?? []) {
      let status: FilterStatus;
      try {
        status = filter.onWrite(data, endStream);
      } catch (err) {
        this.#errors.onFilterError(err, filter);
        return false;
      }
      if (status === 'Stop') return false;
    }
    return true;
  }

  #continueFrom(start: number): void {
    const filters = this.#readFilters;
    for (let i = start; i < filters.length; i++) {
      if (i < this.#initialized) continue;
      this.#initialized = i + 1;
      let status: FilterStatus = 'Continue';
      try {
        status = filters[i]!.onNewConnection?.() ?? 'Continue';
      } catch (err) {
        this.#errors.onFilterError(err, filters[i]);
        return;
      }
      if (this.#connection.closed) return;
      if (status === 'Stop') {
        // Bytes must not reach later filters before they are set up: hold reading
        // until the stopping filter calls continueReading().
        if (!this.#heldForInit) {
          this.#heldForInit = true;
          this.#connection.readDisable(true);
        }
        return;
      }
    }
    const held = this.#heldEvents;
    this.#heldEvents = undefined;
    for (const { from, data, endStream } of held ?? []) {
      if (this.#connection.closed) return;
      this.#runRead(from, data, endStream);
    }
    if (this.#heldForInit) {
      this.#heldForInit = false;
      this.#connection.readDisable(false);
    }
  }
}


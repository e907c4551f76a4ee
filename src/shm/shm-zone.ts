/**
 * @module shm/shm-zone
 * A shared-memory zone: one file (`mosn_shm_<zone>`, path and size given by the caller),
 * mapped MAP_SHARED by every process of one mosnode instance, holding named counters and
 * gauges that all of them update with Atomics. Counters live in the file, so a hot-upgrade
 * successor that re-attaches continues them; gauges are kept per process slot, so the
 * share of a process that exited leaves the sum. The byte layout is in zone-layout.ts.
 *
 * Opening (`ShmZone.open`):
 * - 'fresh' (a plain start) clears the zone, but refuses (MOSN_ERR_SHM_ZONE_IN_USE, naming
 *   the pids) while another live process is attached: two instances configured with the
 *   same zone would otherwise wipe each other's metrics.
 * - 'attach' (a hot-upgrade successor, a worker) keeps every value.
 * - A file that is not a usable zone of this size (another magic or layout version,
 *   another size, a half-finished initialization, a damaged header or table, a truncated
 *   file) is never read: a new file is built beside it and renamed over it, and the
 *   reason is logged once (`outcome` 'recreated', `recreateReason`). Processes still
 *   mapping the old file keep their own copy undisturbed.
 *
 * Process slots: each open claims one of 64 slots (compareExchange on the pid word) and
 * refreshes its heartbeat every `heartbeatMs` from an unref'd timer, which also runs
 * `reclaimDeadSlots()`: a slot whose process is gone (or whose pid was reused by another
 * process) is freed and its gauge shares zeroed. `close()` zeroes our shares and frees
 * our slot. A process that exits without close() is reclaimed by the next heartbeat of
 * any other process, or by the next open.
 *
 * Never crashes the data path: a zone that is full, closed, or whose lock stays held hands
 * out process-local fallback cells and warns once. One thing no code here can catch:
 * truncating the file from outside while it is mapped makes the kernel send SIGBUS on the
 * next access past the new end (mmap's nature); mosnode itself never shrinks a zone file,
 * it replaces it.
 * Depends only on core/native and shm/.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, statSync } from 'node:fs';
import { mmapFile, releaseMapping } from '../core/native.ts';
import { encodeCellName } from './cell-name.ts';
import { OWN_START_TICKS, pidExists, pidState, type PidState } from './process-liveness.ts';
import { detachFromZone, localCounter, localGauge, ShmCounter, ShmGauge, type GaugeShareSource } from './shm-cells.ts';
import { ShmZoneError } from './shm-zone-error.ts';
import { DEFAULT_LOCK_TIMEOUT_MS, ZoneLock } from './zone-lock.ts';
import { LOCK_WORD_INDEX, MAX_ZONE_BYTES, MIN_ZONE_BYTES, roundZoneSize, SLOT_COUNT, ZoneView, type CellKind } from './zone-layout.ts';

export type ShmZoneMode = 'fresh' | 'attach';

/** How open() found the file: new, cleared by a fresh start, attached to, or rebuilt because it was unusable. */
export type ShmZoneOutcome = 'created' | 'cleared' | 'attached' | 'recreated';

/** Where the zone reports what callers should see once (pino's logger fits). */
export interface ShmLogger {
  warn(message: string): void;
}

export interface ShmZoneOptions {
  mode: ShmZoneMode;
  /** Default: warnings go to process.emitWarning. */
  logger?: ShmLogger;
  /** How often this process refreshes its heartbeat and reclaims dead slots. Default 1000. */
  heartbeatMs?: number;
  /** A live pid whose heartbeat is older than this is checked for reuse and zombies via /proc. Default 10000. */
  staleHeartbeatMs?: number;
  /** Bound on one wait for the structural lock. Default 2000. */
  lockTimeoutMs?: number;
}

/** One named cell and its current value (a gauge's value is the sum over live slots). */
export interface ShmCellSnapshot {
  readonly name: string;
  readonly kind: CellKind;
  readonly value: number;
  /** True when the name was over 107 bytes and is stored as hash plus tail. */
  readonly shortened: boolean;
}

export interface ShmZoneUsage {
  readonly sizeBytes: number;
  readonly cells: number;
  readonly cellsUsed: number;
  readonly gaugeColumns: number;
  readonly gaugeColumnsUsed: number;
  readonly slots: number;
  /** Pids holding a slot (this process included). */
  readonly attachedPids: readonly number[];
}

export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_STALE_HEARTBEAT_MS = 10_000;
const MAX_OPEN_ATTEMPTS = 5;

const RETRY = Symbol('retry');

interface Mapped {
  view: ZoneView;
  /** `dev:ino` of the file this mapping is of. */
  identity: string;
}

function fileIdentity(path: string): string | undefined {
  const stat = statSync(path, { bigint: true, throwIfNoEntry: false });
  return stat === undefined ? undefined : `${stat.dev}:${stat.ino}`;
}

function mapOrThrow(path: string, sizeBytes: number): ArrayBuffer {
  try {
    return mmapFile(path, sizeBytes);
  } catch (err) {
    throw new ShmZoneError('MOSN_ERR_SHM_UNAVAILABLE', `cannot map shm zone file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Maps `path`; RETRY when the file was replaced while mapping (then which one we got is unknown). */
function mapZoneFile(path: string, sizeBytes: number): Mapped | typeof RETRY {
  const before = fileIdentity(path);
  const buffer = mapOrThrow(path, sizeBytes);
  const after = fileIdentity(path);
  if (after === undefined || (before !== undefined && before !== after)) {
    releaseMapping(buffer);
    return RETRY;
  }
  return { view: new ZoneView(buffer), identity: after };
}

/**
 * Builds an initialized zone in a new file and renames it over `path`, so processes that
 * still map the old file keep it, and nobody ever sees a half-built zone. Returns with the
 * new zone's lock held by this process.
 */
function replaceZoneFile(path: string, sizeBytes: number): Mapped {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let buffer: ArrayBuffer | undefined;
  try {
    buffer = mapOrThrow(temporary, sizeBytes);
    const view = new ZoneView(buffer);
    Atomics.store(view.i32, LOCK_WORD_INDEX, process.pid);
    view.initialize(sizeBytes);
    const identity = fileIdentity(temporary)!;
    renameSync(temporary, path);
    return { view, identity };
  } catch (err) {
    rmSync(temporary, { force: true });
    if (buffer !== undefined) releaseMapping(buffer);
    if (err instanceof ShmZoneError) throw err;
    throw new ShmZoneError('MOSN_ERR_SHM_UNAVAILABLE', `cannot replace shm zone file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const defaultLogger: ShmLogger = { warn: (message) => process.emitWarning(message, 'MosnodeShmWarning') };

interface ZoneParts {
  path: string;
  sizeBytes: number;
  mapped: Mapped;
  slot: number;
  outcome: ShmZoneOutcome;
  recreateReason: string | undefined;
  options: ShmZoneOptions;
  logger: ShmLogger;
}

/** An open zone. Create with ShmZone.open. */
export class ShmZone implements GaugeShareSource {
  /** The zone file. */
  readonly path: string;
  /** The zone's size: the requested size rounded up to whole pages. */
  readonly sizeBytes: number;
  /** This process's slot (0..63). */
  readonly slot: number;
  readonly outcome: ShmZoneOutcome;
  /** Why the file was rebuilt, when `outcome` is 'recreated' (the same text was logged). */
  readonly recreateReason: string | undefined;

  readonly #view: ZoneView;
  readonly #identity: string;
  readonly #lock: ZoneLock;
  readonly #logger: ShmLogger;
  readonly #staleHeartbeatMs: number;
  readonly #slotPidIndex: number;
  readonly #handles = new Map<string, ShmCounter | ShmGauge>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;
  #warnedFull = false;
  #warnedClosed = false;
  #warnedSlotLost = false;
  #warnedReplaced = false;

  /** Use ShmZone.open. */
  constructor(parts: ZoneParts) {
    this.path = parts.path;
    this.sizeBytes = parts.sizeBytes;
    this.slot = parts.slot;
    this.outcome = parts.outcome;
    this.recreateReason = parts.recreateReason;
    this.#view = parts.mapped.view;
    this.#identity = parts.mapped.identity;
    this.#logger = parts.logger;
    this.#lock = new ZoneLock(this.#view.i32, LOCK_WORD_INDEX, parts.options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    this.#staleHeartbeatMs = parts.options.staleHeartbeatMs ?? DEFAULT_STALE_HEARTBEAT_MS;
    this.#slotPidIndex = this.#view.slotPidIndex(this.slot);
    this.#timer = setInterval(() => this.#onHeartbeat(), parts.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    // Metrics must never keep a process alive that has nothing else to do.
    this.#timer.unref();
  }

  /**
   * Opens (creating if needed) the zone file `path` of `sizeBytes` (rounded up to 4096;
   * at least 16 KiB, at most 1 GiB) and claims a process slot. See the module comment
   * for 'fresh' and 'attach'. Throws ShmZoneError: MOSN_ERR_SHM_ZONE_IN_USE ('fresh' while
   * another live process is attached; `pids` names them), MOSN_ERR_SHM_NO_SLOT,
   * MOSN_ERR_SHM_LOCK_TIMEOUT, MOSN_ERR_SHM_SIZE, MOSN_ERR_SHM_UNAVAILABLE (no addon, or
   * the file cannot be mapped: the cause says why), MOSN_ERR_SHM_REPLACED.
   */
  static open(path: string, sizeBytes: number, options: ShmZoneOptions): ShmZone {
    if (options.mode !== 'fresh' && options.mode !== 'attach') throw new TypeError(`mode must be "fresh" or "attach", got ${String(options.mode)}`);
    if (!Number.isSafeInteger(sizeBytes) || roundZoneSize(sizeBytes) < MIN_ZONE_BYTES || roundZoneSize(sizeBytes) > MAX_ZONE_BYTES) {
      throw new ShmZoneError('MOSN_ERR_SHM_SIZE', `shm zone ${path}: size ${String(sizeBytes)} must be an integer from ${MIN_ZONE_BYTES} to ${MAX_ZONE_BYTES} bytes`);
    }
    const size = roundZoneSize(sizeBytes);
    const logger = options.logger ?? defaultLogger;
    for (let attempt = 0; attempt < MAX_OPEN_ATTEMPTS; attempt++) {
      const zone = tryOpen(path, size, options, logger);
      if (zone !== RETRY) return zone;
    }
    throw new ShmZoneError('MOSN_ERR_SHM_REPLACED', `shm zone ${path}: the file was replaced by another process during each of ${MAX_OPEN_ATTEMPTS} attempts to open it`);
  }

  /** True once close() ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The counter named `name` (e.g. `downstream.listener.x.request_total`), created in the
   * zone at its first use by any process; later calls return the same object. Called when
   * a listener, cluster or host is set up, never per request: it takes the zone lock.
   * When the zone is full or closed, returns a process-local counter (and warns once).
   * Throws TypeError if this process already asked for `name` as a gauge.
   */
  counter(name: string): ShmCounter {
    return this.#cell(name, 'counter') as ShmCounter;
  }

  /** The gauge named `name`; see counter() and ShmGauge for what its value means. */
  gauge(name: string): ShmGauge {
    return this.#cell(name, 'gauge') as ShmGauge;
  }

  /** GaugeShareSource: the sum of `column` over the slots in use. */
  sum(column: number): number {
    if (this.#closed) return 0;
    const view = this.#view;
    let total = 0n;
    for (let slot = 0; slot < view.geometry.slotCount; slot++) {
      // A free slot's shares are zero; skipping it saves the load.
      if (Atomics.load(view.i32, view.slotPidIndex(slot)) !== 0) total += Atomics.load(view.i64, view.shareIndex(slot, column));
    }
    return Number(total);
  }

  /**
   * Frees the slots of processes that are gone (or whose pid now belongs to another
   * process), zeroing their gauge shares first. Runs on every heartbeat and at open; call
   * it to reclaim at once. Returns the pids reclaimed. Lock-free: a slot is taken over
   * with compareExchange, so two reclaimers never both clear it.
   */
  reclaimDeadSlots(): number[] {
    if (this.#closed) return [];
    return reclaimSlots(this.#view, this.#staleHeartbeatMs);
  }

  /** The pids holding a slot now, this process included. */
  attachedPids(): number[] {
    if (this.#closed) return [];
    return attachedPids(this.#view);
  }

  /** Every cell in the zone with its current value (for export and diagnostics). */
  snapshot(): ShmCellSnapshot[] {
    if (this.#closed) return [];
    const view = this.#view;
    const records = this.#withLock(() => [...view.cells()]);
    if (records === undefined) return [];
    return records.map((record) => ({
      name: record.name,
      kind: record.kind,
      shortened: record.shortened,
      value: record.kind === 'counter' ? Number(Atomics.load(view.i64, view.valueIndex(record.index))) : this.sum(view.gaugeColumn(record.index)),
    }));
  }

  /** How full the zone is. */
  usage(): ShmZoneUsage {
    const geometry = this.#view.geometry;
    const closed = this.#closed;
    return {
      sizeBytes: this.sizeBytes,
      cells: geometry.cellCount,
      cellsUsed: closed ? 0 : this.#view.cellsUsed,
      gaugeColumns: geometry.gaugeColumnCount,
      gaugeColumnsUsed: closed ? 0 : this.#view.gaugeColumnsUsed,
      slots: geometry.slotCount,
      attachedPids: this.attachedPids(),
    };
  }

  /**
   * Leaves the zone: the counters and gauges handed out keep working process-locally
   * (counters keep their last total, gauges this process's share), this process's gauge
   * shares are zeroed and its slot freed, and the mapping is released. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const handle of this.#handles.values()) if (handle.inZone) detachFromZone(handle);
    const view = this.#view;
    const pid = process.pid;
    // Through the "in transition" state, so nobody claims the slot before its shares are zero.
    if (Atomics.compareExchange(view.i32, this.#slotPidIndex, pid, -pid) === pid) {
      view.clearShares(this.slot);
      Atomics.store(view.u32, view.slotHeartbeatIndex(this.slot), 0);
      Atomics.store(view.i32, this.#slotPidIndex, 0);
    }
    releaseMapping(view.buffer);
  }

  #cell(name: string, kind: CellKind): ShmCounter | ShmGauge {
    const known = this.#handles.get(name);
    if (known !== undefined) {
      if ((known instanceof ShmCounter ? 'counter' : 'gauge') !== kind) {
        throw new TypeError(`shm cell ${name} is a ${kind === 'counter' ? 'gauge' : 'counter'}, not a ${kind}`);
      }
      return known;
    }
    const cell = this.#closed ? this.#fallbackWhenClosed(kind) : this.#zoneCell(name, kind);
    this.#handles.set(name, cell);
    return cell;
  }

  #zoneCell(name: string, kind: CellKind): ShmCounter | ShmGauge {
    const view = this.#view;
    const encoded = encodeCellName(name);
    const found = this.#withLock(() => {
      const existing = view.findCell(encoded.field, encoded.shortened, encoded.hash);
      if (existing >= 0) return { index: existing, kind: view.cellKind(existing) };
      return { index: view.allocateCell(encoded.field, encoded.shortened, encoded.hash, kind), kind };
    });
    if (found === undefined) return kind === 'counter' ? localCounter() : localGauge();
    if (found.index < 0) {
      if (!this.#warnedFull) {
        this.#warnedFull = true;
        const usage = `${view.cellsUsed} of ${view.geometry.cellCount} cells, ${view.gaugeColumnsUsed} of ${view.geometry.gaugeColumnCount} gauge columns used`;
        this.#logger.warn(`shm zone ${this.path} is full (${usage}): ${kind} ${name} and any further new metrics of this process are kept process-local; raise shm_size`);
      }
      return kind === 'counter' ? localCounter() : localGauge();
    }
    if (found.kind !== kind) {
      // Another process (perhaps another mosnode version) made this name the other kind.
      this.#logger.warn(`shm zone ${this.path}: ${name} exists as a ${found.kind}, not a ${kind}; this process keeps it process-local`);
      return kind === 'counter' ? localCounter() : localGauge();
    }
    if (kind === 'counter') return new ShmCounter(view.i64, view.valueIndex(found.index), true);
    const column = view.gaugeColumn(found.index);
    return new ShmGauge(view.i64, view.shareIndex(this.slot, column), column, this);
  }

  #fallbackWhenClosed(kind: CellKind): ShmCounter | ShmGauge {
    if (!this.#warnedClosed) {
      this.#warnedClosed = true;
      this.#logger.warn(`shm zone ${this.path} is closed: new metrics of this process are kept process-local`);
    }
    return kind === 'counter' ? localCounter() : localGauge();
  }

  /** Runs `work` under the zone lock; undefined (after a warning) when the lock cannot be had. */
  #withLock<T>(work: () => T): T | undefined {
    try {
      const { stolenFrom } = this.#lock.acquire(`shm zone ${this.path}`);
      if (stolenFrom !== undefined) this.#logger.warn(`shm zone ${this.path}: took over the zone lock from pid ${stolenFrom}, which is gone`);
    } catch (err) {
      this.#logger.warn(`${(err as Error).message}; continuing with process-local metrics for this call`);
      return undefined;
    }
    try {
      return work();
    } finally {
      this.#lock.release();
    }
  }

  #onHeartbeat(): void {
    if (this.#closed) return;
    const view = this.#view;
    if (Atomics.load(view.i32, this.#slotPidIndex) !== process.pid) {
      if (!this.#warnedSlotLost) {
        this.#warnedSlotLost = true;
        this.#logger.warn(`shm zone ${this.path}: slot ${this.slot} no longer holds this process (pid ${process.pid}); another process reclaimed it (are they in different pid namespaces?). Gauges of this process may be miscounted`);
      }
    } else {
      Atomics.store(view.u32, view.slotHeartbeatIndex(this.slot), nowSeconds());
    }
    this.reclaimDeadSlots();
    if (!this.#warnedReplaced && fileIdentity(this.path) !== this.#identity) {
      // Not an error for us (our mapping stays valid), but new processes will not see our values.
      this.#warnedReplaced = true;
      this.#logger.warn(`shm zone ${this.path} was replaced by another process; this process keeps updating the old file, which nobody else opens now`);
    }
  }
}

/**
 * One attempt at open(): RETRY when the file was replaced under us. Takes the zone lock
 * only on a file of our format (or a blank one): the lock word of someone else's format
 * may mean anything, so such a file is never written, only replaced.
 */
function tryOpen(path: string, size: number, options: ShmZoneOptions, logger: ShmLogger): ShmZone | typeof RETRY {
  const first = mapZoneFile(path, size);
  if (first === RETRY) return RETRY;
  let mapped: Mapped = first;
  let lock: ZoneLock | undefined;
  let slot = -1;
  let outcome: ShmZoneOutcome = 'attached';
  let reason: string | undefined;
  const describe = `shm zone ${path}`;
  const staleHeartbeatMs = options.staleHeartbeatMs ?? DEFAULT_STALE_HEARTBEAT_MS;
  const refuseFreshIfInUse = (view: ZoneView): void => {
    if (options.mode !== 'fresh') return;
    const others = liveOtherPids(view, staleHeartbeatMs);
    if (others.length > 0) {
      throw new ShmZoneError('MOSN_ERR_SHM_ZONE_IN_USE', `${describe} is in use by live pid ${others.join(', ')}; a fresh start would clear its metrics. Give each instance its own shm_zone, or start this one as a hot-upgrade successor (attach)`, { pids: others });
    }
  };
  try {
    const view = mapped.view;
    if (view.isBlank() || view.hasOwnFormat()) {
      lock = new ZoneLock(view.i32, LOCK_WORD_INDEX, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
      const { stolenFrom } = lock.acquire(describe);
      if (stolenFrom !== undefined) logger.warn(`${describe}: took over the zone lock from pid ${stolenFrom}, which is gone`);
      // Someone replaced the file while we waited: start over on the new one.
      if (fileIdentity(path) !== mapped.identity) {
        lock.release();
        lock = undefined;
        releaseMapping(view.buffer);
        return RETRY;
      }
      if (view.isBlank()) {
        view.initialize(size);
        outcome = 'created';
      } else {
        reason = view.validate(size);
        // Slots sit at the same offset in every zone of this format, whatever its size, so
        // a live instance is seen even through a size mismatch or a damaged table.
        if (view.headerIntact()) refuseFreshIfInUse(view);
        if (reason === undefined) {
          reclaimSlots(view, staleHeartbeatMs);
          if (options.mode === 'fresh') {
            view.initialize(size);
            outcome = 'cleared';
          }
        }
      }
    } else {
      reason = view.validate(size);
    }
    if (reason !== undefined) {
      lock?.release();
      lock = undefined;
      releaseMapping(mapped.view.buffer);
      mapped = replaceZoneFile(path, size);
      lock = new ZoneLock(mapped.view.i32, LOCK_WORD_INDEX);
      outcome = 'recreated';
      logger.warn(`${describe} was recreated empty: ${reason}`);
    }
    slot = claimSlot(mapped.view, staleHeartbeatMs, describe);
  } catch (err) {
    lock?.release();
    lock = undefined;
    releaseMapping(mapped.view.buffer);
    throw err;
  } finally {
    lock?.release();
  }
  if (slot < 0 || fileIdentity(path) !== mapped.identity) {
    if (slot >= 0) releaseSlot(mapped.view, slot);
    releaseMapping(mapped.view.buffer);
    return RETRY;
  }
  return new ShmZone({ path, sizeBytes: size, mapped, slot, outcome, recreateReason: reason, options, logger });
}

/** The state of the process in `slot` whose pid word is `pid` (> 0). */
function slotOwnerState(view: ZoneView, slot: number, pid: number, staleHeartbeatMs: number): PidState {
  const recordedStart = view.f64[view.slotStartTicksIndex(slot)]!;
  if (pid === process.pid) {
    // Our own pid: a slot of this process (another thread) or of an earlier process that had our pid.
    return recordedStart === OWN_START_TICKS ? 'running' : 'reused';
  }
  if (!pidExists(pid)) return 'gone';
  const heartbeatAgeMs = Date.now() - Atomics.load(view.u32, view.slotHeartbeatIndex(slot)) * 1000;
  // A fresh heartbeat proves life; only a silent slot is worth reading /proc for.
  if (heartbeatAgeMs <= staleHeartbeatMs) return 'running';
  return pidState(pid, recordedStart);
}

function reclaimSlots(view: ZoneView, staleHeartbeatMs: number): number[] {
  const reclaimed: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const index = view.slotPidIndex(slot);
    const word = Atomics.load(view.i32, index);
    if (word === 0) continue;
    const pid = Math.abs(word);
    // A negative word is a claim, release or reclaim in progress by that pid: leave it to a live one.
    const state = word > 0 ? slotOwnerState(view, slot, pid, staleHeartbeatMs) : pidExists(pid) ? 'running' : 'gone';
    if (state === 'running') continue;
    if (Atomics.compareExchange(view.i32, index, word, -process.pid) !== word) continue;
    view.clearShares(slot);
    Atomics.store(view.u32, view.slotHeartbeatIndex(slot), 0);
    Atomics.store(view.i32, index, 0);
    reclaimed.push(pid);
  }
  return reclaimed;
}

function attachedPids(view: ZoneView): number[] {
  const pids: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const word = Atomics.load(view.i32, view.slotPidIndex(slot));
    if (word !== 0) pids.push(Math.abs(word));
  }
  return pids;
}

/** The pids of other live processes holding a slot. Reads only the slot page, so it works before validation. */
function liveOtherPids(view: ZoneView, staleHeartbeatMs: number): number[] {
  const pids: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const word = Atomics.load(view.i32, view.slotPidIndex(slot));
    const pid = Math.abs(word);
    if (word === 0 || pid === process.pid) continue;
    const state = word > 0 ? slotOwnerState(view, slot, pid, staleHeartbeatMs) : pidExists(pid) ? 'running' : 'gone';
    if (state === 'running') pids.push(pid);
  }
  return pids;
}

/** Claims a free slot (reclaiming dead ones once if none is free); throws MOSN_ERR_SHM_NO_SLOT. */
function claimSlot(view: ZoneView, staleHeartbeatMs: number, describe: string): number {
  const pid = process.pid;
  for (let round = 0; round < 2; round++) {
    for (let slot = 0; slot < view.geometry.slotCount; slot++) {
      const index = view.slotPidIndex(slot);
      // Claimed as "in transition" first: a reclaimer must not judge us by the previous owner's heartbeat.
      if (Atomics.compareExchange(view.i32, index, 0, -pid) !== 0) continue;
      view.clearShares(slot);
      view.f64[view.slotStartTicksIndex(slot)] = OWN_START_TICKS;
      Atomics.store(view.u32, view.slotHeartbeatIndex(slot), nowSeconds());
      Atomics.store(view.u32, view.slotAttachedAtIndex(slot), nowSeconds());
      Atomics.store(view.i32, index, pid);
      return slot;
    }
    reclaimSlots(view, staleHeartbeatMs);
  }
  const pids = attachedPids(view);
  throw new ShmZoneError('MOSN_ERR_SHM_NO_SLOT', `${describe}: all ${view.geometry.slotCount} process slots are held by live processes`, { pids });
}

function releaseSlot(view: ZoneView, slot: number): void {
  const index = view.slotPidIndex(slot);
  if (Atomics.compareExchange(view.i32, index, process.pid, -process.pid) !== process.pid) return;
  view.clearShares(slot);
  Atomics.store(view.i32, index, 0);
}

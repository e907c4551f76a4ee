/**
 * @module buffer/object-pool
 * Per-request object pools, MOSN's pkg/buffer idea: a request takes its per-request
 * objects from registered pools through one lease, and the lease gives them all back
 * when the stream ends. An object handed to something that outlives the request is
 * transmitted: moved to that owner's lease, or let go to the garbage collector, so the
 * end of the request skips it (MOSN's TransmitBufferPoolContext).
 *
 * A pool is worth its code only where a benchmark shows it (bench/object-pools.ts):
 * V8's young generation makes short-lived objects cheap, and a take and give-back cost
 * about what the allocation saved would have cost the garbage collector.
 * `MOSNODE_OBJECT_POOLS=0` turns every pool into plain allocation
 * (`MOSNODE_OBJECT_POOLS=a,b` keeps only the pools named), which is how the benchmark
 * compares. No pool is registered today: the request record, the upstream request head
 * and the HTTP/1 request header array were pooled and measured (about 2% fewer bytes
 * allocated per proxied request, no gain in CPU, GC time or p99 beyond the noise), and
 * taken out again.
 *
 * A wrong give-back is a use-after-free in disguise: the next request would share the
 * object with the one still holding it. So every object carries its pool and a
 * generation, bumped at each take; a give-back of an object not in use, or with a
 * generation that is not the current one (a stale reference, given back after the object
 * went to another request), is refused. Strict registries (tests, or
 * MOSNODE_OBJECT_POOLS_STRICT=1) throw; others count it and report it once per pool.
 */

/** Where a pooled object keeps its bookkeeping: set once, when the pool creates it. */
const SLOT = Symbol('mosnode.objectPool.slot');

const IDLE = 0;
const IN_USE = 1;
/** Transmitted without a new owner, or dropped over the cap: the pool forgot it. */
const GONE = 2;

interface Slot {
  readonly pool: ObjectPool<object>;
  /** Bumped at each take: a give-back names the generation it took. */
  gen: number;
  state: typeof IDLE | typeof IN_USE | typeof GONE;
}

function slotOf(obj: object): Slot | undefined {
  return (obj as { [SLOT]?: Slot })[SLOT];
}

export interface PoolCounters {
  readonly name: string;
  readonly cap: number;
  readonly enabled: boolean;
  /** Objects made by `create` (every take, when the pool is disabled). */
  readonly created: number;
  /** Takes served by an idle object. */
  readonly reused: number;
  readonly inUse: number;
  readonly idle: number;
  readonly givenBack: number;
  /** Let go to the garbage collector by transmit() without a new owner. */
  readonly transmitted: number;
  /** Given back while `cap` objects were idle already: left to the garbage collector. */
  readonly dropped: number;
  /** Refused give-backs: twice, stale (after reuse), foreign, or after a transmit. */
  readonly doubleGives: number;
}

export type PoolProblemReporter = (message: string, counters: PoolCounters) => void;

export class ObjectPool<T extends object> {
  readonly name: string;
  readonly cap: number;
  readonly enabled: boolean;
  readonly #create: () => T;
  readonly #reset: (obj: T) => void;
  readonly #registry: PoolRegistry;
  readonly #idle: T[] = [];
  #created = 0;
  #reused = 0;
  #inUse = 0;
  #givenBack = 0;
  #transmitted = 0;
  #dropped = 0;
  #doubleGives = 0;

  constructor(registry: PoolRegistry, name: string, create: () => T, reset: (obj: T) => void, cap: number, enabled: boolean) {
    this.#registry = registry;
    this.name = name;
    this.#create = create;
    this.#reset = reset;
    this.cap = cap;
    this.enabled = enabled;
  }

  /** An object for the caller alone until it gives it back with `give(obj, generationOf(obj))`. */
  take(): T {
    if (!this.enabled) {
      this.#created++;
      return this.#create();
    }
    let obj = this.#idle.pop();
    let slot: Slot;
    if (obj === undefined) {
      obj = this.#create();
      slot = { pool: this as unknown as ObjectPool<object>, gen: 0, state: IN_USE };
      // Not enumerable: a spread or Object.assign copy must not pass for the pooled object.
      Object.defineProperty(obj, SLOT, { value: slot });
      this.#created++;
    } else {
      slot = slotOf(obj)!;
      this.#reused++;
    }
    slot.gen++;
    slot.state = IN_USE;
    this.#inUse++;
    return obj;
  }

  /** The generation the current holder of `obj` took; -1 for an object no pool of this registry made. */
  generationOf(obj: T): number {
    return slotOf(obj)?.gen ?? -1;
  }

  /**
   * Gives `obj` back, `generation` being what generationOf said at take time. Reset now,
   * so an idle object keeps nothing of its last request alive.
   */
  give(obj: T, generation: number): void {
    if (!this.enabled) return;
    const slot = slotOf(obj);
    const problem =
      slot === undefined || slot.pool !== (this as unknown as ObjectPool<object>)
        ? 'an object it did not make was given back'
        : slot.state === GONE
          ? 'an object was given back after it was transmitted or dropped'
          : slot.state !== IN_USE
            ? 'an object was given back twice'
            : slot.gen !== generation
              ? 'a stale reference was given back (the object had gone to another request)'
              : undefined;
    if (problem !== undefined) {
      this.#doubleGives++;
      this.#registry.report(this, problem);
      return;
    }
    this.#inUse--;
    this.#givenBack++;
    this.#reset(obj);
    if (this.#idle.length < this.cap) {
      slot!.state = IDLE;
      this.#idle.push(obj);
    } else {
      slot!.state = GONE;
      this.#dropped++;
    }
  }

  /** The pool stops tracking `obj`, taken at `generation`: it belongs to whoever holds it now. */
  forget(obj: T, generation: number): void {
    if (!this.enabled) return;
    const slot = slotOf(obj);
    if (slot === undefined || slot.pool !== (this as unknown as ObjectPool<object>) || slot.state !== IN_USE || slot.gen !== generation) {
      this.#doubleGives++;
      this.#registry.report(this, 'an object not in use (or a stale reference) was transmitted');
      return;
    }
    slot.state = GONE;
    this.#inUse--;
    this.#transmitted++;
  }

  counters(): PoolCounters {
    return {
      name: this.name,
      cap: this.cap,
      enabled: this.enabled,
      created: this.#created,
      reused: this.#reused,
      inUse: this.#inUse,
      idle: this.#idle.length,
      givenBack: this.#givenBack,
      transmitted: this.#transmitted,
      dropped: this.#dropped,
      doubleGives: this.#doubleGives,
    };
  }
}

/**
 * What one request took. `release()` gives everything back (the stream's end); give()
 * gives one object back earlier; transmit() exempts one that must outlive the request.
 * After release the lease goes back to its registry for another request: drop the
 * reference.
 */
export class RequestLease {
  readonly #registry: PoolRegistry;
  /** Parallel arrays, never shrunk: a length change would reallocate their backing store. */
  readonly #objects: Array<object | undefined> = [];
  readonly #gens: number[] = [];
  #count = 0;
  #open = false;

  constructor(registry: PoolRegistry) {
    this.#registry = registry;
  }

  /** @internal the registry hands the lease out. */
  open(): this {
    this.#open = true;
    return this;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Objects held now. */
  get size(): number {
    return this.#count;
  }

  take<T extends object>(pool: ObjectPool<T>): T {
    const obj = pool.take();
    if (!pool.enabled) return obj;
    if (!this.#open) {
      // Nobody would give it back: let it go rather than leak it as "in use".
      pool.forget(obj, pool.generationOf(obj));
      this.#registry.report(pool, 'an object was taken through a released lease');
      return obj;
    }
    this.#add(obj, pool.generationOf(obj));
    return obj;
  }

  /** Gives one object back before the end of the request. */
  give(obj: object): void {
    const i = this.#indexOf(obj);
    const slot = slotOf(obj);
    if (i < 0) {
      // Not held here: given back already, transmitted, or never taken through this lease.
      if (slot !== undefined && slot.pool.enabled) slot.pool.give(obj, -1);
      return;
    }
    const gen = this.#gens[i]!;
    this.#remove(i);
    slot!.pool.give(obj, gen);
  }

  /**
   * `obj` must outlive the request: the release skips it. With `to`, the other lease
   * gives it back when it is released (MOSN's transmit); without, nobody does and the
   * pool forgets it. Returns false (and reports) when this lease does not hold `obj`.
   */
  transmit(obj: object, to?: RequestLease): boolean {
    const i = this.#indexOf(obj);
    const slot = slotOf(obj);
    if (i < 0) {
      // Let go already (transmitted before, or dropped): nothing to do. Idle or held by
      // another request: this is a stale reference.
      if (slot !== undefined && slot.state !== GONE) this.#registry.report(slot.pool, 'an object this request does not hold was transmitted');
      return false;
    }
    const gen = this.#gens[i]!;
    this.#remove(i);
    if (to !== undefined && to.#open) to.#add(obj, gen);
    else slot!.pool.forget(obj, gen);
    return true;
  }

  /** Gives back everything still held and returns the lease to its registry. */
  release(): void {
    if (!this.#open) {
      if (this.#registry.poolsEnabled) this.#registry.reportLease('a lease was released twice');
      return;
    }
    this.#open = false;
    const objects = this.#objects;
    const gens = this.#gens;
    for (let i = 0; i < this.#count; i++) {
      const obj = objects[i]!;
      objects[i] = undefined;
      slotOf(obj)!.pool.give(obj, gens[i]!);
    }
    this.#count = 0;
    this.#registry.returnLease(this);
  }

  #add(obj: object, gen: number): void {
    const n = this.#count++;
    if (n < this.#objects.length) {
      this.#objects[n] = obj;
      this.#gens[n] = gen;
    } else {
      this.#objects.push(obj);
      this.#gens.push(gen);
    }
  }

  #indexOf(obj: object): number {
    const objects = this.#objects;
    for (let i = 0; i < this.#count; i++) if (objects[i] === obj) return i;
    return -1;
  }

  /** Removes entry `i`, moving the last one into its place (order does not matter). */
  #remove(i: number): void {
    const last = --this.#count;
    this.#objects[i] = this.#objects[last];
    this.#gens[i] = this.#gens[last]!;
    this.#objects[last] = undefined;
  }
}

/** A lease that holds nothing: what a registry with every pool disabled hands out. */
class InertLease extends RequestLease {
  override take<T extends object>(pool: ObjectPool<T>): T {
    return pool.take();
  }
  override give(): void {}
  override transmit(): boolean {
    return true;
  }
  override release(): void {}
}

export interface PoolRegistryOptions {
  /** true = every pool; false = none (plain allocation); a set = the pools named. */
  enabled?: boolean | ReadonlySet<string>;
  /** Refused give-backs throw instead of being counted and reported. */
  strict?: boolean;
  /** Idle leases kept for the next requests. Default 1024. */
  leaseCap?: number;
}

export class PoolRegistry {
  readonly strict: boolean;
  readonly #enabled: boolean | ReadonlySet<string>;
  readonly #pools = new Map<string, ObjectPool<object>>();
  readonly #leases: RequestLease[] = [];
  readonly #leaseCap: number;
  readonly #inert: RequestLease;
  readonly #reported = new Set<string>();
  #reporter: PoolProblemReporter = (message) => process.emitWarning(message, { code: 'MOSNODE_OBJECT_POOL' });
  #anyEnabled = false;
  #leasesCreated = 0;
  #leaseProblems = 0;

  constructor(options: PoolRegistryOptions = {}) {
    this.#enabled = options.enabled ?? true;
    this.strict = options.strict ?? false;
    this.#leaseCap = options.leaseCap ?? 1024;
    this.#inert = new InertLease(this);
  }

  /**
   * A new pool. `create` makes an object ready to use, `reset` makes a given-back one
   * like new (and drops its references), `cap` bounds the idle objects kept.
   */
  register<T extends object>(name: string, create: () => T, reset: (obj: T) => void, cap: number): ObjectPool<T> {
    if (this.#pools.has(name)) throw new Error(`object pool "${name}" is registered already`);
    if (!Number.isInteger(cap) || cap < 0) throw new Error(`object pool "${name}": cap must be an integer >= 0`);
    const enabled = this.#enabled === true || (this.#enabled !== false && this.#enabled.has(name));
    const pool = new ObjectPool<T>(this, name, create, reset, cap, enabled);
    this.#pools.set(name, pool as unknown as ObjectPool<object>);
    if (enabled) this.#anyEnabled = true;
    return pool;
  }

  get(name: string): ObjectPool<object> | undefined {
    return this.#pools.get(name);
  }

  /** True when at least one registered pool pools. */
  get poolsEnabled(): boolean {
    return this.#anyEnabled;
  }

  /** A lease for one request; release() it when the request ends. */
  lease(): RequestLease {
    if (!this.#anyEnabled) return this.#inert;
    const lease = this.#leases.pop();
    if (lease !== undefined) return lease.open();
    this.#leasesCreated++;
    return new RequestLease(this).open();
  }

  /** @internal a released lease comes back. */
  returnLease(lease: RequestLease): void {
    if (this.#leases.length < this.#leaseCap) this.#leases.push(lease);
  }

  /** Called instead of the default warning when a pool refuses a give-back (once per pool). */
  onProblem(reporter: PoolProblemReporter): void {
    this.#reporter = reporter;
  }

  /** @internal a refused give-back: throws when strict, else reported once per pool. */
  report(pool: { readonly name: string; counters(): PoolCounters }, problem: string): void {
    const message = `object pool "${pool.name}": ${problem}`;
    if (this.strict) throw new Error(message);
    if (this.#reported.has(pool.name)) return;
    this.#reported.add(pool.name);
    this.#reporter(`${message} (counted in doubleGives; reported once)`, pool.counters());
  }

  /** @internal a misused lease. */
  reportLease(problem: string): void {
    this.#leaseProblems++;
    if (this.strict) throw new Error(`object pool lease: ${problem}`);
    if (this.#reported.has('')) return;
    this.#reported.add('');
    this.#reporter(`object pool lease: ${problem} (reported once)`, { name: '', cap: this.#leaseCap, enabled: true, created: this.#leasesCreated, reused: 0, inUse: 0, idle: this.#leases.length, givenBack: 0, transmitted: 0, dropped: 0, doubleGives: this.#leaseProblems });
  }

  /** Every pool's counters, in registration order. */
  stats(): PoolCounters[] {
    return [...this.#pools.values()].map((pool) => pool.counters());
  }
}

/** `MOSNODE_OBJECT_POOLS`: unset, "1" or "on" = all; "0", "off" or "" = none; else pool names, comma-separated. */
export function poolsEnabledFromEnv(value: string | undefined): boolean | ReadonlySet<string> {
  if (value === undefined || value === '1' || value === 'on') return true;
  if (value === '0' || value === 'off' || value === '') return false;
  return new Set(value.split(',').map((name) => name.trim()).filter((name) => name !== ''));
}

/**
 * The process's pools. Strict under `node --test` (NODE_TEST_CONTEXT) and with
 * MOSNODE_OBJECT_POOLS_STRICT=1, so a wrong give-back fails a test instead of a request.
 */
export const objectPools = new PoolRegistry({
  enabled: poolsEnabledFromEnv(process.env.MOSNODE_OBJECT_POOLS),
  strict: process.env.MOSNODE_OBJECT_POOLS_STRICT === '1' || process.env.NODE_TEST_CONTEXT !== undefined,
});

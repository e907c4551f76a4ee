/**
 * @module metrics/metrics-registry
 * The process-local registry of counters and gauges, keyed the way MOSN keys them: a
 * metric group is a type plus sorted labels (`downstream` + `{listener: "x"}` is the group
 * `downstream.listener.x`), and a metric is a key inside a group (`request_total`), so the
 * cell's full name is `downstream.listener.x.request_total`. `snapshot()` renders MOSN's
 * `/api/v1/stats` JSON shape. Where the numbers live is behind `MetricStorage`: the default
 * keeps them in this process; a shared-memory storage (shm/) will implement the same two
 * calls over named cells, and nothing that holds a Counter or Gauge has to change.
 * Hot path: callers create their counters once (see metric-bundles.ts) and keep the
 * objects; an increment is a property add, never a lookup by name.
 * Depends on nothing else in mosnode.
 */

import { Histogram, LATENCY_BOUNDS_MS, estimatePercentile } from './histogram.ts';

/** A monotonic count (requests, bytes, connections opened). */
export interface Counter {
  readonly value: number;
  /** Adds `n` (default 1). Called per request or per chunk: it must stay a plain add. */
  inc(n?: number): void;
}

/** A value that goes up and down (active connections, active requests). */
export interface Gauge {
  readonly value: number;
  /** Adds `n` (default 1). */
  inc(n?: number): void;
  /** Subtracts `n` (default 1). */
  dec(n?: number): void;
  /** Sets the value. */
  update(value: number): void;
}

export type MetricKind = 'counter' | 'gauge';

/**
 * Where metric values live. Called once per cell (the registry remembers what it got), with
 * the cell's full MOSN name, e.g. `upstream.cluster.c1.host.10.0.0.1:80.request_total`.
 */
export interface MetricStorage {
  counter(cellName: string): Counter;
  gauge(cellName: string): Gauge;
}

/** MOSN's `metrics.stats_matcher`: excluded metrics still count but are never exported. */
export interface StatsMatcher {
  /** Excludes every metric. */
  reject_all?: boolean;
  /** A group with any of these label names is excluded. */
  exclusion_labels?: readonly string[];
  /** Metrics with any of these keys are excluded, in every group. */
  exclusion_keys?: readonly string[];
}

export interface MetricsRegistryOptions {
  /** Default: values in this process (`processLocalStorage`). */
  storage?: MetricStorage;
  /** Default: nothing excluded. */
  statsMatcher?: StatsMatcher;
}

export type MetricLabels = Readonly<Record<string, string>>;

/** One group's metrics, created through `MetricsRegistry.group()`. */
export interface MetricGroup {
  /** MOSN metric type: "downstream", "upstream", ... */
  readonly type: string;
  readonly labels: MetricLabels;
  /** Sorted `label.value` pairs joined by ".": `cluster.c1.host.10.0.0.1:80`. The key under the type in /api/v1/stats. */
  readonly namespace: string;
  /** `type.namespace`: what `/api/v1/stats?key=` matches and what prefixes every cell name. */
  readonly name: string;
  /** The counter under `key`, created at its first call; later calls return the same object. */
  counter(key: string): Counter;
  /** The gauge under `key`, created at its first call; later calls return the same object. */
  gauge(key: string): Gauge;
  /** The exported metrics of this group, in creation order. */
  metrics(): IterableIterator<[key: string, kind: MetricKind, value: number]>;
  /**
   * The histogram under `key` (values in ms; default bounds LATENCY_BOUNDS_MS), created at
   * its first call from counter cells `<key>.bucket_<i>`, `<key>.count`, `<key>.sum_us`.
   */
  histogram(key: string, bounds?: readonly number[]): Histogram;
  /** The exported histograms of this group, in creation order. */
  histograms(): IterableIterator<[key: string, histogram: Histogram]>;
}

/** `{type: {namespace: {key: "value"}}}`: MOSN's /api/v1/stats body, keys sorted at every level. */
export type StatsSnapshot = Record<string, Record<string, Record<string, string>>>;

class LocalCounter implements Counter {
  #value = 0;
  get value(): number {
    return this.#value;
  }
  inc(n = 1): void {
    this.#value += n;
  }
}

class LocalGauge implements Gauge {
  #value = 0;
  get value(): number {
    return this.#value;
  }
  inc(n = 1): void {
    this.#value += n;
  }
  dec(n = 1): void {
    this.#value -= n;
  }
  update(value: number): void {
    this.#value = value;
  }
}

/** Keeps every value in this process's heap. */
export const processLocalStorage: MetricStorage = {
  counter: () => new LocalCounter(),
  gauge: () => new LocalGauge(),
};

/** The sorted `label.value` pairs of a group, joined by "." (MOSN's namespace). */
export function metricNamespace(labels: MetricLabels): string {
  return Object.keys(labels)
    .sort()
    .map((label) => `${label}.${labels[label]}`)
    .join('.');
}

/**
 * MOSN's group name: `type + "." + namespace`. A group without labels is `type.` with the
 * trailing dot, exactly as MOSN names it, so `?key=` written for MOSN still matches.
 */
export function metricGroupName(type: string, labels: MetricLabels = {}): string {
  return `${type}.${metricNamespace(labels)}`;
}

interface Entry {
  readonly kind: MetricKind;
  readonly metric: Counter | Gauge;
}

class RegisteredGroup implements MetricGroup {
  readonly type: string;
  readonly labels: MetricLabels;
  readonly namespace: string;
  readonly name: string;
  readonly #storage: MetricStorage;
  readonly #excludedKeys: ReadonlySet<string>;
  /** False for a group the stats matcher excluded: its metrics work but are not kept. */
  readonly #exported: boolean;
  readonly #entries = new Map<string, Entry>();
  readonly #unexported = new Map<string, Entry>();
  readonly #histograms = new Map<string, Histogram>();

  constructor(type: string, labels: MetricLabels, storage: MetricStorage, excludedKeys: ReadonlySet<string>, exported: boolean) {
    this.type = type;
    this.labels = Object.freeze({ ...labels });
    this.namespace = metricNamespace(this.labels);
    this.name = `${type}.${this.namespace}`;
    this.#storage = storage;
    this.#excludedKeys = excludedKeys;
    this.#exported = exported;
  }

  counter(key: string): Counter {
    return this.#get(key, 'counter') as Counter;
  }

  gauge(key: string): Gauge {
    return this.#get(key, 'gauge') as Gauge;
  }

  *metrics(): IterableIterator<[key: string, kind: MetricKind, value: number]> {
    for (const [key, entry] of this.#entries) yield [key, entry.kind, entry.metric.value];
  }

  histogram(key: string, bounds: readonly number[] = LATENCY_BOUNDS_MS): Histogram {
    let histogram = this.#histograms.get(key);
    if (histogram === undefined) {
      const exported = this.#exported && !this.#excludedKeys.has(key);
      const storage = exported ? this.#storage : processLocalStorage;
      histogram = new Histogram(bounds, (suffix) => storage.counter(`${this.name}.${key}.${suffix}`));
      if (exported) this.#histograms.set(key, histogram);
    }
    return histogram;
  }

  histograms(): IterableIterator<[key: string, histogram: Histogram]> {
    return this.#histograms.entries();
  }

  #get(key: string, kind: MetricKind): Counter | Gauge {
    const exported = this.#exported && !this.#excludedKeys.has(key);
    const entries = exported ? this.#entries : this.#unexported;
    let entry = entries.get(key);
    if (entry === undefined) {
      // Excluded metrics stay out of the storage too: no shared-memory cell is spent on them.
      const storage = exported ? this.#storage : processLocalStorage;
      const cellName = `${this.name}.${key}`;
      entry = { kind, metric: kind === 'counter' ? storage.counter(cellName) : storage.gauge(cellName) };
      entries.set(key, entry);
    } else if (entry.kind !== kind) {
      // A programming error (two callers disagree on a name), not a runtime condition.
      throw new TypeError(`metric ${this.name}.${key} is a ${entry.kind}, not a ${kind}`);
    }
    return entry.metric;
  }
}

/** The registry of one process (or, with a shared storage, one instance). */
export class MetricsRegistry {
  readonly #storage: MetricStorage;
  readonly #matcher: StatsMatcher;
  readonly #excludedKeys: ReadonlySet<string>;
  readonly #groups = new Map<string, RegisteredGroup>();
  readonly #unexportedGroups = new Map<string, RegisteredGroup>();

  constructor(options: MetricsRegistryOptions = {}) {
    this.#storage = options.storage ?? processLocalStorage;
    this.#matcher = options.statsMatcher ?? {};
    this.#excludedKeys = new Set(this.#matcher.reject_all === true ? [] : (this.#matcher.exclusion_keys ?? []));
  }

  /**
   * The group of `type` + `labels`; the same pair always returns the same group. Called when
   * a listener, cluster or host is created, not per request.
   */
  group(type: string, labels: MetricLabels = {}): MetricGroup {
    const name = metricGroupName(type, labels);
    const excluded = this.#isExcludedGroup(labels);
    const groups = excluded ? this.#unexportedGroups : this.#groups;
    let group = groups.get(name);
    if (group === undefined) {
      group = new RegisteredGroup(type, labels, this.#storage, this.#excludedKeys, !excluded);
      groups.set(name, group);
    }
    return group;
  }

  /** The exported group named `name` (`downstream.listener.x`), or undefined. */
  find(name: string): MetricGroup | undefined {
    return this.#groups.get(name);
  }

  /** Every exported group, in creation order. */
  groups(): IterableIterator<MetricGroup> {
    return this.#groups.values();
  }

  /** Every exported metric, in MOSN's /api/v1/stats shape. */
  snapshot(): StatsSnapshot {
    return renderSnapshot(this.#groups.values());
  }

  /** One group in MOSN's /api/v1/stats shape (`?key=`), or undefined when no group has that name. */
  snapshotGroup(name: string): StatsSnapshot | undefined {
    const group = this.#groups.get(name);
    return group === undefined ? undefined : renderSnapshot([group]);
  }

  #isExcludedGroup(labels: MetricLabels): boolean {
    if (this.#matcher.reject_all === true) return true;
    return (this.#matcher.exclusion_labels ?? []).some((label) => Object.hasOwn(labels, label));
  }
}

function renderSnapshot(groups: Iterable<MetricGroup>): StatsSnapshot {
  const byType = new Map<string, Map<string, Map<string, string>>>();
  for (const group of groups) {
    let namespaces = byType.get(group.type);
    if (namespaces === undefined) byType.set(group.type, (namespaces = new Map()));
    let values = namespaces.get(group.namespace);
    if (values === undefined) namespaces.set(group.namespace, (values = new Map()));
    for (const [key, , value] of group.metrics()) values.set(key, String(value));
    for (const [key, histogram] of group.histograms()) {
      // MOSN shows a histogram as derived values; these are the count, the sum and percentiles.
      const snap = histogram.snapshot();
      values.set(`${key}_count`, String(snap.count));
      values.set(`${key}_sum_ms`, String(snap.sumMs));
      for (const p of [50, 90, 99]) {
        const estimate = estimatePercentile(snap, p);
        values.set(`${key}_P${p}_ms`, Number.isNaN(estimate) ? '0' : estimate.toFixed(3));
      }
    }
  }
  // Sorted like Go's encoding/json sorts map keys, so the body is stable and diffable.
  const snapshot: StatsSnapshot = {};
  for (const type of [...byType.keys()].sort()) {
    const namespaces = byType.get(type)!;
    const rendered: Record<string, Record<string, string>> = {};
    for (const namespace of [...namespaces.keys()].sort()) {
      const values = namespaces.get(namespace)!;
      const keys: Record<string, string> = {};
      for (const key of [...values.keys()].sort()) keys[key] = values.get(key)!;
      rendered[namespace] = keys;
    }
    snapshot[type] = rendered;
  }
  return snapshot;
}

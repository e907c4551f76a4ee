/**
 * Micro-benchmark: nanoseconds per counter increment for a plain JS number field, the
 * process-local registry counter (metrics/metrics-registry), and the shared-memory
 * counter (shm/, an Atomics.add on a BigInt64Array over the mmap'd zone): `inc()`, and
 * `inc(n)` with n above the cached deltas (1024+, one BigInt per call), plus a gauge
 * inc/dec pair and 4 processes incrementing one shm counter at once (cache-line
 * contention), prom-client's counter and histogram for comparison (a devDependency, only
 * for this), and "a request's worth": the metric updates the HTTP proxy makes per request
 * (listener and proxy bundles: total, active up and down, status, request_time histogram,
 * bytes), process-local and in shm. Run: `node bench/shm-counter.ts`. Each case runs in a
 * process of its own and is the best of several rounds after a warm-up. Not a test:
 * nothing here asserts a time.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry } from '../src/metrics/metrics-registry.ts';
import { ShmZone } from '../src/shm/shm-zone.ts';
import { shmStorage } from '../src/metrics/shm-storage.ts';
import { downstreamListenerMetrics, downstreamProxyMetrics } from '../src/metrics/metric-bundles.ts';
import { requestMetricUpdates } from './lib/request-metrics.ts';
import promClient from 'prom-client';

const OPS_PER_ROUND = 10_000_000;
const ROUNDS = 5;
const ZONE_BYTES = 1 << 20;

const CASES = {
  'plain number field += 1': () => {
    const holder = { value: 0 };
    return { run: () => { holder.value += 1; }, read: () => holder.value };
  },
  'registry counter inc() (process-local)': () => {
    const counter = new MetricsRegistry().group('downstream', { listener: 'x' }).counter('request_total');
    return { run: () => counter.inc(), read: () => counter.value };
  },
  'shm counter inc()': (zonePath: string) => {
    const counter = ShmZone.open(zonePath, ZONE_BYTES, { mode: 'attach' }).counter('downstream.listener.x.request_total');
    return { run: () => counter.inc(), read: () => counter.value };
  },
  'shm counter inc(1500) (uncached delta)': (zonePath: string) => {
    const counter = ShmZone.open(zonePath, ZONE_BYTES, { mode: 'attach' }).counter('downstream.listener.x.bytes_read_total');
    return { run: () => counter.inc(1500), read: () => counter.value };
  },
  'shm gauge inc() + dec()': (zonePath: string) => {
    const gauge = ShmZone.open(zonePath, ZONE_BYTES, { mode: 'attach' }).gauge('downstream.listener.x.request_active');
    return { run: () => { gauge.inc(); gauge.dec(); }, read: () => gauge.share };
  },
  'prom-client Counter.inc()': () => {
    const counter = new promClient.Counter({ name: 'c', help: 'c', registers: [] });
    return { run: () => counter.inc(), read: () => 0 };
  },
  'prom-client Counter.inc() with a label': () => {
    const counter = new promClient.Counter({ name: 'c', help: 'c', labelNames: ['listener'], registers: [] });
    const child = counter.labels('x');
    return { run: () => child.inc(), read: () => 0 };
  },
  'prom-client Histogram.observe()': () => {
    const histogram = new promClient.Histogram({ name: 'h', help: 'h', buckets: [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers: [] });
    return { run: () => histogram.observe(0.8), read: () => 0 };
  },
  'mosnode histogram observe() (shm)': (zonePath: string) => {
    const registry = new MetricsRegistry({ storage: shmStorage(ShmZone.open(zonePath, ZONE_BYTES, { mode: 'attach' })) });
    const h = registry.group('downstream', { listener: 'x' }).histogram('request_time');
    return { run: () => h.observe(0.8), read: () => h.snapshot().count };
  },
  "a request's metric updates, process-local": () => {
    const registry = new MetricsRegistry();
    const bundles = [downstreamListenerMetrics(registry, 'request-bench'), downstreamProxyMetrics(registry, 'request-bench')];
    return { run: requestMetricUpdates(bundles), read: () => bundles[0]!.requestTotal.value };
  },
  "a request's metric updates, shm": (zonePath: string) => {
    const registry = new MetricsRegistry({ storage: shmStorage(ShmZone.open(zonePath, ZONE_BYTES, { mode: 'attach' })) });
    const bundles = [downstreamListenerMetrics(registry, 'request-bench'), downstreamProxyMetrics(registry, 'request-bench')];
    return { run: requestMetricUpdates(bundles), read: () => bundles[0]!.requestTotal.value };
  },
} as const;

type CaseName = keyof typeof CASES;

let sink = 0;

function nsPerOp(name: CaseName, zonePath: string): number {
  const { run, read } = CASES[name](zonePath);
  for (let i = 0; i < OPS_PER_ROUND / 4; i++) run();
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < OPS_PER_ROUND; i++) run();
    best = Math.min(best, Number(process.hrtime.bigint() - started) / OPS_PER_ROUND);
  }
  sink += read();
  return best;
}

/** Runs one case in a fresh process (so one case's JIT feedback does not slow another's) and returns its ns per op. */
function measureInChild(name: CaseName, zonePath: string): number {
  return Number(execFileSync(process.execPath, [import.meta.filename, name, zonePath], { encoding: 'utf8' }).trim());
}

function measureInChildAsync(name: CaseName, zonePath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [import.meta.filename, name, zonePath], (err, stdout) => (err ? reject(err) : resolve(Number(stdout.trim()))));
  });
}

const [childCase, childZone] = process.argv.slice(2);
if (childCase !== undefined && childZone !== undefined) {
  process.stdout.write(`${nsPerOp(childCase as CaseName, childZone)}\n`);
  if (sink === -1) console.log(sink);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'mosnode-bench-shm-'));
const zonePath = join(dir, 'mosn_shm_bench');
const owner = ShmZone.open(zonePath, ZONE_BYTES, { mode: 'fresh' });
try {
  console.log(`node ${process.version}, best of ${ROUNDS} rounds x ${OPS_PER_ROUND.toLocaleString('en')} ops, one process per case`);
  for (const name of Object.keys(CASES) as CaseName[]) {
    console.log(`${name.padEnd(42)} ${measureInChild(name, zonePath).toFixed(2).padStart(7)} ns/op`);
  }
  // Contention: 4 processes on one counter's cache line at the same time.
  const parallel = await Promise.all(Array.from({ length: 4 }, () => measureInChildAsync('shm counter inc()', zonePath)));
  console.log(`${'shm counter inc(), 4 processes at once'.padEnd(42)} ${(Math.max(...parallel)).toFixed(2).padStart(7)} ns/op (slowest process)`);
  // Every run's increments, none lost: 5 processes x (warm-up + rounds).
  const expected = 5 * (OPS_PER_ROUND / 4 + ROUNDS * OPS_PER_ROUND);
  console.log(`shm counter total: ${owner.counter('downstream.listener.x.request_total').value.toLocaleString('en')} (expected ${expected.toLocaleString('en')})`);
} finally {
  owner.close();
  rmSync(dir, { recursive: true, force: true });
}

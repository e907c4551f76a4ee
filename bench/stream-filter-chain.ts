/**
 * Micro-benchmark of the stream filter runner alone (no sockets): nanoseconds to build one
 * request's chain and run its receive filters, with 0, 1 and 10 empty filters answering
 * synchronously or with a promise. The end-to-end cost is bench/stream-filter-cost.ts;
 * this one is precise where that one is within the machine's noise.
 *
 *   node bench/stream-filter-chain.ts
 */
import type { StreamFilterFactory, StreamFilterStatus, StreamReceiverFilter } from '../src/api/stream-filter.ts';
import { StreamFilterChain, type PreparedStreamFilter } from '../src/proxy/stream-filter-chain.ts';

const ITERATIONS = Number(process.env.ITERATIONS ?? 300_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const syncFilter: StreamReceiverFilter = { onReceive: () => 'Continue' };
const asyncFilter: StreamReceiverFilter = { onReceive: async (): Promise<StreamFilterStatus> => 'Continue' };

function prepared(filter: StreamReceiverFilter, count: number): PreparedStreamFilter[] {
  const factory: StreamFilterFactory<null> = { type: 'empty', parseConfig: () => null, createFilters: (_c, chain) => chain.addReceiver(filter) };
  return Array.from({ length: count }, () => ({ type: 'empty', factory: factory as StreamFilterFactory<unknown>, config: null }));
}

/** ns per request: create the chain, run BeforeRoute to the end, destroy it. */
async function nsPerRequest(list: PreparedStreamFilter[]): Promise<number> {
  const handler = {} as never;
  const invoke = (f: StreamReceiverFilter) => f.onReceive(handler);
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    const chain = StreamFilterChain.create(list, 60_000);
    await new Promise<void>((resolve) => chain.runReceivers('BeforeRoute', invoke, () => resolve()));
    chain.destroy();
  }
  return Number(process.hrtime.bigint() - started) / ITERATIONS;
}

const variants: Array<[string, PreparedStreamFilter[]]> = [
  ['none', []],
  ['1 sync', prepared(syncFilter, 1)],
  ['10 sync', prepared(syncFilter, 10)],
  ['1 async', prepared(asyncFilter, 1)],
  ['10 async', prepared(asyncFilter, 10)],
];
const results = new Map<string, number[]>(variants.map(([n]) => [n, []]));
for (let r = 0; r < ROUNDS; r++) for (const [name, list] of variants) results.get(name)!.push(await nsPerRequest(list));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(results.get('none')!);
console.log(`| filters | ns per request (median of ${ROUNDS}) | added per filter, ns |`);
console.log('|---|---:|---:|');
for (const [name, list] of variants) {
  const ns = median(results.get(name)!);
  console.log(`| ${name} | ${ns.toFixed(0)} | ${list.length === 0 ? '' : ((ns - base) / list.length).toFixed(0)} |`);
}

/**
 * Micro-benchmark: nanoseconds per `chooseHost()` for each built-in load balancer, over 3
 * and 100 hosts, plain and with one excluded host (a retry). Run: `node bench/lb-pick.ts`.
 * Each cell runs in a process of its own (so one balancer's JIT feedback does not slow
 * another's call site) and is the best of several rounds after a warm-up: the
 * steady-state cost of a pick, not JIT or GC noise. Not a test: nothing here asserts a time.
 */
import { execFileSync } from 'node:child_process';
import { Host } from '../src/upstream/host.ts';
import { HostSet } from '../src/upstream/host-set.ts';
import { createLoadBalancer, SUPPORTED_LB_TYPES } from '../src/upstream/balancers/balancer-factory.ts';
import type { LoadBalancerContext } from '../src/api/upstream.ts';

const HOST_COUNTS = [3, 100] as const;
const PICKS_PER_ROUND = 2_000_000;
const ROUNDS = 5;

function makeHosts(count: number, weighted: boolean): Host[] {
  return Array.from({ length: count }, (_, i) => {
    const host = new Host({
      address: `127.0.${i >> 8}.${(i & 255) + 1}:8080`,
      hostname: undefined,
      weight: weighted ? 1 + ((i * 37) % 128) : 1,
      metadata: {},
    });
    // Some load, so least-request has something to compare.
    for (let r = 0; r < i % 7; r++) host.onRequestStart();
    return host;
  });
}

let sink = 0;

type SupportedLbType = (typeof SUPPORTED_LB_TYPES)[number];

function nsPerPick(type: SupportedLbType, hostCount: number, withExclusion: boolean): number {
  const hosts = makeHosts(hostCount, type === 'LB_WEIGHTED_ROUNDROBIN' || type === 'LB_LEAST_REQUEST');
  const balancer = createLoadBalancer(type, new HostSet(hosts));
  const context: LoadBalancerContext | undefined = withExclusion ? { excludeHosts: new Set([hosts[0] as Host]) } : undefined;
  for (let i = 0; i < PICKS_PER_ROUND / 4; i++) sink += balancer.chooseHost(context)?.port ?? 0;
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < PICKS_PER_ROUND; i++) sink += balancer.chooseHost(context)?.port ?? 0;
    const elapsed = Number(process.hrtime.bigint() - started);
    best = Math.min(best, elapsed / PICKS_PER_ROUND);
  }
  return best;
}

/** Runs one cell in a fresh process and returns its ns per pick. */
function measureInChild(type: SupportedLbType, hostCount: number, withExclusion: boolean): number {
  const output = execFileSync(process.execPath, [import.meta.filename, type, String(hostCount), String(withExclusion)], {
    encoding: 'utf8',
  });
  return Number(output.trim());
}

const [childType, childHostCount, childExclusion] = process.argv.slice(2);
if (childType !== undefined) {
  const ns = nsPerPick(childType as SupportedLbType, Number(childHostCount), childExclusion === 'true');
  console.log(sink === 42 ? ns + 1e-9 : ns);
} else {
  const header = ['lb_type', ...HOST_COUNTS.flatMap((n) => [`${n} hosts`, `${n} hosts, 1 excluded`])];
  const rows = SUPPORTED_LB_TYPES.map((type) => [
    type,
    ...HOST_COUNTS.flatMap((n) => [false, true].map((excluded) => `${measureInChild(type, n, excluded).toFixed(1)} ns`)),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log(`node ${process.version}, ${PICKS_PER_ROUND} picks per round, best of ${ROUNDS}; weighted and least-request use unequal weights`);
  console.log(line(header));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(row));
}

/**
 * The micro-benchmarks of the request path's hot functions, in one table: header
 * conversion and serialising (micro/headers.ts), HPACK decode and encode (micro/hpack.ts), route matching (micro/route-match.ts),
 * load-balancer pick (micro/balancers.ts) and metric updates (micro/counters.ts). Each
 * case runs in a fresh process; a cell is the median ns per operation over the rounds,
 * next to the fastest round. Not a test: nothing here asserts a time.
 *
 *   npm run bench:micro                  ~12 s
 *   QUICK=1 npm run bench:micro          fewer, shorter rounds (~8 s)
 *   MICRO_FILTER=route npm run bench:micro       only cases whose "group: name" matches
 *   MICRO_CPU=1 npm run bench:micro      pin every case to cpu 1 (taskset)
 *   MICRO_FULL=1 npm run bench:micro     then the fuller bench/lb-pick.ts and bench/shm-counter.ts
 *   RESULT_JSON=out.json ...             also write the rows as JSON (bench/suite.sh reads it)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { measureCase, type MicroCase, type MicroResult } from '../lib/micro.ts';
import { cases as headerCases } from './headers.ts';
import { cases as routeCases } from './route-match.ts';
import { cases as balancerCases } from './balancers.ts';
import { cases as counterCases } from './counters.ts';
import { cases as hpackCases } from './hpack.ts';

const MODULES: Record<string, readonly MicroCase[]> = {
  headers: headerCases,
  'route-match': routeCases,
  balancers: balancerCases,
  counters: counterCases,
  hpack: hpackCases,
};

const QUICK = process.env.QUICK === '1';
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? (QUICK ? 5 : 9));
const ROUND_MS = Number(process.env.MICRO_ROUND_MS ?? (QUICK ? 20 : 60));

export interface MicroRow {
  group: string;
  name: string;
  source: string;
  result?: MicroResult;
  error?: string;
}

function runChild(module: string, index: number): MicroResult {
  const args = [fileURLToPath(import.meta.url), '--case', module, String(index)];
  const cpu = process.env.MICRO_CPU;
  const [cmd, argv] = cpu !== undefined && cpu !== '' ? ['taskset', ['-c', cpu, process.execPath, ...args]] : [process.execPath, args];
  const out = execFileSync(cmd as string, argv as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const last = out.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as MicroResult;
}

function fmt(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2);
}

function main(): void {
  const filter = process.env.MICRO_FILTER === undefined ? undefined : new RegExp(process.env.MICRO_FILTER, 'i');
  const rows: MicroRow[] = [];
  for (const [module, list] of Object.entries(MODULES)) {
    list.forEach((c, index) => {
      if (filter !== undefined && !filter.test(`${c.group}: ${c.name}`)) return;
      const row: MicroRow = { group: c.group, name: c.name, source: c.source };
      try {
        row.result = runChild(module, index);
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        const lines = (e.stderr ?? e.message).split('\n').filter((l) => /error/i.test(l));
        row.error = (lines[0] ?? e.message.split('\n')[0] ?? 'failed').trim().slice(0, 160);
      }
      rows.push(row);
      process.stderr.write(`  ${c.group}: ${c.name}: ${row.result ? `${fmt(row.result.medianNs)} ns/op` : `n/a (${row.error})`}\n`);
    });
  }
  const out: string[] = [];
  out.push(`node ${process.version}; each case in its own process: median (and fastest) of ${ROUNDS} rounds of ~${ROUND_MS} ms after a warm-up round.`);
  out.push('');
  out.push('| group | case | ns/op (median) | ns/op (fastest) | ops/s (median) |');
  out.push('|---|---|---:|---:|---:|');
  for (const r of rows) {
    if (r.result === undefined) out.push(`| ${r.group} | ${r.name} | n/a | n/a | ${r.error ?? ''} |`);
    else out.push(`| ${r.group} | ${r.name} | ${fmt(r.result.medianNs)} | ${fmt(r.result.minNs)} | ${(1e9 / r.result.medianNs / 1e6).toFixed(2)} M |`);
  }
  out.push('');
  out.push('What each case stands for in src/:');
  for (const source of new Set(rows.map((r) => `${r.group}: ${r.source}`))) out.push(`- ${source}`);
  console.log(out.join('\n'));
  if (process.env.RESULT_JSON) writeFileSync(process.env.RESULT_JSON, JSON.stringify({ rounds: ROUNDS, roundMs: ROUND_MS, node: process.version, rows }, null, 2));
  if (process.env.MICRO_FULL === '1') {
    const root = fileURLToPath(new URL('../', import.meta.url));
    for (const script of ['lb-pick.ts', 'shm-counter.ts']) {
      console.log(`\n### bench/${script}\n`);
      spawnSync(process.execPath, [root + script], { stdio: 'inherit' });
    }
  }
}

const [flag, childModule, childIndex] = process.argv.slice(2);
if (flag === '--case' && childModule !== undefined && childIndex !== undefined) {
  const c = MODULES[childModule]?.[Number(childIndex)];
  if (c === undefined) throw new Error(`no micro case ${childModule}#${childIndex}`);
  process.stdout.write(`${JSON.stringify(measureCase(c, { rounds: ROUNDS, roundMs: ROUND_MS }))}\n`);
} else {
  main();
}

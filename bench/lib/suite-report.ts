/**
 * The summary of one bench/suite.sh run: reads the parts it left in one folder (the
 * harness's TSV for the L7 run, the TCP run and the processor-scaling runs; idle.json
 * from bench/idle-connections.ts; micro.json from bench/micro/run.ts) and prints one
 * markdown report: the target checks (mosnode's ratio to nginx / HAProxy, pass or miss),
 * every proxy row in one table, the idle-connection memory and the micro-benchmarks.
 *
 *   node bench/lib/suite-report.ts bench/results/suite-<stamp>      (suite.sh runs it)
 *
 * A part that is missing (skipped or failed) shows as "n/a" with the reason.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface HarnessRow {
  section: string;
  target: string;
  body: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuPct: number;
  usPerReq: number;
  rssIdleMb: number;
  rssPeakMb: number;
  otherPct: number;
  failed: boolean;
}

interface IdleRow {
  target: string;
  protocol: string;
  conns: number;
  baselineMb: number;
  idleMb: number;
  deltaMb: number;
  kbPerConn: number;
  closedByPeer: number;
  note: string;
}

interface MicroRow {
  group: string;
  name: string;
  result?: { medianNs: number; minNs: number };
  error?: string;
}

/** The harness rows of the one TSV in `dir`; with REPEAT > 1, the median-req/s repetition of each target x body. */
function readHarness(dir: string): { rows: HarnessRow[]; hostLine: string | undefined } | undefined {
  if (!existsSync(dir)) return undefined;
  const tsv = readdirSync(dir).filter((f) => f.endsWith('.tsv')).sort().pop();
  if (tsv === undefined) return undefined;
  const num = (v: string | undefined): number => (v === undefined || v === 'NA' || v === 'FAIL' ? NaN : Number(v));
  const all = readFileSync(join(dir, tsv), 'utf8').trim().split('\n').slice(1).map((line): HarnessRow => {
    const f = line.split('\t');
    return {
      section: f[0]!, target: f[1]!, body: f[2]!, rps: num(f[3]), p50: num(f[4]), p99: num(f[5]), errors: num(f[7]),
      cpuPct: num(f[8]), usPerReq: num(f[9]), rssIdleMb: num(f[10]), rssPeakMb: num(f[11]), otherPct: num(f[14]), failed: f[3] === 'FAIL',
    };
  });
  const groups = new Map<string, HarnessRow[]>();
  for (const r of all) {
    const key = `${r.section}\t${r.target}\t${r.body}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows = [...groups.values()].map((g) => [...g].sort((a, b) => (a.failed ? -1 : a.rps) - (b.failed ? -1 : b.rps))[(g.length - 1) >> 1]!);
  const md = join(dir, tsv.replace(/\.tsv$/, '.md'));
  const hostLine = existsSync(md) ? readFileSync(md, 'utf8').split('\n').find((l) => l.startsWith('host:')) : undefined;
  return { rows, hostLine };
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
}

const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

function main(): void {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: node bench/lib/suite-report.ts <suite results folder>');
  const l7 = readHarness(join(dir, 'l7'));
  const tcp = readHarness(join(dir, 'tcp'));
  const scale1 = readHarness(join(dir, 'scale-1'));
  const scale2 = readHarness(join(dir, 'scale-2'));
  const idle = readJson<{ conns: number; wantedConns: number; rows: IdleRow[]; notes: string[] }>(join(dir, 'idle.json'));
  const micro = readJson<{ rounds: number; roundMs: number; node: string; rows: MicroRow[] }>(join(dir, 'micro.json'));
  /** Why a part left no result: its `<name>.skipped` note (scale: also scale-1 / scale-2). */
  const skipped = (name: string): string => {
    for (const n of [name, `${name}-1`, `${name}-2`]) {
      const path = join(dir, `${n}.skipped`);
      if (existsSync(path)) return `${n}: ${readFileSync(path, 'utf8').trim()}`;
    }
    return 'not run or failed (see the suite log)';
  };
  const meta = readJson<Record<string, string>>(join(dir, 'meta.json')) ?? {};

  const find = (h: typeof l7, section: string, target: string, body = 'small'): HarnessRow | undefined =>
    h?.rows.find((r) => r.section === section && r.target === target && r.body === body && !r.failed);

  const out: string[] = [];
  out.push(`## mosnode benchmark suite — ${meta.stamp ?? dir}`);
  out.push('');
  const host = l7?.hostLine ?? tcp?.hostLine;
  if (host !== undefined) out.push(host);
  out.push(`Run: ${meta.mode ?? ''}; load (wrk -t1 / h2load -t1) + origin nginx on cpu ${meta.loadCpu ?? '0'}, proxy alone on cpu ${meta.sutCpu ?? '1'}; ${meta.duration ?? '?'} s measured after ${meta.warmup ?? '?'} s warm-up per row; HTTP/1.1 ${meta.conns ?? '50'} connections, h2c ${meta.h2Conns ?? '10'} x ${meta.h2Streams ?? '10'} streams.`);
  out.push('Numbers from a shared 2-vCPU VM move between runs: compare within one run (ratios), and run twice before drawing conclusions.');
  out.push('');

  // ---------------------------------------------------------------- target checks
  type Check = { name: string; mosnode: string; reference: string; ratio: number | undefined; limit: string; pass: boolean | undefined; note: string };
  const checks: Check[] = [];
  const suspect = (...rows: (HarnessRow | undefined)[]): string =>
    rows.some((r) => r !== undefined && r.otherPct >= 10) ? 'a row had >= 10 % foreign CPU: re-run' : '';
  const ratioCheck = (name: string, m: HarnessRow | undefined, ref: HarnessRow | undefined, refName: string, pick: (r: HarnessRow) => number, unit: string, limit: number, missing: string): void => {
    if (m === undefined || ref === undefined) {
      checks.push({ name, mosnode: m ? `${fmt(pick(m))} ${unit}` : 'n/a', reference: ref ? `${refName} ${fmt(pick(ref))} ${unit}` : 'n/a', ratio: undefined, limit: `<= ${limit}x`, pass: undefined, note: missing });
      return;
    }
    const ratio = pick(m) / pick(ref);
    checks.push({ name, mosnode: `${fmt(pick(m))} ${unit}`, reference: `${refName} ${fmt(pick(ref))} ${unit}`, ratio, limit: `<= ${limit}x`, pass: Number.isFinite(ratio) ? ratio <= limit : undefined, note: suspect(m, ref) });
  };
  const l7Missing = l7 === undefined ? `L7 run: ${skipped('l7')}` : 'row missing or failed';
  ratioCheck('HTTP/1.1 small: proxy CPU per request', find(l7, 'h1', 'custom'), find(l7, 'h1', 'nginx'), 'nginx', (r) => r.usPerReq, 'us', 1.5, l7Missing);
  ratioCheck('HTTP/2 (h2c) small: proxy CPU per request', find(l7, 'h2', 'h2-custom'), find(l7, 'h2', 'h2-nginx'), 'nginx', (r) => r.usPerReq, 'us', 1.5, l7Missing);
  ratioCheck('TCP proxy small: proxy CPU per request', find(tcp, 'h1', 'custom'), find(tcp, 'h1', 'haproxy-tcp'), 'haproxy-tcp', (r) => r.usPerReq, 'us', 1.0, tcp === undefined ? `TCP run: ${skipped('tcp')}` : 'row missing or failed');
  ratioCheck(`HTTP/1.1 small: p99 latency at ${meta.conns ?? '50'} connections`, find(l7, 'h1', 'custom'), find(l7, 'h1', 'nginx'), 'nginx', (r) => r.p99, 'ms', 2.0, l7Missing);
  {
    const m = idle?.rows.find((r) => r.target === 'mosnode' && r.protocol === 'h1');
    const ref = idle?.rows.find((r) => r.target === 'nginx' && r.protocol === 'h1');
    const at10k = m === undefined ? NaN : (m.deltaMb * 10_000) / Math.max(1, m.conns);
    const scaledNote = m !== undefined && m.conns !== 10_000 ? `measured with ${m.conns} connections, scaled to 10,000` : '';
    checks.push({
      name: '10,000 idle keep-alive connections (HTTP/1.1): RSS over the idle baseline',
      mosnode: m ? `${fmt(at10k)} MB (${fmt(m.kbPerConn, 2)} KB/conn)` : 'n/a',
      reference: ref ? `nginx ${fmt(ref.deltaMb)} MB (${fmt(ref.kbPerConn, 2)} KB/conn)` : 'n/a',
      ratio: m ? at10k / 40 : undefined,
      limit: '<= 40 MB',
      pass: m ? at10k <= 40 : undefined,
      note: m ? [scaledNote, m.note].filter(Boolean).join('; ') : `idle run: ${skipped('idle')}`,
    });
  }
  {
    const one = find(scale1, 'h1', 'custom');
    const two = find(scale2, 'h1', 'custom');
    const quota = readJson<{ throttled: boolean; quota: number; rows: Array<{ processor: number; rps: number; cpu: number; load: number; spread: string }> }>(join(dir, 'scale.json'));
    const q1 = quota?.rows.find((r) => r.processor === 1);
    const q2 = quota?.rows.find((r) => r.processor === 2);
    if ((one === undefined || two === undefined) && quota !== undefined && q1 !== undefined && q2 !== undefined) {
      // Fewer than 3 cpus: bench/worker-scaling.ts gives each serving process the same cgroup cpu quota.
      const ratio = q2.rps / q1.rps;
      checks.push({
        name: 'processor: 2 vs 1: HTTP/1.1 small throughput', mosnode: `${fmt(q2.rps, 0)} req/s`, reference: `processor: 1 ${fmt(q1.rps, 0)} req/s`, ratio, limit: '>= 1.7x', pass: quota.throttled ? ratio >= 1.7 : undefined,
        note: quota.throttled ? `each serving process limited to ${quota.quota} of a core (cgroup); load side ${fmt(q2.load, 2)} cores; connections per worker ${q2.spread}` : 'not throttled (needs root + cgroup v1 cpu): machine-bound, not judged',
      });
    } else if (one === undefined || two === undefined) {
      checks.push({ name: 'processor: 2 vs 1: HTTP/1.1 small throughput', mosnode: 'n/a', reference: 'n/a', ratio: undefined, limit: '>= 1.7x', pass: undefined, note: `scaling run: ${skipped('scale')}` });
    } else {
      const ratio = two.rps / one.rps;
      checks.push({ name: 'processor: 2 vs 1: HTTP/1.1 small throughput', mosnode: `${fmt(two.rps, 0)} req/s`, reference: `processor: 1 ${fmt(one.rps, 0)} req/s`, ratio, limit: '>= 1.7x', pass: ratio >= 1.7, note: `both runs on cpus ${meta.scaleSutCpu ?? '?'}; ${suspect(one)}`.replace(/; $/, '') });
    }
  }
  out.push('### Target checks');
  out.push('');
  out.push('| target | mosnode | reference | ratio | limit | result | note |');
  out.push('|---|---:|---:|---:|---:|---|---|');
  for (const c of checks) {
    const result = c.pass === undefined ? 'n/a' : c.pass ? 'pass' : 'MISS';
    out.push(`| ${c.name} | ${c.mosnode} | ${c.reference} | ${c.ratio === undefined ? 'n/a' : `${c.ratio.toFixed(2)}x`} | ${c.limit} | ${result} | ${c.note} |`);
  }
  out.push('');
  out.push('Ratios are mosnode / reference (for the idle row: MB / 40 MB). CPU per request = the proxy process\'s user+system CPU over the measured window / requests served.');
  out.push('');

  // ---------------------------------------------------------------- all proxy rows
  const label: Record<string, string> = { h1: 'HTTP/1.1', h2: 'HTTP/2 h2c' };
  const rowsOut: string[] = [];
  /** `masterOnly`: the harness read the master pid of a multi-process mosnode; its CPU and RSS are not the workers'. */
  const addRows = (h: typeof l7, run: (r: HarnessRow) => string, name: (r: HarnessRow) => string, masterOnly = false): void => {
    for (const r of h?.rows ?? []) {
      if (r.failed) {
        rowsOut.push(`| ${run(r)} | ${name(r)} | ${r.body} | FAIL | | | | | | | |`);
        continue;
      }
      // The harness counts processes it did not start as foreign: a multi-process mosnode's workers among them.
      const other = masterOnly ? `${fmt(r.otherPct, 0)} (incl. workers)` : r.otherPct >= 10 ? `${fmt(r.otherPct, 0)} (!)` : fmt(r.otherPct, 0);
      const [us, pct, rss] = masterOnly ? ['(master only)', `${fmt(r.cpuPct, 0)} (master)`, `${fmt(r.rssPeakMb)} (master)`] : [fmt(r.usPerReq), fmt(r.cpuPct, 0), fmt(r.rssPeakMb)];
      rowsOut.push(`| ${run(r)} | ${name(r)} | ${r.body} | ${fmt(r.rps, 0)} | ${us} | ${pct} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${rss} | ${r.errors} | ${other} |`);
    }
  };
  const mosnodeName = (r: HarnessRow): string => (r.target === 'custom' || r.target === 'h2-custom' ? `**mosnode** (${r.target})` : r.target);
  addRows(l7, (r) => label[r.section] ?? r.section, mosnodeName);
  addRows(tcp, () => 'TCP (L4)', (r) => (r.target === 'custom' ? '**mosnode** tcp_proxy' : r.target));
  addRows(scale1, () => 'HTTP/1.1, processor: 1', () => '**mosnode**');
  addRows(scale2, () => 'HTTP/1.1, processor: 2', () => '**mosnode**', true);
  out.push('### Proxy rows (../shared/bench harness)');
  out.push('');
  if (rowsOut.length === 0) {
    out.push(`No harness rows: L7 ${l7 ? 'ok' : skipped('l7')}; TCP ${tcp ? 'ok' : skipped('tcp')}.`);
  } else {
    out.push('| run | target | body | req/s | CPU us/req | CPU % | p50 ms | p99 ms | peak RSS MB | errors | other CPU % |');
    out.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    out.push(...rowsOut);
    out.push('');
    out.push('`direct` = wrk/h2load straight to the origin (its CPU is the origin\'s). Rows where the proxy CPU % is well under 100 are limited by the load side (cpu 0): compare CPU us/req there, not req/s. (!) = another process used >= 10 % of a core during the window.');
  }
  out.push('');

  // ---------------------------------------------------------------- idle
  out.push('### Idle keep-alive connections (bench/idle-connections.ts)');
  out.push('');
  if (idle === undefined) {
    out.push(`n/a: ${skipped('idle')}`);
  } else {
    out.push('| target | protocol | connections | RSS baseline MB | RSS with connections MB | delta MB | KB per connection | closed by proxy | note |');
    out.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of idle.rows) out.push(`| ${r.target} | ${r.protocol} | ${r.conns} | ${fmt(r.baselineMb)} | ${fmt(r.idleMb)} | ${fmt(r.deltaMb)} | ${fmt(r.kbPerConn, 2)} | ${r.closedByPeer} | ${r.note} |`);
    for (const n of idle.notes) out.push(`\nNote: ${n}`);
  }
  out.push('');

  // ---------------------------------------------------------------- micro
  out.push('### Micro-benchmarks (bench/micro/run.ts)');
  out.push('');
  if (micro === undefined) {
    out.push(`n/a: ${skipped('micro')}`);
  } else {
    out.push(`${micro.node}; median (fastest) of ${micro.rounds} rounds of ~${micro.roundMs} ms, one process per case.`);
    out.push('');
    out.push('| group | case | ns/op | fastest |');
    out.push('|---|---|---:|---:|');
    for (const r of micro.rows) out.push(`| ${r.group} | ${r.name} | ${r.result ? fmt(r.result.medianNs) : 'n/a'} | ${r.result ? fmt(r.result.minNs) : (r.error ?? '')} |`);
  }
  out.push('');
  out.push(`Raw parts: ${dir}/ (harness tables and TSV per run, idle.json, micro.json).`);
  console.log(out.join('\n'));
}

main();

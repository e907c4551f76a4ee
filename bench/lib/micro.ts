/**
 * Shared by the micro-benchmarks (bench/micro/): the shape of a case and the timing loop.
 * A case's `setup()` builds its inputs once and returns the operation to time; the loop
 * calibrates how many operations make one round (`roundMs`), warms up, then times
 * `rounds` rounds and reports the median and the fastest in ns per operation. Each case
 * runs in a process of its own (bench/micro/run.ts), so one case's JIT feedback and
 * garbage do not slow another's. Results feed the sink so the JIT cannot drop the work.
 */

export interface MicroCase {
  /** Table section ("headers", "route match", ...). */
  readonly group: string;
  /** Unique within its module; also the command-line handle of the case. */
  readonly name: string;
  /** What the case stands for in src/ (file and function), shown under the table. */
  readonly source: string;
  /** Builds inputs once; returns the operation to time (its result is consumed). */
  setup(): () => unknown;
}

export interface MicroResult {
  /** ns per operation, median of the rounds. */
  medianNs: number;
  /** ns per operation, fastest round. */
  minNs: number;
  rounds: number;
  opsPerRound: number;
}

let sink = 0;

function consume(value: unknown): void {
  if (typeof value === 'number') sink = (sink + value) | 0;
  else if (typeof value === 'string') sink = (sink + value.length) | 0;
  else if (value !== undefined && value !== null && value !== false) sink = (sink + 1) | 0;
}

function timeRound(op: () => unknown, ops: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) consume(op());
  return Number(process.hrtime.bigint() - started);
}

/** Times `c` in this process: median and fastest of `rounds` rounds of about `roundMs` each. */
export function measureCase(c: MicroCase, options: { rounds: number; roundMs: number }): MicroResult {
  const op = c.setup();
  // Calibrate: grow the round until it takes a measurable time, then scale to roundMs.
  let ops = 64;
  let ns = timeRound(op, ops);
  while (ns < 5e6 && ops < 1 << 30) {
    ops *= 4;
    ns = timeRound(op, ops);
  }
  const opsPerRound = Math.max(1, Math.round((ops * options.roundMs * 1e6) / ns));
  timeRound(op, opsPerRound); // warm-up at full size (optimised code, steady GC)
  const perOp: number[] = [];
  for (let r = 0; r < options.rounds; r++) perOp.push(timeRound(op, opsPerRound) / opsPerRound);
  perOp.sort((a, b) => a - b);
  if (sink === 0x7fffffff) console.log(sink); // never true; keeps the sink observable
  return { medianNs: perOp[perOp.length >> 1]!, minNs: perOp[0]!, rounds: options.rounds, opsPerRound };
}

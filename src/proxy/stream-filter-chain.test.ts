import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ReceiverFilterPhase,
  StreamFilterFactory,
  StreamFilterResult,
  StreamFilterStatus,
  StreamReceiverFilter,
  StreamSenderFilter,
} from '../api/stream-filter.ts';
import { FilterTimeoutError, StreamFilterChain, type PreparedStreamFilter } from './stream-filter-chain.ts';

/** A prepared entry whose factory adds what `add` says. */
function prepared(type: string, add: (chain: Parameters<StreamFilterFactory['createFilters']>[1]) => void): PreparedStreamFilter {
  return { type, config: undefined, factory: { type, parseConfig: () => undefined, createFilters: (_c, chain) => add(chain) } };
}

/** A receive filter that logs its name and answers `result` (a value or a function of nothing). */
function receiver(log: string[], name: string, result: StreamFilterResult | (() => StreamFilterResult) = 'Continue'): StreamReceiverFilter {
  return {
    onReceive() {
      log.push(name);
      return typeof result === 'function' ? result() : result;
    },
  };
}

/** Runs one phase and resolves with what `done` got (once; a second call fails the test). */
function runPhase(chain: StreamFilterChain, phase: ReceiverFilterPhase): Promise<{ outcome: StreamFilterStatus | Error; type: string }> {
  return new Promise((resolve) => {
    let calls = 0;
    chain.runReceivers(phase, (f) => f.onReceive({} as never), (outcome, type) => {
      calls++;
      assert.equal(calls, 1, 'done is called once');
      resolve({ outcome, type });
    });
  });
}

describe('StreamFilterChain.create', () => {
  test('filters run in config order, each phase only its own; types are remembered', async () => {
    const log: string[] = [];
    const chain = StreamFilterChain.create([
      prepared('a', (c) => {
        c.addReceiver(receiver(log, 'a1'));
        c.addReceiver(receiver(log, 'a-after-route'), 'AfterRoute');
      }),
      prepared('b', (c) => {
        c.addReceiver(receiver(log, 'b1'), 'BeforeRoute');
        c.addReceiver(receiver(log, 'b-after-host'), 'AfterChooseHost');
        c.addReceiver(receiver(log, 'b2'));
      }),
    ]);
    assert.deepEqual(chain.receivers.map((r) => [r.type, r.phase]), [
      ['a', 'BeforeRoute'],
      ['a', 'AfterRoute'],
      ['b', 'BeforeRoute'],
      ['b', 'AfterChooseHost'],
      ['b', 'BeforeRoute'],
    ]);
    assert.deepEqual(await runPhase(chain, 'BeforeRoute'), { outcome: 'Continue', type: '' });
    assert.deepEqual(log, ['a1', 'b1', 'b2']);
    log.length = 0;
    await runPhase(chain, 'AfterRoute');
    assert.deepEqual(log, ['a-after-route']);
    log.length = 0;
    await runPhase(chain, 'AfterChooseHost');
    assert.deepEqual(log, ['b-after-host']);
  });

  test('a phase without filters is done at once, synchronously', () => {
    const chain = StreamFilterChain.create([]);
    let got: unknown;
    chain.runReceivers('AfterRoute', () => assert.fail('no filter to call'), (outcome) => (got = outcome));
    assert.equal(got, 'Continue');
  });

  test('a throwing createFilters names its type and destroys the filters added before it', () => {
    let destroyed = 0;
    assert.throws(
      () =>
        StreamFilterChain.create([
          prepared('good', (c) => c.addReceiver({ onReceive: () => 'Continue', onDestroy: () => destroyed++ })),
          prepared('bad', () => {
            throw new Error('boom');
          }),
        ]),
      (err: Error) => /stream filter "bad" failed to create its filters: boom/.test(err.message) && (err.cause as Error).message === 'boom',
    );
    assert.equal(destroyed, 1);
  });

  test('a factory throwing something that is not an Error is reported too', () => {
    assert.throws(
      () =>
        StreamFilterChain.create([
          prepared('odd', () => {
            throw 'a string';
          }),
        ]),
      /stream filter "odd" failed to create its filters: a string/,
    );
  });

  test('addReceiver refuses an unknown phase and a filter without onReceive; addSender one without onSend', () => {
    const chain = new StreamFilterChain();
    assert.throws(() => chain.addReceiver({ onReceive: () => 'Continue' }, 'AfterSend' as ReceiverFilterPhase), /unknown receive phase "AfterSend"/);
    assert.throws(() => chain.addReceiver({} as StreamReceiverFilter), /onReceive/);
    assert.throws(() => chain.addSender({} as StreamSenderFilter), /onSend/);
    assert.equal(chain.receivers.length, 0);
    assert.equal(chain.senders.length, 0);
  });

  test('needsRequestBody / needsResponseBody follow the options', () => {
    const chain = StreamFilterChain.create([
      prepared('x', (c) => {
        c.addReceiver({ onReceive: () => 'Continue' });
        c.addSender({ onSend: () => 'Continue' });
      }),
    ]);
    assert.equal(chain.needsRequestBody, false);
    assert.equal(chain.needsResponseBody, false);
    chain.addReceiver({ onReceive: () => 'Continue' }, 'AfterRoute', { needsBody: true });
    assert.equal(chain.needsRequestBody, true);
    chain.addSender({ onSend: () => 'Continue' }, { needsBody: true });
    assert.equal(chain.needsResponseBody, true);
  });
});

describe('StreamFilterChain runner', () => {
  test('the first non-Continue status stops the phase and names the filter type', async () => {
    for (const status of ['Stop', 'Termination', 'RetryMatchRoute', 'RetryChooseHost'] as const) {
      const log: string[] = [];
      const chain = StreamFilterChain.create([
        prepared('first', (c) => c.addReceiver(receiver(log, 'first'))),
        prepared('stopper', (c) => c.addReceiver(receiver(log, 'stopper', status))),
        prepared('never', (c) => c.addReceiver(receiver(log, 'never'))),
      ]);
      assert.deepEqual(await runPhase(chain, 'BeforeRoute'), { outcome: status, type: 'stopper' });
      assert.deepEqual(log, ['first', 'stopper']);
    }
  });

  test('a promise resumes the chain at the next filter once it settles; sync and async mix in order', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const chain = StreamFilterChain.create([
      prepared('sync1', (c) => c.addReceiver(receiver(log, 'sync1'))),
      prepared('async1', (c) =>
        c.addReceiver(
          receiver(log, 'async1', async (): Promise<StreamFilterStatus> => {
            await gate;
            log.push('async1 resolved');
            return 'Continue';
          }),
        ),
      ),
      prepared('sync2', (c) => c.addReceiver(receiver(log, 'sync2'))),
      prepared('async2', (c) => c.addReceiver(receiver(log, 'async2', () => new Promise((r) => setTimeout(() => r('Continue'), 5))))),
      prepared('sync3', (c) => c.addReceiver(receiver(log, 'sync3'))),
    ]);
    const done = runPhase(chain, 'BeforeRoute');
    // Nothing after the pending filter runs before it settles.
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(log, ['sync1', 'async1']);
    release();
    assert.deepEqual(await done, { outcome: 'Continue', type: '' });
    assert.deepEqual(log, ['sync1', 'async1', 'async1 resolved', 'sync2', 'async2', 'sync3']);
  });

  test('an async non-Continue status stops the phase', async () => {
    const log: string[] = [];
    const chain = StreamFilterChain.create([
      prepared('a', (c) => c.addReceiver(receiver(log, 'a', () => Promise.resolve('Stop')))),
      prepared('b', (c) => c.addReceiver(receiver(log, 'b'))),
    ]);
    assert.deepEqual(await runPhase(chain, 'BeforeRoute'), { outcome: 'Stop', type: 'a' });
    assert.deepEqual(log, ['a']);
  });

  test('an invalid status (string, undefined, object, async) becomes an Error naming what was returned', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['Proceed', /returned "Proceed", not a stream filter status/],
      [undefined, /returned undefined, not a stream filter status/],
      [null, /returned null, not a stream filter status/],
      [{ status: 'Continue' }, /returned \{"status":"Continue"\}/],
      [42, /returned 42/],
    ];
    for (const [value, message] of cases) {
      for (const async of [false, true]) {
        const chain = StreamFilterChain.create([
          prepared('weird', (c) => c.addReceiver({ onReceive: () => (async ? Promise.resolve(value) : value) as StreamFilterResult })),
          prepared('after', (c) => c.addReceiver({ onReceive: () => assert.fail('must not run') })),
        ]);
        const { outcome, type } = await runPhase(chain, 'BeforeRoute');
        assert.equal(type, 'weird');
        assert.ok(outcome instanceof Error, `${String(value)} async=${async}`);
        assert.match(outcome.message, message);
      }
    }
  });

  test('after RetryMatchRoute / RetryChooseHost the next run of that phase resumes at the filter that asked (MOSN), earlier ones do not run twice', async () => {
    for (const [status, phase] of [['RetryMatchRoute', 'AfterRoute'], ['RetryChooseHost', 'AfterChooseHost']] as const) {
      const log: string[] = [];
      let asked = 0;
      const chain = StreamFilterChain.create([
        prepared('early', (c) => c.addReceiver(receiver(log, 'early'), phase)),
        prepared('other-phase', (c) => c.addReceiver(receiver(log, 'other-phase'), 'BeforeRoute')),
        prepared('asker', (c) => c.addReceiver(receiver(log, 'asker', () => (++asked === 1 ? status : 'Continue')), phase)),
        prepared('late', (c) => c.addReceiver(receiver(log, 'late'), phase)),
      ]);
      assert.deepEqual(await runPhase(chain, phase), { outcome: status, type: 'asker' });
      // Another phase in between (the route is matched again) starts from its beginning.
      if (phase === 'AfterChooseHost') await runPhase(chain, 'BeforeRoute');
      assert.deepEqual(await runPhase(chain, phase), { outcome: 'Continue', type: '' });
      assert.deepEqual(log.filter((l) => l !== 'other-phase'), ['early', 'asker', 'asker', 'late']);
      // Once through, a later run of the phase starts at the top again.
      log.length = 0;
      await runPhase(chain, phase);
      assert.deepEqual(log, ['early', 'asker', 'late']);
    }
  });

  test('an async RetryMatchRoute resumes at that filter too', async () => {
    const log: string[] = [];
    let asked = 0;
    const chain = StreamFilterChain.create([
      prepared('early', (c) => c.addReceiver(receiver(log, 'early'), 'AfterRoute')),
      prepared('asker', (c) => c.addReceiver(receiver(log, 'asker', async () => (++asked === 1 ? 'RetryMatchRoute' : 'Continue')), 'AfterRoute')),
    ]);
    assert.equal((await runPhase(chain, 'AfterRoute')).outcome, 'RetryMatchRoute');
    assert.equal((await runPhase(chain, 'AfterRoute')).outcome, 'Continue');
    assert.deepEqual(log, ['early', 'asker', 'asker']);
  });

  test('a status JSON cannot show (BigInt, a circular object) is still an Error, never a throw out of the runner', async () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    for (const value of [10n, circular]) {
      for (const async of [false, true]) {
        const chain = StreamFilterChain.create([
          prepared('odd', (c) => c.addReceiver({ onReceive: () => (async ? Promise.resolve(value) : value) as unknown as StreamFilterResult })),
        ]);
        const { outcome, type } = await runPhase(chain, 'BeforeRoute');
        assert.equal(type, 'odd');
        assert.ok(outcome instanceof Error);
        assert.match(outcome.message, /not a stream filter status/);
      }
    }
  });

  test('a thenable whose then() throws fails the filter; one that settles twice counts once', async () => {
    const throwing = { then() { throw new Error('then boom'); } };
    let chain = StreamFilterChain.create([prepared('thenable', (c) => c.addReceiver({ onReceive: () => throwing as unknown as StreamFilterResult }))]);
    let got = await runPhase(chain, 'BeforeRoute');
    assert.equal(got.type, 'thenable');
    assert.ok(got.outcome instanceof Error && got.outcome.message === 'then boom');

    const twice = {
      then(ok: (s: string) => void, fail: (e: unknown) => void) {
        ok('Stop');
        ok('Continue');
        fail(new Error('late'));
      },
    };
    chain = StreamFilterChain.create([prepared('twice', (c) => c.addReceiver({ onReceive: () => twice as unknown as StreamFilterResult }))]);
    got = await runPhase(chain, 'BeforeRoute'); // runPhase fails the test on a second done
    assert.deepEqual(got, { outcome: 'Stop', type: 'twice' });
  });

  test('a throw and a rejection become Errors with the filter type; non-Error values are wrapped', async () => {
    const thrown = new Error('sync boom');
    const inputs: Array<[() => StreamFilterResult, (e: Error) => boolean]> = [
      [() => { throw thrown; }, (e) => e === thrown],
      [() => Promise.reject(new Error('async boom')), (e) => e.message === 'async boom'],
      [() => { throw 'plain string'; }, (e) => e.message === 'plain string'],
      [() => Promise.reject(7), (e) => e.message === '7'],
      [async () => { throw new TypeError('in async fn'); }, (e) => e instanceof TypeError],
    ];
    for (const [fn, check] of inputs) {
      const chain = StreamFilterChain.create([
        prepared('ok', (c) => c.addReceiver({ onReceive: () => 'Continue' })),
        prepared('thrower', (c) => c.addReceiver({ onReceive: fn })),
      ]);
      const { outcome, type } = await runPhase(chain, 'BeforeRoute');
      assert.equal(type, 'thrower');
      assert.ok(outcome instanceof Error && check(outcome), String(outcome));
    }
  });

  test('`current` names the filter being run (for perRouteConfig), and is cleared when the phase is done', async () => {
    const seen: string[] = [];
    const chain = StreamFilterChain.create([
      prepared('alpha', (c) => c.addReceiver({ onReceive: () => (seen.push(chain.current), 'Continue') })),
      prepared('beta', (c) =>
        c.addReceiver({
          onReceive: async (): Promise<StreamFilterStatus> => {
            seen.push(chain.current);
            await null;
            return 'Continue';
          },
        }),
      ),
      prepared('gamma', (c) => c.addReceiver({ onReceive: () => (seen.push(chain.current), 'Continue') })),
    ]);
    await runPhase(chain, 'BeforeRoute');
    assert.deepEqual(seen, ['alpha', 'beta', 'gamma']);
    assert.equal(chain.current, '');
  });

  test('send filters run in order, sync and async, and stop at a non-Continue', async () => {
    const log: string[] = [];
    const chain = StreamFilterChain.create([
      prepared('s1', (c) => c.addSender({ onSend: () => (log.push('s1'), 'Continue') })),
      prepared('s2', (c) => c.addSender({ onSend: async (): Promise<StreamFilterStatus> => (log.push('s2'), 'Continue') })),
      prepared('s3', (c) => c.addSender({ onSend: () => (log.push('s3'), 'Stop') })),
      prepared('s4', (c) => c.addSender({ onSend: () => (log.push('s4'), 'Continue') })),
    ]);
    const result = await new Promise<[unknown, string]>((resolve) => chain.runSenders((f) => f.onSend({} as never), (o, t) => resolve([o, t])));
    assert.deepEqual(result, ['Stop', 's3']);
    assert.deepEqual(log, ['s1', 's2', 's3']);
  });

  test('a long synchronous chain runs without growing the stack', async () => {
    const n = 20_000;
    let calls = 0;
    const chain = StreamFilterChain.create([prepared('many', (c) => { for (let i = 0; i < n; i++) c.addReceiver({ onReceive: () => (calls++, 'Continue') }); })]);
    assert.deepEqual(await runPhase(chain, 'BeforeRoute'), { outcome: 'Continue', type: '' });
    assert.equal(calls, n);
  });

  test('destroy calls every onDestroy once, reports a throwing one and still calls the rest', () => {
    const calls: string[] = [];
    const reported: Array<[string, unknown]> = [];
    const chain = StreamFilterChain.create([
      prepared('r', (c) => c.addReceiver({ onReceive: () => 'Continue', onDestroy: () => calls.push('r') })),
      prepared('bad', (c) =>
        c.addReceiver({
          onReceive: () => 'Continue',
          onDestroy: () => {
            calls.push('bad');
            throw new Error('destroy boom');
          },
        }),
      ),
      prepared('plain', (c) => c.addReceiver({ onReceive: () => 'Continue' })),
      prepared('s', (c) => c.addSender({ onSend: () => 'Continue', onDestroy: () => calls.push('s') })),
    ]);
    chain.destroy((type, err) => reported.push([type, (err as Error).message]));
    assert.deepEqual(calls, ['r', 'bad', 's']);
    assert.deepEqual(reported, [['bad', 'destroy boom']]);
    chain.destroy();
    assert.deepEqual(calls, ['r', 'bad', 's'], 'a second destroy calls nothing again');
  });
});

describe('async filter deadline', () => {
  test('a promise that never settles fails with FilterTimeoutError after the deadline, once', async () => {
    const log: string[] = [];
    const chain = StreamFilterChain.create([prepared('slow', (c) => c.addReceiver(receiver(log, 'slow', () => new Promise<StreamFilterStatus>(() => {}))))], 50);
    const started = performance.now();
    const { outcome, type } = await runPhase(chain, 'BeforeRoute');
    assert.ok(outcome instanceof FilterTimeoutError, String(outcome));
    assert.match(outcome.message, /did not settle within 50 ms/);
    assert.equal(type, 'slow');
    assert.ok(performance.now() - started >= 45);
  });

  test('a promise settling in time continues the chain; a late settle after the deadline is ignored', async () => {
    const log: string[] = [];
    let late: ((s: StreamFilterStatus) => void) | undefined;
    const chain = StreamFilterChain.create(
      [
        prepared('quick', (c) => c.addReceiver(receiver(log, 'quick', () => new Promise<StreamFilterStatus>((r) => setTimeout(() => r('Continue'), 10))))),
        prepared('late', (c) => c.addReceiver(receiver(log, 'late', () => new Promise<StreamFilterStatus>((r) => (late = r))))),
      ],
      60,
    );
    const { outcome, type } = await runPhase(chain, 'BeforeRoute');
    assert.deepEqual(log, ['quick', 'late']);
    assert.ok(outcome instanceof FilterTimeoutError);
    assert.equal(type, 'late');
    late!('Continue'); // runPhase asserts done is not called a second time
    await new Promise((r) => setTimeout(r, 20));
  });

  test('destroy() clears the pending timer', async () => {
    const chain = StreamFilterChain.create([prepared('slow', (c) => c.addReceiver(receiver([], 'slow', () => new Promise<StreamFilterStatus>(() => {}))))], 30);
    let called = false;
    chain.runReceivers('BeforeRoute', (f) => f.onReceive({} as never), () => (called = true));
    chain.destroy();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(called, false);
  });
});

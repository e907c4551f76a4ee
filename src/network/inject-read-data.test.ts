/**
 * ReadFilterCallbacks.injectReadData (the public "pass these bytes on from here", which
 * fault_inject uses to release held bytes) over a real connection on 127.0.0.1: bytes go
 * to the filters after the injecting one only, in order, with the half-close; events for a
 * filter not yet set up are held for it; nothing happens after close.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { FilterStatus, ReadFilter, ReadFilterCallbacks } from '../api/network-filter.ts';
import { ListenerHarness } from '../../test/helpers/listener-harness.ts';
import type { DownstreamConnection } from './connection.ts';
import { until } from '../../test/helpers/sockets.ts';

const harness = new ListenerHarness();
afterEach(() => harness.closeAll());

/** Records what reaches it: "name:data" or "name:<end>". */
function recorder(name: string, seen: string[], status: FilterStatus = 'Continue'): ReadFilter & { callbacks?: ReadFilterCallbacks } {
  const filter: ReadFilter & { callbacks?: ReadFilterCallbacks } = {
    initializeReadFilterCallbacks(cb) {
      filter.callbacks = cb;
    },
    onData(data, endStream) {
      seen.push(`${name}:${data.toString()}${endStream ? '<end>' : ''}`);
      return status;
    },
  };
  return filter;
}

async function chain(install: (c: DownstreamConnection) => void): Promise<DownstreamConnection> {
  const l = await harness.start({ install });
  await l.dial();
  await until(() => l.connections.length === 1, 'the connection');
  return l.connections[0]!;
}

test('bytes go to the filters after the injecting one, in order, with the half-close', async () => {
  const seen: string[] = [];
  const first = recorder('first', seen, 'Stop');
  await chain((c) => {
    c.addReadFilter(recorder('zero', seen));
    c.addReadFilter(first);
    c.addReadFilter(recorder('second', seen));
    c.addReadFilter(recorder('third', seen));
  });
  first.callbacks!.injectReadData(Buffer.from('a'), false);
  first.callbacks!.injectReadData(Buffer.from('b'), true);
  assert.deepEqual(seen, ['second:a', 'third:a', 'second:b<end>', 'third:b<end>']);
});

test('a filter after it that has not been set up yet gets the bytes once it is', async () => {
  const seen: string[] = [];
  const first = recorder('first', seen);
  let gate!: ReadFilterCallbacks;
  const connection = await chain((c) => {
    c.addReadFilter(first);
    c.addReadFilter({
      initializeReadFilterCallbacks: (cb) => void (gate = cb),
      onNewConnection: () => 'Stop',
      onData: (data) => (seen.push(`gate:${data.toString()}`), 'Continue'),
    });
    c.addReadFilter(recorder('late', seen));
  });
  first.callbacks!.injectReadData(Buffer.from('held'), false);
  assert.deepEqual(seen, ['gate:held'], 'the gate has been set up; the one after it waits');
  gate.continueReading();
  assert.deepEqual(seen, ['gate:held', 'late:held']);
  assert.equal(connection.closed, false);
});

test('nothing after close', async () => {
  const seen: string[] = [];
  const first = recorder('first', seen);
  const connection = await chain((c) => {
    c.addReadFilter(first);
    c.addReadFilter(recorder('second', seen));
  });
  connection.close('NoFlush');
  first.callbacks!.injectReadData(Buffer.from('late'), false);
  assert.deepEqual(seen, []);
});

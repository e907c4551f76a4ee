/**
 * use_original_dst hand-overs: the directory's matching rules (exact, then the fallback
 * IP on the same port), and real Listeners on 127.0.0.1 where a listener filter leaves an
 * OriginalDstRecord (as original_dst does) and the connection lands on the listener of
 * that destination, virtual or bound, with its bytes, addresses and half-close intact,
 * runs that listener's filters, and is never handed on twice.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ListenerFilter, ListenerFilterStatus } from '../api/listener-filter.ts';
import { ListenerDirectory, ORIGINAL_DST_STATE_KEY, type DirectoryMember, type OriginalDstRecord } from './listener-directory.ts';
import type { Listener } from './listener.ts';
import { native } from '../core/native.ts';
import { ListenerHarness, echo, readUntilClose } from '../../test/helpers/listener-harness.ts';
import { readBytes, until } from '../../test/helpers/sockets.ts';

describe('ListenerDirectory.find', () => {
  const member = (boundAddress: string, network = 'tcp'): DirectoryMember => ({ boundAddress, config: { network } });
  const directory = new ListenerDirectory<DirectoryMember>();
  const exact = member('10.0.0.1:80');
  const any4 = member('0.0.0.0:80');
  const loop4 = member('127.0.0.1:80');
  const any6 = member('[::]:80');
  const exact6 = member('[2001:db8::1]:443');
  const loop6 = member('[::1]:443');
  const unix = member('/tmp/x.sock', 'unix');
  for (const m of [any6, exact, any4, loop4, exact6, loop6, unix]) directory.add(m);

  test('an exact IP and port first, whatever the order of listeners', () => {
    assert.equal(directory.find('10.0.0.1', 80), exact);
    assert.equal(directory.find('::ffff:10.0.0.1', 80), exact, 'IPv4-mapped IPv6 is the IPv4 address');
    assert.equal(directory.find('2001:DB8:0:0::1', 443), exact6, 'IPv6 in any spelling');
  });

  test('then the same port on 0.0.0.0 (IPv4) or :: (IPv6), as MOSN falls back to 0.0.0.0', () => {
    assert.equal(directory.find('10.9.9.9', 80), any4, '0.0.0.0 before a dual-stack ::');
    assert.equal(directory.find('2001:db8::2', 80), any6);
    assert.equal(directory.find('10.9.9.9', 81), undefined, 'another port: none');
    assert.equal(directory.find('2001:db8::2', 443), undefined, 'no :: listener on 443');
  });

  test('fallback_to_local: the loopback listener on that port instead', () => {
    assert.equal(directory.find('10.9.9.9', 80, '127.0.0.1'), loop4);
    assert.equal(directory.find('2001:db8::2', 443, '::1'), loop6);
    assert.equal(directory.find('10.9.9.9', 81, '127.0.0.1'), undefined);
  });

  test('an IPv4 destination falls back to a dual-stack :: listener when there is no 0.0.0.0 one', () => {
    const d = new ListenerDirectory<DirectoryMember>();
    const dual = member('[::]:8080');
    d.add(dual);
    assert.equal(d.find('192.0.2.1', 8080), dual);
  });
});

describe('hand-over between listeners', () => {
  const harness = new ListenerHarness();
  afterEach(() => harness.closeAll());

  /** A listener filter that says the connection was going to `ip:port` (as original_dst does). */
  const redirectedTo = (ip: string, port: number, fallbackIp?: string): ListenerFilter => ({
    onAccept(cb): ListenerFilterStatus {
      cb.setOriginalDestination(ip, port);
      const record: OriginalDstRecord = { ip, port, fallbackIp };
      cb.state.set(ORIGINAL_DST_STATE_KEY, record);
      return 'Continue';
    },
  });

  /** A listener filter that peeks `n` bytes (so the hand-over must carry peeked bytes). */
  const peeker = (n: number, seen: string[]): ListenerFilter => ({
    async onAccept(cb): Promise<ListenerFilterStatus> {
      seen.push(`${cb.localAddress}|${(await cb.peek(n)).toString()}`);
      return 'Continue';
    },
  });

  /** An accepting `outbound` listener whose filters send every connection to `record` (given the target's port), and a target. */
  async function twoListeners(options: {
    target: string;
    record: (targetPort: number) => [string, number, string?];
    useOriginalDst?: false | 'redirect';
    targetFilters?: () => ListenerFilter[];
    virtual?: boolean;
  }) {
    const directory = new ListenerDirectory<Listener>();
    const seenAtSource: string[] = [];
    const target = await harness.start({
      directory,
      address: options.target,
      config: { name: 'virtual', bind_port: !(options.virtual ?? false) },
      ...(options.targetFilters ? { listenerFilters: options.targetFilters } : {}),
      install: (c) => {
        c.addReadFilter({ onData: (data, end) => (c.write(data.length > 0 ? Buffer.concat([Buffer.from('T:'), data]) : data, end), 'Continue') });
      },
    });
    const record = options.record(target.port);
    const source = await harness.start({
      directory,
      config: { name: 'outbound', use_original_dst: options.useOriginalDst ?? 'redirect' },
      listenerFilters: () => [peeker(3, seenAtSource), redirectedTo(...record)],
      install: echo,
    });
    return { source, target, seenAtSource };
  }

  test('to a virtual listener of the exact destination: its filters and network filters, the peeked bytes, the addresses', async () => {
    const seenAtTarget: string[] = [];
    const { source, target, seenAtSource } = await twoListeners({
      target: '10.0.0.5:8080',
      record: () => ['10.0.0.5', 8080],
      virtual: true,
      targetFilters: () => [peeker(5, seenAtTarget)],
    });
    assert.equal(target.listener.virtual, true);
    assert.equal(target.port, 8080, 'a virtual listener binds nothing: its configured address stands');
    const client = await source.dial();
    client.write('hello');
    assert.equal((await readBytes(client, 7)).toString(), 'T:hello');
    assert.equal(source.connections.length, 0, 'the accepting listener keeps nothing');
    const c = target.connections[0]!;
    assert.equal(c.listenerName, 'virtual');
    assert.equal(c.localAddress, '10.0.0.5:8080');
    assert.equal(c.remoteAddress, `127.0.0.1:${client.localPort}`);
    assert.equal(seenAtSource[0]!.split('|')[0], `127.0.0.1:${source.port}`);
    // The target's filters see the original destination as the local address, and the bytes again.
    assert.equal(seenAtTarget[0], '10.0.0.5:8080|hello');
    assert.equal(c.state.get(ORIGINAL_DST_STATE_KEY) !== undefined, true, 'state carries over');
  });

  test('to a bound listener on 0.0.0.0 of that port (MOSN\'s fallback)', async () => {
    const { source, target } = await twoListeners({ target: '0.0.0.0:0', record: (port) => ['192.0.2.10', port] });
    const client = await source.dial();
    client.write('xyz');
    assert.equal((await readBytes(client, 5)).toString(), 'T:xyz');
    assert.equal(target.connections[0]!.localAddress, `192.0.2.10:${target.port}`);
  });

  test('fallback_to_local: the listener on 127.0.0.1 of that port, not the one on 0.0.0.0', async () => {
    const directory = new ListenerDirectory<Listener>();
    const loopback = await harness.start({ directory, config: { name: 'loopback' }, install: echo });
    await harness.start({ directory, address: `0.0.0.0:${loopback.port}`, config: { name: 'any', bind_port: false }, install: echo });
    const source = await harness.start({
      directory,
      config: { name: 'outbound', use_original_dst: 'redirect' },
      listenerFilters: () => [redirectedTo('192.0.2.10', loopback.port, '127.0.0.1')],
      install: echo,
    });
    const client = await source.dial();
    client.write('x');
    await readBytes(client, 1);
    assert.equal(source.connections.length, 0);
    assert.equal(loopback.connections.length, 1);
  });

  test('no listener stands for the destination: the accepting listener keeps it', async () => {
    const { source, target } = await twoListeners({ target: '10.0.0.5:8080', record: () => ['10.0.0.6', 8080], virtual: true });
    const client = await source.dial();
    client.write('abc');
    assert.equal((await readBytes(client, 3)).toString(), 'abc', 'echoed by the accepting listener');
    assert.equal(target.connections.length, 0);
    assert.equal(source.connections[0]!.localAddress, '10.0.0.6:8080', 'still with its original destination');
  });

  test('without use_original_dst the record moves nothing', async () => {
    const { source, target } = await twoListeners({ target: '10.0.0.5:8080', record: () => ['10.0.0.5', 8080], virtual: true, useOriginalDst: false });
    const client = await source.dial();
    client.write('abc');
    assert.equal((await readBytes(client, 3)).toString(), 'abc');
    assert.equal(target.connections.length, 0);
  });

  test('a handed-over connection is never handed on: the target runs its filters, even one that names a third listener', async () => {
    const { source, target } = await twoListeners({
      target: '10.0.0.5:8080',
      record: () => ['10.0.0.5', 8080],
      virtual: true,
      targetFilters: () => [redirectedTo('127.0.0.1', 1)],
    });
    const client = await source.dial();
    client.write('abc');
    assert.equal((await readBytes(client, 5)).toString(), 'T:abc');
    assert.equal(target.connections.length, 1);
  });

  test('a peer that half-closes while the accepting listener peeks: the target still gets the bytes and the FIN', async () => {
    const { source, target } = await twoListeners({ target: '10.0.0.5:8080', record: () => ['10.0.0.5', 8080], virtual: true });
    const client = await source.dial({ allowHalfOpen: true });
    const closed = readUntilClose(client);
    client.end('ab');
    await until(() => target.connections.length === 1, 'the hand-over');
    assert.equal((await closed).data.toString(), 'T:ab');
  });
});

describe('use_original_dst "tproxy"', () => {
  const harness = new ListenerHarness();
  afterEach(() => harness.closeAll());

  test('the listening socket is made transparent (IP_TRANSPARENT): it listens as root, and fails to listen without the privilege', { skip: native === undefined && 'native addon unavailable' }, async () => {
    if (process.getuid?.() === 0) {
      const l = await harness.start({ config: { use_original_dst: 'tproxy' }, install: echo });
      const client = await l.dial();
      client.write('t');
      assert.equal((await readBytes(client, 1)).toString(), 't');
    } else {
      await assert.rejects(harness.start({ config: { use_original_dst: 'tproxy' } }), /MOSN_ERR_LISTENER_BIND|IP_TRANSPARENT/);
    }
  });
});


/**
 * The built-in listener filters `proxy_protocol` and `original_dst` (with `use_original_dst`
 * and virtual listeners) and the network filter `fault_inject`, end to end: an in-process
 * MosnServer from a MOSN config (the built-ins come from filters/index.ts, as in
 * production), real TCP and HTTP clients on 127.0.0.1, real upstreams. Later layers must
 * see the header's addresses (tcp_proxy routes by source address; the HTTP access log and
 * X-Forwarded-For show the client), refused connections never reach an upstream, and the
 * counters in /api/v1/stats say what happened. One test runs the real CLI (bin/mosnode.js,
 * needs `tsc` first). SO_ORIGINAL_DST itself, on a NATed connection, is covered by
 * original-dst-nat.test.ts; here the kernel lookup is stood in for.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { parseConfigText } from '../../src/config/load.ts';
import { MosnServer } from '../../src/server/server.ts';
import { setOriginalDstLookup } from '../../src/filters/listener/original_dst/original-dst-factory.ts';
import { startTcpServer, type TcpTestServer } from '../helpers/servers.ts';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { startMosnode } from '../helpers/mosnode-process.ts';
import { readBytes, sleep, until } from '../helpers/sockets.ts';
import { v2, ipv4Block, ipv6Block } from '../helpers/proxy-protocol.ts';

/** An upstream that announces itself ("<name>|") and then echoes. */
function namedEcho(name: string): Promise<TcpTestServer & { accepted: () => number }> {
  let accepted = 0;
  return startTcpServer((socket) => {
    accepted++;
    socket.write(`${name}|`);
    socket.pipe(socket);
  }).then((server) => Object.assign(server, { accepted: () => accepted }));
}

interface Running {
  server: MosnServer;
  port(listener: string): number;
  /** /api/v1/stats as JSON: {type: {"k.v": {key: value}}}. */
  stats(): Promise<Record<string, Record<string, Record<string, string>>>>;
  stat(type: string, listener: string, key: string): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(config: Record<string, unknown>): Promise<Running> {
  const server = new MosnServer(parseConfigText(JSON.stringify(config)), {
    logging: { logger: pino({ level: 'silent' }), flush() {}, flushThen: (done: () => void) => done(), reopen() {} },
  });
  await server.start();
  const stats = async () => {
    const admin = server.adminAddress!;
    return (await (await fetch(`http://127.0.0.1:${admin.port}/api/v1/stats`)).json()) as Awaited<ReturnType<Running['stats']>>;
  };
  return {
    server,
    port: (name) => {
      const l = server.listeners.find((x) => x.name === name)!;
      return Number(l.boundAddress.slice(l.boundAddress.lastIndexOf(':') + 1));
    },
    stats,
    stat: async (type, listener, key) => Number((await stats())[type]?.[`listener.${listener}`]?.[key] ?? 0),
    stop: () => server.stop(),
  };
}

const ADMIN = { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } };

async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Resolves when the socket closes, with what it received. */
function closeOf(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks).toString())));
}

describe('proxy_protocol', () => {
  let tagged: Awaited<ReturnType<typeof namedEcho>>;
  let plain: Awaited<ReturnType<typeof namedEcho>>;
  let web: RecordingUpstream;
  let running: Running;
  const dir = mkdtempSync(join(tmpdir(), 'mosnode-pp-'));
  const accessLog = join(dir, 'access.log');

  before(async () => {
    tagged = await namedEcho('tagged');
    plain = await namedEcho('plain');
    web = await startRecordingUpstream('web');
    running = await startServer({
      servers: [{
        default_log_path: 'stdout',
        routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }] }] }],
        listeners: [
          {
            name: 'pp',
            address: '127.0.0.1:0',
            bind_port: true,
            listener_filters: [{ type: 'proxy_protocol', config: { timeout: '300ms', max_header_bytes: 512 } }],
            filter_chains: [{
              filters: [{
                type: 'tcp_proxy',
                config: {
                  routes: [
                    { cluster: 'tagged', source_addrs: [{ address: '203.0.113.0', length: 24 }, { address: '2001:db8::', length: 32 }] },
                    { cluster: 'plain' },
                  ],
                },
              }],
            }],
          },
          {
            name: 'pp_http',
            address: '127.0.0.1:0',
            bind_port: true,
            listener_filters: [{ type: 'proxy_protocol' }],
            access_logs: [{ log_path: accessLog, log_format: '%downstream_remote_address% %downstream_local_address% %response_code%' }],
            filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Auto', upstream_protocol: 'Http1', router_config_name: 'r' } }] }],
          },
        ],
      }],
      cluster_manager: {
        clusters: [
          { name: 'tagged', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${tagged.port}` }] },
          { name: 'plain', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${plain.port}` }] },
          { name: 'web', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${web.port}` }] },
        ],
      },
      admin: ADMIN,
      disable_upgrade: true,
    });
  });

  after(async () => {
    await running.stop();
    await Promise.all([tagged.close(), plain.close(), web.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `first` (header + payload) in one write; resolves with what comes back up to the payload's echo. */
  async function through(first: Buffer | string, expect: string): Promise<void> {
    const client = await dial(running.port('pp'));
    try {
      client.write(first);
      assert.equal((await readBytes(client, expect.length)).toString(), expect);
    } finally {
      client.destroy();
    }
  }

  test('v1 TCP4 and TCP6 in the same packet as the payload: routed by the header\'s source, payload untouched', async () => {
    await through('PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\nhello', 'tagged|hello');
    await through('PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\nhello6', 'tagged|hello6');
    assert.equal(await running.stat('proxy_protocol', 'pp', 'v1_found'), 2);
  });

  test('v1 UNKNOWN and v2 LOCAL keep the real address (127.0.0.1): the default route', async () => {
    await through('PROXY UNKNOWN\r\nx', 'plain|x');
    await through(Buffer.concat([v2({ command: 0, famProto: 0x00 }), Buffer.from('y')]), 'plain|y');
    assert.equal(await running.stat('proxy_protocol', 'pp', 'without_address'), 2);
  });

  test('v2 IPv4 and IPv6 with TLVs, binary payload right after the header', async () => {
    const payload = randomBytes(64 * 1024);
    const client = await dial(running.port('pp'));
    const header = v2({ address: ipv4Block('203.0.113.9', '198.51.100.1', 1234, 443), tlvs: [[0x02, Buffer.from('example.com')], [0x20, Buffer.alloc(40, 1)]], crc: true });
    client.write(Buffer.concat([header, payload]));
    const echoed = await readBytes(client, 'tagged|'.length + payload.length);
    client.destroy();
    assert.equal(echoed.subarray(0, 7).toString(), 'tagged|');
    assert.ok(echoed.subarray(7).equals(payload), 'the payload arrives byte for byte');
    await through(Buffer.concat([v2({ famProto: 0x21, address: ipv6Block('2001:0db8:0:0:0:0:0:9', '2001:0db8:0:0:0:0:0:1', 1, 2) }), Buffer.from('z')]), 'tagged|z');
  });

  test('refused: no header, malformed, oversized, too slow, cut short: closed, never reaching an upstream, counted', async () => {
    const upstreamsBefore = tagged.accepted() + plain.accepted();
    const closedBefore = await running.stat('downstream', 'pp', 'connection_total');
    const cases: Array<[string, (s: Socket) => void]> = [
      ['error_not_found', (s) => void s.write('GET / HTTP/1.1\r\n\r\n')],
      ['error_malformed', (s) => void s.write('PROXY TCP4 203.0.113.7 198.51.100.1 40000\r\nhello')],
      ['error_too_large', (s) => void s.write(v2({ address: ipv4Block('1.2.3.4', '5.6.7.8', 1, 2), tlvs: [[0x04, Buffer.alloc(600)]] }))],
      ['error_timeout', (s) => void s.write('PROXY TCP4 203.0.113.7')],
      ['error_eof', (s) => void s.end('PROXY TCP4 203.0.113.7')],
    ];
    for (const [counter, send] of cases) {
      const client = await dial(running.port('pp'));
      const closed = closeOf(client);
      send(client);
      assert.equal(await closed, '', `${counter}: nothing comes back`);
      assert.equal(await running.stat('proxy_protocol', 'pp', counter), 1, counter);
    }
    assert.equal(tagged.accepted() + plain.accepted(), upstreamsBefore, 'no upstream connection was opened');
    assert.equal(await running.stat('downstream', 'pp', 'connection_total'), closedBefore, 'refused sockets never became connections');
  });

  test('HTTP behind the header: the access log and X-Forwarded-For show the client from the header', async () => {
    const client = await dial(running.port('pp_http'));
    client.write('PROXY TCP4 203.0.113.50 198.51.100.80 51000 8080\r\nGET /who HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    const response = await closeOf(client);
    assert.match(response, /^HTTP\/1\.1 200/);
    const seen = web.seen.find((r) => r.url === '/who')!;
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.50');
    await until(() => {
      try {
        return readFileSync(accessLog, 'utf8').includes('\n');
      } catch {
        return false;
      }
    }, 'the access log line');
    assert.equal(readFileSync(accessLog, 'utf8').trim(), '203.0.113.50:51000 198.51.100.80:8080 200');
  });

  test('HTTP/2 (h2c) behind a v2 header: X-Forwarded-For shows the client', async () => {
    const http2 = await import('node:http2');
    const socket = await dial(running.port('pp_http'));
    socket.write(v2({ address: ipv4Block('203.0.113.60', '198.51.100.80', 52000, 8080) }));
    const session = http2.connect('http://example.com', { createConnection: () => socket });
    try {
      const req = session.request({ ':path': '/h2who' });
      req.resume();
      await once(req, 'end');
    } finally {
      session.close();
    }
    assert.equal(web.seen.find((r) => r.url === '/h2who')!.headers['x-forwarded-for'], '203.0.113.60');
  });
});

describe('use_original_dst and virtual listeners', () => {
  let tagged: Awaited<ReturnType<typeof namedEcho>>;
  let plain: Awaited<ReturnType<typeof namedEcho>>;
  let running: Running;
  let next: () => { address: string; port: number; family: 4 | 6 };
  let restore: ReturnType<typeof setOriginalDstLookup>;

  before(async () => {
    // Stands in for conntrack: what SO_ORIGINAL_DST would say for the next connection.
    restore = setOriginalDstLookup(() => next());
    tagged = await namedEcho('tagged');
    plain = await namedEcho('plain');
    const tcp = (cluster: string) => [{ filters: [{ type: 'tcp_proxy', config: { cluster } }] }];
    running = await startServer({
      servers: [{
        default_log_path: 'stdout',
        listeners: [
          { name: 'outbound', address: '127.0.0.1:0', bind_port: true, use_original_dst: 'redirect', filter_chains: tcp('plain') },
          { name: 'svc_8080', address: '10.0.0.5:8080', bind_port: false, filter_chains: tcp('tagged') },
          { name: 'any_9090', address: '0.0.0.0:9090', bind_port: false, filter_chains: tcp('tagged') },
        ],
      }],
      cluster_manager: {
        clusters: [
          { name: 'tagged', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${tagged.port}` }] },
          { name: 'plain', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${plain.port}` }] },
        ],
      },
      admin: ADMIN,
      disable_upgrade: true,
    });
  });

  after(async () => {
    setOriginalDstLookup(restore);
    await running.stop();
    await Promise.all([tagged.close(), plain.close()]);
  });

  async function exchange(text: string): Promise<string> {
    const client = await dial(running.port('outbound'));
    client.write(text);
    const reply = (await readBytes(client, text.length + 6)).toString();
    client.destroy();
    return reply;
  }

  test('a redirected connection is served by the virtual listener of its original destination, and counted there', async () => {
    next = () => ({ address: '10.0.0.5', port: 8080, family: 4 });
    assert.match(await exchange('to-svc'), /^tagged\|to-svc$/);
    next = () => ({ address: '192.0.2.1', port: 9090, family: 4 });
    assert.match(await exchange('to-any'), /^tagged\|to-any$/, 'the 0.0.0.0 listener of that port');
    assert.equal(await running.stat('original_dst', 'outbound', 'found'), 2);
    assert.equal(await running.stat('downstream', 'svc_8080', 'connection_total'), 1);
    assert.equal(await running.stat('downstream', 'any_9090', 'connection_total'), 1);
    assert.equal(await running.stat('downstream', 'outbound', 'connection_total'), 0);
  });

  test('no listener for the destination, or a connection that was not redirected: the accepting listener serves it', async () => {
    next = () => ({ address: '192.0.2.1', port: 1, family: 4 });
    assert.match(await exchange('kept-1'), /^plain\|kept-1$/);
    next = () => {
      throw Object.assign(new Error('getsockopt SO_ORIGINAL_DST: ENOENT'), { code: 'ENOENT' });
    };
    assert.match(await exchange('kept-2'), /^plain\|kept-2$/);
    assert.equal(await running.stat('original_dst', 'outbound', 'not_found'), 1);
    assert.equal(await running.stat('downstream', 'outbound', 'connection_total'), 2);
  });

  test('a virtual listener no use_original_dst listener can reach is warned about', () => {
    const server = new MosnServer(parseConfigText(JSON.stringify({
      servers: [{ listeners: [{ name: 'lonely', address: '10.0.0.5:80', bind_port: false, filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'c' } }] }] }] }],
      cluster_manager: { clusters: [{ name: 'c', type: 'SIMPLE', hosts: [{ address: '127.0.0.1:1' }] }] },
    })), { logging: { logger: pino({ level: 'silent' }), flush() {}, flushThen: (done: () => void) => done(), reopen() {} }, validateOnly: true });
    server.prepare();
    assert.ok(server.warnings.includes('servers[0].listeners[0]: bind_port is false and no listener has use_original_dst, so "lonely" receives no connection'), server.warnings.join('\n'));
  });
});

describe('fault_inject', () => {
  test('delays a connection\'s data by delay_duration, leaves the next listener\'s alone, and counts', async () => {
    const upstream = await namedEcho('up');
    const chain = (filters: unknown[]) => [{ filters: [...filters, { type: 'tcp_proxy', config: { cluster: 'up' } }] }];
    const running = await startServer({
      servers: [{
        default_log_path: 'stdout',
        listeners: [
          { name: 'faulty', address: '127.0.0.1:0', bind_port: true, filter_chains: chain([{ type: 'fault_inject', config: { delay_percent: 100, delay_duration: '250ms' } }]) },
          { name: 'healthy', address: '127.0.0.1:0', bind_port: true, filter_chains: chain([]) },
        ],
      }],
      cluster_manager: { clusters: [{ name: 'up', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${upstream.port}` }] }] },
      admin: ADMIN,
      disable_upgrade: true,
    });
    try {
      const timed = async (listener: string): Promise<number> => {
        const client = await dial(running.port(listener));
        await readBytes(client, 3); // "up|": the upstream connection is up at once
        const started = performance.now();
        client.write('ping');
        await readBytes(client, 4);
        client.destroy();
        return performance.now() - started;
      };
      const [slow, fast] = await Promise.all([timed('faulty'), sleep(20).then(() => timed('healthy'))]);
      assert.ok(slow >= 245, `delayed ${slow} ms`);
      assert.ok(fast < 200, `the other listener took ${fast} ms`);
      assert.equal(await running.stat('fault_inject', 'faulty', 'delays_injected'), 1);
      assert.equal(await running.stat('fault_inject', 'faulty', 'active_faults'), 0);
    } finally {
      await running.stop();
      await upstream.close();
    }
  });
});

describe('the real CLI', () => {
  test('bin/mosnode.js runs proxy_protocol + fault_inject + tcp_proxy from a config file', async () => {
    const upstream = await namedEcho('cli');
    const proc = await startMosnode({
      servers: [{
        default_log_path: 'stdout',
        listeners: [{
          name: 'pp',
          address: '127.0.0.1:0',
          bind_port: true,
          listener_filters: [{ type: 'proxy_protocol' }],
          filter_chains: [{ filters: [{ type: 'fault_inject', config: { delay_percent: 0 } }, { type: 'tcp_proxy', config: { routes: [{ cluster: 'up', source_addrs: [{ address: '203.0.113.7', length: 32 }] }] } }] }],
        }],
      }],
      cluster_manager: { clusters: [{ name: 'up', type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${upstream.port}` }] }] },
    });
    try {
      const client = await dial(proc.listenerAddress('pp').port);
      client.write('PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\ncli-data');
      assert.equal((await readBytes(client, 12)).toString(), 'cli|cli-data');
      client.destroy();
    } finally {
      await proc.cleanup();
      await upstream.close();
    }
  });
});

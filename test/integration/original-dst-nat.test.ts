/**
 * original_dst on connections the kernel really NATed: in a fresh network namespace
 * (unshare), nftables REDIRECT rules send connections for 10.0.0.0/24 and 2001:db8::/64
 * to a real mosnode (bin/mosnode.js, so `tsc` first) listening on [::]:15001 with
 * `use_original_dst: "redirect"`; SO_ORIGINAL_DST (an IPv4 client of the dual-stack
 * socket) and IP6T_SO_ORIGINAL_DST find the destinations, and the connections are served
 * by the virtual listeners (`bind_port: false`) of those destinations: exact, by the
 * 0.0.0.0 fallback, or kept when none stands for it. A peer program inside the namespace
 * runs the upstreams and clients (test/helpers/original-dst-nat-peer.ts).
 *
 * Needs root, unshare, nsenter, ip and nft (nftables): where any is missing the test is
 * skipped with the reason. The socket-option level always runs in
 * src/core/native-socket-options.test.ts; the hand-over logic in
 * src/network/listener-directory.test.ts and test/integration/listener-filters.test.ts.
 * Nothing outlives the test: the namespace (and its rules) goes with its last process.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, nativeLoadError } from '../../src/core/native.ts';
import { MOSNODE_BIN } from '../helpers/mosnode-process.ts';

const PEER = fileURLToPath(new URL('../helpers/original-dst-nat-peer.ts', import.meta.url));

/** Why this machine cannot run the test, or false. */
function natUnavailable(): string | false {
  if (process.platform !== 'linux') return 'SO_ORIGINAL_DST is Linux only';
  if (process.getuid?.() !== 0) return 'needs root (a network namespace and nftables rules)';
  if (native === undefined) return `the native addon is unavailable: ${nativeLoadError}`;
  for (const command of ['unshare', 'nsenter', 'ip', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0) {
      return `${command} is not installed${command === 'nft' ? ' (nftables: apt-get install nftables)' : ''}`;
    }
  }
  if (spawnSync('unshare', ['--net', 'true']).status !== 0) return 'cannot create a network namespace here (unshare --net failed)';
  return false;
}

const LISTENER_PORT = 15001;
const ADMIN_PORT = 34901;
const UPSTREAMS = { svc: 20001, svc6: 20002, any: 20003, kept: 20004 };

/** The namespace: loopback up, the test prefixes routed to it, REDIRECT rules; then it waits. */
const NAMESPACE_SETUP = `set -e
ip link set lo up
ip route add 10.0.0.0/24 dev lo src 127.0.0.1
ip -6 route add local 2001:db8::/64 dev lo
nft -f - <<'EOF'
table ip mosnode_test {
  chain output {
    type nat hook output priority -100;
    ip daddr 10.0.0.0/24 tcp dport { 7070, 8080, 9090 } redirect to :${LISTENER_PORT}
  }
}
table ip6 mosnode_test {
  chain output {
    type nat hook output priority -100;
    ip6 daddr 2001:db8::/64 tcp dport 8080 redirect to :${LISTENER_PORT}
  }
}
EOF
echo ready
exec sleep 600
`;

function mosnodeConfig(): object {
  const tcp = (cluster: string) => [{ filters: [{ type: 'tcp_proxy', config: { cluster } }] }];
  return {
    servers: [{
      default_log_path: 'stdout',
      graceful_timeout: '1s',
      listeners: [
        { name: 'outbound', address: `[::]:${LISTENER_PORT}`, bind_port: true, use_original_dst: 'redirect', filter_chains: tcp('kept') },
        { name: 'svc', address: '10.0.0.5:8080', bind_port: false, filter_chains: tcp('svc') },
        { name: 'svc6', address: '[2001:db8::5]:8080', bind_port: false, filter_chains: tcp('svc6') },
        { name: 'any9090', address: '0.0.0.0:9090', bind_port: false, filter_chains: tcp('any') },
      ],
    }],
    cluster_manager: {
      clusters: Object.entries(UPSTREAMS).map(([name, port]) => ({ name, type: 'SIMPLE', hosts: [{ address: `127.0.0.1:${port}` }] })),
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: ADMIN_PORT } } },
    disable_upgrade: true,
  };
}

/** The first stdout line of `child` that equals `line`; rejects if it exits first. */
function lineFrom(child: ChildProcess, line: string, output: { text: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output.text += d.toString();
      if (output.text.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}) before "${line}": ${output.text}`)));
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe('original_dst on NATed connections (nftables REDIRECT in a network namespace)', () => {
  test('SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST hand each connection to the listener of its destination', { timeout: 60_000, skip: natUnavailable() }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mosnode-nat-'));
    let holder: ChildProcess | undefined;
    let peer: ChildProcess | undefined;
    let mosnode: ChildProcess | undefined;
    const logs = { text: '' };
    try {
      holder = spawn('unshare', ['--net', 'sh', '-c', NAMESPACE_SETUP], { stdio: ['ignore', 'pipe', 'pipe'] });
      const holderOut = { text: '' };
      let holderErr = '';
      holder.stderr!.on('data', (d: Buffer) => (holderErr += d));
      await lineFrom(holder, 'ready', holderOut).catch((err: Error) => {
        throw new Error(`${err.message}; stderr: ${holderErr}`);
      });
      const netns = `--net=/proc/${holder.pid}/ns/net`;

      const destinations: Array<[string, number, string]> = [
        ['10.0.0.5', 8080, 'exact-v4'],
        ['10.0.0.9', 9090, 'fallback-any'],
        ['10.0.0.9', 7070, 'no-listener'],
        ['2001:db8::5', 8080, 'exact-v6'],
        ['127.0.0.1', LISTENER_PORT, 'direct'],
      ];
      peer = spawn('nsenter', [netns, process.execPath, PEER, JSON.stringify(UPSTREAMS), String(LISTENER_PORT), String(ADMIN_PORT), JSON.stringify(destinations)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const peerOut = { text: '' };
      await lineFrom(peer, 'ready', peerOut);
      const peerExit = once(peer, 'exit');

      const configPath = join(dir, 'config.json');
      writeFileSync(configPath, JSON.stringify(mosnodeConfig()));
      mosnode = spawn('nsenter', [netns, process.execPath, MOSNODE_BIN, 'start', '-c', configPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      mosnode.stdout!.on('data', (d: Buffer) => (logs.text += d));
      mosnode.stderr!.on('data', (d: Buffer) => (logs.text += d));

      const [code] = await peerExit;
      assert.equal(code, 0, `peer failed: ${peerOut.text}\nmosnode: ${logs.text}`);
      const result = JSON.parse(peerOut.text.trim().split('\n').at(-1)!) as {
        replies: string[];
        stats: Record<string, Record<string, Record<string, string>>>;
      };
      assert.deepEqual(result.replies, [
        'svc|exact-v4',       // SO_ORIGINAL_DST (IPv4 on a dual-stack socket) -> listener 10.0.0.5:8080
        'any|fallback-any',   // no 10.0.0.9:9090 listener -> 0.0.0.0:9090
        'kept|no-listener',   // nobody stands for :7070 -> the accepting listener
        'svc6|exact-v6',      // IP6T_SO_ORIGINAL_DST -> listener [2001:db8::5]:8080
        'kept|direct',        // not redirected
      ], logs.text);
      const stat = (type: string, listener: string, key: string): number => Number(result.stats[type]?.[`listener.${listener}`]?.[key] ?? 0);
      assert.equal(stat('downstream', 'svc', 'connection_total'), 1);
      assert.equal(stat('downstream', 'svc6', 'connection_total'), 1);
      assert.equal(stat('downstream', 'any9090', 'connection_total'), 1);
      // Two kept ones, and the peer's probe that waited for the listener.
      assert.equal(stat('downstream', 'outbound', 'connection_total'), 3);
      // Direct connections (the last one and the probe) are "found" with their own address
      // where conntrack tracks them (it does here: the nat table turns tracking on), else
      // "not_found".
      assert.equal(stat('original_dst', 'outbound', 'found') + stat('original_dst', 'outbound', 'not_found'), 6);
      assert.ok(stat('original_dst', 'outbound', 'found') >= 4);
      assert.equal(stat('original_dst', 'outbound', 'error'), 0);
    } finally {
      await stop(mosnode);
      await stop(peer);
      await stop(holder);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

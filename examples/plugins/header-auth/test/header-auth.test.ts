/**
 * Tests of the example plugin, as a plugin author would write them: the config parser on
 * its own, then the filter inside a real mosnode process started from the example config
 * (ports changed to 0, the upstream replaced by a test server), with real HTTP requests.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHeaderAuthConfig } from '../src/index.ts';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
// In a plugin's own repository this is node_modules/.bin/mosnode.
const MOSNODE = here('../../../../bin/mosnode.js');
const PATH = 'servers[0].listeners[0].stream_filters[0].config';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('parseHeaderAuthConfig', () => {
  test('defaults and digests', () => {
    const c = parseHeaderAuthConfig({ tokens: [{ subject: 'a', sha256: sha256('t').toUpperCase() }] }, PATH);
    assert.equal(c.header, 'authorization');
    assert.equal(c.realm, 'mosnode');
    assert.equal(c.strip, true);
    assert.equal(c.subjects.get(sha256('t')), 'a');
  });

  test('errors name the JSON path', () => {
    const rejects = (raw: unknown, where: string): void =>
      assert.throws(() => parseHeaderAuthConfig(raw, PATH), (err: Error & { path?: string }) => err.path === where && err.message.startsWith(`${where}: expected`));
    rejects({}, `${PATH}.tokens`);
    rejects({ tokens: [{ subject: 'a', sha256: 'abc' }] }, `${PATH}.tokens[0].sha256`);
    rejects({ tokens: [{ sha256: sha256('t') }] }, `${PATH}.tokens[0].subject`);
    rejects({ tokens: [{ subject: 'a', sha256: sha256('t') }], strip: 'yes' }, `${PATH}.strip`);
  });
});

describe('header_auth in a running mosnode', () => {
  let upstream: Server;
  let seen: IncomingHttpHeaders[];
  let child: ChildProcess;
  let dir: string;
  let port: number;
  let admin: string;

  before(async () => {
    seen = [];
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.end('hello from upstream\n');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');

    const config = JSON.parse(readFileSync(here('../../config.json'), 'utf8'));
    config.plugins = [here('../src/index.ts')];
    config.servers[0].listeners[0].address = '127.0.0.1:0';
    config.admin.address.socket_address.port_value = 0;
    config.cluster_manager.clusters[0].hosts[0].address = `127.0.0.1:${(upstream.address() as { port: number }).port}`;
    dir = mkdtempSync(join(tmpdir(), 'header-auth-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    child = spawn(process.execPath, [MOSNODE, 'start', '-c', join(dir, 'config.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
    // mosnode logs JSON lines; the bound addresses are in them.
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`mosnode exited with ${code}: ${out}`)));
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (!out.includes('"mosnode is running"')) return;
        for (const line of out.split('\n')) {
          if (line.includes('"listener started"')) port = Number(String(JSON.parse(line).address).split(':').pop());
          if (line.includes('"admin API started"')) admin = `http://127.0.0.1:${JSON.parse(line).address.port}`;
        }
        resolve();
      });
    });
  });

  after(async () => {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`, { headers });

  test('no token: 401 with a challenge, the upstream never sees the request', async () => {
    const before = seen.length;
    const res = await get('/private', { 'x-auth-subject': 'admin' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="example"');
    await res.text();
    assert.equal(seen.length, before);
  });

  test('a wrong token: 401 invalid_token', async () => {
    const res = await get('/private', { authorization: 'Bearer guess' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="example", error="invalid_token"');
    await res.text();
  });

  test('the right token: through, credential stripped, subject told to the upstream', async () => {
    const res = await get('/private', { authorization: 'Bearer example-token', 'x-auth-subject': 'admin' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from upstream\n');
    const h = seen.at(-1)!;
    assert.equal(h.authorization, undefined);
    assert.equal(h['x-auth-subject'], 'example-client');
  });

  test('a route with per_filter_config disabled is public, and a forged subject is dropped', async () => {
    const res = await get('/public/page', { 'x-auth-subject': 'admin' });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(seen.at(-1)!['x-auth-subject'], undefined);
  });

  test('the counters', async () => {
    const stats = (await (await fetch(`${admin}/api/v1/stats?key=header_auth.listener.ingress`)).json()) as Record<string, Record<string, Record<string, string>>>;
    assert.deepEqual(stats.header_auth?.['listener.ingress'], { allowed: '1', denied: '2', filter_failures: '0' });
  });
});

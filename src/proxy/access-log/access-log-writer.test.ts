import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { isMosnError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { AccessLogWriter, AccessLogWriters, accessLogOutputKey } from './access-log-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'mosnode-access-log-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const read = (path: string): string => readFileSync(path, 'utf8');

test('writes lines to a file, creating its folder', async () => {
  const path = join(dir, 'new', 'nested', 'access.log');
  const writer = new AccessLogWriter(path);
  assert.equal(writer.output, path);
  assert.equal(writer.write('one\n'), true);
  assert.equal(writer.write('two\n'), true);
  await writer.flush();
  assert.equal(read(path), 'one\ntwo\n');
  assert.equal(writer.pendingBytes, 0);
  assert.equal(writer.writtenBytes, 8);
  writer.write('three\n');
  await writer.close();
  assert.equal(read(path), 'one\ntwo\nthree\n');
});

test('appends to an existing file', async () => {
  const path = join(dir, 'existing.log');
  writeFileSync(path, 'before\n');
  const writer = new AccessLogWriter(path);
  writer.write('after\n');
  await writer.close();
  assert.equal(read(path), 'before\nafter\n');
});

test('counts bytes, not characters, for lines that are not ASCII', async () => {
  const path = join(dir, 'utf8.log');
  const writer = new AccessLogWriter(path);
  writer.write('h\u00e9llo \u2713 \u{1f600}\n');
  await writer.flush();
  assert.equal(writer.pendingBytes, 0);
  assert.equal(writer.writtenBytes, Buffer.byteLength('h\u00e9llo \u2713 \u{1f600}\n'));
  await writer.close();
  assert.equal(read(path), 'h\u00e9llo \u2713 \u{1f600}\n');
});

test('large bursts are handed over in chunks and all written', async () => {
  const path = join(dir, 'burst.log');
  const writer = new AccessLogWriter(path);
  const line = 'x'.repeat(99) + '\n';
  for (let i = 0; i < 5000; i++) assert.equal(writer.write(line), true);
  // 500 KB in one turn of the event loop: handed over in 16 KiB chunks, not held.
  assert.ok(writer.pendingBytes >= 5000 * 100 - 16 * 1024);
  await writer.flush();
  assert.equal(read(path).length, 5000 * 100);
  assert.equal(writer.dropped, 0);
  await writer.close();
});

test('drops and counts lines beyond the buffer bound instead of growing', async () => {
  const path = join(dir, 'bounded.log');
  const writer = new AccessLogWriter(path, { maxBufferBytes: 1000 });
  const line = 'y'.repeat(99) + '\n';
  let accepted = 0;
  // Nothing is written within one turn of the event loop, so the bound is reached.
  for (let i = 0; i < 100; i++) if (writer.write(line)) accepted++;
  assert.equal(accepted, 10);
  assert.equal(writer.dropped, 90);
  assert.ok(writer.pendingBytes <= 1000);
  await writer.flush();
  assert.equal(read(path), line.repeat(10));
  // Once written, there is room again.
  assert.equal(writer.write(line), true);
  await writer.close();
  assert.equal(read(path), line.repeat(11));
  assert.equal(writer.dropped, 90);
});

test('reopen after rename: later lines go to a new file at the path (rotation)', async () => {
  const path = join(dir, 'rotate.log');
  const writer = new AccessLogWriter(path);
  writer.write('first\n');
  await writer.flush();
  renameSync(path, path + '.1');
  // Until reopen, the open descriptor still writes to the renamed file.
  writer.write('second\n');
  writer.reopen();
  writer.write('third\n');
  await writer.flush();
  assert.equal(read(path + '.1'), 'first\nsecond\n');
  assert.equal(read(path), 'third\n');
  await writer.close();
  assert.equal(read(path), 'third\n');
});

test('reopen recreates a removed folder', async () => {
  const sub = join(dir, 'gone');
  const path = join(sub, 'a.log');
  const writer = new AccessLogWriter(path);
  writer.write('1\n');
  await writer.flush();
  rmSync(sub, { recursive: true });
  writer.reopen();
  writer.write('2\n');
  await writer.flush();
  assert.equal(read(path), '2\n');
  await writer.close();
});

test('a reopen asked before the file is open, then close: nothing is lost', async () => {
  const path = join(dir, 'early.log');
  const writer = new AccessLogWriter(path);
  writer.reopen();
  writer.write('x\n');
  await writer.close();
  assert.equal(read(path), 'x\n');
  const other = new AccessLogWriter(join(dir, 'early2.log'));
  other.write('y\n');
  other.reopen();
  other.write('z\n');
  await other.flush();
  assert.equal(read(join(dir, 'early2.log')), 'y\nz\n');
  await other.close();
});

test('close during a reopen waits for the reopen, then writes and closes', async () => {
  const path = join(dir, 'reopen-close.log');
  const writer = new AccessLogWriter(path);
  writer.write('a\n');
  await writer.flush();
  writer.write('b\n');
  writer.reopen();
  writer.write('c\n');
  await writer.close();
  assert.equal(read(path), 'a\nb\nc\n');
});

test('close writes what is waiting, is idempotent, and later lines are dropped', async () => {
  const path = join(dir, 'close.log');
  const writer = new AccessLogWriter(path);
  writer.write('a\n');
  writer.write('b\n');
  const closing = writer.close();
  assert.equal(writer.close(), closing);
  assert.equal(writer.write('late\n'), false);
  await closing;
  assert.equal(writer.closed, true);
  assert.equal(read(path), 'a\nb\n');
  assert.equal(writer.dropped, 1);
  await writer.flush();
  writer.reopen();
});

test('flush waits for the lines logged before it, not for later ones', async () => {
  const path = join(dir, 'busy.log');
  const writer = new AccessLogWriter(path);
  const line = 'z'.repeat(199) + '\n';
  for (let i = 0; i < 100; i++) writer.write(line);
  let flushed = false;
  const flushing = writer.flush().then(() => (flushed = true));
  // Keep logging every turn of the event loop until the flush resolves.
  for (let turn = 0; !flushed; turn++) {
    assert.ok(turn < 10_000, 'flush did not resolve under load');
    for (let i = 0; i < 50; i++) writer.write(line);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await flushing;
  assert.ok(writer.writtenBytes >= 100 * 200);
  await writer.close();
});

test('a failing disk: flush rejects with MOSN_ERR_LOG_FILE, errors are counted and logged once, close still ends', async () => {
  const logged: unknown[] = [];
  const logger = { error: (obj: unknown) => logged.push(obj) } as unknown as Logger;
  // Linux's /dev/full fails every write with ENOSPC.
  const writer = new AccessLogWriter('/dev/full', { logger });
  writer.write('lost\n');
  await assert.rejects(writer.flush(), (err: unknown) => isMosnError(err, 'MOSN_ERR_LOG_FILE') && err.message.includes('/dev/full'));
  writer.write('lost too\n');
  await assert.rejects(writer.flush(), (err: unknown) => isMosnError(err, 'MOSN_ERR_LOG_FILE'));
  assert.ok(writer.errors >= 2);
  assert.equal(logged.length, 1);
  await writer.close();
  assert.equal(writer.closed, true);
});

test('an unwritable path is MOSN_ERR_LOG_FILE naming the path', () => {
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, '');
  const path = join(blocker, 'sub', 'access.log');
  assert.throws(
    () => new AccessLogWriter(path, { configPath: 'servers[0].listeners[0].access_logs[0].log_path' }),
    (err: unknown) =>
      isMosnError(err, 'MOSN_ERR_LOG_FILE') && err.message.includes(path) && err.message.includes('servers[0].listeners[0].access_logs[0].log_path'),
  );
  assert.throws(() => new AccessLogWriter(dir), (err: unknown) => isMosnError(err, 'MOSN_ERR_LOG_FILE') && err.message.includes(dir));
});

test("MOSN's output names: stdout, stderr, and syslog refused", () => {
  assert.equal(accessLogOutputKey('stdout'), 'stdout');
  assert.equal(accessLogOutputKey('/dev/stdout'), 'stdout');
  assert.equal(accessLogOutputKey(''), 'stdout');
  assert.equal(accessLogOutputKey('stderr'), 'stderr');
  assert.equal(accessLogOutputKey('/dev/stderr'), 'stderr');
  assert.equal(accessLogOutputKey(join(dir, 'x', '..', 'y.log')), join(dir, 'y.log'));
  for (const output of ['syslog', 'syslog://127.0.0.1:514', 'syslog+tcp://127.0.0.1:514', 'syslog+udp://127.0.0.1:514']) {
    assert.throws(
      () => accessLogOutputKey(output, 'servers[0].listeners[1].access_logs[0].log_path'),
      (err: unknown) => isMosnError(err, 'MOSN_ERR_CONFIG_UNSUPPORTED') && err.message.startsWith('servers[0].listeners[1].access_logs[0].log_path: '),
    );
  }
});

test('one writer per output: the same path is shared, references are counted', async () => {
  const writers = new AccessLogWriters();
  const path = join(dir, 'shared.log');
  const a = writers.acquire(path);
  const b = writers.acquire(join(dir, 'sub', '..', 'shared.log'));
  const other = writers.acquire(join(dir, 'other.log'));
  assert.equal(a, b);
  assert.notEqual(a, other);
  const out = writers.acquire('stdout');
  assert.equal(writers.acquire('/dev/stdout'), out);
  assert.equal(writers.acquire(''), out);
  assert.notEqual(writers.acquire('stderr'), out);
  assert.equal(writers.list().length, 4);

  a.write('from listener a\n');
  b.write('from listener b\n');
  await writers.flushAll();
  assert.equal(read(path), 'from listener a\nfrom listener b\n');

  await writers.release(a);
  assert.equal(b.closed, false);
  b.write('still open\n');
  await writers.release(b);
  assert.equal(b.closed, true);
  assert.equal(read(path), 'from listener a\nfrom listener b\nstill open\n');
  // A new acquire after the last release opens a fresh writer.
  const again = writers.acquire(path);
  assert.notEqual(again, a);
  again.write('before rotation\n');
  await again.flush();

  renameSync(path, path + '.1');
  writers.reopenAll();
  again.write('after rotation\n');
  await writers.closeAll();
  assert.equal(read(path + '.1'), 'from listener a\nfrom listener b\nstill open\nbefore rotation\n');
  assert.equal(read(path), 'after rotation\n');
  assert.equal(other.closed, true);
  assert.equal(out.closed, true);
  assert.deepEqual(writers.list(), []);
});

test('lines still waiting when the process exits are written', () => {
  const path = join(dir, 'exit.log');
  const module = new URL('./access-log-writer.ts', import.meta.url).href;
  const script = `
    import { AccessLogWriter } from ${JSON.stringify(module)};
    const writer = new AccessLogWriter(${JSON.stringify(path)});
    for (let i = 0; i < 3; i++) writer.write('line ' + i + '\\n');
    process.exit(0);
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.ok(existsSync(path));
  assert.equal(read(path), 'line 0\nline 1\nline 2\n');
});

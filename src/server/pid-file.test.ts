import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MosnError } from '../core/errors.ts';
import { isProcessAlive, pidFilePath, readPidFile, removePidFileIfOurs, writePidFile } from './pid-file.ts';

describe('pidFilePath', () => {
  test('the configured pid path wins', () => {
    assert.equal(pidFilePath('/var/run/mosn.pid', '/etc/mosn/mosn.json'), '/var/run/mosn.pid');
    assert.equal(pidFilePath('/var/run/mosn.pid', undefined), '/var/run/mosn.pid');
  });

  test('else mosnode.pid beside the config file', () => {
    assert.equal(pidFilePath(undefined, '/etc/mosn/mosn.json'), '/etc/mosn/mosnode.pid');
  });

  test('no pid and no config file (the built-in config) means no pid file', () => {
    assert.equal(pidFilePath(undefined, undefined), undefined);
  });
});

describe('pid file on disk', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mosnode-pid-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('write then read gives the pid back, and leaves no temporary file', () => {
    const path = join(dir, 'round-trip.pid');
    writePidFile(path, 4242);
    assert.equal(readFileSync(path, 'utf8'), '4242\n');
    assert.equal(readPidFile(path), 4242);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('round-trip')), ['round-trip.pid']);
  });

  test('the pid defaults to this process', () => {
    const path = join(dir, 'self.pid');
    writePidFile(path);
    assert.equal(readPidFile(path), process.pid);
  });

  test('writing creates missing folders and replaces an old file', () => {
    const path = join(dir, 'a', 'b', 'nested.pid');
    writePidFile(path, 1);
    writePidFile(path, 2);
    assert.equal(readPidFile(path), 2);
  });

  test('surrounding whitespace is accepted', () => {
    const path = join(dir, 'spaces.pid');
    writeFileSync(path, '  123 \n\n');
    assert.equal(readPidFile(path), 123);
  });

  test('no file reads as undefined', () => {
    assert.equal(readPidFile(join(dir, 'missing.pid')), undefined);
  });

  test('a file that does not hold a pid is MOSN_ERR_PID_FILE', () => {
    for (const garbage of ['', 'hello', '12abc', '1.5', '0', '-7', '12 34']) {
      const path = join(dir, 'garbage.pid');
      writeFileSync(path, garbage);
      assert.throws(
        () => readPidFile(path),
        (err: unknown) => {
          assert.ok(err instanceof MosnError);
          assert.equal(err.code, 'MOSN_ERR_PID_FILE');
          assert.ok(err.message.includes(path), err.message);
          return true;
        },
        `content ${JSON.stringify(garbage)}`,
      );
    }
  });

  test('a path that cannot be read (a folder) is MOSN_ERR_PID_FILE', () => {
    assert.throws(
      () => readPidFile(dir),
      (err: unknown) => err instanceof MosnError && err.code === 'MOSN_ERR_PID_FILE' && err.message.includes(dir),
    );
  });

  test('removePidFileIfOurs removes a file naming us', () => {
    const path = join(dir, 'ours.pid');
    writePidFile(path, 777);
    removePidFileIfOurs(path, 777);
    assert.equal(existsSync(path), false);
  });

  test('removePidFileIfOurs defaults to this process', () => {
    const path = join(dir, 'ours-default.pid');
    writePidFile(path);
    removePidFileIfOurs(path);
    assert.equal(existsSync(path), false);
  });

  test('removePidFileIfOurs leaves a file naming another pid (a successor)', () => {
    const path = join(dir, 'successor.pid');
    writePidFile(path, 778);
    removePidFileIfOurs(path, 777);
    assert.equal(readPidFile(path), 778);
  });

  test('removePidFileIfOurs leaves a garbage file and ignores a missing one', () => {
    const path = join(dir, 'not-a-pid.pid');
    writeFileSync(path, 'junk');
    removePidFileIfOurs(path, 777);
    assert.equal(readFileSync(path, 'utf8'), 'junk');
    assert.doesNotThrow(() => removePidFileIfOurs(join(dir, 'never-written.pid'), 777));
  });
});

describe('isProcessAlive', () => {
  test('this process is alive', () => {
    assert.equal(isProcessAlive(process.pid), true);
  });

  test('a child process that has exited is not', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const pid = child.pid;
    assert.ok(pid !== undefined);
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    assert.equal(isProcessAlive(pid), false);
  });
});

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MosnError } from '../core/errors.ts';
import { parseArgs, USAGE } from './args.ts';

function assertUsageError(argv: string[], detail?: RegExp): void {
  assert.throws(
    () => parseArgs(argv),
    (err: unknown) => {
      assert.ok(err instanceof MosnError, `expected MosnError, got ${String(err)}`);
      assert.equal(err.code, 'MOSN_ERR_USAGE');
      assert.match(err.message, /\(see "mosnode help"\)$/);
      if (detail !== undefined) assert.match(err.message, detail);
      return true;
    },
  );
}

describe('parseArgs commands', () => {
  test('no arguments means help', () => {
    assert.deepEqual(parseArgs([]), { command: 'help', config: undefined, logLevel: undefined, drainTimeS: undefined });
  });

  test('each command by name', () => {
    assert.equal(parseArgs(['start']).command, 'start');
    assert.equal(parseArgs(['version']).command, 'version');
    assert.equal(parseArgs(['help']).command, 'help');
    assert.equal(parseArgs(['stop', '-c', 'a.json']).command, 'stop');
    assert.equal(parseArgs(['validate', '-c', 'a.json']).command, 'validate');
  });

  test('start without -c uses the built-in config', () => {
    assert.deepEqual(parseArgs(['start']), { command: 'start', config: undefined, logLevel: undefined, drainTimeS: undefined });
  });

  test('an unknown command', () => {
    assertUsageError(['run'], /unknown command "run"/);
    assertUsageError(['Start'], /unknown command "Start"/);
  });

  test('a second positional argument', () => {
    assertUsageError(['start', 'extra'], /unexpected argument "extra"/);
    assertUsageError(['start', 'stop'], /unexpected argument "stop"/);
  });

  test('-h/--help and -v/--version choose a command', () => {
    assert.equal(parseArgs(['-h']).command, 'help');
    assert.equal(parseArgs(['--help']).command, 'help');
    assert.equal(parseArgs(['-v']).command, 'version');
    assert.equal(parseArgs(['--version']).command, 'version');
    assert.equal(parseArgs(['start', '-h']).command, 'help');
  });

  test('stop and validate need -c', () => {
    assertUsageError(['stop'], /"stop" needs -c FILE/);
    assertUsageError(['validate'], /"validate" needs -c FILE/);
    assertUsageError(['validate', '-l', 'INFO'], /"validate" needs -c FILE/);
  });

  test('the usage text lists every command and flag', () => {
    for (const word of ['start', 'stop', 'validate', 'version', 'help', '--config', '--log-level', '--drain-time-s']) {
      assert.ok(USAGE.includes(word), word);
    }
  });
});

describe('parseArgs flags', () => {
  test('-c, --config, -config and --config= all set the config file', () => {
    assert.equal(parseArgs(['start', '-c', 'mosn.json']).config, 'mosn.json');
    assert.equal(parseArgs(['start', '--config', '/etc/mosn.json']).config, '/etc/mosn.json');
    assert.equal(parseArgs(['start', '-config', 'go-style.json']).config, 'go-style.json');
    assert.equal(parseArgs(['start', '--config=/etc/a=b.json']).config, '/etc/a=b.json');
  });

  test('flags may come before the command', () => {
    assert.deepEqual(parseArgs(['-c', 'a.json', 'validate']), { command: 'validate', config: 'a.json', logLevel: undefined, drainTimeS: undefined });
  });

  test('the last -c wins', () => {
    assert.equal(parseArgs(['start', '-c', 'a.json', '--config=b.json']).config, 'b.json');
  });

  test('-l/--log-level is case-insensitive and kept upper-case', () => {
    assert.equal(parseArgs(['start', '-l', 'debug']).logLevel, 'DEBUG');
    assert.equal(parseArgs(['start', '--log-level', 'Warn']).logLevel, 'WARN');
    assert.equal(parseArgs(['start', '--log-level=error']).logLevel, 'ERROR');
    assert.equal(parseArgs(['start', '-log-level', 'TRACE']).logLevel, 'TRACE');
    assert.equal(parseArgs(['start', '-l', 'fatal']).logLevel, 'FATAL');
    assert.equal(parseArgs(['start', '-l', 'INFO']).logLevel, 'INFO');
  });

  test('an unknown log level', () => {
    assertUsageError(['start', '-l', 'verbose'], /-l: unknown level "verbose"/);
    assertUsageError(['start', '--log-level=loud'], /--log-level: unknown level "loud"/);
    assertUsageError(['start', '--log-level='], /--log-level needs a value/);
  });

  test('--drain-time-s takes a number of seconds', () => {
    assert.equal(parseArgs(['start', '--drain-time-s', '30']).drainTimeS, 30);
    assert.equal(parseArgs(['start', '--drain-time-s=0']).drainTimeS, 0);
    assert.equal(parseArgs(['start', '--drain-time-s', '2.5']).drainTimeS, 2.5);
    assert.equal(parseArgs(['start', '-drain-time-s', '7']).drainTimeS, 7);
  });

  test('a bad --drain-time-s', () => {
    assertUsageError(['start', '--drain-time-s', 'soon'], /expected a number of seconds, got "soon"/);
    assertUsageError(['start', '--drain-time-s', '-1']);
    assertUsageError(['start', '--drain-time-s=1e3']);
    assertUsageError(['start', '--drain-time-s=30s']);
    assertUsageError(['start', '--drain-time-s=']);
  });

  test('an unknown flag', () => {
    assertUsageError(['start', '--verbose'], /unknown flag "--verbose"/);
    assertUsageError(['start', '-x'], /unknown flag "-x"/);
    assertUsageError(['start', '--colour=red'], /unknown flag "--colour=red"/);
    // "=" is only split for "--" flags.
    assertUsageError(['start', '-c=a.json'], /unknown flag "-c=a.json"/);
  });

  test('a flag with its value missing', () => {
    assertUsageError(['start', '-c'], /-c needs a value/);
    assertUsageError(['start', '--config'], /--config needs a value/);
    assertUsageError(['start', '-l'], /-l needs a value/);
    assertUsageError(['start', '--drain-time-s'], /--drain-time-s needs a value/);
    assertUsageError(['start', '-c', ''], /-c needs a value/);
  });

  test('an empty "--config=" is a missing value too, like "-c \'\'"', () => {
    assertUsageError(['start', '--config='], /--config needs a value/);
  });
});

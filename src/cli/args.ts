/**
 * @module cli/args
 * Parses mosnode's command line, with MOSN's commands and flags:
 * `start [-c FILE]`, `stop -c FILE`, `validate -c FILE`, `version`, `help`, and the flags
 * `--config/-c`, `--log-level/-l`, `--drain-time-s`. `--flag=value` works too.
 */
import { MosnError } from '../core/errors.ts';
import { toPinoLevel } from '../core/logger.ts';

export type Command = 'start' | 'stop' | 'validate' | 'version' | 'help';

export interface CliArgs {
  command: Command;
  config: string | undefined;
  logLevel: string | undefined;
  drainTimeS: number | undefined;
}

const COMMANDS: readonly Command[] = ['start', 'stop', 'validate', 'version', 'help'];

export const USAGE = `usage: mosnode <command> [flags]

commands:
  start     [-c FILE]   run the proxy (no -c: the built-in default config)
  stop      -c FILE     gracefully stop the instance whose pid file that config names
  validate  -c FILE     check a config and exit (0 = valid)
  version               print the version
  help                  print this text

flags:
  -c, --config FILE         MOSN v2 config file (JSON or YAML)
  -l, --log-level LEVEL     TRACE, DEBUG, INFO, WARN, ERROR or FATAL (overrides the config)
      --drain-time-s N      seconds to drain connections on stop (default: graceful_timeout)`;

function usageError(message: string): MosnError {
  return new MosnError('MOSN_ERR_USAGE', `${message} (see "mosnode help")`);
}

export function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { command: 'help', config: undefined, logLevel: undefined, drainTimeS: undefined };
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) {
        if (eq === arg.length - 1) throw usageError(`${name} needs a value`);
        return arg.slice(eq + 1);
      }
      const next = argv[++i];
      if (next === undefined || next === '') throw usageError(`${name} needs a value`);
      return next;
    };
    switch (name) {
      case '-c': case '--config': case '-config':
        args.config = value();
        break;
      case '-l': case '--log-level': case '-log-level': {
        const level = value();
        if (toPinoLevel(level) === undefined) throw usageError(`${name}: unknown level "${level}" (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)`);
        args.logLevel = level.toUpperCase();
        break;
      }
      case '--drain-time-s': case '-drain-time-s': {
        const text = value();
        const n = Number(text);
        if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n)) throw usageError(`${name}: expected a number of seconds, got "${text}"`);
        args.drainTimeS = n;
        break;
      }
      case '-h': case '--help':
        command = 'help';
        break;
      case '-v': case '--version':
        command = 'version';
        break;
      default:
        if (arg.startsWith('-')) throw usageError(`unknown flag "${arg}"`);
        if (command !== undefined) throw usageError(`unexpected argument "${arg}"`);
        if (!COMMANDS.includes(arg as Command)) throw usageError(`unknown command "${arg}"`);
        command = arg;
    }
  }
  args.command = (command ?? 'help') as Command;
  if ((args.command === 'stop' || args.command === 'validate') && args.config === undefined) {
    throw usageError(`"${args.command}" needs -c FILE`);
  }
  return args;
}

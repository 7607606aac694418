// Credential helpers in: a provider's key comes from a command the person already trusts (a password
// manager, a vault, a gateway's token script) instead of the store. The command runs with an argument
// vector (never a shell) in a process group of its own, bounded in time and output (bounded-command.ts);
// what it prints is trimmed and checked like a typed key, and neither its output nor its errors are ever
// repeated in a message.
import { ConfigError } from '../errors.js';
import type { KeyCommandSetting } from '../providers/registry.js';
import type { EnvVars } from '../shared/home.js';
import { childEnvironment } from '../shared/child-env.js';
import { runBoundedCommand } from '../shared/bounded-command.js';

/** More output than this is no key: the command is ended. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/** The command as a person would type it, for `status` and error messages (never its output). */
export function describeCommand(argv: readonly string[]): string {
  return argv.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * Runs `command` and returns the key it printed on stdout, trimmed. `problem(key)` says why a key is not
 * well formed (or undefined when it is). Every failure is a ConfigError that names the command and what
 * went wrong — exit status, time-out, size, shape — and never quotes what the command printed.
 */
export async function runKeyCommand(
  command: KeyCommandSetting,
  env: EnvVars,
  problem: (key: string) => string | undefined,
): Promise<string> {
  const shown = describeCommand(command.argv);
  const timeoutMs = command.timeoutMs;
  const outcome = await runBoundedCommand(command.argv, { env: childEnvironment(env), timeoutMs, maxOutputBytes: MAX_OUTPUT_BYTES });
  const fail = (what: string): never => {
    throw new ConfigError(`The key command \`${shown}\` ${what}.\nRun it yourself to see why, or fix "keyCommand" in config.json.`);
  };
  if (outcome.kind === 'not_found') fail('could not be started (command not found)');
  if (outcome.kind === 'timeout') fail(`did not finish within ${Math.round(timeoutMs / 1000)} s`);
  if (outcome.kind === 'too_large') fail(`printed more than ${MAX_OUTPUT_BYTES / 1024} KiB, which is no key`);
  if (outcome.kind === 'failed') fail(`exited with status ${outcome.status}`);
  const key = outcome.kind === 'ok' ? outcome.stdout.toString('utf8').trim() : '';
  if (!key) fail('printed no key');
  const why = problem(key);
  if (why) fail(`printed something that is not a key (${why})`);
  return key;
}

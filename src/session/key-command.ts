// Credential helpers in: a provider's key comes from a command the person already trusts (a password
// manager, a vault, a gateway's token script) instead of the store. The command runs with an argument
// vector (never a shell), bounded in time and output; what it prints is trimmed and checked like a typed
// key, and neither its output nor its errors are ever repeated in a message.
import { spawn } from 'node:child_process';
import { ConfigError } from '../errors.js';
import type { KeyCommandSetting } from '../providers/registry.js';
import type { EnvVars } from '../shared/home.js';
import { childEnvironment } from '../shared/child-env.js';

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
  const outcome = await run(command.argv, childEnvironment(env), timeoutMs);
  const fail = (what: string): never => {
    throw new ConfigError(`The key command \`${shown}\` ${what}.\nRun it yourself to see why, or fix "keyCommand" in config.json.`);
  };
  if (outcome.kind === 'not_found') fail('could not be started (command not found)');
  if (outcome.kind === 'timeout') fail(`did not finish within ${Math.round(timeoutMs / 1000)} s`);
  if (outcome.kind === 'too_large') fail(`printed more than ${MAX_OUTPUT_BYTES / 1024} KiB, which is no key`);
  if (outcome.kind === 'failed') fail(`exited with status ${outcome.status}`);
  const key = outcome.kind === 'ok' ? outcome.stdout.trim() : '';
  if (!key) fail('printed no key');
  const why = problem(key);
  if (why) fail(`printed something that is not a key (${why})`);
  return key;
}

type Outcome =
  | { kind: 'ok'; stdout: string }
  | { kind: 'failed'; status: number | string }
  | { kind: 'not_found' }
  | { kind: 'timeout' }
  | { kind: 'too_large' };

/** Spawns `argv` without a shell, collecting at most MAX_OUTPUT_BYTES of stdout; stderr goes nowhere. */
function run(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Outcome> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(file as string, args, { shell: false, env, stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let ended: Outcome | undefined;
    const end = (outcome: Outcome): void => {
      ended ??= outcome;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => end({ kind: 'timeout' }), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) end({ kind: 'too_large' });
      else chunks.push(chunk);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(ended ?? (error.code === 'ENOENT' ? { kind: 'not_found' } : { kind: 'failed', status: error.code ?? 'unknown' }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (ended) return resolve(ended);
      if (code !== 0) return resolve({ kind: 'failed', status: code ?? signal ?? 'unknown' });
      resolve({ kind: 'ok', stdout: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { type Command, Option } from 'commander';
import type { Loginkit } from '../index.js';
import { type Io, UsageError, printJson, say } from './output.js';

/** Registers `switch` and `exec`: choosing a profile, and handing credentials to a program. */
export function registerCredentialCommands(
  program: Command,
  io: Io,
  kit: () => Loginkit,
  setJson: (json: boolean) => void,
  exitWith: (code: number) => never,
): void {
  program
    .command('switch')
    .description('make a profile the one used for a provider when none is named')
    .argument('<provider>', 'provider id')
    .argument('<profile>', 'profile name (it must hold a credential)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (provider: string, profile: string, options: { json?: boolean }) => {
      setJson(options.json === true);
      await kit().switchProfile(provider, profile);
      say(io, `${provider} now uses profile "${profile}".`);
      if (options.json) printJson(io, { provider, profile });
    });

  program
    .command('exec')
    .description("run a command with providers' credentials in its environment (OPENAI_API_KEY, …)")
    .argument('<providers>', 'comma-separated provider ids, e.g. openai,anthropic')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--profile <name>', 'use this profile for every provider (default: each one\'s active profile)')
    .addOption(new Option('--source <source>', 'force where the credentials come from').choices(['env', 'store']))
    .passThroughOptions()
    .action(async (providers: string, command: string[], options: { profile?: string; source?: 'env' | 'store' }) => {
      const ids = providers.split(',').map((id) => id.trim()).filter(Boolean);
      if (ids.length === 0 || command.length === 0) throw new UsageError('Usage: loginkit exec <provider>[,<provider>…] -- <command> [args…]');
      const { variables } = await kit().execEnvironment(ids, { profile: options.profile, source: options.source });
      exitWith(await runChild(command, { ...io.env, ...variables }));
    });
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Runs `command` with `env` (no shell), forwarding signals; resolves with its exit status, 128+n for a signal. */
function runChild(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = command;
  delete env.LOGINKIT_PASSPHRASE;
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, args, { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const stopForwarding = (): void => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      stopForwarding();
      if (error.code !== 'ENOENT') return reject(error);
      process.stderr.write(`error: ${file}: command not found\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      stopForwarding();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { type Command, Option } from 'commander';
import { childEnvironment } from '../../index.js';
import type { CliContext } from '../context.js';
import { type Io, UsageError } from '../output.js';

/** `loginkit exec <providers> -- <command…>`: runs a program with the providers' credentials in its environment only. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('exec')
    .description("run a command with providers' credentials in its environment (OPENAI_API_KEY, …)")
    .argument('<providers>', 'comma-separated provider ids, e.g. openai,anthropic')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--profile <name>', "use this profile for every provider (default: each one's active profile)")
    .addOption(new Option('--source <source>', 'force where the credentials come from').choices(['env', 'store']))
    // Options are read wherever they stand before `--`; everything after it is the command, its options included.
    .showHelpAfterError('(the command and its own options go after --: loginkit exec <providers> [options] -- <command> [args…])')
    .action(async (providers: string, command: string[], options: { profile?: string; source?: 'env' | 'store' }) => {
      const ids = providers
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean);
      if (ids.length === 0 || command.length === 0)
        throw new UsageError('Usage: loginkit exec <provider>[,<provider>…] -- <command> [args…]');
      const { variables, unset = [] } = await ctx.kit().execEnvironment(ids, { profile: options.profile, source: options.source });
      const environment = childEnvironment(ctx.io.env);
      for (const name of unset) delete environment[name];
      ctx.exit(await runChild(ctx.io, command, { ...environment, ...variables }));
    });
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Runs `command` with `env` (no shell), forwarding signals; resolves with its exit status, 128+n for a signal. */
function runChild(io: Io, command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = command;
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
      io.stderr.write(`error: ${file}: command not found\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      stopForwarding();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { type Command, Option } from 'commander';
import { childEnvironment, connectAgent } from '../../index.js';
import type { CliContext } from '../context.js';
import { type Io, UsageError, say } from '../output.js';

interface ExecOptions {
  profile?: string;
  source?: 'env' | 'store';
  broker?: boolean;
  ttl?: string;
}

/** `loginkit exec <providers> -- <command…>`: runs a program with the providers' credentials in its environment only. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('exec')
    .description("run a command with providers' credentials in its environment (OPENAI_API_KEY, …)")
    .argument('<providers>', 'comma-separated provider ids, e.g. openai,anthropic')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--profile <name>', "use this profile for every provider (default: each one's active profile)")
    .addOption(new Option('--source <source>', 'force where the credentials come from').choices(['env', 'store']))
    .option('--broker', 'through the running loginkit agent: the command gets placeholders and short-lived tokens, never a key')
    .option('--ttl <seconds>', 'with --broker: the placeholders stop working after this long (default: when the command exits)')
    // Options are read wherever they stand before `--`; everything after it is the command, its options included.
    .showHelpAfterError('(the command and its own options go after --: loginkit exec <providers> [options] -- <command> [args…])')
    .action(async (providers: string, command: string[], options: ExecOptions) => {
      const ids = providers
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean);
      if (ids.length === 0 || command.length === 0)
        throw new UsageError('Usage: loginkit exec <provider>[,<provider>…] -- <command> [args…]');
      if (options.broker) return ctx.exit(await runBrokered(ctx, ids, command, options));
      if (options.ttl !== undefined)
        throw new UsageError('--ttl goes with --broker: loginkit exec --broker <providers> --ttl <seconds> -- <command>');
      const { variables, unset = [] } = await ctx.kit().execEnvironment(ids, { profile: options.profile, source: options.source });
      const environment = childEnvironment(ctx.io.env);
      for (const name of unset) delete environment[name];
      ctx.exit(await runChild(ctx.io, command, { ...environment, ...variables }));
    });
}

/**
 * `exec --broker`: the agent opens a capability for the child (placeholders, short-lived tokens, cloud
 * endpoints) that ends when the child exits, when this process ends, or at --ttl. The child gets no way to
 * the agent's socket.
 */
async function runBrokered(
  ctx: CliContext,
  ids: string[],
  command: string[],
  options: { profile?: string; ttl?: string },
): Promise<number> {
  const ttlSeconds = options.ttl === undefined ? undefined : Number(options.ttl);
  if (ttlSeconds !== undefined && !(Number.isFinite(ttlSeconds) && ttlSeconds > 0))
    throw new UsageError('--ttl takes a number of seconds, e.g. --ttl 3600');
  const agent = connectAgent(ctx.io.env);
  try {
    const opened = await agent.request<{ child: string; variables: Record<string, string>; unset: string[] }>('broker.open', {
      providers: ids,
      profile: options.profile ?? ctx.io.env.LOGINKIT_PROFILE,
      cwd: ctx.io.cwd ?? process.cwd(),
      ttlSeconds,
    });
    const environment = childEnvironment(ctx.io.env);
    for (const name of ['LOGINKIT_AGENT_SOCK', 'LOGINKIT_AGENT_TOKEN', 'LOGINKIT_AGENT_TCP', ...opened.unset]) delete environment[name];
    agent.onClose = () => say(ctx.io, `error: the loginkit agent ended; ${command[0]} can no longer reach ${ids.join(', ')}`);
    return await runChild(ctx.io, command, { ...environment, ...opened.variables }, (pid) => {
      void agent.request('broker.child', { child: opened.child, pid }).catch(() => undefined);
    }).finally(async () => {
      agent.onClose = undefined;
      await agent.request('broker.close', { child: opened.child }).catch(() => undefined);
    });
  } finally {
    agent.close();
  }
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Runs `command` with `env` (no shell), forwarding signals; resolves with its exit status, 128+n for a signal. */
function runChild(io: Io, command: string[], env: NodeJS.ProcessEnv, onSpawn?: (pid: number) => void): Promise<number> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, args, { stdio: 'inherit', env });
    if (child.pid !== undefined) onSpawn?.(child.pid);
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

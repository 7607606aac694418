import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Argument, type Command, Option } from 'commander';
import { IMPORT_SOURCES, type ImportSource, type Loginkit } from '../index.js';
import { type Io, UsageError, printJson, say } from './output.js';

/** Registers `switch`, `exec` and `import`: choosing a profile, handing credentials to a program, bringing them in. */
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
    .command('import')
    .description("import API keys (and Codex's ChatGPT sign-in) from another tool's credential file, read-only")
    .addArgument(new Argument('<tool>', 'where from').choices(IMPORT_SOURCES))
    .option('--dry-run', 'only show what would be imported')
    .option('--profile <name>', "store under this profile (default: each provider's active one)")
    .option('--json', 'print the report as JSON on stdout')
    .action(async (tool: ImportSource, options: { dryRun?: boolean; profile?: string; json?: boolean }) => {
      setJson(options.json === true);
      const report = await kit().importCredentials(tool, { dryRun: options.dryRun, profile: options.profile });
      const verb = report.dryRun ? 'Would import' : 'Imported';
      say(io, `${verb} from ${report.file} (the file is not changed):`);
      for (const item of report.imported) {
        say(
          io,
          `  + ${item.provider} ${item.kind === 'api_key' ? `API key ${item.detail}` : 'sign-in'} → profile "${item.profile}" (${item.origin})`,
        );
      }
      for (const item of report.skipped) say(io, `  - skipped ${item.what}: ${item.reason}`);
      if (report.imported.length === 0) say(io, '  nothing to import');
      if (!report.dryRun && report.imported.some((item) => item.kind === 'api_key'))
        say(io, 'Imported keys were not checked with the providers; `loginkit status` shows them.');
      if (options.json) printJson(io, report);
    });

  program
    .command('exec')
    .description("run a command with providers' credentials in its environment (OPENAI_API_KEY, …)")
    .argument('<providers>', 'comma-separated provider ids, e.g. openai,anthropic')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--profile <name>', "use this profile for every provider (default: each one's active profile)")
    .addOption(new Option('--source <source>', 'force where the credentials come from').choices(['env', 'store']))
    .passThroughOptions()
    .action(async (providers: string, rawCommand: string[], options: { profile?: string; source?: 'env' | 'store' }) => {
      // With pass-through options commander keeps the `--` that separates the command.
      const command = rawCommand[0] === '--' ? rawCommand.slice(1) : rawCommand;
      const ids = providers
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean);
      if (ids.length === 0 || command.length === 0)
        throw new UsageError('Usage: loginkit exec <provider>[,<provider>…] -- <command> [args…]');
      const { variables } = await kit().execEnvironment(ids, { profile: options.profile, source: options.source });
      exitWith(await runChild(io, command, { ...io.env, ...variables }));
    });
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** Runs `command` with `env` (no shell), forwarding signals; resolves with its exit status, 128+n for a signal. */
function runChild(io: Io, command: string[], env: NodeJS.ProcessEnv): Promise<number> {
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
      io.stderr.write(`error: ${file}: command not found\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      stopForwarding();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

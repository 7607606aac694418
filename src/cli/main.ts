import { Command, CommanderError } from 'commander';
import { type CliContext, ExitWith, createCliContext } from './context.js';
import { EXIT, type Io, exitCodeFor, reportError } from './output.js';

/** A verb's module: it registers itself on the program. */
interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

/**
 * The verbs, in the order `loginkit --help` lists them. A run loads only the module of the verb it names
 * (every module once help, a typo or no verb at all needs them all): `status` need not pay for `agent`,
 * `serve` and `mcp` starting up.
 */
const COMMANDS: ReadonlyArray<{ name: string; load(): Promise<CommandModule> }> = [
  { name: 'login', load: () => import('./commands/login.js') },
  { name: 'status', load: () => import('./commands/status.js') },
  { name: 'token', load: () => import('./commands/token.js') },
  { name: 'logout', load: () => import('./commands/logout.js') },
  { name: 'providers', load: () => import('./commands/providers.js') },
  { name: 'store', load: () => import('./commands/store.js') },
  { name: 'switch', load: () => import('./commands/switch.js') },
  { name: 'allow', load: () => import('./commands/allow.js') },
  { name: 'import', load: () => import('./commands/import.js') },
  { name: 'exec', load: () => import('./commands/exec.js') },
  { name: 'agent', load: () => import('./commands/agent.js') },
  { name: 'mcp', load: () => import('./commands/mcp.js') },
  { name: 'serve', load: () => import('./commands/serve.js') },
];

/** The verbs a run needs: the one it names, or all of them for help, a typo or no verb. */
function commandsFor(argv: readonly string[]): ReadonlyArray<(typeof COMMANDS)[number]> {
  const named = COMMANDS.find((command) => command.name === argv[0]);
  const wantsHelp = argv.some((arg) => arg === '--help' || arg === '-h');
  return named && !wantsHelp ? [named] : COMMANDS;
}

/** Runs the loginkit CLI with `argv` (without node and script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let json = argv.includes('--json');
  const ctx = createCliContext(io, (enabled) => {
    json = enabled;
  });
  try {
    const program = await buildProgram(ctx, argv);
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (error instanceof ExitWith) return error.exitCode;
    reportError(io, error, json);
    return exitCodeFor(error);
  } finally {
    await ctx.close();
  }
}

async function buildProgram(ctx: CliContext, argv: readonly string[]): Promise<Command> {
  const program = new Command('loginkit')
    .description('Sign in to AI services and keep credentials safe and fresh.')
    .version(VERSION)
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
    })
    .showHelpAfterError('(run loginkit --help for usage)');
  const modules = await Promise.all(commandsFor(argv).map((command) => command.load()));
  for (const module of modules) module.register(program, ctx);
  return program;
}

declare const LOGINKIT_VERSION: string | undefined;
const VERSION = typeof LOGINKIT_VERSION === 'string' ? LOGINKIT_VERSION : '0.0.0-dev';

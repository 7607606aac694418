import { Command, CommanderError } from 'commander';
import { type CliContext, ExitWith, createCliContext } from './context.js';
import * as agent from './commands/agent.js';
import * as allow from './commands/allow.js';
import * as exec from './commands/exec.js';
import * as importCommand from './commands/import.js';
import * as login from './commands/login.js';
import * as logout from './commands/logout.js';
import * as mcp from './commands/mcp.js';
import * as providers from './commands/providers.js';
import * as serve from './commands/serve.js';
import * as status from './commands/status.js';
import * as store from './commands/store.js';
import * as switchCommand from './commands/switch.js';
import * as token from './commands/token.js';
import { EXIT, type Io, exitCodeFor, reportError } from './output.js';

/** The verbs, in the order `loginkit --help` lists them; each registers itself on the program. */
const COMMANDS: ReadonlyArray<{ register(program: Command, ctx: CliContext): void }> = [
  login,
  status,
  token,
  logout,
  providers,
  store,
  switchCommand,
  allow,
  importCommand,
  exec,
  agent,
  mcp,
  serve,
];

/** Runs the loginkit CLI with `argv` (without node and script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let json = argv.includes('--json');
  const ctx = createCliContext(io, (enabled) => {
    json = enabled;
  });
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
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

function buildProgram(ctx: CliContext): Command {
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
  for (const command of COMMANDS) command.register(program, ctx);
  return program;
}

declare const LOGINKIT_VERSION: string | undefined;
const VERSION = typeof LOGINKIT_VERSION === 'string' ? LOGINKIT_VERSION : '0.0.0-dev';

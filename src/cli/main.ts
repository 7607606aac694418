import { Command, CommanderError, Option } from 'commander';
import type { ProviderStatus } from '../index.js';
import { clientFor } from './client-for.js';
import { registerCredentialCommands } from './credential-commands.js';
import { registerLoginCommand } from './login-command.js';
import { registerStoreCommands } from './store-command.js';
import { EXIT, type Io, UsageError, exitCodeFor, printJson, reportError, say } from './output.js';
import { printToken } from './token-command.js';

/** Runs the loginkit CLI with `argv` (without node and script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let json = argv.includes('--json');
  const program = buildProgram(io, (value) => {
    json = value;
  });
  try {
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
  }
}

/** Ends a command with an exit code after it has printed what it had to say. */
class ExitWith extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

function buildProgram(io: Io, setJson: (json: boolean) => void): Command {
  const kit = () => clientFor(io);
  const program = new Command('loginkit')
    .description('Sign in to AI services and keep credentials safe and fresh.')
    .version(VERSION)
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run loginkit --help for usage)');

  registerLoginCommand(program, io, setJson);

  program
    .command('status')
    .description('show which providers you are signed in to')
    .argument('[provider]', 'only this provider (exit 3 when not signed in)')
    .option('--profile <name>', 'look at this profile (default: the active one)')
    .option('--json', 'print JSON on stdout')
    .action(async (provider: string | undefined, options: { json?: boolean; profile?: string }) => {
      setJson(options.json === true);
      const statuses = await kit().status(provider, { profile: options.profile });
      if (options.json) printJson(io, { providers: statuses });
      else printStatus(io, statuses);
      if (provider !== undefined && !statuses[0]?.loggedIn) throw new ExitWith(EXIT.loginRequired);
    });

  program
    .command('token')
    .description('print a valid access token on stdout (refreshed first when due)')
    .argument('<provider>', 'provider id')
    .option('--profile <name>', 'use this profile (default: the active one)')
    .addOption(new Option('--source <source>', 'force where the credential comes from').choices(['env', 'store']))
    .action(async (provider: string, options: { profile?: string; source?: 'env' | 'store' }) => {
      const code = await printToken(provider, io, options);
      if (code !== EXIT.ok) throw new ExitWith(code);
    });

  program
    .command('logout')
    .description('revoke and remove a credential')
    .argument('[provider]', 'provider id')
    .option('--all', 'log out of every provider and profile')
    .option('--profile <name>', 'log out of this profile (default: the active one)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (provider: string | undefined, options: { all?: boolean; json?: boolean; profile?: string }) => {
      setJson(options.json === true);
      if ((provider === undefined) === (options.all !== true))
        throw new UsageError('Name one provider, or use --all: loginkit logout <provider> | loginkit logout --all');
      const client = kit();
      const results = options.all ? await client.logoutAll() : [await client.logout(provider as string, { profile: options.profile })];
      for (const result of results) {
        if (result.revocation === 'not_signed_in') {
          say(io, `Not signed in to ${result.provider}; nothing to do.`);
          continue;
        }
        const revocation =
          result.revocation === 'revoked'
            ? 'revoked at the server'
            : result.revocation === 'unsupported'
              ? 'the server offers no revocation'
              : result.revocation === 'local_only'
                ? "an API key: revoke it in the provider's console if it leaked"
                : `revocation failed: ${result.revocationError ?? 'unknown error'}`;
        const profile = result.profile !== 'default' ? ` (profile "${result.profile}")` : '';
        say(io, `Logged out of ${result.provider}${profile} (${revocation}); the local credential was removed.`);
      }
      if (options.all && results.length === 0) say(io, 'Not signed in to anything; nothing to do.');
      if (options.json) printJson(io, { results });
    });

  const providers = program
    .command('providers')
    .description('list known providers, or add one')
    .option('--json', 'print JSON on stdout')
    .action(async (options: { json?: boolean }) => {
      setJson(options.json === true);
      const list = await kit().providers();
      if (options.json) {
        printJson(io, { providers: list });
        return;
      }
      for (const p of list) {
        const methods = p.methods.map((m) => (m === 'api_key' ? `API key (${p.envVars.join(', ')})` : `OAuth (${p.issuer})`)).join(', ');
        io.stdout.write(`${p.id.padEnd(14)} ${p.displayName}: ${methods}${p.builtin ? '' : ' [custom]'}\n`);
      }
    });

  providers
    .command('add')
    .description('add (or replace) a custom OAuth/OIDC provider in config.json')
    .argument('<id>', 'provider id')
    .requiredOption('--issuer <url>', 'issuer URL (https; http only on loopback)')
    .requiredOption('--client-id <id>', 'public client id registered at the provider')
    .option('--scope <scopes>', 'space-separated scopes', 'openid offline_access email profile')
    .option('--redirect-uri <uri>', 'registered loopback redirect URI', 'http://127.0.0.1/callback')
    .action(async (id: string, options: { issuer: string; clientId: string; scope: string; redirectUri: string }) => {
      const client = kit();
      const summary = await client.addProvider(id, {
        type: 'oauth',
        issuer: options.issuer,
        clientId: options.clientId,
        scopes: options.scope.split(/\s+/).filter(Boolean),
        redirectUri: options.redirectUri,
      });
      say(io, `Added provider ${summary.id} (${summary.issuer}) to ${client.home}/config.json. Sign in: loginkit login ${summary.id}`);
    });

  registerStoreCommands(program, io, kit, setJson, (code) => {
    throw new ExitWith(code);
  });
  registerCredentialCommands(program, io, kit, setJson, (code: number) => {
    throw new ExitWith(code);
  });
  return program;
}

function printStatus(io: Io, statuses: readonly ProviderStatus[]): void {
  if (statuses.length === 0) {
    say(io, 'Not signed in to anything yet. See the providers: loginkit providers; sign in: loginkit login <provider>');
    return;
  }
  for (const s of statuses) {
    const profile = s.profile !== 'default' ? ` [profile ${s.profile}]` : '';
    const lines: string[] = [];
    if (!s.method) {
      lines.push(`${s.id}${profile}: not signed in (run: loginkit login ${s.id})`);
    } else if (s.method === 'api_key') {
      lines.push(`${s.id}${profile}: API key ${s.key ?? ''} from ${s.source === 'env' ? 'the environment' : 'the store'}`);
    } else {
      const state = s.loggedIn ? 'signed in' : `sign-in expired (run: loginkit login ${s.id})`;
      lines.push(`${s.id}${profile}: ${state}${s.account ? ` as ${s.account}` : ''}`);
      if (s.plan || s.workspace)
        lines.push([s.plan ? `plan: ${s.plan}` : '', s.workspace ? `account: ${s.workspace}` : ''].filter(Boolean).join(', '));
      lines.push(s.expiresAt ? `access token ${expiryText(s.expiresAt)}${s.refreshable ? ', renews automatically' : ''}` : 'no expiry');
      lines.push(`scopes: ${s.scopes.join(' ') || '(none)'}`);
    }
    if (s.store) lines.push(`stored in ${s.store}`);
    if (s.sources.length > 1 || s.sources.some((source) => source.kind === 'env')) {
      lines.push('sources:');
      for (const source of s.sources) {
        const what =
          source.kind === 'env'
            ? `env ${source.name}`
            : `stored ${source.kind === 'oauth' ? 'sign-in' : 'API key'}, profile ${source.name}`;
        lines.push(
          `  ${source.inEffect ? '*' : ' '} ${what}${source.detail ? ` (${source.detail})` : ''}${source.inEffect ? '  ← in effect' : ''}`,
        );
      }
    }
    io.stdout.write(`${lines.join('\n  ')}\n`);
  }
}

function expiryText(iso: string): string {
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60_000);
  if (minutes < 0) return `expired ${-minutes} min ago`;
  return minutes < 120 ? `expires in ${minutes} min` : `expires ${iso}`;
}

declare const LOGINKIT_VERSION: string | undefined;
const VERSION = typeof LOGINKIT_VERSION === 'string' ? LOGINKIT_VERSION : '0.0.0-dev';

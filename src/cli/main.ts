import { Command, CommanderError, Option } from 'commander';
import { type LoginResult, LoginkitError, type ProviderStatus, createLoginkit } from '../index.js';
import { createLoginView } from './login-view.js';
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
  const kit = () => createLoginkit({ env: io.env });
  const program = new Command('loginkit')
    .description('Sign in to AI services and keep credentials safe and fresh.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run loginkit --help for usage)');

  program
    .command('login')
    .description('sign in to a provider through your browser')
    .argument('<provider>', 'provider id (see: loginkit providers)')
    .option('--no-browser', 'print the sign-in URL instead of opening a browser')
    .addOption(new Option('--timeout <seconds>', 'give up after this many seconds').default('300').argParser(positiveSeconds))
    .option('--json', 'print the result as JSON on stdout')
    .action(async (provider: string, options: { browser: boolean; timeout: string | number; json?: boolean }) => {
      setJson(options.json === true);
      const client = kit();
      const view = await createLoginView(io, provider);
      const abort = new AbortController();
      const onSigint = (): void => abort.abort(new LoginkitError('interrupted', 'Sign-in cancelled.'));
      process.on('SIGINT', onSigint);
      let result: LoginResult;
      try {
        result = await client.login(provider, {
          noBrowser: !options.browser,
          timeoutMs: Number(options.timeout) * 1000,
          signal: abort.signal,
          onEvent: (event) => view.onEvent(event),
        });
      } catch (error) {
        view.stop();
        throw error;
      } finally {
        process.off('SIGINT', onSigint);
      }
      const who = result.account?.email ?? result.account?.subject;
      view.stop(`Signed in to ${provider}${who ? ` as ${who}` : ''}.`);
      if (!io.stderr.isTTY) say(io, `Signed in to ${provider}${who ? ` as ${who}` : ''}.`);
      say(io, `Stored in ${result.store.location} (${result.store.protection}).`);
      if (options.json) printJson(io, result);
    });

  program
    .command('status')
    .description('show which providers you are signed in to')
    .argument('[provider]', 'only this provider (exit 3 when not signed in)')
    .option('--json', 'print JSON on stdout')
    .action(async (provider: string | undefined, options: { json?: boolean }) => {
      setJson(options.json === true);
      const statuses = await kit().status(provider);
      if (options.json) printJson(io, { providers: statuses });
      else printStatus(io, statuses);
      if (provider !== undefined && !statuses[0]?.loggedIn) throw new ExitWith(EXIT.loginRequired);
    });

  program
    .command('token')
    .description('print a valid access token on stdout (refreshed first when due)')
    .argument('<provider>', 'provider id')
    .action(async (provider: string) => {
      const code = await printToken(provider, io);
      if (code !== EXIT.ok) throw new ExitWith(code);
    });

  program
    .command('logout')
    .description('revoke and remove a credential')
    .argument('[provider]', 'provider id')
    .option('--all', 'log out of every provider')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (provider: string | undefined, options: { all?: boolean; json?: boolean }) => {
      setJson(options.json === true);
      if ((provider === undefined) === (options.all !== true)) throw new UsageError('Name one provider, or use --all: loginkit logout <provider> | loginkit logout --all');
      const client = kit();
      const results = options.all ? await client.logoutAll() : [await client.logout(provider as string)];
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
              : `revocation failed: ${result.revocationError ?? 'unknown error'}`;
        say(io, `Logged out of ${result.provider} (${revocation}); the local credential was removed.`);
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
      if (list.length === 0) say(io, 'No providers yet. Add one: loginkit providers add <id> --issuer URL --client-id ID');
      for (const p of list) io.stdout.write(`${p.id}\t${p.issuer}\tclient ${p.clientId}\tscopes ${p.scopes.join(' ')}\n`);
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

  return program;
}

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout needs a positive number of seconds, not "${value}"`);
  return seconds;
}

function printStatus(io: Io, statuses: readonly ProviderStatus[]): void {
  if (statuses.length === 0) {
    say(io, 'No providers configured and nothing stored. Add one: loginkit providers add <id> --issuer URL --client-id ID');
    return;
  }
  for (const s of statuses) {
    if (!s.method) {
      io.stdout.write(`${s.id}: not signed in (run: loginkit login ${s.id})\n`);
      continue;
    }
    const state = s.loggedIn ? 'signed in' : 'sign-in expired (run: loginkit login ' + s.id + ')';
    const parts = [
      `${s.id}: ${state}${s.account ? ` as ${s.account}` : ''}`,
      s.expiresAt ? `access token ${expiryText(s.expiresAt)}${s.refreshable ? ', renews automatically' : ''}` : 'no expiry',
      `scopes: ${s.scopes.join(' ') || '(none)'}`,
      `stored in ${s.store}`,
    ];
    io.stdout.write(`${parts.join('\n  ')}\n`);
  }
}

function expiryText(iso: string): string {
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60_000);
  if (minutes < 0) return `expired ${-minutes} min ago`;
  return minutes < 120 ? `expires in ${minutes} min` : `expires ${iso}`;
}

declare const LOGINKIT_VERSION: string | undefined;
const VERSION = typeof LOGINKIT_VERSION === 'string' ? LOGINKIT_VERSION : '0.0.0-dev';

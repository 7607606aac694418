import type { Command } from 'commander';
import type { LogoutResult } from '../../index.js';
import type { CliContext } from '../context.js';
import { UsageError, printJson, say } from '../output.js';

/** `loginkit logout <provider> | --all`: revoke at the server, then remove locally. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('logout')
    .description('revoke and remove a credential')
    .argument('[provider]', 'provider id')
    .option('--all', 'log out of every provider and profile')
    .option('--profile <name>', 'log out of this profile (default: the active one)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (provider: string | undefined, options: { all?: boolean; json?: boolean; profile?: string }) => {
      ctx.json(options.json);
      if ((provider === undefined) === (options.all !== true)) {
        throw new UsageError('Name one provider, or use --all: loginkit logout <provider> | loginkit logout --all');
      }
      const kit = ctx.kit();
      const results = provider === undefined ? await kit.logoutAll() : [await kit.logout(provider, { profile: options.profile })];
      for (const result of results) {
        say(ctx.io, describe(result));
        if (result.profileRule)
          say(ctx.io, `Profile "${result.profile}" was chosen by the rule in ${result.profileRule}; --profile names another.`);
        if (result.stillInEffect) {
          say(
            ctx.io,
            `warning: ${result.stillInEffect} is still set in this environment, and \`token\` and \`exec\` go on using it; to stop: unset ${result.stillInEffect}`,
          );
        }
      }
      if (options.all && results.length === 0) say(ctx.io, 'Not signed in to anything; nothing to do.');
      if (options.json) printJson(ctx.io, { results });
    });
}

function describe(result: LogoutResult): string {
  if (result.revocation === 'not_signed_in') return `Not signed in to ${result.provider}; nothing to do.`;
  const profile = result.profile !== 'default' ? ` (profile "${result.profile}")` : '';
  return `Logged out of ${result.provider}${profile} (${revocationText(result)}); the local credential was removed.`;
}

function revocationText(result: LogoutResult): string {
  switch (result.revocation) {
    case 'revoked':
      return 'revoked at the server';
    case 'unsupported':
      return 'the server offers no revocation';
    case 'local_only':
      return "an API key: revoke it in the provider's console if it leaked";
    default:
      return `revocation failed: ${result.revocationError ?? 'unknown error'}`;
  }
}

import { type Command, Option } from 'commander';
import type { CliContext } from '../context.js';
import { EXIT, printJson } from '../output.js';
import { printToken } from '../print-token.js';

/** `loginkit token <provider>`: for scripts; the plain form is also served without the parser (see loginkit.ts). */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('token')
    .description('print a valid access token on stdout (refreshed first when due)')
    .argument('<provider>', 'provider id')
    .option('--profile <name>', 'use this profile (default: the active one)')
    .addOption(new Option('--source <source>', 'force where the credential comes from').choices(['env', 'store']))
    .option('--json', 'print {"token", "expiresAt", "type"} for tools that cache it')
    .action(async (provider: string, options: { profile?: string; source?: 'env' | 'store'; json?: boolean }) => {
      if (options.json) {
        ctx.json(true);
        const { token, expiresAt, type } = await ctx.kit().getTokenInfo(provider, { profile: options.profile, source: options.source });
        printJson(ctx.io, { token, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(), type });
        return;
      }
      const code = await printToken(provider, ctx.io, { profile: options.profile, source: options.source });
      if (code !== EXIT.ok) ctx.exit(code);
    });
}

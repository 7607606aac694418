import { type Command, Option } from 'commander';
import type { CliContext } from '../context.js';
import { EXIT } from '../output.js';
import { printToken } from '../print-token.js';

/** `loginkit token <provider>`: for scripts; the plain form is also served without the parser (see loginkit.ts). */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('token')
    .description('print a valid access token on stdout (refreshed first when due)')
    .argument('<provider>', 'provider id')
    .option('--profile <name>', 'use this profile (default: the active one)')
    .addOption(new Option('--source <source>', 'force where the credential comes from').choices(['env', 'store']))
    .action(async (provider: string, options: { profile?: string; source?: 'env' | 'store' }) => {
      const code = await printToken(provider, ctx.io, options);
      if (code !== EXIT.ok) ctx.exit(code);
    });
}

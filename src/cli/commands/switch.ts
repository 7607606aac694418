import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printJson, say } from '../output.js';

/** `loginkit switch <provider> <profile>`: the profile used when none is named. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('switch')
    .description('make a profile the one used for a provider when none is named')
    .argument('<provider>', 'provider id')
    .argument('<profile>', 'profile name (it must hold a credential)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (provider: string, profile: string, options: { json?: boolean }) => {
      ctx.json(options.json);
      await ctx.kit().switchProfile(provider, profile);
      say(ctx.io, `${provider} now uses profile "${profile}".`);
      if (options.json) printJson(ctx.io, { provider, profile });
    });
}

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
      const result = await ctx.kit().switchProfile(provider, profile);
      const { here } = result;
      const overridden = here.profileChosenBy === 'rule' || here.profileChosenBy === 'env';
      say(ctx.io, `${provider} now uses profile "${profile}"${overridden ? ' where nothing else chooses one' : ''}.`);
      if (here.profileChosenBy === 'rule') {
        say(
          ctx.io,
          `Not here: the rule in ${here.profileRule ?? 'a project rule'} chooses profile "${here.profile}", and a rule wins over switch; here use --profile ${profile}, or change the rule.`,
        );
      } else if (here.profileChosenBy === 'env') {
        say(
          ctx.io,
          `Not in this shell: LOGINKIT_PROFILE chooses profile "${here.profile}" and wins over switch; unset LOGINKIT_PROFILE to use it.`,
        );
      }
      if (options.json) printJson(ctx.io, result);
    });
}

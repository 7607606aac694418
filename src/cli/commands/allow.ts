import type { Command } from 'commander';
import { type ProjectFile, sanitizeServerText } from '../../index.js';
import type { CliContext } from '../context.js';
import { printJson, say } from '../output.js';

/** `loginkit allow [path]` and `loginkit deny [path]`: a project's `.loginkit.json` takes effect only once allowed. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('allow')
    .description("let a project's .loginkit.json choose the profile (as it is now; a change needs allowing again)")
    .argument('[path]', 'the .loginkit.json or a folder: its nearest .loginkit.json at or above it (default: here)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (path: string | undefined, options: { json?: boolean }) => {
      ctx.json(options.json);
      const allowed = await ctx.kit().allowProjectFile(path);
      say(
        ctx.io,
        `Allowed ${shown(allowed.file)}: it chooses ${describeRule(allowed)} in ${shown(allowed.directory)} and below, until it changes.`,
      );
      if (options.json) printJson(ctx.io, { allowed });
    });
  program
    .command('deny')
    .description("stop using a project's .loginkit.json that was allowed")
    .argument('[path]', 'the .loginkit.json or a folder: its nearest .loginkit.json at or above it (default: here)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (path: string | undefined, options: { json?: boolean }) => {
      ctx.json(options.json);
      const result = await ctx.kit().denyProjectFile(path);
      say(
        ctx.io,
        result.removed
          ? `Denied ${shown(result.file)}: loginkit ignores it again.`
          : `${shown(result.file)} was not allowed; nothing to do.`,
      );
      if (options.json) printJson(ctx.io, result);
    });
}

function describeRule(file: ProjectFile): string {
  const providers = file.providers ? ` for ${file.providers.map((id) => sanitizeServerText(id, 64)).join(', ')}` : '';
  return `profile "${file.profile ?? ''}"${providers}`;
}

/** A path from the file system, stripped of control characters before it reaches the terminal. */
function shown(path: string): string {
  return sanitizeServerText(path, Number.MAX_SAFE_INTEGER);
}

import { Argument, type Command } from 'commander';
import { IMPORT_SOURCES, type ImportReport, type ImportSource } from '../../index.js';
import type { CliContext } from '../context.js';
import { type Io, printJson, say } from '../output.js';

/** `loginkit import <tool>`: API keys and sign-ins from another tool's credential file (sign-ins stay linked to it). */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('import')
    .description("import another tool's API keys and ChatGPT sign-ins (a sign-in stays linked: refreshes are written back to its file)")
    .addArgument(new Argument('<tool>', 'where from').choices(IMPORT_SOURCES))
    .option('--dry-run', 'only show what would be imported')
    .option('--profile <name>', "store under this profile (default: each provider's active one; sign-ins: chatgpt)")
    .option('--json', 'print the report as JSON on stdout')
    .action(async (tool: ImportSource, options: { dryRun?: boolean; profile?: string; json?: boolean }) => {
      ctx.json(options.json);
      const report = await ctx.kit().importCredentials(tool, { dryRun: options.dryRun, profile: options.profile });
      printReport(ctx.io, report);
      if (options.json) printJson(ctx.io, report);
    });
}

function printReport(io: Io, report: ImportReport): void {
  const linked = report.imported.some((item) => item.kind === 'oauth');
  const note = report.dryRun
    ? 'nothing is changed'
    : linked
      ? 'sign-ins stay linked: loginkit writes its refreshes back there'
      : 'the file is not changed';
  say(io, `${report.dryRun ? 'Would import' : 'Imported'} from ${report.file} (${note}):`);
  for (const item of report.imported) {
    say(
      io,
      `  + ${item.provider} ${item.kind === 'api_key' ? `API key ${item.detail}` : 'sign-in'} → profile "${item.profile}" (${item.origin})`,
    );
  }
  for (const item of report.skipped) say(io, `  - skipped ${item.what}: ${item.reason}`);
  if (report.imported.length === 0) say(io, '  nothing to import');
  if (!report.dryRun && report.imported.some((item) => item.kind === 'api_key'))
    say(io, 'Imported keys were not checked with the providers; `loginkit status` shows them.');
}

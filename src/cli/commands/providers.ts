import type { Command } from 'commander';
import type { ProviderSummary } from '../../index.js';
import type { CliContext } from '../context.js';
import { printJson, say } from '../output.js';

/** `loginkit providers [add <id>]`: the providers this home knows, and adding a custom OAuth one. */
export function register(program: Command, ctx: CliContext): void {
  const providers = program
    .command('providers')
    .description('list known providers, or add one')
    .option('--json', 'print JSON on stdout')
    .action(async (options: { json?: boolean }) => {
      ctx.json(options.json);
      const list = await ctx.kit().providers();
      if (options.json) {
        printJson(ctx.io, { providers: list });
        return;
      }
      for (const p of list) {
        const methods = p.methods.map((m) => methodLabel(m, p)).join(', ');
        ctx.io.stdout.write(`${p.id.padEnd(14)} ${p.displayName}: ${methods}${p.builtin ? '' : ' [custom]'}\n`);
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
      const kit = ctx.kit();
      const summary = await kit.addProvider(id, {
        type: 'oauth',
        issuer: options.issuer,
        clientId: options.clientId,
        scopes: options.scope.split(/\s+/).filter(Boolean),
        redirectUri: options.redirectUri,
      });
      say(ctx.io, `Added provider ${summary.id} (${summary.issuer}) to ${kit.home}/config.json. Sign in: loginkit login ${summary.id}`);
    });
}

/** How `providers` names a sign-in method. */
function methodLabel(method: ProviderSummary['methods'][number], p: ProviderSummary): string {
  if (method === 'api_key') return `API key (${p.envVars.join(', ')})`;
  if (method === 'google-cloud') return 'Google Cloud identity';
  if (method === 'aws') return 'AWS IAM Identity Center';
  if (method === 'azure') return 'Microsoft Entra ID';
  return `OAuth (${p.issuer})`;
}

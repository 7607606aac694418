import { type Command, Option } from 'commander';
import type { AwsTokenFormat } from '../../index.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, printJson, writeData } from '../output.js';
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
    .addOption(
      new Option(
        '--format <format>',
        'AWS providers: credential-process (the JSON of AWS credential_process) or bedrock-api-key (the default)',
      ).choices(['credential-process', 'bedrock-api-key']),
    )
    .option(
      '--scope <scope>',
      "Entra ID providers: the resource's scope, e.g. https://management.azure.com/.default (default: the provider's)",
    )
    .action(async (provider: string, options: TokenOptions) => {
      ctx.json(options.json);
      const kit = ctx.kit();
      if (options.scope !== undefined) return printAzureToken(ctx, provider, options, options.scope);
      if (options.format !== undefined || options.json) {
        const isAws = (await kit.provider(provider)).methods.includes('aws');
        if (!isAws && options.format !== undefined) {
          throw new UsageError(`--format is for AWS providers; "${provider}" is not one. Use: loginkit token ${provider}`);
        }
        if (isAws) {
          const format = options.format ?? 'bedrock-api-key';
          const aws = await kit.awsToken(provider, format, { profile: options.profile });
          if (!options.json) return writeData(ctx.io, `${aws.token}\n`);
          const { accessKeyId, secretAccessKey, sessionToken, expiration } = aws.credentials;
          printJson(ctx.io, {
            token: aws.token,
            expiresAt: new Date(aws.expiresAt).toISOString(),
            type: 'api_key',
            format,
            region: aws.region,
            credentials: { accessKeyId, secretAccessKey, sessionToken, expiration: expiration.toISOString() },
          });
          return;
        }
      }
      if (options.json) {
        const { token, expiresAt, type } = await kit.getTokenInfo(provider, { profile: options.profile, source: options.source });
        printJson(ctx.io, { token, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(), type });
        return;
      }
      const code = await printToken(provider, ctx.io, { profile: options.profile, source: options.source });
      if (code !== EXIT.ok) ctx.exit(code);
    });
}

type TokenOptions = { profile?: string; source?: 'env' | 'store'; json?: boolean; format?: AwsTokenFormat; scope?: string };

/** `token <id> --scope <scope>`: an Entra ID provider's token for another resource (cached by scope). */
async function printAzureToken(ctx: CliContext, provider: string, options: TokenOptions, scope: string): Promise<void> {
  const kit = ctx.kit();
  if (!(await kit.provider(provider)).methods.includes('azure')) {
    throw new UsageError(`--scope is for Microsoft Entra ID providers; "${provider}" is not one. Use: loginkit token ${provider}`);
  }
  const azure = await kit.azureToken(provider, { scope, ...(options.profile ? { profile: options.profile } : {}) });
  if (!options.json) return writeData(ctx.io, `${azure.token}\n`);
  const expiresAt = new Date(azure.expiresAt).toISOString();
  printJson(ctx.io, { token: azure.token, expiresAt, type: 'oauth', scope: azure.scope, source: azure.source });
}

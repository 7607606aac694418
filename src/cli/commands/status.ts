import type { Command } from 'commander';
import type { ProjectFile, ProviderStatus } from '../../index.js';
import type { CliContext } from '../context.js';
import { EXIT, type Io, printJson, say } from '../output.js';

/** `loginkit status [provider]`: what you are signed in to; exit 3 when the named provider has no credential. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show which providers you are signed in to')
    .argument('[provider]', 'only this provider (exit 3 when not signed in)')
    .option('--profile <name>', 'look at this profile (default: the active one)')
    .option('--json', 'print JSON on stdout')
    .action(async (provider: string | undefined, options: { json?: boolean; profile?: string }) => {
      ctx.json(options.json);
      const kit = ctx.kit();
      const statuses = await kit.status(provider, { profile: options.profile });
      const projectFiles = await kit.projectFiles();
      if (options.json) printJson(ctx.io, { providers: statuses, projectFiles });
      else printStatus(ctx.io, statuses, projectFiles);
      if (provider !== undefined && !statuses[0]?.loggedIn) ctx.exit(EXIT.loginRequired);
    });
}

function printStatus(io: Io, statuses: readonly ProviderStatus[], projectFiles: readonly ProjectFile[]): void {
  if (statuses.length === 0)
    say(io, 'Not signed in to anything yet. See the providers: loginkit providers; sign in: loginkit login <provider>');
  for (const s of statuses) io.stdout.write(`${describe(s).join('\n  ')}\n`);
  // Files waiting to be allowed (with the command that allows them) and files ignored, each with its reason.
  for (const file of projectFiles) if (file.problem) io.stdout.write(`project file: ${file.problem.split('\n').join('\n  ')}\n`);
}

function describe(s: ProviderStatus): string[] {
  const profile = s.profile !== 'default' ? ` [profile ${s.profile}]` : '';
  const lines: string[] = [];
  if (s.aws && !s.problem) return describeAws(s, s.aws);
  if (s.google) return describeGoogle(s, s.google);
  if (s.azure && !s.problem) return describeAzure(s, s.azure);
  if (s.problem) {
    lines.push(`${s.id}: cannot be read: ${s.problem.split('\n').join(' ')}`);
  } else if (!s.method) {
    const other = s.sources.find((source) => source.kind !== 'env' && source.name !== s.profile);
    const fix = other ? otherProfileHint(s, other.name) : `run: loginkit login ${s.id}`;
    lines.push(`${s.id}${profile}: not signed in (${fix})`);
  } else if (s.source === 'command') {
    lines.push(`${s.id}${profile}: API key from the command \`${s.command ?? ''}\` (config.json keyCommand; run when needed)`);
  } else if (s.method === 'api_key') {
    const unchecked = s.verified === false ? ' (not checked with the provider: imported or --no-verify)' : '';
    lines.push(`${s.id}${profile}: API key ${s.key ?? ''} from ${s.source === 'env' ? 'the environment' : 'the store'}${unchecked}`);
  } else {
    const state = s.loggedIn ? 'signed in' : `sign-in expired (run: loginkit login ${s.id})`;
    lines.push(`${s.id}${profile}: ${state}${s.account ? ` as ${s.account}` : ''}`);
    if (s.plan || s.workspace)
      lines.push([s.plan ? `plan: ${s.plan}` : '', s.workspace ? `account: ${s.workspace}` : ''].filter(Boolean).join(', '));
    lines.push(s.expiresAt ? `access token ${expiryText(s.expiresAt)}${s.refreshable ? ', renews automatically' : ''}` : 'no expiry');
    lines.push(`scopes: ${s.scopes.join(' ') || '(none)'}`);
  }
  if (s.store) lines.push(`stored in ${s.store}`);
  if (s.linkedTo) lines.push(linkLine(s));
  if (s.profileRule) lines.push(`profile "${s.profile}" chosen by the rule in ${s.profileRule}`);
  if (s.sources.length > 1 || s.sources.some((source) => source.kind === 'env' || source.kind === 'command')) {
    lines.push('sources:');
    for (const source of s.sources) {
      const what =
        source.kind === 'env'
          ? `env ${source.name}`
          : source.kind === 'command'
            ? `command \`${source.name}\``
            : `stored ${source.kind === 'oauth' ? 'sign-in' : 'API key'}, profile ${source.name}`;
      lines.push(
        `  ${source.inEffect ? '*' : ' '} ${what}${source.detail ? ` (${source.detail})` : ''}${source.inEffect ? '  ← in effect' : ''}`,
      );
    }
  }
  return lines;
}

/** How to use `other`, a profile that holds a credential, given what chose the profile here. */
function otherProfileHint(s: ProviderStatus, other: string): string {
  const has = `profile "${other}" has one`;
  switch (s.profileChosenBy) {
    case 'rule':
      // switch would change nothing here: the rule wins over it.
      return `${has}, but the rule in ${s.profileRule ?? 'a project rule'} chooses "${s.profile}" here: use --profile ${other}, or sign in to "${s.profile}": loginkit login ${s.id}`;
    case 'env':
      return `${has}, but LOGINKIT_PROFILE chooses "${s.profile}": use --profile ${other}, or unset LOGINKIT_PROFILE`;
    case 'option':
      return `${has}: --profile ${other}`;
    default:
      return `${has}: loginkit switch ${s.id} ${other}`;
  }
}

function describeAws(s: ProviderStatus, aws: NonNullable<ProviderStatus['aws']>): string[] {
  const role = `account ${aws.accountId}, role ${aws.roleName}${aws.roleArn ? ` then ${aws.roleArn}` : ''}, region ${aws.region}`;
  if (!s.loggedIn)
    return [`${s.id}: not signed in to AWS IAM Identity Center (run: loginkit login ${s.id})`, role, `start URL: ${aws.startUrl}`];
  const found = aws.sessionFoundIn === 'aws-cli-cache' ? " (the AWS CLI's sign-in)" : '';
  const lines = [`${s.id}: signed in to AWS IAM Identity Center${found}`, role, `start URL: ${aws.startUrl}`];
  if (aws.sessionExpiresAt)
    lines.push(`sign-in ${expiryText(aws.sessionExpiresAt)}${aws.sessionRefreshable ? ', renews automatically' : ''}`);
  lines.push(
    aws.credentialsExpireAt
      ? `role credentials ${aws.accessKeyId ?? ''} ${expiryText(aws.credentialsExpireAt)}, renewed before then`
      : 'role credentials: made on first use',
  );
  if (s.store) lines.push(`stored in ${s.store}`);
  lines.push(`shares the AWS CLI's token cache ${aws.cacheFile}`);
  return lines;
}

function describeGoogle(s: ProviderStatus, google: NonNullable<ProviderStatus['google']>): string[] {
  const from =
    google.source === 'sign-in'
      ? `loginkit's sign-in at ${google.from}`
      : `${google.source === 'adc' ? 'Application Default Credentials ' : ''}${google.from}${google.credentialType ? ` (${google.credentialType})` : ''}`;
  if (google.problem) return [`${s.id}: Google Cloud, cannot be used now: ${google.problem}`, `source: ${from}`];
  const who = [s.account ? `as ${s.account}` : '', google.impersonating ? `acting as ${google.impersonating}` : '']
    .filter(Boolean)
    .join(', ');
  const lines = [`${s.id}: Google Cloud${who ? ` ${who}` : ''}`, `source: ${from}`];
  lines.push(`project ${google.project ?? '(none: set project in config.json or GOOGLE_CLOUD_PROJECT)'}, location ${google.location}`);
  lines.push(
    google.tokenExpiresAt
      ? `access token ${google.token ?? ''} ${expiryText(google.tokenExpiresAt)}, renewed before then`
      : 'access token: made on first use',
  );
  lines.push(`scopes: ${google.scopes.join(' ')}`);
  if (s.store) lines.push(`stored in ${s.store}`);
  return lines;
}

function describeAzure(s: ProviderStatus, azure: NonNullable<ProviderStatus['azure']>): string[] {
  const where = `tenant ${azure.tenant ?? '(from the identity)'} at ${azure.authorityHost}, scope ${azure.scope}`;
  if (!s.loggedIn) {
    const cli = azure.source === 'azure-cli' ? ", or `az login` for the Azure CLI's sign-in" : '';
    return [`${s.id}: not signed in to Microsoft Entra ID (run: loginkit login ${s.id}${cli})`, where];
  }
  const who =
    azure.source === 'person'
      ? `signed in to Microsoft Entra ID${azure.account ? ` as ${azure.account}` : ''}`
      : `Microsoft Entra ID as ${azure.source}${azure.clientId && azure.source !== 'azure-cli' ? ` ${azure.clientId}` : ''}${azure.identity === 'auto' ? ' (found in the environment)' : ''}`;
  const lines = [`${s.id}: ${who}`, where];
  lines.push(
    azure.tokenExpiresAt ? `access token ${expiryText(azure.tokenExpiresAt)}, renewed before then` : 'access token: made on first use',
  );
  if (azure.endpoint) lines.push(`Azure OpenAI endpoint ${azure.endpoint}`);
  if (s.store) lines.push(`stored in ${s.store}`);
  return lines;
}

function expiryText(iso: string): string {
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60_000);
  if (minutes < 0) return `expired ${-minutes} min ago`;
  return minutes < 120 ? `expires in ${minutes} min` : `expires ${iso}`;
}

/** What following the linked tool's file does now. */
function linkLine(s: ProviderStatus): string {
  const own = 'loginkit goes on with its own copy and writes nothing back there';
  if (s.linkState === 'signed-out') return `linked to ${s.linkedTo}, but signed out there: ${own}`;
  if (s.linkState === 'missing') return `linked to ${s.linkedTo}, which is gone: ${own}`;
  if (s.linkState === 'pending') return `linked to ${s.linkedTo}: loginkit holds newer tokens and writes them back on its next use`;
  return `linked to ${s.linkedTo}: its refreshes are adopted, loginkit's are written back`;
}

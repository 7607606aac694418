import type { LoginkitContext } from '../../context.js';
import { ConfigError } from '../../errors.js';
import type { Provider } from '../../providers/registry.js';
import { maskSecret } from '../../shared/mask.js';
import type { PersonOptions } from '../person-side.js';
import { awsClients, loadAwsPackage } from './sdk-clients.js';
import {
  type RoleCredentials,
  awsCallFailure,
  awsEntryKey,
  currentSession,
  freshRoleCredentials,
  readAwsEntry,
  saveNewSession,
} from './session.js';
import { type AwsTarget, readAwsConfigFile, resolveAwsTarget } from './settings.js';
import { removeTokenCache } from './token-cache.js';

/** AWS role credentials, as the AWS SDKs take them (`AwsCredentialIdentity`). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** How `token` prints an AWS provider's credential. */
export type AwsTokenFormat = 'bedrock-api-key' | 'credential-process';

/** What `status` shows of an AWS provider (no secrets). */
export interface AwsStatus {
  startUrl: string;
  ssoRegion: string;
  /** ISO 8601 end of the IAM Identity Center sign-in, or null when there is none. */
  sessionExpiresAt: string | null;
  /** Whether the sign-in can be renewed without the person (it has a refresh token). */
  sessionRefreshable: boolean;
  /** Where the sign-in was found: loginkit's store or the AWS CLI's token cache (`aws sso login`). */
  sessionFoundIn: 'store' | 'aws-cli-cache' | null;
  /** The AWS CLI's token cache file this provider shares. */
  cacheFile: string;
  accountId: string;
  roleName: string;
  /** The role assumed from it (`role_arn` + `source_profile`), when chained. */
  roleArn: string | null;
  region: string;
  /** ISO 8601 expiry of the role credentials in the store, or null. */
  credentialsExpireAt: string | null;
  /** The access key id of those credentials, masked. */
  accessKeyId: string | null;
}

/** The target of an AWS provider: its settings resolved against the AWS config file. */
export async function awsTarget(ctx: LoginkitContext, provider: Provider, profile?: string): Promise<AwsTarget> {
  if (provider.cloud?.type !== 'aws') throw new ConfigError(`"${provider.id}" is not an AWS provider.`);
  if (profile !== undefined && profile !== 'default') {
    throw new ConfigError(
      `AWS providers have no loginkit profiles (--profile ${profile}): add another provider to config.json with its own awsProfile or roleName.`,
    );
  }
  await loadAwsPackage(() => import('@smithy/shared-ini-file-loader'), '@smithy/shared-ini-file-loader');
  return resolveAwsTarget(provider.id, provider.cloud.settings, await readAwsConfigFile(ctx.env), ctx.env);
}

/** Signs in to IAM Identity Center and makes the first role credentials, so a wrong account or role shows now. */
export async function awsLogin(
  ctx: LoginkitContext,
  provider: Provider,
  options: PersonOptions & { profile?: string },
): Promise<{ target: AwsTarget; session: { expiresAt: number } }> {
  const target = await awsTarget(ctx, provider, options.profile);
  // A store that cannot be written must fail now, not after the person has signed in.
  await ctx.store.read();
  const { signInToAws } = await import('./sign-in.js');
  const session = await signInToAws(ctx, target, options);
  await saveNewSession(ctx, target, session);
  await freshRoleCredentials(ctx, target);
  return { target, session };
}

/** Role credentials valid for at least five more minutes. */
export async function awsCredentials(ctx: LoginkitContext, provider: Provider, profile?: string): Promise<AwsCredentials> {
  const role = await freshRoleCredentials(ctx, await awsTarget(ctx, provider, profile));
  return toSdkCredentials(role);
}

function toSdkCredentials(role: RoleCredentials): AwsCredentials {
  return {
    accessKeyId: role.accessKeyId,
    secretAccessKey: role.secretAccessKey,
    sessionToken: role.sessionToken,
    expiration: new Date(role.expiresAt),
  };
}

/** The credential in `format`, with its expiry (ms since the epoch). */
export async function awsToken(
  ctx: LoginkitContext,
  provider: Provider,
  format: AwsTokenFormat,
  profile?: string,
): Promise<{ token: string; expiresAt: number; credentials: AwsCredentials; region: string }> {
  const target = await awsTarget(ctx, provider, profile);
  const role = await freshRoleCredentials(ctx, target);
  const credentials = toSdkCredentials(role);
  if (format === 'credential-process') {
    const document = {
      Version: 1,
      AccessKeyId: role.accessKeyId,
      SecretAccessKey: role.secretAccessKey,
      SessionToken: role.sessionToken,
      Expiration: new Date(role.expiresAt).toISOString(),
    };
    return { token: JSON.stringify(document), expiresAt: role.expiresAt, credentials, region: target.region };
  }
  return { token: await bedrockApiKey(role, target.region, ctx.now()), expiresAt: role.expiresAt, credentials, region: target.region };
}

/** A short-term Bedrock API key (a presigned request, made by AWS's own generator) valid as long as the credentials. */
async function bedrockApiKey(role: RoleCredentials, region: string, now: number): Promise<string> {
  const { getToken } = await loadAwsPackage(() => import('@aws/bedrock-token-generator'), '@aws/bedrock-token-generator');
  const seconds = Math.max(1, Math.min(12 * 3600, Math.floor((role.expiresAt - now) / 1000)));
  return getToken({ credentials: toSdkCredentials(role), region, expiresInSeconds: seconds });
}

/** What `exec` sets for an AWS provider: the role credentials, the region and a Bedrock API key. */
export async function awsExecVariables(ctx: LoginkitContext, provider: Provider, profile?: string): Promise<Record<string, string>> {
  const { token, credentials, region } = await awsToken(ctx, provider, 'bedrock-api-key', profile);
  return {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: credentials.sessionToken,
    // The AWS SDKs read it with the variables above, and know when to stop using them.
    AWS_CREDENTIAL_EXPIRATION: credentials.expiration.toISOString(),
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_BEARER_TOKEN_BEDROCK: token,
  };
}

/** Variables that would make the AWS SDKs in `exec`'s child prefer another source over the credentials set. */
export const AWS_SHADOWING_VARIABLES = ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE'] as const;

/** The state of an AWS provider, read without any request. */
export async function awsStatus(ctx: LoginkitContext, provider: Provider): Promise<AwsStatus> {
  const target = await awsTarget(ctx, provider);
  const { session, role, fromCacheFile } = await currentSession(ctx, target);
  return {
    startUrl: target.startUrl,
    ssoRegion: target.ssoRegion,
    sessionExpiresAt: session ? new Date(session.expiresAt).toISOString() : null,
    sessionRefreshable: Boolean(session?.refreshToken && session.clientId && session.clientSecret),
    sessionFoundIn: session ? (fromCacheFile ? 'aws-cli-cache' : 'store') : null,
    cacheFile: target.cacheFile,
    accountId: target.accountId,
    roleName: target.roleName,
    roleArn: target.chainedRole?.roleArn ?? null,
    region: target.region,
    credentialsExpireAt: role ? new Date(role.expiresAt).toISOString() : null,
    accessKeyId: role ? maskSecret(role.accessKeyId) : null,
  };
}

/** Whether the AWS sign-in is usable now or renewable: for `loggedIn`. */
export function awsSignedIn(status: AwsStatus, now: number): boolean {
  if (status.credentialsExpireAt !== null && Date.parse(status.credentialsExpireAt) > now) return true;
  if (status.sessionExpiresAt === null) return false;
  return status.sessionRefreshable || Date.parse(status.sessionExpiresAt) > now;
}

/** Signs out of the IAM Identity Center session (its Logout call) and removes the session, the role credentials and the AWS CLI's cache file. */
export async function awsLogout(
  ctx: LoginkitContext,
  provider: Provider,
): Promise<{ removed: boolean; revocation: 'revoked' | 'failed' | 'unsupported'; revocationError?: string }> {
  const target = await awsTarget(ctx, provider);
  const { session } = await currentSession(ctx, target);
  let revocation: 'revoked' | 'failed' | 'unsupported' = 'unsupported';
  let revocationError: string | undefined;
  if (session && session.expiresAt > ctx.now()) {
    try {
      const clients = await awsClients(target, ctx.http);
      await clients.sso.send(new clients.sdk.sso.LogoutCommand({ accessToken: session.accessToken }));
      revocation = 'revoked';
    } catch (error) {
      revocation = 'failed';
      revocationError = awsCallFailure(error, target.endpoints.sso, 'Signing out of IAM Identity Center').message.split('\n')[0];
    }
  }
  const existed = (await readAwsEntry(ctx, target)) !== undefined;
  await ctx.store.update((entries) => {
    if (!(awsEntryKey(provider.id) in entries)) return undefined;
    const { [awsEntryKey(provider.id)]: _gone, ...rest } = entries;
    return rest;
  });
  // The session is over at the service (or was already): its cached token is stale for the AWS CLI too.
  if (session) await removeTokenCache(target.cacheFile);
  return { removed: existed || session !== undefined, revocation, ...(revocationError ? { revocationError } : {}) };
}

/** `new AnthropicBedrock(await kit.anthropicBedrockOptions('bedrock'))`: options for `@anthropic-ai/bedrock-sdk`. */
export interface AnthropicBedrockOptions {
  awsRegion: string;
  /** Hands the SDK loginkit's credential provider, so every request signs with fresh role credentials. */
  providerChainResolver: () => Promise<() => Promise<AwsCredentials>>;
  /** Set when `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (or `AWS_ENDPOINT_URL`) names the endpoint. */
  baseURL?: string;
}

/** `createAmazonBedrock(await kit.amazonBedrockOptions('bedrock'))`: settings for the AI SDK's `@ai-sdk/amazon-bedrock`. */
export interface AmazonBedrockSettings {
  region: string;
  credentialProvider: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }>;
  baseURL?: string;
}

/** Options for `@anthropic-ai/bedrock-sdk` that sign with the provider's role credentials. */
export async function anthropicBedrockOptions(ctx: LoginkitContext, provider: Provider): Promise<AnthropicBedrockOptions> {
  const target = await awsTarget(ctx, provider);
  const credentials = async (): Promise<AwsCredentials> => toSdkCredentials(await freshRoleCredentials(ctx, target));
  const endpoint = target.endpoints.bedrockRuntime;
  return { awsRegion: target.region, providerChainResolver: async () => credentials, ...(endpoint ? { baseURL: endpoint } : {}) };
}

/** Settings for the AI SDK's Amazon Bedrock provider that sign with the provider's role credentials. */
export async function amazonBedrockSettings(ctx: LoginkitContext, provider: Provider): Promise<AmazonBedrockSettings> {
  const target = await awsTarget(ctx, provider);
  const endpoint = target.endpoints.bedrockRuntime;
  return {
    region: target.region,
    credentialProvider: async () => {
      const { accessKeyId, secretAccessKey, sessionToken } = toSdkCredentials(await freshRoleCredentials(ctx, target));
      return { accessKeyId, secretAccessKey, sessionToken };
    },
    ...(endpoint ? { baseURL: endpoint } : {}),
  };
}

import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { endpointProblem } from '../../providers/endpoints.js';
import type { AwsProviderSettings } from '../../providers/registry.js';
import type { EnvVars } from '../../shared/home.js';

/** The scope IAM Identity Center grants for role credentials (what `aws configure sso` writes). */
export const DEFAULT_REGISTRATION_SCOPES = ['sso:account:access'] as const;

/** Everything an AWS provider needs, from config.json and the AWS config file, with endpoints resolved. */
export interface AwsTarget {
  readonly providerId: string;
  readonly startUrl: string;
  readonly ssoRegion: string;
  /** The `sso-session` name; undefined for a legacy profile (no refreshable session). */
  readonly sessionName: string | undefined;
  readonly registrationScopes: readonly string[];
  readonly accountId: string;
  readonly roleName: string;
  /** Where the models are called (Bedrock's region). */
  readonly region: string;
  /** A role assumed with the IAM Identity Center role's credentials (`role_arn` + `source_profile`). */
  readonly chainedRole: { readonly roleArn: string; readonly externalId: string | undefined } | undefined;
  readonly endpoints: {
    readonly ssoOidc: string;
    readonly sso: string;
    readonly sts: string;
    /** Set only when an endpoint variable names one; the AWS SDKs pick the regional default otherwise. */
    readonly bedrockRuntime: string | undefined;
  };
  /** The AWS CLI's token cache file for this session: `~/.aws/sso/cache/<sha1>.json`. */
  readonly cacheFile: string;
}

type IniSection = Readonly<Record<string, string | undefined>>;

/** The parts of the AWS config file an AWS provider reads. */
export interface AwsConfigFile {
  readonly profiles: Readonly<Record<string, IniSection>>;
  readonly ssoSessions: Readonly<Record<string, IniSection>>;
}

/** The AWS config file (`AWS_CONFIG_FILE`, default `~/.aws/config`), parsed by the AWS SDK's own loader. */
export async function readAwsConfigFile(env: EnvVars): Promise<AwsConfigFile> {
  const { loadSharedConfigFiles, loadSsoSessionData } = await import('@smithy/shared-ini-file-loader');
  const configFilepath = awsConfigPath(env);
  // The credentials file is never read: loginkit's AWS providers sign in through IAM Identity Center.
  const init = { configFilepath, filepath: join(awsHome(env), '.loginkit-unused-credentials'), ignoreCache: true };
  const [files, ssoSessions] = await Promise.all([loadSharedConfigFiles(init), loadSsoSessionData({ configFilepath })]);
  return { profiles: files.configFile, ssoSessions };
}

/** Where the AWS CLI keeps its config file. */
export function awsConfigPath(env: EnvVars): string {
  return env.AWS_CONFIG_FILE || join(awsHome(env), '.aws', 'config');
}

/** The home folder the AWS CLI and SDKs use for `~/.aws`. */
function awsHome(env: EnvVars): string {
  return env.HOME || env.USERPROFILE || homedir();
}

/** The token cache file the AWS CLI and SDKs share for a session (sha1 of the session name, or of the start URL for a legacy profile). */
export function tokenCacheFile(env: EnvVars, sessionName: string | undefined, startUrl: string): string {
  const digest = createHash('sha1')
    .update(sessionName ?? startUrl)
    .digest('hex');
  return join(awsHome(env), '.aws', 'sso', 'cache', `${digest}.json`);
}

/**
 * Resolves a provider's AWS settings: its `awsProfile` from the AWS config file (with the `sso-session` it
 * names, and a `source_profile` for a chained role), overridden field by field by config.json's own.
 */
export function resolveAwsTarget(providerId: string, settings: AwsProviderSettings, file: AwsConfigFile, env: EnvVars): AwsTarget {
  const configPath = awsConfigPath(env);
  const fail = (problem: string): never => {
    throw new ConfigError(`AWS provider "${providerId}": ${problem}`);
  };
  let profile: IniSection = {};
  let chainedRole: AwsTarget['chainedRole'];
  if (settings.awsProfile !== undefined) {
    const named = file.profiles[settings.awsProfile];
    if (!named)
      fail(`profile "${settings.awsProfile}" is not in ${configPath}; add it with: aws configure sso --profile ${settings.awsProfile}`);
    profile = named as IniSection;
    if (profile.role_arn && profile.source_profile) {
      chainedRole = { roleArn: profile.role_arn, externalId: profile.external_id };
      const source = file.profiles[profile.source_profile];
      if (!source) fail(`profile "${settings.awsProfile}" names source_profile "${profile.source_profile}", which is not in ${configPath}`);
      profile = source as IniSection;
    }
  }
  const sessionName = settings.ssoSession ?? profile.sso_session;
  const session: IniSection = sessionName ? (file.ssoSessions[sessionName] ?? {}) : {};
  if (sessionName && settings.ssoSession === undefined && !file.ssoSessions[sessionName]) {
    fail(`sso-session "${sessionName}" is not in ${configPath}`);
  }
  const pick = (own: string | undefined, ...fromFile: Array<string | undefined>): string | undefined =>
    own ?? fromFile.find((value) => value !== undefined && value !== '');
  const startUrl = pick(settings.startUrl, session.sso_start_url, profile.sso_start_url);
  const ssoRegion = pick(settings.ssoRegion, session.sso_region, profile.sso_region);
  const accountId = pick(settings.accountId, profile.sso_account_id);
  const roleName = pick(settings.roleName, profile.sso_role_name);
  const where = settings.awsProfile ? ` (config.json or profile "${settings.awsProfile}" in ${configPath})` : ' (config.json)';
  if (!startUrl) fail(`no start URL${where}: set startUrl, or sso_start_url in the profile's sso-session`);
  if (!ssoRegion) fail(`no IAM Identity Center region${where}: set ssoRegion, or sso_region`);
  if (!accountId || !/^\d{12}$/.test(accountId)) fail(`no 12-digit account id${where}: set accountId, or sso_account_id`);
  if (!roleName) fail(`no role name${where}: set roleName, or sso_role_name`);
  const urlProblem = endpointProblem(startUrl as string);
  if (urlProblem) fail(`the start URL ${urlProblem}`);
  const region =
    pick(
      settings.region,
      chainedRole ? file.profiles[settings.awsProfile as string]?.region : undefined,
      profile.region,
      env.AWS_REGION,
      env.AWS_DEFAULT_REGION,
    ) ?? (ssoRegion as string);
  const scopes = session.sso_registration_scopes
    ?.split(',')
    .map((scope) => scope.trim())
    .filter(Boolean);
  // A session name without its own section (config.json's ssoSession) still names the cache file.
  const effectiveSession = sessionName ?? (settings.awsProfile === undefined ? providerId : undefined);
  return {
    providerId,
    startUrl: startUrl as string,
    ssoRegion: ssoRegion as string,
    sessionName: effectiveSession,
    registrationScopes: scopes && scopes.length > 0 ? scopes : [...DEFAULT_REGISTRATION_SCOPES],
    accountId: accountId as string,
    roleName: roleName as string,
    region,
    chainedRole,
    endpoints: {
      ssoOidc: endpointFor(env, 'SSO_OIDC', `https://oidc.${ssoRegion}.${dnsSuffix(ssoRegion as string)}`),
      sso: endpointFor(env, 'SSO', `https://portal.sso.${ssoRegion}.${dnsSuffix(ssoRegion as string)}`),
      sts: endpointFor(env, 'STS', `https://sts.${region}.${dnsSuffix(region)}`),
      bedrockRuntime: overrideFor(env, 'BEDROCK_RUNTIME'),
    },
    cacheFile: tokenCacheFile(env, effectiveSession, startUrl as string),
  };
}

/** The AWS partition's domain for a region. */
function dnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** A service's endpoint: `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, else the regional default. */
function endpointFor(env: EnvVars, service: string, fallback: string): string {
  return overrideFor(env, service) ?? fallback;
}

/** The endpoint the standard AWS variables name for a service (https, or http on loopback only). */
function overrideFor(env: EnvVars, service: string): string | undefined {
  const variable = env[`AWS_ENDPOINT_URL_${service}`]
    ? `AWS_ENDPOINT_URL_${service}`
    : env.AWS_ENDPOINT_URL
      ? 'AWS_ENDPOINT_URL'
      : undefined;
  if (!variable) return undefined;
  const value = (env[variable] as string).replace(/\/+$/, '');
  const problem = endpointProblem(value);
  if (problem) throw new ConfigError(`${variable} ${problem}`);
  return value;
}

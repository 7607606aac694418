import type { LoginkitContext } from '../context.js';
import { ConfigError, LoginRequiredError } from '../errors.js';
import { type FetchLike, createHttp } from '../net/http.js';
import type { Provider } from '../providers/registry.js';
import { apiKeyFromEnvironment, apiKeyHeaders } from '../session/api-keys.js';
import { createAuthenticatedFetch } from '../session/authenticated-fetch.js';
import { type Credential, profileProblem } from '../session/credential.js';
import { knownProvider } from './known-provider.js';
import { profileFor } from './profile.js';

/** Which credential to use: a profile (default: the active one) and, when both exist, env or store. */
export interface CredentialChoice {
  /** Profile name; default `$LOGINKIT_PROFILE`, else the one chosen with `switch`, else `default`. */
  profile?: string;
  /** `env` or `store` forces that source; default: the provider's environment variable wins when set. */
  source?: 'env' | 'store';
}

/** What `exec` puts in a child's environment. */
export interface ExecEnvironment {
  /** Variables to set (secrets: pass them only to the child). */
  variables: Record<string, string>;
  /** For each provider, which source and variable was used (no secrets). */
  used: Array<{ provider: string; source: 'env' | 'store'; variable: string }>;
}

/** The secret in effect for a provider: an environment variable, or a stored credential made fresh. */
export type SecretInEffect = { source: 'env'; variable: string; value: string } | { source: 'store'; credential: Credential };

/**
 * The secret in effect: the provider's environment variable when set (unless `choice.source` is `store`),
 * else the stored credential of the profile, refreshed first when due.
 */
export async function secretFor(ctx: LoginkitContext, id: string, choice: CredentialChoice): Promise<SecretInEffect> {
  const provider = await knownProvider(ctx, id);
  if (choice.source !== 'store') {
    const fromEnv = provider ? apiKeyFromEnvironment(provider, ctx.env) : undefined;
    if (fromEnv) return { source: 'env', ...fromEnv };
    if (choice.source === 'env') {
      const names = provider?.apiKey?.envVars.join(' or ') || 'no environment variable';
      throw new LoginRequiredError(id, `--source env: ${names} is not set for "${id}".`);
    }
  }
  const profile = await profileFor(ctx, id, choice.profile);
  return { source: 'store', credential: await ctx.session.freshCredential(id, profile) };
}

/** The secret to send: an environment variable's key, a stored API key, or a valid access token. */
export async function getToken(ctx: LoginkitContext, id: string, choice: CredentialChoice = {}): Promise<string> {
  const secret = await secretFor(ctx, id, choice);
  if (secret.source === 'env') return secret.value;
  return secret.credential.kind === 'api_key' ? secret.credential.key : secret.credential.accessToken;
}

/** Makes `profile` the one used for `provider` when none is named; it must hold a credential. */
export async function switchProfile(ctx: LoginkitContext, id: string, profile: string): Promise<void> {
  const problem = profileProblem(profile);
  if (problem) throw new ConfigError(problem);
  await knownProvider(ctx, id);
  if (!(await ctx.session.credential(id, profile))) {
    throw new LoginRequiredError(id, `No credential for "${id}" in profile "${profile}".`, undefined, profile);
  }
  await ctx.session.setActiveProfile(id, profile);
}

/** The variables `exec` sets for these providers (API keys, fresh access tokens). */
export async function execEnvironment(
  ctx: LoginkitContext,
  ids: readonly string[],
  choice: CredentialChoice = {},
): Promise<ExecEnvironment> {
  const variables: Record<string, string> = {};
  const used: ExecEnvironment['used'] = [];
  for (const id of ids) {
    const provider = await ctx.providers.find(id);
    const secret = await secretFor(ctx, id, choice);
    if (secret.source === 'env') {
      used.push({ provider: id, source: 'env', variable: secret.variable });
      continue;
    }
    Object.assign(variables, variablesFor(provider, secret.credential));
    used.push({ provider: id, source: 'store', variable: conventionalVariable(provider, secret.credential) });
  }
  return { variables, used };
}

/** The variables that hand a stored credential to the provider's SDK. */
function variablesFor(provider: Provider, credential: Credential): Record<string, string> {
  const variables: Record<string, string> = {};
  if (credential.kind === 'api_key') {
    // Every key variable the provider's SDK reads gets the stored key, so none of them shadows it.
    for (const name of provider.apiKey?.envVars ?? [provider.accessTokenEnvVar]) variables[name] = credential.key;
    const settings = provider.apiKey;
    if (settings?.baseUrlOverride && settings.baseUrlEnvVar) variables[settings.baseUrlEnvVar] = settings.baseUrlOverride;
    return variables;
  }
  variables[provider.accessTokenEnvVar] = credential.accessToken;
  // A key obtained with the sign-in goes where the provider's SDK looks for keys.
  if (credential.apiKey) for (const name of provider.apiKey?.envVars ?? []) variables[name] = credential.apiKey;
  return variables;
}

function conventionalVariable(provider: Provider, credential: Credential): string {
  return credential.kind === 'api_key' ? (provider.apiKey?.envVars[0] ?? provider.accessTokenEnvVar) : provider.accessTokenEnvVar;
}

/**
 * A fetch that authenticates as the provider's credential in effect: adds the access token or key, refreshes
 * when due, and on a 401 refreshes once and retries once when the body can be sent again.
 */
export function createFetch(ctx: LoginkitContext, id: string, choice: CredentialChoice = {}): FetchLike {
  let provider: Promise<Provider> | undefined;
  return createAuthenticatedFetch(
    {
      current: async () => {
        const secret = await secretFor(ctx, id, choice);
        if (secret.source === 'store') return secret.credential;
        return { kind: 'api_key', provider: id, profile: secret.variable, key: secret.value, verified: false, obtainedAt: ctx.now() };
      },
      renew: (rejected) => (rejected.kind === 'oauth' ? ctx.session.refresh(rejected, true) : Promise.resolve(rejected)),
      headers: async (credential) => {
        if (credential.kind === 'oauth') return { authorization: `Bearer ${credential.accessToken}` };
        provider ??= ctx.providers.find(id);
        const settings = (await provider).apiKey;
        if (!settings) throw new ConfigError(`"${id}" has no API-key settings.`);
        return apiKeyHeaders(settings, credential.key);
      },
    },
    createHttp({ fetch: ctx.baseFetch, env: ctx.env, timeoutMs: ctx.timeoutMs, bound: 'headers' }),
  );
}

import type { LoginkitContext } from '../context.js';
import { ConfigError, LoginRequiredError } from '../errors.js';
import { createHttp } from '../net/http.js';
import type { Provider } from '../providers/registry.js';
import { apiKeyFromEnvironment } from '../session/api-keys.js';
import { type CredentialHeaders, createAuthenticatedFetch } from '../session/authenticated-fetch.js';
import { type Credential, type OAuthCredential, profileProblem, sameTokens } from '../session/credential.js';
import { cloudFeature } from './clouds.js';
import { knownProvider } from './known-provider.js';
import { type ProfileChoice, chooseProfile, profileFor } from './profile.js';

/** Which credential to use: a profile (default: the active one) and, when both exist, env or store. */
export interface CredentialChoice {
  /** Profile name; default `$LOGINKIT_PROFILE`, else the one chosen with `switch`, else `default`. */
  profile?: string | undefined;
  /** `env` or `store` forces that source; default: the provider's environment variable wins when set. */
  source?: 'env' | 'store' | undefined;
}

/** What `exec` puts in a child's environment. */
export interface ExecEnvironment {
  /** Variables to set (secrets: pass them only to the child). */
  variables: Record<string, string>;
  /** Variables to remove from the child's environment, since they would take precedence over `variables` (e.g. `AWS_PROFILE`). */
  unset?: string[];
  /** For each provider, which source and variable was used (no secrets). */
  used: Array<{ provider: string; source: 'env' | 'command' | 'store' | 'cloud'; variable: string }>;
}

/**
 * The secret in effect for a provider: an environment variable, the key a configured command printed, or a
 * stored credential made fresh.
 */
export type SecretInEffect =
  | { source: 'env'; variable: string; value: string }
  | { source: 'command'; command: string; value: string; expiresAt: number }
  | { source: 'store'; credential: Credential }
  /** A cloud provider's credential (AWS, Google Cloud, …), made and renewed by its cloud's module. */
  | { source: 'cloud'; info: TokenInfo };

/** A token with what a tool that caches it needs to know (`loginkit token --json`). */
export interface TokenInfo {
  token: string;
  /** Until when it may be reused, in ms since the epoch (an access token's expiry, a command key's cache lifetime); null when unknown. */
  expiresAt: number | null;
  /** `oauth`: an access token (send as Bearer); `api_key`: a key (send in the provider's key header). */
  type: 'oauth' | 'api_key';
}

/**
 * The secret in effect: the provider's environment variable when set, else its `keyCommand`'s key, else the
 * stored credential of the profile, refreshed first when due. `choice.source` `env` or `store` forces one.
 */
export async function secretFor(ctx: LoginkitContext, id: string, choice: CredentialChoice): Promise<SecretInEffect> {
  const provider = await knownProvider(ctx, id);
  // A cloud provider's credential is made by its cloud's module (loaded only for such a provider).
  const cloud = provider?.cloud ? await cloudFeature(provider) : undefined;
  if (cloud) return { source: 'cloud', info: await cloud.tokenInfo(ctx, provider as Provider, choice.profile) };
  if (choice.source !== 'store') {
    const fromEnv = provider ? apiKeyFromEnvironment(provider, ctx.env) : undefined;
    if (fromEnv) {
      if (choice.profile && choice.source !== 'env') warnProfileShadowed(ctx, id, choice.profile, fromEnv.variable);
      return { source: 'env', ...fromEnv };
    }
    if (choice.source === 'env') {
      const names = provider?.apiKey?.envVars.join(' or ') || 'no environment variable';
      throw new LoginRequiredError(id, `Source "env" was chosen, but ${names} is not set for "${id}".`);
    }
    if (provider?.keyCommand) {
      const { describeCommand } = await import('../session/key-command.js');
      return { source: 'command', command: describeCommand(provider.keyCommand.argv), ...(await commandKey(ctx, provider)) };
    }
  }
  const profile = await profileFor(ctx, id, choice.profile);
  return { source: 'store', credential: await ctx.session.freshCredential(id, profile) };
}

const shadowWarned = new WeakMap<LoginkitContext, Set<string>>();

/**
 * Says, once per client and provider, that the profile asked for by name is not used: the provider's
 * variable wins over stored credentials (as every SDK reads it), and naming a profile does not change that.
 */
function warnProfileShadowed(ctx: LoginkitContext, id: string, profile: string, variable: string): void {
  let told = shadowWarned.get(ctx);
  if (!told) shadowWarned.set(ctx, (told = new Set()));
  if (told.has(id)) return;
  told.add(id);
  ctx.warn(
    `${variable} is set and wins over stored credentials, so profile "${profile}" is not used for ${id}; to use it: --source store, or unset ${variable}`,
  );
}

async function commandKey(ctx: LoginkitContext, provider: Provider, rejected?: string): Promise<{ value: string; expiresAt: number }> {
  // Loaded only for providers with a key command: child processes and hashing stay off the `token` path.
  const { keyFromCommand } = await import('./key-source.js');
  const { key, expiresAt } = await keyFromCommand(ctx, provider, rejected);
  return { value: key, expiresAt };
}

/** The secret to send: an environment variable's key, a command's key, a stored API key, or a valid access token. */
export async function getToken(ctx: LoginkitContext, id: string, choice: CredentialChoice = {}): Promise<string> {
  return (await getTokenInfo(ctx, id, choice)).token;
}

/** {@link getToken} with the token's type and how long it may be reused. */
export async function getTokenInfo(ctx: LoginkitContext, id: string, choice: CredentialChoice = {}): Promise<TokenInfo> {
  return tokenInfoOf(await secretFor(ctx, id, choice));
}

function tokenInfoOf(secret: SecretInEffect): TokenInfo {
  if (secret.source === 'cloud') return secret.info;
  if (secret.source === 'env') return { token: secret.value, expiresAt: null, type: 'api_key' };
  if (secret.source === 'command') return { token: secret.value, expiresAt: secret.expiresAt, type: 'api_key' };
  const { credential } = secret;
  if (credential.kind === 'api_key') return { token: credential.key, expiresAt: null, type: 'api_key' };
  return { token: credential.accessToken, expiresAt: credential.expiresAt, type: 'oauth' };
}

/**
 * For an application that sent `rejected` and was refused (HTTP 401): a newer token, or a
 * LoginRequiredError when none can be had. An access token is refreshed by force, once, single-flight
 * across processes (a caller that reports a token someone already replaced gets the replacement); a
 * command's key is fetched again once; a stored or environment API key cannot be renewed without the person.
 */
export async function renewRejectedToken(
  ctx: LoginkitContext,
  id: string,
  rejected: string,
  choice: CredentialChoice = {},
): Promise<string> {
  const secret = await secretFor(ctx, id, choice);
  const renewed = await renewSecret(ctx, id, secret, rejected);
  if (renewed !== undefined) return renewed;
  throw new LoginRequiredError(id, refusedReason(secret, id));
}

/** The token after `rejected` was refused, or undefined when nothing newer can be had. */
async function renewSecret(ctx: LoginkitContext, id: string, secret: SecretInEffect, rejected: string): Promise<string | undefined> {
  if (secret.source === 'env') return undefined;
  // A cloud module renews its credential before it expires; one refused while fresh stays refused (a permission).
  if (secret.source === 'cloud') return secret.info.token === rejected ? undefined : secret.info.token;
  if (secret.source === 'command') {
    const provider = await ctx.providers.find(id);
    const again = await commandKey(ctx, provider, rejected);
    return again.value === rejected ? undefined : again.value;
  }
  const { credential } = secret;
  if (credential.kind === 'api_key') return credential.key === rejected ? undefined : credential.key;
  // Someone already replaced the token that was refused: the replacement is the answer.
  if (credential.accessToken !== rejected && credential.apiKey !== rejected) return credential.accessToken;
  if (credential.apiKey === rejected) return undefined;
  const renewed = await ctx.session.refresh(credential, true);
  if (renewed.kind !== 'oauth') return renewed.key;
  return sameTokens(renewed, credential) ? undefined : renewed.accessToken;
}

function refusedReason(secret: SecretInEffect, id: string): string {
  if (secret.source === 'env') return `The key in ${secret.variable} was refused by the server; set a valid key for "${id}".`;
  if (secret.source === 'command') return `The key \`${secret.command}\` printed was refused, also after running it again.`;
  if (secret.source === 'cloud')
    return `The token for "${id}" was refused by the server; check that the identity may use it (its role or permissions).`;
  return `The credential for "${id}" was refused by the server and cannot be renewed without you.`;
}

/** What `switchProfile` did, and the profile in effect in the working directory. */
export interface SwitchResult {
  provider: string;
  /** The profile now used where nothing else chooses one. */
  profile: string;
  /**
   * The profile in effect in the working directory and what chose it: a project rule or `LOGINKIT_PROFILE`
   * wins over the switch (`profileChosenBy` `rule` or `env`; `profileRule` says which rule).
   */
  here: { profile: string; profileChosenBy: ProfileChoice['chosenBy']; profileRule: string | null };
}

/** Makes `profile` the one used for `provider` when none is named; it must hold a credential. */
export async function switchProfile(ctx: LoginkitContext, id: string, profile: string): Promise<SwitchResult> {
  const problem = profileProblem(profile);
  if (problem) throw new ConfigError(problem);
  await knownProvider(ctx, id);
  if (!(await ctx.session.credential(id, profile))) {
    throw new LoginRequiredError(id, `No credential for "${id}" in profile "${profile}".`, undefined, profile);
  }
  await ctx.session.setActiveProfile(id, profile);
  const here = await chooseProfile(ctx, id, undefined);
  return { provider: id, profile, here: { profile: here.profile, profileChosenBy: here.chosenBy, profileRule: here.rule ?? null } };
}

/** The variables `exec` sets for these providers (API keys, fresh access tokens). */
export async function execEnvironment(
  ctx: LoginkitContext,
  ids: readonly string[],
  choice: CredentialChoice = {},
): Promise<ExecEnvironment> {
  const variables: Record<string, string> = {};
  const used: ExecEnvironment['used'] = [];
  const unset = new Set<string>();
  for (const id of ids) {
    const provider = await ctx.providers.find(id);
    const cloud = await cloudFeature(provider);
    if (cloud) {
      const made = await cloud.execVariables(ctx, provider, choice.profile);
      Object.assign(variables, made.variables);
      for (const name of made.unset) unset.add(name);
      used.push({ provider: id, source: 'cloud', variable: Object.keys(made.variables)[0] ?? '' });
      continue;
    }
    const secret = await secretFor(ctx, id, choice);
    if (secret.source === 'env') {
      used.push({ provider: id, source: 'env', variable: secret.variable });
      continue;
    }
    if (secret.source === 'cloud') continue; // handled above, by the cloud's module
    if (secret.source === 'command') {
      const names = provider.apiKey?.envVars ?? [provider.accessTokenEnvVar];
      for (const name of names) variables[name] = secret.value;
      used.push({ provider: id, source: 'command', variable: names[0] as string });
      continue;
    }
    Object.assign(variables, variablesFor(provider, secret.credential));
    used.push({ provider: id, source: 'store', variable: conventionalVariable(provider, secret.credential) });
  }
  return { variables, used, ...(unset.size > 0 ? { unset: [...unset] } : {}) };
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

/** How {@link createFetch} sends a sign-in that also obtained an API key (OpenAI's token exchange). */
export interface FetchOptions {
  /** `api`: send the exchanged API key where the provider takes keys (what the provider's API accepts); default: the access token. */
  signInCredential?: 'access_token' | 'api';
}

/**
 * A fetch that SDKs can take as theirs and that authenticates as the provider's credential in effect: sets
 * the provider's header (removing conflicting ones), refreshes when due, and on a 401 renews once (a forced
 * refresh, or a key command run again) and retries once; the final response, 401 and 403 included, is
 * returned as the server sent it.
 */
export function createFetch(ctx: LoginkitContext, id: string, choice: CredentialChoice = {}, options: FetchOptions = {}): typeof fetch {
  // A since-removed provider's stored sign-in still works (as Bearer): the lookup may find nothing.
  let provider: Promise<Provider | undefined> | undefined;
  const settings = async (): Promise<Provider | undefined> => (provider ??= ctx.providers.findKnown(id));
  const fromCommand = new WeakSet<Credential>();
  return createAuthenticatedFetch(
    {
      current: async () => {
        const secret = await secretFor(ctx, id, choice);
        if (secret.source === 'store') return secret.credential;
        // A cloud token goes out as Bearer, as every cloud's API takes it.
        if (secret.source === 'cloud') return keyCredential(ctx, id, 'cloud', secret.info.token);
        const credential = keyCredential(ctx, id, secret.source === 'env' ? secret.variable : 'command', secret.value);
        if (secret.source === 'command') fromCommand.add(credential);
        return credential;
      },
      renew: async (rejected) => {
        // A refresh renews the access token, never the exchanged key: a refused key stays refused.
        if (options.signInCredential === 'api' && rejected.kind === 'oauth' && rejected.apiKey) return undefined;
        return renewForFetch(ctx, id, rejected, fromCommand.has(rejected), settings);
      },
      headers: async (credential) => credentialHeaders(await settings(), credential, options),
    },
    createHttp({ fetch: ctx.baseFetch, env: ctx.env, timeoutMs: ctx.timeoutMs, bound: 'headers' }),
  );
}

function keyCredential(ctx: LoginkitContext, id: string, origin: string, key: string): Credential {
  return { kind: 'api_key', provider: id, profile: origin, key, verified: false, obtainedAt: ctx.now() };
}

/** The credential to retry with after `rejected` got a 401, or undefined when the 401 stands. */
async function renewForFetch(
  ctx: LoginkitContext,
  id: string,
  rejected: Credential,
  fromCommand: boolean,
  provider: () => Promise<Provider | undefined>,
): Promise<Credential | undefined> {
  if (fromCommand && rejected.kind === 'api_key') {
    const again = await commandKey(ctx, (await provider()) as Provider, rejected.key);
    return again.value === rejected.key ? undefined : keyCredential(ctx, id, 'command', again.value);
  }
  if (rejected.kind !== 'oauth') return undefined;
  try {
    const renewed = await ctx.session.refresh(rejected, true);
    return renewed.kind === 'oauth' && sameTokens(renewed, rejected as OAuthCredential) ? undefined : renewed;
  } catch (error) {
    // The server's 401 is the answer the caller (an SDK) knows how to report; say why it could not be renewed.
    if (!(error instanceof LoginRequiredError)) throw error;
    ctx.warn(error.message.split('\n').join(' '));
    return undefined;
  }
}

/** The headers that carry `credential` to the provider's API. */
function credentialHeaders(provider: Provider | undefined, credential: Credential, options: FetchOptions): CredentialHeaders {
  const settings = provider?.apiKey;
  const key = credential.kind === 'api_key' ? credential.key : options.signInCredential === 'api' ? credential.apiKey : undefined;
  if (key === undefined || !settings) {
    return {
      credential: { authorization: `Bearer ${credential.kind === 'api_key' ? credential.key : credential.accessToken}` },
      defaults: {},
    };
  }
  return {
    credential: { [settings.header.name]: settings.header.scheme ? `${settings.header.scheme} ${key}` : key },
    defaults: { ...settings.extraHeaders },
  };
}

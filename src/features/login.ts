import type { LoginkitContext } from '../context.js';
import { ConfigError } from '../errors.js';
import type { ServerMetadata } from '../oauth/server.js';
import type { AccountInfo } from '../oauth/tokens.js';
import type { OAuthProvider, Provider } from '../providers/registry.js';
import { apiKeyFromEnvironment, checkApiKeyFormat, verifyApiKey } from '../session/api-keys.js';
import { toCredential } from '../session/credential.js';
import { maskSecret } from '../shared/mask.js';
import type { DeviceFlowRunner } from '../sign-in/sign-in.js';
import type { StoreInfo } from '../store/entry-store.js';
import { type ProfileChoice, chooseProfile } from './profile.js';
import { cloudFeature } from './clouds.js';
import { type PersonOptions, personSide } from './person-side.js';

/** Options of one sign-in. */
export interface LoginOptions extends PersonOptions {
  /** Profile to store the credential under (default: the active one). */
  profile?: string | undefined;
}

/** What a successful sign-in produced (no secrets). */
export interface LoginResult {
  provider: string;
  profile: string;
  /** What chose the profile, as in `status`: `option`, `env`, `rule`, `switch` or `default`. */
  profileChosenBy: ProfileChoice['chosenBy'];
  /** For a project rule: the file and the directory it covers; else null. */
  profileRule: string | null;
  method: 'oauth' | 'api_key' | 'aws' | 'google-cloud' | 'azure';
  /** The key, masked (API keys only). */
  key?: string;
  /** Whether the provider confirmed the key (API keys only). */
  verified?: boolean;
  /** An environment variable that is set and will be used instead of what was just stored. */
  shadowedBy?: string;
  account: AccountInfo | undefined;
  scopes: readonly string[];
  /** ISO 8601, or null when the server gave no expiry. */
  expiresAt: string | null;
  store: StoreInfo;
}

/** Signs in to a provider (browser, paste or device code) and stores the tokens. */
export async function login(ctx: LoginkitContext, id: string, options: LoginOptions = {}): Promise<LoginResult> {
  const provider = await ctx.providers.find(id);
  const cloud = await cloudFeature(provider);
  if (cloud) return cloud.login(ctx, provider, options);
  const oauth = provider.oauth;
  if (!oauth) {
    const note = provider.policyNote ? `${provider.policyNote}\n` : '';
    throw new ConfigError(`${note}${provider.displayName} signs in with an API key: loginkit login ${id} --with-api-key < key-file`);
  }
  return loginWithOAuth(ctx, provider, oauth, options);
}

/** Signs in with `oauth` (browser, paste or device code) and stores the tokens as the provider's credential; a cloud module passes its own. */
export async function loginWithOAuth(
  ctx: LoginkitContext,
  provider: Provider,
  oauth: OAuthProvider,
  options: LoginOptions,
): Promise<LoginResult> {
  const { id } = provider;
  const choice = await chooseProfile(ctx, id, options.profile);
  const { profile } = choice;
  const [{ resolveServerMetadata }, { signIn }, { detectEnvironment, refusalToWaitInCi }] = await Promise.all([
    import('../oauth/server.js'),
    import('../sign-in/sign-in.js'),
    import('../sign-in/login-environment.js'),
  ]);
  const environment = ctx.environment ?? detectEnvironment({ env: ctx.env });
  const deviceFlow = providerDeviceFlow(oauth);
  // Decided before any request: CI must not wait, and must not reach the network first either.
  const refusal = refusalToWaitInCi({
    requested: options.method ?? 'auto',
    environment,
    providerId: id,
    deviceSupported:
      deviceFlow !== undefined || oauth.endpoints?.deviceAuthorization !== undefined ? true : oauth.endpoints ? false : undefined,
    apiKeySupported: provider.apiKey !== undefined,
    browserInjected: ctx.openBrowser !== undefined,
    noBrowser: options.noBrowser === true,
  });
  if (refusal) throw refusal;
  // A store that cannot be written must fail now, not after the person has signed in.
  await ctx.session.credentials();
  const metadata = await resolveServerMetadata(oauth, ctx.http, ctx.timeoutMs);
  const tokens = await signIn({
    providerId: id,
    connection: { metadata, clientId: oauth.clientId, http: ctx.http, timeoutMs: ctx.timeoutMs },
    scopes: oauth.scopes,
    redirectUri: oauth.redirectUri,
    fallbackRedirectPorts: oauth.fallbackRedirectPorts,
    authorizeParams: oauth.authorizeParams,
    accountClaims: oauth.accountClaims,
    apiKeySupported: provider.apiKey !== undefined,
    deviceFlow,
    ...personSide(ctx, options, environment, provider.displayName),
  });
  const exchange = oauth.apiKeyExchange;
  const apiKey =
    exchange && tokens.idToken ? await exchangeApiKey(ctx, metadata, oauth, tokens.idToken, exchange.requestedToken) : undefined;
  await ctx.session.save(
    toCredential(
      { provider: id, profile, clientId: oauth.clientId, server: metadata, jsonBodies: oauth.jsonBodyEndpoints, apiKey },
      tokens,
    ),
  );
  return {
    ...signedIn(ctx, provider, choice, 'oauth'),
    ...(apiKey ? { key: maskSecret(apiKey) } : {}),
    account: tokens.account,
    scopes: tokens.scopes,
    expiresAt: tokens.expiresAt === null ? null : new Date(tokens.expiresAt).toISOString(),
  };
}

/** Checks an API key's shape, then (unless `verify` is false) asks the provider, then stores it. */
export async function loginWithApiKey(
  ctx: LoginkitContext,
  id: string,
  key: string,
  options: { profile?: string | undefined; verify?: boolean | undefined } = {},
): Promise<LoginResult> {
  const provider = await ctx.providers.find(id);
  const choice = await chooseProfile(ctx, id, options.profile);
  const { profile } = choice;
  const trimmed = key.trim();
  const { warning } = checkApiKeyFormat(provider, trimmed, ctx.env);
  if (warning) ctx.warn(warning);
  const verify = options.verify !== false;
  if (verify) await verifyApiKey(provider, trimmed, ctx.http, ctx.env);
  await ctx.session.save({ kind: 'api_key', provider: id, profile, key: trimmed, verified: verify, obtainedAt: ctx.now() });
  return {
    ...signedIn(ctx, provider, choice, 'api_key'),
    key: maskSecret(trimmed),
    verified: verify,
    account: undefined,
    scopes: [],
    expiresAt: null,
  };
}

/** The part of a LoginResult every method shares, with the variable that shadows what was stored. */
function signedIn(ctx: LoginkitContext, provider: Provider, choice: ProfileChoice, method: LoginResult['method']) {
  const shadowedBy = apiKeyFromEnvironment(provider, ctx.env)?.variable;
  return {
    provider: provider.id,
    profile: choice.profile,
    profileChosenBy: choice.chosenBy,
    profileRule: choice.rule ?? null,
    method,
    ...(shadowedBy ? { shadowedBy } : {}),
    store: ctx.store.info,
  };
}

/** A provider's own device flow (OpenAI's), loaded only when a device sign-in runs. */
function providerDeviceFlow(oauth: OAuthProvider): DeviceFlowRunner | undefined {
  if (oauth.deviceProtocol !== 'openai') return undefined;
  return async (options) => (await import('../openai/device-code.js')).runOpenAIDeviceCodeFlow(options);
}

/** The API key a sign-in can be traded for; a failure only costs the key, with a warning. */
async function exchangeApiKey(
  ctx: LoginkitContext,
  metadata: ServerMetadata,
  oauth: OAuthProvider,
  idToken: string,
  requested: string,
): Promise<string | undefined> {
  const { exchangeIdTokenForApiKey } = await import('../openai/token-exchange.js');
  try {
    return await exchangeIdTokenForApiKey(
      { metadata, clientId: oauth.clientId, http: ctx.http, timeoutMs: ctx.timeoutMs },
      idToken,
      requested,
    );
  } catch (error) {
    ctx.warn(`${(error as Error).message.split('\n')[0]} The sign-in works, but \`exec\` will not set an API key for "${oauth.id}".`);
    return undefined;
  }
}

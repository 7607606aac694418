import * as z from 'zod/mini';
import type { LoginkitContext } from '../../context.js';
import { ConfigError, LoginRequiredError, NetworkError, ProviderError } from '../../errors.js';
import type { AzureIdentity, Provider } from '../../providers/registry.js';
import {
  type OAuthCredential,
  credentialKey,
  isAccessTokenUsable,
  needsRefresh,
  parseCredential,
  sameTokens,
  serializeCredential,
  toCredential,
} from '../../session/credential.js';
import { refreshLockName } from '../../session/token-session.js';
import type { LoginOptions, LoginResult } from '../login.js';
import { profileFor } from '../profile.js';
import { translateAadsts } from './aadsts.js';
import { type NonInteractiveSource, describeSource, identityToken, sourceFromEnvironment } from './identity.js';
import { type AzureTarget, personIssuer, personSignIn, resolveAzureTarget } from './settings.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import { cloudLoginResult } from '../clouds.js';

/** Where a token of an Entra ID provider comes from. */
export type AzureSource = 'person' | NonInteractiveSource;

/** An Entra ID access token with its expiry (ms since the epoch) and the source that made it. */
export interface AzureToken {
  token: string;
  expiresAt: number;
  source: AzureSource;
  scope: string;
}

/** What `status` shows of an Entra ID provider (no secrets). */
export interface AzureStatus {
  /** As configured (`identity`, default `auto`). */
  identity: AzureIdentity;
  /** The source `token` would use now. */
  source: AzureSource;
  authorityHost: string;
  tenant: string | null;
  /** The app of a person's sign-in, or of a service principal / workload / user-assigned managed identity. */
  clientId: string | null;
  scope: string;
  endpoint: string | null;
  /** ISO 8601 expiry of the token held for `scope`, or null when none is held. */
  tokenExpiresAt: string | null;
  /** A person's sign-in that renews itself (holds a refresh token). */
  refreshable: boolean;
  account: string | null;
}

const CachedTokenSchema = z.object({ accessToken: z.string(), expiresAt: z.number(), obtainedAt: z.number(), for: z.string() });
const AzureEntrySchema = z.object({ kind: z.literal('azure'), provider: z.string(), tokens: z.record(z.string(), CachedTokenSchema) });
type CachedToken = z.infer<typeof CachedTokenSchema>;
type AzureEntry = z.infer<typeof AzureEntrySchema>;

/** A person's sign-in asks for these besides the resource's scope (also on refresh: Entra ID wants `scope` there). */
const PERSON_SCOPES = 'offline_access openid profile';
const DEFAULT_TOKEN_LIFETIME_MS = 3600_000;

/** The store key of an Entra ID provider's token cache (tokens by scope; a person's refresh token stays in the credential). */
function azureEntryKey(providerId: string): string {
  return `azure:${providerId}`;
}

/** The provider's settings resolved against the `AZURE_*` variables. */
function azureTarget(ctx: LoginkitContext, provider: Provider): AzureTarget {
  if (provider.cloud?.type !== 'azure') throw new ConfigError(`"${provider.id}" is not a Microsoft Entra ID provider.`);
  return resolveAzureTarget(provider, provider.cloud.settings, ctx.env);
}

/** The source in effect: the configured one, or for `auto` a person's sign-in when one is stored, else what the environment offers. */
async function azureSource(ctx: LoginkitContext, target: AzureTarget, profile: string): Promise<AzureSource> {
  if (target.identity !== 'auto') return target.identity;
  if (await ctx.session.credential(target.providerId, profile)) return 'person';
  return sourceFromEnvironment(target, ctx.env);
}

/** An access token for `scope` (default: the provider's), from the store while it has over five minutes left, else made now (single-flight across processes). */
export async function azureToken(
  ctx: LoginkitContext,
  provider: Provider,
  options: { scope?: string | undefined; profile?: string | undefined } = {},
): Promise<AzureToken> {
  const target = azureTarget(ctx, provider);
  const profile = await profileFor(ctx, provider.id, options.profile);
  const source = await azureSource(ctx, target, profile);
  const scope = options.scope ?? target.scope;
  if (source !== 'person' && profile !== 'default') {
    throw new ConfigError(
      `${describeSource(source)} has no loginkit profiles (--profile ${profile}): add another provider to config.json.`,
    );
  }
  try {
    const made =
      source === 'person' ? await personToken(ctx, target, profile, scope) : await identityTokenCached(ctx, target, source, scope);
    return { token: made.accessToken, expiresAt: made.expiresAt, source, scope };
  } catch (error) {
    throw translateAadsts(error, provider.id, source === 'person');
  }
}

/** Who the token is for, so that a token cached for another app, tenant or authority is never handed out. */
function cacheOwner(target: AzureTarget, source: AzureSource, profile: string): string {
  const app = source === 'person' ? target.personClientId : (target.clientId ?? '');
  return [source, target.authorityHost, target.tenant ?? '', app, profile].join(' ');
}

function cacheKey(source: AzureSource, profile: string, scope: string): string {
  return `${source} ${profile} ${scope}`;
}

async function readEntry(ctx: LoginkitContext, providerId: string, fresh: boolean): Promise<AzureEntry | undefined> {
  const parsed = AzureEntrySchema.safeParse((await ctx.store.read({ fresh }))[azureEntryKey(providerId)]);
  return parsed.success ? parsed.data : undefined;
}

function cachedToken(entry: AzureEntry | undefined, key: string, owner: string, now: number): CachedToken | undefined {
  const held = entry?.tokens[key];
  return held && held.for === owner && !needsRefresh(held, now) ? held : undefined;
}

/** `entries` with one token saved in the provider's cache entry, expired ones dropped. */
function withCachedToken(
  entries: Readonly<Record<string, unknown>>,
  providerId: string,
  key: string,
  token: CachedToken,
  now: number,
): Record<string, unknown> {
  const parsed = AzureEntrySchema.safeParse(entries[azureEntryKey(providerId)]);
  const kept = Object.entries(parsed.success ? parsed.data.tokens : {}).filter(([, held]) => held.expiresAt > now);
  const entry: AzureEntry = { kind: 'azure', provider: providerId, tokens: { ...Object.fromEntries(kept), [key]: token } };
  return { ...entries, [azureEntryKey(providerId)]: entry };
}

/** Per process: one token request per provider and scope at a time, shared by every caller. */
const singleFlight = createSingleFlight();

/** A token from @azure/identity, kept in the store by scope so that the next `loginkit token` answers from it. */
async function identityTokenCached(
  ctx: LoginkitContext,
  target: AzureTarget,
  source: NonInteractiveSource,
  scope: string,
): Promise<CachedToken> {
  const key = cacheKey(source, 'default', scope);
  const owner = cacheOwner(target, source, 'default');
  const held = cachedToken(await readEntry(ctx, target.providerId, false), key, owner, ctx.now());
  if (held) return held;
  return singleFlight(`${target.providerId}\n${key}`, () =>
    ctx.store.withLock(`refresh-${azureEntryKey(target.providerId)}-${scope}`, async () => {
      // Another process may have made one while we waited for the lock.
      const entry = await readEntry(ctx, target.providerId, true);
      const latest = cachedToken(entry, key, owner, ctx.now());
      if (latest) return latest;
      const obtainedAt = ctx.now();
      let made: Awaited<ReturnType<typeof identityToken>>;
      try {
        made = await identityToken(source, target, scope, ctx);
      } catch (error) {
        // The token in hand is good until it expires whatever the identity answers now: use it, and say why.
        const held = entry?.tokens[key];
        if (!held || held.for !== owner || !isAccessTokenUsable(held, ctx.now())) throw error;
        const reason = (translateAadsts(error, target.providerId, false) as Error).message?.split('\n')[0] ?? String(error);
        ctx.warn(`${reason} Using the current token (valid until ${new Date(held.expiresAt).toISOString()}).`);
        return held;
      }
      const token: CachedToken = { accessToken: made.accessToken, expiresAt: made.expiresAt, obtainedAt, for: owner };
      await ctx.store.update((entries) => withCachedToken(entries, target.providerId, key, token, ctx.now()));
      return token;
    }),
  );
}

/** The person's stored sign-in, or a login-required error. */
async function personCredential(ctx: LoginkitContext, target: AzureTarget, profile: string, fresh: boolean): Promise<OAuthCredential> {
  const credential = await ctx.session.credential(target.providerId, profile, fresh);
  const named = profile === 'default' ? '' : ` (profile "${profile}")`;
  if (credential?.kind !== 'oauth') {
    throw new LoginRequiredError(target.providerId, `Not signed in to "${target.providerId}"${named}.`, undefined, profile);
  }
  // config.json now names another tenant, cloud or app than the one signed in to: its tokens are not for this provider.
  if (credential.server.issuer !== personIssuer(target) || credential.clientId !== target.personClientId) {
    throw new LoginRequiredError(
      target.providerId,
      `The sign-in for "${target.providerId}"${named} is for another tenant or app than config.json names now.`,
      undefined,
      profile,
    );
  }
  return credential;
}

/**
 * A person's access token for `scope`. The provider's own scope is the credential's access token; any other
 * is minted with the same refresh token (Entra ID's are multi-resource) and cached by scope. Every refresh
 * rotates the refresh token, so all of them run under the credential's refresh lock, the one TokenSession uses.
 */
async function personToken(
  ctx: LoginkitContext,
  target: AzureTarget,
  profile: string,
  scope: string,
): Promise<{ accessToken: string; expiresAt: number }> {
  const held = await heldPersonToken(ctx, target, profile, scope, false);
  if (held) return held;
  const key = credentialKey(target.providerId, profile);
  return singleFlight(`${key}\n${scope}`, () =>
    ctx.store.withLock(refreshLockName(key), async () => {
      const latest = await heldPersonToken(ctx, target, profile, scope, true);
      if (latest) return latest;
      return refreshPersonToken(ctx, target, await personCredential(ctx, target, profile, true), scope);
    }),
  );
}

async function heldPersonToken(
  ctx: LoginkitContext,
  target: AzureTarget,
  profile: string,
  scope: string,
  fresh: boolean,
): Promise<{ accessToken: string; expiresAt: number } | undefined> {
  const credential = await personCredential(ctx, target, profile, fresh);
  if (scope === target.scope) {
    return needsRefresh(credential, ctx.now())
      ? undefined
      : { accessToken: credential.accessToken, expiresAt: expiryOf(credential, ctx.now()) };
  }
  return cachedToken(
    await readEntry(ctx, target.providerId, fresh),
    cacheKey('person', profile, scope),
    cacheOwner(target, 'person', profile),
    ctx.now(),
  );
}

function expiryOf(credential: Pick<OAuthCredential, 'expiresAt' | 'obtainedAt'>, now: number): number {
  return credential.expiresAt ?? now + DEFAULT_TOKEN_LIFETIME_MS;
}

/** Redeems the refresh token for `scope` (under the lock) and saves the rotated refresh token with what it bought. */
async function refreshPersonToken(
  ctx: LoginkitContext,
  target: AzureTarget,
  current: OAuthCredential,
  scope: string,
): Promise<{ accessToken: string; expiresAt: number }> {
  const id = target.providerId;
  if (!current.refreshToken)
    throw new LoginRequiredError(id, `The sign-in for "${id}" has expired and cannot be renewed.`, undefined, current.profile);
  const { refreshTokens } = await import('../../oauth/grants.js');
  const ownScope = scope === target.scope;
  let tokens: Awaited<ReturnType<typeof refreshTokens>>;
  try {
    tokens = await refreshTokens(
      { ...ctx.session.connectionFor(current), tokenParameters: { scope: `${scope} ${PERSON_SCOPES}` } },
      { ...current, refreshToken: current.refreshToken },
      ctx.now,
      `Token refresh for "${id}"`,
    );
  } catch (error) {
    // A passing outage while the token in hand is still good: keep using it, and say so.
    if (ownScope && error instanceof NetworkError && error.transient && isAccessTokenUsable(current, ctx.now())) {
      ctx.warn(`${error.message.split('\n')[0]} Using the current access token.`);
      return { accessToken: current.accessToken, expiresAt: expiryOf(current, ctx.now()) };
    }
    throw refreshFailure(error, id, current.profile);
  }
  const refreshed: OAuthCredential = ownScope
    ? toCredential(current, tokens)
    : { ...current, refreshToken: tokens.refreshToken ?? current.refreshToken, ...(tokens.idToken ? { idToken: tokens.idToken } : {}) };
  const now = ctx.now();
  const token = { accessToken: tokens.accessToken, expiresAt: expiryOf(tokens, now), obtainedAt: tokens.obtainedAt };
  const key = credentialKey(id, current.profile);
  let kept = false;
  await ctx.store.update((entries) => {
    // Signed out, or signed in again, while we refreshed: that is newer, so it stays.
    if (!sameTokens(parseCredential(entries[key], key, ctx.store.info.location), current)) return undefined;
    kept = true;
    const updated = { ...entries, [key]: serializeCredential(refreshed) };
    if (ownScope) return updated;
    const cached = { ...token, for: cacheOwner(target, 'person', current.profile) };
    return withCachedToken(updated, id, cacheKey('person', current.profile, scope), cached, now);
  });
  if (!kept) throw new LoginRequiredError(id, `Signed out of "${id}" while the token was being refreshed.`, undefined, current.profile);
  return token;
}

function refreshFailure(error: unknown, id: string, profile: string): unknown {
  const translated = translateAadsts(error, id, true);
  if (translated !== error) return translated;
  if (error instanceof ProviderError && error.error === 'invalid_grant') {
    return new LoginRequiredError(
      id,
      `The sign-in for "${id}" has expired or was revoked (Entra ID rejected the refresh token).`,
      { cause: error },
      profile,
    );
  }
  return error;
}

/**
 * Signs a person in (browser with PKCE, or a device code, through loginkit's own OAuth sign-in), or, for a
 * non-interactive identity, gets a first token now so that a wrong setting shows at once.
 */
export async function azureLogin(ctx: LoginkitContext, provider: Provider, options: LoginOptions): Promise<LoginResult> {
  const target = azureTarget(ctx, provider);
  if (target.identity === 'auto' || target.identity === 'person') {
    const { loginWithOAuth } = await import('../login.js');
    const result = await loginWithOAuth(ctx, provider, personSignIn(target), options);
    await dropCachedTokens(ctx, provider.id, (key) => key.startsWith(`person ${result.profile} `));
    return { ...result, method: 'azure' };
  }
  const made = await azureToken(ctx, provider, { profile: options.profile });
  return cloudLoginResult(ctx, provider, {
    method: 'azure',
    account: { subject: `${made.source}${target.clientId && made.source !== 'azure-cli' ? ` ${target.clientId}` : ''}` },
    scopes: [made.scope],
    expiresAt: made.expiresAt,
  });
}

async function dropCachedTokens(ctx: LoginkitContext, providerId: string, dropped: (key: string) => boolean): Promise<boolean> {
  let removed = false;
  await ctx.store.update((entries) => {
    const parsed = AzureEntrySchema.safeParse(entries[azureEntryKey(providerId)]);
    if (!parsed.success) return undefined;
    const kept = Object.entries(parsed.data.tokens).filter(([key]) => !dropped(key));
    removed = kept.length !== Object.keys(parsed.data.tokens).length;
    if (!removed) return undefined;
    return { ...entries, [azureEntryKey(providerId)]: { ...parsed.data, tokens: Object.fromEntries(kept) } };
  });
  return removed;
}

/** What `exec` sets: the token where the Azure OpenAI SDKs look for an Entra ID token, and the endpoint when known. */
export async function azureExecVariables(ctx: LoginkitContext, provider: Provider, profile?: string): Promise<Record<string, string>> {
  const target = azureTarget(ctx, provider);
  const { token } = await azureToken(ctx, provider, { profile });
  return { AZURE_OPENAI_AD_TOKEN: token, ...(target.endpoint ? { AZURE_OPENAI_ENDPOINT: target.endpoint } : {}) };
}

/** A key in the child's environment would be sent instead of (or refused beside) the Entra ID token: `exec` removes it. */
export const AZURE_SHADOWING_VARIABLES = ['AZURE_OPENAI_API_KEY'] as const;

/** The state of an Entra ID provider, read without any request. */
export async function azureStatus(ctx: LoginkitContext, provider: Provider): Promise<AzureStatus> {
  const target = azureTarget(ctx, provider);
  const profile = await profileFor(ctx, provider.id, undefined);
  const source = await azureSource(ctx, target, profile);
  const credential = source === 'person' ? await ctx.session.credential(provider.id, profile) : undefined;
  const person = credential?.kind === 'oauth' ? credential : undefined;
  const held =
    source === 'person' ? undefined : (await readEntry(ctx, provider.id, false))?.tokens[cacheKey(source, 'default', target.scope)];
  const expiresAt = person ? expiryOf(person, ctx.now()) : held?.for === cacheOwner(target, source, 'default') ? held.expiresAt : undefined;
  return {
    identity: target.identity,
    source,
    authorityHost: target.authorityHost,
    tenant: target.tenant ?? null,
    clientId: (source === 'person' ? target.personClientId : target.clientId) ?? null,
    scope: target.scope,
    endpoint: target.endpoint ?? null,
    tokenExpiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
    refreshable: Boolean(person?.refreshToken),
    account: person?.account?.email ?? person?.account?.subject ?? null,
  };
}

/** Removes the person's sign-in and every cached token (Entra ID has no revocation endpoint: the tokens end at their expiry). */
export async function azureLogout(ctx: LoginkitContext, provider: Provider): Promise<{ profile: string; removed: boolean }> {
  const profile = await profileFor(ctx, provider.id, undefined);
  const signedOut = await ctx.session.remove(provider.id, profile);
  let cleared = false;
  await ctx.store.update((entries) => {
    if (!(azureEntryKey(provider.id) in entries)) return undefined;
    cleared = true;
    const { [azureEntryKey(provider.id)]: _gone, ...rest } = entries;
    return rest;
  });
  return { profile, removed: signedOut || cleared };
}

/** `new AzureOpenAI({ ...(await kit.azureOpenAIOptions('azure')), apiVersion })`: options for the `openai` package's AzureOpenAI. */
export interface AzureOpenAIOptions {
  /** Called by the SDK before each request: a fresh Entra ID token (from the store while it has over five minutes left). */
  azureADTokenProvider: () => Promise<string>;
  /** The provider's endpoint (`endpoint` or `AZURE_OPENAI_ENDPOINT`), when known. */
  endpoint?: string;
}

/** Options for `AzureOpenAI` that authenticate with the provider's Entra ID token. */
export function azureOpenAIOptions(ctx: LoginkitContext, provider: Provider, profile?: string): AzureOpenAIOptions {
  const target = azureTarget(ctx, provider);
  return {
    azureADTokenProvider: async () => (await azureToken(ctx, provider, { profile })).token,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
  };
}

/** `createAzure(await kit.azureAISdkSettings('azure'))`: settings for the AI SDK's `@ai-sdk/azure`. */
export interface AzureAISdkSettings {
  /** `{endpoint}/openai/v1` (the v1 API), when the endpoint is known. */
  baseURL?: string;
  /** Called before each request: a fresh Entra ID token, sent as `Authorization: Bearer`. */
  tokenProvider: () => Promise<string>;
}

/** Settings for `@ai-sdk/azure` that authenticate with the provider's Entra ID token. */
export function azureAISdkSettings(ctx: LoginkitContext, provider: Provider, profile?: string): AzureAISdkSettings {
  const target = azureTarget(ctx, provider);
  return {
    ...(target.endpoint ? { baseURL: `${target.endpoint}/openai/v1` } : {}),
    tokenProvider: async () => (await azureToken(ctx, provider, { profile })).token,
  };
}

/**
 * `kit.azureCredential('azure')`: an Azure SDK `TokenCredential` (from `@azure/core-auth`) over the provider, for
 * any Azure SDK client and for `getBearerTokenProvider` of `@azure/identity`. Each call answers from the store while
 * the token has over five minutes left.
 */
export interface AzureTokenCredential {
  getToken(
    scopes: string | string[],
  ): Promise<{ token: string; expiresOnTimestamp: number; refreshAfterTimestamp: number; tokenType: 'Bearer' }>;
}

/** Five minutes before expiry, when loginkit would make a new token anyway. */
const RENEW_BEFORE_MS = 5 * 60_000;

/** A TokenCredential whose tokens come from the provider, for the one resource the scopes name. */
export function azureCredential(ctx: LoginkitContext, provider: Provider, profile?: string): AzureTokenCredential {
  return {
    async getToken(scopes) {
      const asked = [...new Set(typeof scopes === 'string' ? [scopes] : scopes)];
      // Entra ID issues a token for one resource at a time.
      if (asked.length !== 1) throw new ConfigError(`Ask Entra ID for one scope at a time (asked: ${asked.join(' ') || 'none'}).`);
      const { token, expiresAt } = await azureToken(ctx, provider, { scope: asked[0], profile });
      return { token, expiresOnTimestamp: expiresAt, refreshAfterTimestamp: expiresAt - RENEW_BEFORE_MS, tokenType: 'Bearer' };
    },
  };
}

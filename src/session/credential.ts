import * as z from 'zod/mini';
import { StorageError } from '../errors.js';
import type { ServerMetadata } from '../oauth/server.js';
import type { TokenResult } from '../oauth/tokens.js';

const AccountSchema = z.object({
  subject: z.string(),
  email: z.optional(z.string()),
  name: z.optional(z.string()),
});

const OAuthCredentialSchema = z.object({
  kind: z.literal('oauth'),
  provider: z.string(),
  profile: z.string(),
  clientId: z.string(),
  /** The server the tokens came from, so refresh and revocation need no discovery. */
  server: z.looseObject({ issuer: z.string(), token_endpoint: z.string() }),
  accessToken: z.string(),
  refreshToken: z.optional(z.string()),
  idToken: z.optional(z.string()),
  tokenType: z.string(),
  scopes: z.array(z.string()),
  expiresAt: z.nullable(z.number()),
  obtainedAt: z.number(),
  account: z.optional(AccountSchema),
});

/** A stored OAuth credential: tokens plus what is needed to refresh and revoke them. */
export interface OAuthCredential {
  readonly kind: 'oauth';
  readonly provider: string;
  readonly profile: string;
  readonly clientId: string;
  readonly server: ServerMetadata;
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  readonly idToken: string | undefined;
  readonly tokenType: string;
  readonly scopes: readonly string[];
  /** Absolute expiry, ms since the epoch; null when the server did not say. */
  readonly expiresAt: number | null;
  readonly obtainedAt: number;
  readonly account: TokenResult['account'];
}

/** The profile used when none is named. */
export const DEFAULT_PROFILE = 'default';

/** The store key of a provider's credential for one profile. */
export function credentialKey(provider: string, profile: string = DEFAULT_PROFILE): string {
  return `${provider}/${profile}`;
}

/** The credential stored under `key`, validated; undefined when there is none. */
export function parseCredential(value: unknown, key: string, storePath: string): OAuthCredential | undefined {
  if (value === undefined) return undefined;
  const parsed = OAuthCredentialSchema.safeParse(value);
  if (!parsed.success) {
    throw new StorageError(
      storePath,
      `The credential "${key}" in ${storePath} is damaged and cannot be used.\nSign in again: loginkit login ${key.split('/')[0]}`,
    );
  }
  const data = parsed.data;
  return {
    ...data,
    server: data.server as ServerMetadata,
    refreshToken: data.refreshToken,
    idToken: data.idToken,
    account: data.account,
  };
}

/** A new credential from a fresh sign-in or refresh. */
export function toCredential(
  base: Pick<OAuthCredential, 'provider' | 'profile' | 'clientId' | 'server'>,
  tokens: TokenResult,
): OAuthCredential {
  return {
    kind: 'oauth',
    provider: base.provider,
    profile: base.profile,
    clientId: base.clientId,
    server: base.server,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    idToken: tokens.idToken,
    tokenType: tokens.tokenType,
    scopes: tokens.scopes,
    expiresAt: tokens.expiresAt,
    obtainedAt: tokens.obtainedAt,
    account: tokens.account,
  };
}

/** The JSON form kept in the store (undefined fields dropped). */
export function serializeCredential(credential: OAuthCredential): Record<string, unknown> {
  return JSON.parse(JSON.stringify(credential)) as Record<string, unknown>;
}

const FIVE_MINUTES = 5 * 60_000;

/**
 * Whether to refresh before use: when less than min(5 minutes, half the token's lifetime) remains. The
 * margin also absorbs clock skew between this machine and the server, so an expired token is never used.
 */
export function needsRefresh(credential: Pick<OAuthCredential, 'expiresAt' | 'obtainedAt'>, now: number): boolean {
  if (credential.expiresAt === null) return false;
  const lifetime = Math.max(0, credential.expiresAt - credential.obtainedAt);
  return credential.expiresAt - now < Math.min(FIVE_MINUTES, lifetime / 2);
}

/** Whether the access token has not yet expired (with a small allowance for clock skew). */
export function isAccessTokenUsable(credential: Pick<OAuthCredential, 'expiresAt' | 'obtainedAt'>, now: number): boolean {
  if (credential.expiresAt === null) return true;
  const lifetime = Math.max(0, credential.expiresAt - credential.obtainedAt);
  return credential.expiresAt - now > Math.min(30_000, lifetime / 10);
}

/** True when `a` and `b` hold the same tokens (so nobody replaced `a` meanwhile). */
export function sameTokens(a: OAuthCredential | undefined, b: OAuthCredential | undefined): boolean {
  return a?.accessToken === b?.accessToken && a?.refreshToken === b?.refreshToken;
}

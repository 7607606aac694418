import { decodeJwt } from 'jose/jwt/decode';
import type * as client from 'openid-client';

/** Tokens from a token endpoint response, with an absolute expiry. */
export interface TokenResult {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  readonly idToken: string | undefined;
  readonly tokenType: string;
  /** Granted scopes: the response's `scope`, or the requested ones when the server omits it (RFC 6749 §5.1). */
  readonly scopes: readonly string[];
  /** Milliseconds since the epoch, or null when the server gave no `expires_in`. */
  readonly expiresAt: number | null;
  /** When the response arrived (ms since the epoch); with `expiresAt` it gives the token's lifetime. */
  readonly obtainedAt: number;
  /** Who signed in: from the ID token when there is one. */
  readonly account: AccountInfo | undefined;
}

/** Non-secret facts about the signed-in account. */
export interface AccountInfo {
  readonly subject: string;
  readonly email?: string | undefined;
  readonly name?: string | undefined;
  /** Subscription plan, where the provider says (e.g. ChatGPT's plan type). */
  readonly plan?: string | undefined;
  /** Workspace or organisation account id, where the provider says. */
  readonly workspace?: string | undefined;
}

/** Converts openid-client's token response into a TokenResult, keeping `previous` values the server did not resend. */
export function toTokenResult(
  response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
  requestedScopes: readonly string[],
  now: number,
  previous?: Pick<TokenResult, 'refreshToken' | 'idToken' | 'account'>,
  accountClaims?: AccountClaimPaths,
): TokenResult {
  const claims = response.claims();
  const expiresIn = response.expiresIn();
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    idToken: response.id_token ?? previous?.idToken,
    tokenType: response.token_type ?? 'bearer',
    scopes: typeof response.scope === 'string' ? response.scope.split(' ').filter(Boolean) : [...requestedScopes],
    expiresAt: expiresIn === undefined ? null : now + expiresIn * 1000,
    obtainedAt: now,
    account: claims ? mergeAccount(previous?.account, accountFromClaims(claims, accountClaims)) : previous?.account,
  };
}

/** A refreshed ID token may omit facts the first one had (a plan, a workspace): keep those. */
function mergeAccount(previous: AccountInfo | undefined, next: AccountInfo): AccountInfo {
  const defined = Object.fromEntries(Object.entries(next).filter(([, value]) => value !== undefined && value !== ''));
  return { ...previous, ...defined, subject: next.subject || previous?.subject || '' };
}

/** Where a provider's ID token keeps account facts beyond the standard claims (lists of claim paths). */
export interface AccountClaimPaths {
  email?: readonly (readonly string[])[];
  plan?: readonly (readonly string[])[];
  workspace?: readonly (readonly string[])[];
}

/** The account facts worth showing, from ID token or userinfo claims. */
export function accountFromClaims(claims: Readonly<Record<string, unknown>>, paths: AccountClaimPaths = {}): AccountInfo {
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);
  const first = (candidates: readonly (readonly string[])[] | undefined): string | undefined => {
    for (const path of candidates ?? []) {
      let value: unknown = claims;
      for (const segment of path)
        value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[segment] : undefined;
      if (text(value)) return text(value);
    }
    return undefined;
  };
  return {
    subject: text(claims.sub) ?? '',
    email: text(claims.email) ?? first(paths.email),
    name: text(claims.name),
    plan: first(paths.plan),
    workspace: first(paths.workspace),
  };
}

/** The account facts of an ID token read without verification (one stored by another tool); undefined when unreadable. */
export function accountFromIdToken(idToken: string, paths?: AccountClaimPaths): AccountInfo | undefined {
  try {
    return accountFromClaims(decodeJwt(idToken), paths);
  } catch {
    return undefined;
  }
}

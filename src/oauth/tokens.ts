import { decodeJwt } from 'jose/jwt/decode';
import type * as client from 'openid-client';
import { ProviderError, sanitizeServerText } from '../errors.js';

/**
 * The longest access-token lifetime loginkit believes: one year. A larger `expires_in` (up to 1e20 from a
 * hostile or broken server) would make a token never due for refresh and its expiry unprintable; such a
 * token is treated as expiring after a year, when a refresh (or a new sign-in) puts things right.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 60 * 60;

/** Scopes come as one space-separated string; this bounds it once control characters are gone. */
const MAX_SCOPE_TEXT_LENGTH = 10_000;

/** RFC 6749 Appendix A.12–A.13: access and refresh tokens are 1*VSCHAR (%x20-7E). */
const TOKEN_CHARACTERS = /^[\x20-\x7e]+$/;

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

/**
 * Converts openid-client's token response into a TokenResult, keeping `previous` values the server did not resend.
 * `senderConstrained`: the request carried a DPoP proof, so a `DPoP` token (RFC 9449) is usable too.
 */
export function toTokenResult(
  response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
  requestedScopes: readonly string[],
  now: number,
  previous?: Pick<TokenResult, 'refreshToken' | 'idToken' | 'account'>,
  accountClaims?: AccountClaimPaths,
  senderConstrained = false,
): TokenResult {
  const claims = response.claims();
  const expiresIn = response.expiresIn();
  const tokenType = usableTokenType(response.token_type, senderConstrained);
  checkTokenCharacters(response.access_token, 'access token');
  if (response.refresh_token !== undefined) checkTokenCharacters(response.refresh_token, 'refresh token');
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    idToken: response.id_token ?? previous?.idToken,
    tokenType,
    scopes: grantedScopes(typeof response.scope === 'string' ? response.scope : requestedScopes.join(' ')),
    expiresAt: expiresIn === undefined ? null : now + tokenLifetimeSeconds(expiresIn) * 1000,
    obtainedAt: now,
    account: claims ? mergeAccount(previous?.account, accountFromClaims(claims, accountClaims)) : previous?.account,
  };
}

/** `expires_in` as a lifetime loginkit can keep: at most {@link MAX_TOKEN_LIFETIME_SECONDS}, 0 for a negative or non-number one. */
export function tokenLifetimeSeconds(expiresIn: number): number {
  if (Number.isNaN(expiresIn) || expiresIn <= 0) return 0;
  return Math.min(expiresIn, MAX_TOKEN_LIFETIME_SECONDS);
}

/**
 * The token type, Bearer (any case) unless the request was sender-constrained: loginkit sends tokens as RFC 6750
 * Bearer tokens, and as DPoP tokens only with the key it proved possession of.
 */
function usableTokenType(tokenType: string | undefined, senderConstrained: boolean): string {
  const type = (tokenType ?? 'bearer').toLowerCase();
  if (type !== 'bearer' && !(senderConstrained && type === 'dpop')) throw unsupportedTokenType(tokenType ?? '', 'The server');
  return type;
}

/** The error for a token type other than Bearer; `who` starts the sentence, e.g. `Sign-in failed: auth.example`. */
export function unsupportedTokenType(tokenType: string, who: string, cause?: unknown): ProviderError {
  return new ProviderError(
    `${who} issued a token of type "${sanitizeServerText(tokenType, 40)}", which loginkit cannot use: it sends only Bearer tokens (RFC 6750). Nothing was stored.`,
    { error: 'unsupported_token_type' },
    { cause },
  );
}

function checkTokenCharacters(token: string, what: string): void {
  if (!TOKEN_CHARACTERS.test(token)) {
    throw new ProviderError(`The server sent an ${what} with characters no token may contain (RFC 6749 Appendix A). Nothing was stored.`, {
      error: 'invalid_response',
    });
  }
}

/** The response's `scope`, split, with control characters gone. */
function grantedScopes(scope: string): string[] {
  return sanitizeServerText(scope, MAX_SCOPE_TEXT_LENGTH).split(' ').filter(Boolean);
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

/** The account facts worth showing, from ID token or userinfo claims, stripped of control characters (they reach a terminal). */
function accountFromClaims(claims: Readonly<Record<string, unknown>>, paths: AccountClaimPaths = {}): AccountInfo {
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? sanitizeServerText(value) || undefined : undefined);
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

import type { ServerMetadata } from '../oauth/server.js';
import { accountFromIdToken } from '../oauth/tokens.js';
import type { OAuthProvider } from '../providers/registry.js';
import { type OAuthCredential, toCredential } from './credential.js';

/** Tokens another tool obtained from a provider's server, as its credential file holds them. */
export interface ForeignTokens {
  accessToken: string;
  refreshToken?: string | undefined;
  idToken?: string | undefined;
  /** Absolute expiry in ms since the epoch; null when the file does not say. */
  expiresAt: number | null;
  /** The account (workspace) id the tool recorded, used when the ID token does not say. */
  accountId?: string | undefined;
}

/**
 * A credential for tokens another tool obtained, refreshed and revoked at the provider's known endpoints
 * (no discovery: the tool's client is the provider's preset), or at `server` when the caller discovered
 * it (an issuer overridden in config.json). Undefined when neither is known, so loginkit could not renew them.
 */
export function credentialFromForeignTokens(
  oauth: OAuthProvider,
  where: { provider: string; profile: string; link?: OAuthCredential['link'] },
  tokens: ForeignTokens,
  now: number,
  server?: ServerMetadata,
): OAuthCredential | undefined {
  const known = oauth.knownEndpoints;
  const metadata =
    server ?? (known ? { issuer: oauth.issuer, token_endpoint: known.token, revocation_endpoint: known.revocation } : undefined);
  if (!metadata) return undefined;
  // An ID token we cannot read only costs the account details.
  const account = tokens.idToken ? accountFromIdToken(tokens.idToken, oauth.accountClaims) : undefined;
  return toCredential(
    {
      ...where,
      clientId: oauth.clientId,
      server: metadata,
      jsonBodies: oauth.jsonBodyEndpoints,
    },
    {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      tokenType: 'bearer',
      scopes: [...oauth.scopes],
      expiresAt: tokens.expiresAt,
      obtainedAt: now,
      account: account ? { ...account, workspace: account.workspace ?? tokens.accountId } : undefined,
    },
  );
}

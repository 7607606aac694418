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
 * (no discovery: the tool's client is the provider's preset). Undefined when the provider has no known
 * endpoints, so loginkit could not renew them.
 */
export function credentialFromForeignTokens(
  oauth: OAuthProvider,
  where: { provider: string; profile: string },
  tokens: ForeignTokens,
  now: number,
): OAuthCredential | undefined {
  if (!oauth.knownEndpoints) return undefined;
  // An ID token we cannot read only costs the account details.
  const account = tokens.idToken ? accountFromIdToken(tokens.idToken, oauth.accountClaims) : undefined;
  return toCredential(
    {
      ...where,
      clientId: oauth.clientId,
      server: { issuer: oauth.issuer, token_endpoint: oauth.knownEndpoints.token, revocation_endpoint: oauth.knownEndpoints.revocation },
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

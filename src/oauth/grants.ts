import * as client from 'openid-client';
import { type ServerConnection, dpopOption, toConfiguration } from './server.js';
import { type TokenResult, toTokenResult } from './tokens.js';
import { translateOAuthError } from './translate-error.js';

function hostOf(connection: ServerConnection, field: 'token_endpoint' | 'revocation_endpoint'): string {
  return new URL(connection.metadata[field] ?? connection.metadata.issuer).host;
}

/**
 * Redeems a refresh token. Never asks for more scope than was granted (no `scope` parameter at all), and
 * keeps the previous refresh token and ID token only when the response has none.
 */
export async function refreshTokens(
  connection: ServerConnection,
  previous: Pick<TokenResult, 'refreshToken' | 'idToken' | 'account' | 'scopes'> & { refreshToken: string },
  now: () => number,
  what: string,
): Promise<TokenResult> {
  try {
    const config = toConfiguration(connection);
    const response = await client.refreshTokenGrant(
      config,
      previous.refreshToken,
      connection.tokenParameters,
      await dpopOption(config, connection),
    );
    return toTokenResult(response, previous.scopes, now(), previous);
  } catch (error) {
    throw translateOAuthError(error, { host: hostOf(connection, 'token_endpoint'), what });
  }
}

/** Outcome of revoking one token. */
export type RevocationOutcome = 'revoked' | 'unsupported' | 'failed';

/** Revokes `token` at the server (RFC 7009); a 200 means done, even for a token the server no longer knows. */
export async function revokeToken(
  connection: ServerConnection,
  token: string,
  hint: 'refresh_token' | 'access_token',
): Promise<{ outcome: RevocationOutcome; error?: string }> {
  if (!connection.metadata.revocation_endpoint) return { outcome: 'unsupported' };
  try {
    await client.tokenRevocation(toConfiguration(connection), token, { token_type_hint: hint });
    return { outcome: 'revoked' };
  } catch (error) {
    const translated = translateOAuthError(error, { host: hostOf(connection, 'revocation_endpoint'), what: 'Revocation' });
    return { outcome: 'failed', error: translated.message };
  }
}

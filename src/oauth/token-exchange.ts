import * as client from 'openid-client';
import { type ServerConnection, toConfiguration } from './server.js';
import { translateOAuthError } from './translate-error.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * Trades an ID token for an API key with the token-exchange grant (RFC 8693), the way OpenAI's Codex CLI
 * obtains an API key from "Sign in with ChatGPT". Resolves with the key.
 */
export async function exchangeIdTokenForApiKey(connection: ServerConnection, idToken: string, requestedToken: string): Promise<string> {
  try {
    const response = await client.genericGrantRequest(toConfiguration(connection), TOKEN_EXCHANGE, {
      requested_token: requestedToken,
      subject_token: idToken,
      subject_token_type: ID_TOKEN_TYPE,
    });
    return response.access_token;
  } catch (error) {
    throw translateOAuthError(error, {
      host: new URL(connection.metadata.token_endpoint ?? connection.metadata.issuer).host,
      what: 'Obtaining an API key',
    });
  }
}

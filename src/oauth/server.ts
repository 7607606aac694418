import * as client from 'openid-client';
import { ConfigError } from '../errors.js';
import { endpointProblem } from '../providers/endpoints.js';
import type { OAuthProvider } from '../providers/registry.js';
import type { FetchLike } from '../net/http.js';
import { withJsonBodies } from './json-bodies.js';
import { translateOAuthError } from './translate-error.js';

/** Authorization server metadata (RFC 8414) as discovered or configured; JSON, so it can be stored. */
export type ServerMetadata = client.ServerMetadata;

/** What the protocol functions need to talk to one authorization server. */
export interface ServerConnection {
  readonly metadata: ServerMetadata;
  readonly clientId: string;
  readonly http: FetchLike;
  readonly timeoutMs: number;
  /** Refresh and revocation take JSON bodies (see json-bodies.ts). */
  readonly jsonBodies?: boolean | undefined;
}

const ENDPOINT_FIELDS = [
  'authorization_endpoint',
  'token_endpoint',
  'revocation_endpoint',
  'userinfo_endpoint',
  'device_authorization_endpoint',
  'jwks_uri',
] as const;

/**
 * The provider's server metadata: from its configured endpoints, else by discovery, trying RFC 8414
 * (`/.well-known/oauth-authorization-server`) first and OpenID Connect discovery second. The issuer in the
 * document must equal the configured one exactly, and every endpoint must be https (or loopback http).
 */
export async function resolveServerMetadata(provider: OAuthProvider, http: FetchLike, timeoutMs: number): Promise<ServerMetadata> {
  const metadata = provider.endpoints
    ? {
        issuer: provider.issuer,
        authorization_endpoint: provider.endpoints.authorization,
        token_endpoint: provider.endpoints.token,
        revocation_endpoint: provider.endpoints.revocation,
        userinfo_endpoint: provider.endpoints.userinfo,
        device_authorization_endpoint: provider.endpoints.deviceAuthorization,
      }
    : await discover(provider, http, timeoutMs);
  for (const field of ENDPOINT_FIELDS) {
    const value = metadata[field];
    if (value === undefined) continue;
    const problem = typeof value === 'string' ? endpointProblem(value) : 'is not a string';
    if (problem) throw new ConfigError(`Provider "${provider.id}": the server's ${field} ${problem}`);
  }
  const methods = metadata.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new ConfigError(
      `Provider "${provider.id}": the server does not support PKCE with S256, which loginkit requires for a public client.`,
    );
  }
  return metadata;
}

async function discover(provider: OAuthProvider, http: FetchLike, timeoutMs: number): Promise<ServerMetadata> {
  const issuer = new URL(provider.issuer);
  let firstError: unknown;
  for (const algorithm of ['oauth2', 'oidc'] as const) {
    try {
      const config = await client.discovery(issuer, provider.clientId, undefined, client.None(), {
        algorithm,
        timeout: Math.ceil(timeoutMs / 1000),
        [client.customFetch]: http,
        ...(issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
      });
      return { ...config.serverMetadata() };
    } catch (error) {
      firstError ??= error;
      if (!isMissingDocument(error)) break;
    }
  }
  throw translateOAuthError(firstError, {
    host: issuer.host,
    what: `discovery for provider "${provider.id}" at ${provider.issuer}`,
  });
}

function isMissingDocument(error: unknown): boolean {
  // A 404 (or another non-JSON answer) for one well-known path means: try the other one.
  const code = (error as { code?: unknown }).code;
  return code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON';
}

/** An openid-client Configuration for `connection`, allowing plain http only for loopback servers. */
export function toConfiguration(connection: ServerConnection): client.Configuration {
  const config = new client.Configuration(connection.metadata, connection.clientId, undefined, client.None());
  config[client.customFetch] = connection.jsonBodies ? withJsonBodies(connection.http, connection.metadata) : connection.http;
  config.timeout = Math.ceil(connection.timeoutMs / 1000);
  // Endpoints were validated: http can only be a loopback host here.
  const urls = [connection.metadata.issuer, ...ENDPOINT_FIELDS.map((field) => connection.metadata[field])];
  if (urls.some((url) => typeof url === 'string' && url.startsWith('http:'))) {
    client.allowInsecureRequests(config);
  }
  return config;
}

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
  /** How the client authenticates at the token endpoint; default: a public client (`none`). */
  readonly clientAuth?: ClientAuthSpec | undefined;
  /** Parameters every token request carries (RFC 8707 `resource` for an MCP server). */
  readonly tokenParameters?: Readonly<Record<string, string>> | undefined;
  /** The DPoP key pair (RFC 9449) the tokens are bound to, loaded when a token request needs it. */
  readonly dpopKey?: (() => Promise<client.CryptoKeyPair>) | undefined;
}

/** A client's token endpoint authentication, as data (the secret or key lives in the credential store). */
export type ClientAuthSpec =
  | { readonly method: 'none' }
  | { readonly method: 'client_secret_basic' | 'client_secret_post'; readonly secret: string }
  | { readonly method: 'private_key_jwt'; readonly privateKeyPem: string; readonly alg: 'ES256' | 'RS256' };

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
  const config = new client.Configuration(connection.metadata, connection.clientId, undefined, clientAuthentication(connection.clientAuth));
  config[client.customFetch] = connection.jsonBodies ? withJsonBodies(connection.http, connection.metadata) : connection.http;
  config.timeout = Math.ceil(connection.timeoutMs / 1000);
  // Endpoints were validated: http can only be a loopback host here.
  const urls = [connection.metadata.issuer, ...ENDPOINT_FIELDS.map((field) => connection.metadata[field])];
  if (urls.some((url) => typeof url === 'string' && url.startsWith('http:'))) {
    client.allowInsecureRequests(config);
  }
  return config;
}

/** openid-client's authentication for a ClientAuthSpec; a private key is imported on first use. */
function clientAuthentication(spec: ClientAuthSpec | undefined): client.ClientAuth {
  switch (spec?.method) {
    case undefined:
    case 'none':
      return client.None();
    case 'client_secret_basic':
      return clientSecretBasic(spec.secret);
    case 'client_secret_post':
      return client.ClientSecretPost(spec.secret);
    case 'private_key_jwt': {
      let key: Promise<client.CryptoKey> | undefined;
      return async (as, c, body, headers) => {
        key ??= import('jose').then(({ importPKCS8 }) => importPKCS8(spec.privateKeyPem, spec.alg));
        await client.PrivateKeyJwt(await key)(as, c, body, headers);
      };
    }
  }
}

/** The DPoP option of a token request for `connection`, when its tokens are sender-constrained. */
export async function dpopOption(
  config: client.Configuration,
  connection: ServerConnection,
): Promise<{ DPoP: client.DPoPHandle } | undefined> {
  return connection.dpopKey ? { DPoP: client.getDPoPHandle(config, await connection.dpopKey()) } : undefined;
}

/**
 * HTTP Basic client authentication (RFC 6749 §2.3.1) with id and secret form-encoded the WHATWG way
 * (`-`, `.`, `_`, `*` stay as they are): servers that skip the decoding step still read ordinary ids.
 */
function clientSecretBasic(secret: string): client.ClientAuth {
  const encode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);
  return (_as, c, _body, headers) => {
    headers.set('authorization', `Basic ${Buffer.from(`${encode(c.client_id)}:${encode(secret)}`).toString('base64')}`);
  };
}

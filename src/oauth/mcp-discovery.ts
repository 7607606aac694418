import * as z from 'zod/mini';
import { LoginkitError, NetworkError, sanitizeServerText } from '../errors.js';
import type { FetchLike } from '../net/http.js';
import { endpointProblem } from '../providers/endpoints.js';
import type { ServerMetadata } from './server.js';

/** Protected resource metadata (RFC 9728) as far as an MCP client uses it. */
export interface ResourceMetadata {
  /** The `resource` string exactly as the server published it (sent as RFC 8707 `resource`). */
  readonly resource: string;
  readonly authorizationServers: readonly string[];
  readonly scopesSupported: readonly string[] | undefined;
  /** `dpop_signing_alg_values_supported`: the server takes DPoP-bound tokens, with proofs in these algorithms (RFC 9728 §2). */
  readonly dpopSigningAlgs: readonly string[] | undefined;
  /** `dpop_bound_access_tokens_required`: the server takes only DPoP-bound tokens. */
  readonly dpopBoundRequired: boolean;
  /** Where it was found. */
  readonly url: string;
}

/** A refusal to go on with a server that published something unsafe or inconsistent. */
export class McpDiscoveryError extends LoginkitError {
  constructor(
    readonly reason: 'resource_mismatch' | 'issuer_mismatch' | 'no_pkce' | 'bad_metadata' | 'no_metadata',
    message: string,
  ) {
    super('configuration', message);
  }
}

const ResourceMetadataSchema = z.looseObject({
  resource: z.string(),
  authorization_servers: z.optional(z.array(z.string())),
  scopes_supported: z.optional(z.array(z.string())),
  // Read leniently: a malformed DPoP field means no DPoP, not unusable metadata.
  dpop_signing_alg_values_supported: z.optional(z.unknown()),
  dpop_bound_access_tokens_required: z.optional(z.unknown()),
});

const ServerMetadataSchema = z.looseObject({
  issuer: z.string(),
  authorization_endpoint: z.optional(z.string()),
  token_endpoint: z.optional(z.string()),
  registration_endpoint: z.optional(z.string()),
  code_challenge_methods_supported: z.optional(z.array(z.string())),
  scopes_supported: z.optional(z.array(z.string())),
});

/**
 * Where to look for a server's protected resource metadata, in order: the URL its challenge named, else
 * `/.well-known/oauth-protected-resource/<path>`, else the root one (RFC 9728 §3.1, MCP 2025-11-25).
 */
export function resourceMetadataUrls(serverUrl: URL, fromChallenge: string | undefined): URL[] {
  if (fromChallenge) {
    if (!URL.canParse(fromChallenge, serverUrl.href))
      throw new McpDiscoveryError(
        'bad_metadata',
        `The MCP server ${serverUrl.href} named a resource_metadata that is not a URL ("${sanitizeServerText(fromChallenge, 200)}"); refusing it.`,
      );
    return [new URL(fromChallenge, serverUrl)];
  }
  const urls: URL[] = [];
  const path = serverUrl.pathname.replace(/\/$/, '');
  if (path) urls.push(new URL(`/.well-known/oauth-protected-resource${path}`, serverUrl.origin));
  urls.push(new URL('/.well-known/oauth-protected-resource', serverUrl.origin));
  return urls;
}

/**
 * Whether `resource` (from the metadata) names the MCP server at `serverUrl`: the same origin, and a path
 * that is the server's path or one of its parents (segment-wise). Anything else is another server.
 */
export function resourceMatches(resource: string, serverUrl: URL): boolean {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return false;
  }
  if (url.hash || url.origin !== serverUrl.origin) return false;
  const base = url.pathname.replace(/\/$/, '');
  const path = serverUrl.pathname.replace(/\/$/, '');
  return path === base || path.startsWith(`${base}/`);
}

/**
 * Fetches the protected resource metadata of the MCP server at `serverUrl` and checks that its `resource`
 * names that server; undefined when the server publishes none (a 2025-03-26 server).
 */
export async function discoverResourceMetadata(
  serverUrl: URL,
  fromChallenge: string | undefined,
  fetch: FetchLike,
): Promise<ResourceMetadata | undefined> {
  for (const url of resourceMetadataUrls(serverUrl, fromChallenge)) {
    const document = await getJson(url, fetch);
    if (document === undefined) continue;
    const parsed = ResourceMetadataSchema.safeParse(document);
    if (!parsed.success) {
      throw new McpDiscoveryError('bad_metadata', `The protected resource metadata at ${url.href} is not valid (RFC 9728).`);
    }
    const metadata = parsed.data;
    if (!resourceMatches(metadata.resource, serverUrl)) {
      throw new McpDiscoveryError(
        'resource_mismatch',
        `The MCP server ${serverUrl.href} published metadata for another resource (${sanitizeServerText(metadata.resource, 200)}); refusing to authorize for it.\nCheck the server URL, or ask the server's operator to fix its protected resource metadata.`,
      );
    }
    return {
      resource: metadata.resource,
      authorizationServers: metadata.authorization_servers ?? [],
      scopesSupported: metadata.scopes_supported,
      dpopSigningAlgs: stringArray(metadata.dpop_signing_alg_values_supported),
      dpopBoundRequired: metadata.dpop_bound_access_tokens_required === true,
      url: url.href,
    };
  }
  return undefined;
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

/**
 * Where an authorization server's metadata may be (RFC 8414 §3.1 with path insertion, then OpenID Connect
 * discovery in both its inserted and appended forms); no root fallback for an issuer with a path.
 */
export function authorizationServerMetadataUrls(issuer: URL): URL[] {
  const path = issuer.pathname.replace(/\/$/, '');
  if (!path) {
    return [new URL('/.well-known/oauth-authorization-server', issuer.origin), new URL('/.well-known/openid-configuration', issuer.origin)];
  }
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, issuer.origin),
    new URL(`/.well-known/openid-configuration${path}`, issuer.origin),
    new URL(`${path}/.well-known/openid-configuration`, issuer.origin),
  ];
}

/**
 * The metadata of the authorization server `issuer`: its `issuer` must equal the identifier it was
 * discovered for, byte for byte (RFC 8414 §3.3), its endpoints must be https (or loopback), and it must
 * offer PKCE with S256 when `requirePkce`. With `legacyOrigin` (a 2025-03-26 server without resource metadata,
 * where only the origin is known), an issuer on that origin is accepted. Undefined when no document exists at any of the places.
 */
export async function discoverAuthorizationServer(
  issuer: string,
  fetch: FetchLike,
  options: { requirePkce: boolean; legacyOrigin?: boolean },
): Promise<ServerMetadata | undefined> {
  const issuerUrl = issuerIdentifier(issuer);
  for (const url of authorizationServerMetadataUrls(issuerUrl)) {
    const document = await getJson(url, fetch);
    if (document === undefined) continue;
    const parsed = ServerMetadataSchema.safeParse(document);
    if (!parsed.success)
      throw new McpDiscoveryError('bad_metadata', `The authorization server metadata at ${url.href} is not valid (RFC 8414).`);
    const metadata = parsed.data as ServerMetadata;
    // A 2025-03-26 server names no issuer, only its origin: there, an issuer on that origin is the one it vouches for.
    const vouched = options.legacyOrigin === true && URL.canParse(metadata.issuer) && new URL(metadata.issuer).origin === issuerUrl.origin;
    if (metadata.issuer !== issuer && !vouched) {
      throw new McpDiscoveryError(
        'issuer_mismatch',
        `The authorization server metadata at ${url.href} names issuer ${sanitizeServerText(metadata.issuer, 200)}, not ${issuer}; refusing it (RFC 8414 §3.3).\nThe server is misconfigured or the metadata was tampered with; nothing was sent to it.`,
      );
    }
    if (vouched) issuerIdentifier(metadata.issuer);
    checkServerMetadata(metadata, options);
    return metadata;
  }
  return undefined;
}

/**
 * `issuer` as a URL when it can identify an authorization server (RFC 8414 §2: https, no query or fragment;
 * http only on loopback), else a refusal naming it: a server may name `file:`, `data:` or anything else.
 */
function issuerIdentifier(issuer: string): URL {
  const shown = sanitizeServerText(issuer, 200);
  const refuse = (why: string): McpDiscoveryError =>
    new McpDiscoveryError('bad_metadata', `Refusing the authorization server "${shown}" that the MCP server names: ${why}.`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(issuer)) throw refuse('it contains control characters');
  const problem = endpointProblem(issuer);
  if (problem)
    throw refuse(problem.startsWith('is not a URL') ? 'it is not a URL' : 'an issuer must be an https URL (http only on loopback)');
  const url = new URL(issuer);
  if (url.search || url.hash) throw refuse('an issuer has no query or fragment (RFC 8414 §2)');
  return url;
}

/** Checks endpoints and PKCE support of metadata that was found or built. */
export function checkServerMetadata(metadata: ServerMetadata, options: { requirePkce: boolean }): void {
  for (const field of [
    'authorization_endpoint',
    'token_endpoint',
    'registration_endpoint',
    'revocation_endpoint',
    'device_authorization_endpoint',
  ] as const) {
    const value = metadata[field];
    if (value === undefined) continue;
    const problem = typeof value === 'string' ? endpointProblem(value) : 'is not a string';
    if (problem)
      throw new McpDiscoveryError(
        'bad_metadata',
        `The authorization server ${sanitizeServerText(metadata.issuer, 200)}: its ${field} ${sanitizeServerText(problem, 300)}`,
      );
  }
  if (!metadata.token_endpoint)
    throw new McpDiscoveryError(
      'bad_metadata',
      `The authorization server ${sanitizeServerText(metadata.issuer, 200)} publishes no token_endpoint.`,
    );
  const methods = metadata.code_challenge_methods_supported;
  if (options.requirePkce && !(Array.isArray(methods) && methods.includes('S256'))) {
    throw new McpDiscoveryError(
      'no_pkce',
      `The authorization server ${sanitizeServerText(metadata.issuer, 200)} does not list PKCE with S256 (code_challenge_methods_supported), which MCP requires; refusing to sign in there.`,
    );
  }
}

/**
 * Metadata for a 2025-03-26 server that publishes none: the default endpoints at the MCP server's origin
 * (`/authorize`, `/token`, `/register`).
 */
export function fallbackMetadata(origin: string): ServerMetadata {
  return {
    issuer: origin,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    registration_endpoint: `${origin}/register`,
    code_challenge_methods_supported: ['S256'],
  };
}

/** GETs a JSON document; undefined for a 404/410 or a non-JSON answer, an error for anything else. */
async function getJson(url: URL, fetch: FetchLike): Promise<unknown> {
  const response = await fetch(url, { headers: { accept: 'application/json', 'MCP-Protocol-Version': '2025-11-25' } });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 400 && response.status < 500) return undefined;
    throw new NetworkError('network', url.host, `${url.host} answered ${response.status} for ${url.pathname}.`, { transient: false });
  }
  try {
    return JSON.parse(await response.text());
  } catch {
    return undefined;
  }
}

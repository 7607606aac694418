import * as z from 'zod/mini';
import type { ClientAuthSpec, ServerConnection } from '../oauth/server.js';

const JwkSchema = z.looseObject({ kty: z.string() });

/** What binds an MCP credential to its server, client and key; stored with the tokens (encrypted with them). */
export const McpBindingSchema = z.object({
  /** The MCP server URL the person used. */
  serverUrl: z.string(),
  /** RFC 8707 `resource`: the protected resource metadata's string; absent for a 2025-03-26 server. */
  resource: z.optional(z.string()),
  /** How the tokens were obtained, which decides how they are renewed. */
  grant: z.enum(['authorization_code', 'client_credentials', 'jwt_bearer']),
  /** Token endpoint authentication of the client. */
  authMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']),
  clientSecret: z.optional(z.string()),
  privateKeyPem: z.optional(z.string()),
  alg: z.optional(z.enum(['ES256', 'RS256'])),
  /** The DPoP key pair (RFC 9449) the tokens are bound to. */
  dpop: z.optional(z.object({ privateJwk: JwkSchema, publicJwk: JwkSchema, alg: z.string() })),
});

/** What binds an MCP credential to its server, client and key. */
export type McpBinding = z.infer<typeof McpBindingSchema>;

/** The client authentication a binding stores. */
export function clientAuthOf(binding: Pick<McpBinding, 'authMethod' | 'clientSecret' | 'privateKeyPem' | 'alg'>): ClientAuthSpec {
  switch (binding.authMethod) {
    case 'client_secret_basic':
    case 'client_secret_post':
      return { method: binding.authMethod, secret: binding.clientSecret ?? '' };
    case 'private_key_jwt':
      return { method: 'private_key_jwt', privateKeyPem: binding.privateKeyPem ?? '', alg: binding.alg ?? 'ES256' };
    default:
      return { method: 'none' };
  }
}

/** The parts of a connection an MCP binding adds: client authentication, `resource` on every token request, DPoP. */
export function mcpConnection(binding: McpBinding): Pick<ServerConnection, 'clientAuth' | 'tokenParameters' | 'dpopKey'> {
  const dpop = binding.dpop;
  let key: ReturnType<NonNullable<ServerConnection['dpopKey']>> | undefined;
  return {
    clientAuth: clientAuthOf(binding),
    tokenParameters: binding.resource ? { resource: binding.resource } : undefined,
    dpopKey: dpop ? () => (key ??= importDpopKey(dpop)) : undefined,
  };
}

/** Imports a stored DPoP key pair (jose loads only when a DPoP token is used). */
export async function importDpopKey(
  dpop: NonNullable<McpBinding['dpop']>,
): Promise<Awaited<ReturnType<NonNullable<ServerConnection['dpopKey']>>>> {
  const { importJWK } = await import('jose');
  const [privateKey, publicKey] = await Promise.all([
    importJWK(dpop.privateJwk, dpop.alg),
    importJWK(dpop.publicJwk, dpop.alg, { extractable: true }),
  ]);
  return { privateKey: privateKey as never, publicKey: publicKey as never };
}

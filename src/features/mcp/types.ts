import type { McpBinding } from '../../session/mcp-binding.js';
import type { PersonOptions } from '../person-side.js';

/** Options of an MCP sign-in and of the fetch and provider that sign in on demand. */
export interface McpLoginOptions extends PersonOptions {
  /** Scopes to ask for; default: the server's challenge, else its `scopes_supported`, else none. */
  scopes?: readonly string[];
  /** A pre-registered client for this server (its secret is kept in the credential store). */
  clientId?: string;
  clientSecret?: string;
  /** Token endpoint authentication of the pre-registered client; default: what the server allows, basic first. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** Machine to machine: the `client_credentials` grant with `clientSecret` or `privateKeyPem`. */
  clientCredentials?: boolean;
  /** PEM (PKCS #8) private key for `private_key_jwt`. */
  privateKeyPem?: string;
  alg?: 'ES256' | 'RS256';
  /** Workload identity: a JWT from the platform, presented with the JWT-bearer grant (RFC 7523). */
  workloadAssertion?: () => Promise<string> | string;
  /**
   * Cross-app access (enterprise-managed authorization): the person's ID token at their IdP is exchanged
   * for an ID-JAG (RFC 8693), which the MCP server's authorization server takes with the JWT-bearer grant.
   */
  crossApp?: { idpTokenEndpoint: string; idpIdToken: string; idpClientId: string; idpClientSecret?: string };
  /**
   * Bind the tokens to a DPoP key (RFC 9449): `true` always, `false` never. Default: only when the MCP server
   * asks for DPoP (its protected resource metadata or a `DPoP` challenge), not merely because the authorization
   * server offers it. The SDK `authProvider` route never binds: it can send Bearer tokens only.
   */
  dpop?: boolean;
  /** May a sign-in start when the server rejects the token (the person is there)? Default true. */
  interactive?: boolean;
}

/** The state of one MCP server's sign-in, without secrets. */
export interface McpStatus {
  serverUrl: string;
  resource: string | null;
  issuer: string;
  clientId: string;
  grant: McpBinding['grant'];
  tokenType: string;
  scopes: readonly string[];
  expiresAt: string | null;
  refreshable: boolean;
  dpop: boolean;
}

/** What an MCP logout did. */
export interface McpLogoutResult {
  serverUrl: string;
  revocation: 'revoked' | 'unsupported' | 'failed' | 'not_signed_in';
  revocationError?: string;
}

/** Whether the options ask for a grant without a person (client credentials, workload identity, cross-app access). */
export function usesMachineGrant(options: McpLoginOptions): boolean {
  return Boolean(options.clientCredentials || options.workloadAssertion || options.crossApp);
}

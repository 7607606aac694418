import * as z from 'zod/mini';
import { ConfigError, ProviderError } from '../../errors.js';
import type { ServerMetadata } from '../../oauth/server.js';
import type { TokenResult } from '../../oauth/tokens.js';
import type { McpBinding } from '../../session/mcp-binding.js';
import type { ClientChoice } from './client-identity.js';
import { describeError, safeJson } from './response-text.js';
import type { McpTarget } from './target.js';

/** client_credentials, or the JWT-bearer grant with a workload assertion or an ID-JAG. */
export async function machineTokens(
  target: McpTarget,
  metadata: ServerMetadata,
  client: ClientChoice,
  binding: McpBinding,
  scopes: string[],
): Promise<TokenResult> {
  const [oidc, { toConfiguration, dpopOption }, { toTokenResult }, { translateOAuthError }, { mcpConnection }] = await Promise.all([
    import('openid-client'),
    import('../../oauth/server.js'),
    import('../../oauth/tokens.js'),
    import('../../oauth/translate-error.js'),
    import('../../session/mcp-binding.js'),
  ]);
  const { ctx, options } = target;
  const connection = {
    metadata,
    clientId: client.clientId,
    http: await target.guarded(),
    timeoutMs: ctx.timeoutMs,
    ...mcpConnection(binding),
  };
  const config = toConfiguration(connection);
  const params: Record<string, string> = { ...connection.tokenParameters, ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}) };
  const dpop = await dpopOption(config, connection);
  try {
    if (options.clientCredentials) {
      return toTokenResult(
        await oidc.clientCredentialsGrant(config, params, dpop),
        scopes,
        ctx.now(),
        undefined,
        undefined,
        dpop !== undefined,
      );
    }
    const assertion = options.crossApp ? await idJag(target, metadata, binding) : await options.workloadAssertion?.();
    if (!assertion) throw new ConfigError('No assertion for the JWT-bearer grant.');
    const response = await oidc.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:jwt-bearer', { ...params, assertion }, dpop);
    return toTokenResult(response, scopes, ctx.now(), undefined, undefined, dpop !== undefined);
  } catch (error) {
    throw translateOAuthError(error, {
      host: new URL(metadata.token_endpoint ?? metadata.issuer).host,
      what: `The token request to ${metadata.issuer}`,
    });
  }
}

/** Cross-app access: trades the IdP ID token for an ID-JAG for this authorization server (RFC 8693). */
async function idJag(target: McpTarget, metadata: ServerMetadata, binding: McpBinding): Promise<string> {
  const crossApp = target.options.crossApp;
  if (!crossApp) throw new ConfigError('No identity provider is configured for cross-app access.');
  const fetch = await target.guarded();
  const body = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
    subject_token: crossApp.idpIdToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    audience: metadata.issuer,
    ...(binding.resource ? { resource: binding.resource } : {}),
    client_id: crossApp.idpClientId,
    ...(crossApp.idpClientSecret ? { client_secret: crossApp.idpClientSecret } : {}),
  });
  const response = await fetch(crossApp.idpTokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  const text = await response.text();
  const parsed = z.looseObject({ access_token: z.string() }).safeParse(safeJson(text));
  if (!response.ok || !parsed.success) {
    throw new ProviderError(
      `The identity provider refused the token exchange for ${metadata.issuer} (HTTP ${response.status}${describeError(text)}).`,
      { error: 'token_exchange_failed', status: response.status },
    );
  }
  return parsed.data.access_token;
}

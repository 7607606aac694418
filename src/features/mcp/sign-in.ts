import { ConfigError, LoginRequiredError } from '../../errors.js';
import type { ResourceMetadata } from '../../oauth/mcp-discovery.js';
import type { ServerMetadata } from '../../oauth/server.js';
import type { TokenResult } from '../../oauth/tokens.js';
import type { BearerChallenge } from '../../oauth/www-authenticate.js';
import type { OAuthCredential } from '../../session/credential.js';
import type { McpBinding } from '../../session/mcp-binding.js';
import { type ClientChoice, LOOPBACK_REDIRECT, bindingAuth, clientFor, machineClient } from './client-identity.js';
import { discover, probe } from './discovery.js';
import { machineTokens } from './machine-grants.js';
import { chooseScopes, unionScopes } from './scopes.js';
import { credentialId, mcpStore, storeKey } from './store.js';
import { type McpTarget, storedCredential } from './target.js';
import { usesMachineGrant } from './types.js';
import { personSide } from '../person-side.js';

/** How a sign-in may hold its tokens. */
export interface SignInManner {
  /** The caller can send Bearer tokens only (the SDK's `authProvider` route): never bind them to a DPoP key. */
  bearerOnly?: boolean;
}

/**
 * Signs in to the server: discovers, picks or registers the client, runs the sign-in the options ask for
 * (browser, paste, device code, client credentials, workload identity, cross-app access) and stores the tokens.
 * `extraScopes` (a step-up) are asked for together with the scopes already held. The refresh token of the
 * sign-in this one replaces is revoked, so nothing the person can no longer see stays live at the server.
 */
export async function signInToServer(
  target: McpTarget,
  challenge?: BearerChallenge,
  extraScopes: readonly string[] = [],
  manner: SignInManner = {},
): Promise<OAuthCredential> {
  const found = challenge ?? (await probe(target));
  const { resource, metadata } = await discover(target, found);
  const held = (await storedCredential(target))?.scopes ?? [];
  const stepUp = extraScopes.length > 0 ? unionScopes(held, extraScopes) : undefined;
  const scopes = chooseScopes(target.options, found, resource, metadata, stepUp);
  const dpop = wantsDpop(target, found, resource, manner) ? await dpopKey(metadata, resource) : undefined;
  const binding = (client: ClientChoice, grant: McpBinding['grant'], key = dpop): McpBinding => ({
    serverUrl: target.url.href,
    ...(resource ? { resource: resource.resource } : {}),
    grant,
    ...bindingAuth(client.auth),
    ...(key ? { dpop: key } : {}),
  });
  // The sign-in it replaces is read just before the new one is stored: a refresh meanwhile rotates its tokens.
  const obtain = async (): Promise<{ credential: OAuthCredential; replaced: OAuthCredential | undefined }> => {
    let client: ClientChoice;
    let tokens: TokenResult;
    let grant: McpBinding['grant'];
    if (usesMachineGrant(target.options)) {
      client = machineClient(target, metadata);
      grant = target.options.clientCredentials ? 'client_credentials' : 'jwt_bearer';
      tokens = await machineTokens(target, metadata, client, binding(client, grant), scopes);
    } else {
      client = await clientFor(target, metadata);
      grant = 'authorization_code';
      tokens = await interactiveTokens(target, metadata, client, binding(client, grant), scopes);
    }
    const id = credentialId(metadata.issuer, client.clientId, resource?.resource ?? target.url.href);
    const { toCredential } = await import('../../session/credential.js');
    // A server that ignored the proof issued a Bearer token: nothing to bind, refresh without proofs.
    const bound = tokens.tokenType.toLowerCase() === 'dpop' ? dpop : undefined;
    const credential = toCredential(
      { provider: id, profile: 'default', clientId: client.clientId, server: metadata, mcp: binding(client, grant, bound) },
      tokens,
    );
    const replaced = await storedCredential(target);
    await target.session.save(credential);
    await mcpStore(target.ctx).update((entries) => ({ ...entries, [storeKey('server', target.url.href)]: id }));
    return { credential, replaced };
  };
  const { credential, replaced } = await obtain();
  if (!replaced) return credential;
  const standing = await retire(target, replaced, credential);
  if (standing) return standing;
  target.ctx.warn(
    `${metadata.issuer} ended the new sign-in to ${target.url.href} together with the one it replaced (one grant for both); signing in once more.`,
  );
  return (await obtain()).credential;
}

/**
 * Whether to bind the tokens to a DPoP key: when the person asked (`dpop: true`) or the MCP server signals DPoP
 * (a DPoP challenge, or DPoP in its protected resource metadata); never for a Bearer-only caller. An
 * authorization server that merely offers DPoP is not enough: most MCP servers take only Bearer tokens.
 */
function wantsDpop(
  target: McpTarget,
  challenge: BearerChallenge | undefined,
  resource: ResourceMetadata | undefined,
  manner: SignInManner,
): boolean {
  if (manner.bearerOnly) {
    if (resource?.dpopBoundRequired && target.options.dpop !== false) {
      throw new ConfigError(
        `The MCP server ${target.url.href} takes only DPoP-bound tokens, which the SDK's authProvider cannot present.\nGive the transport loginkit's fetch instead: new StreamableHTTPClientTransport(url, { fetch: kit.mcp(url).createFetch() })`,
      );
    }
    return false;
  }
  if (target.options.dpop !== undefined) return target.options.dpop;
  return challenge?.dpop === true || resource?.dpopBoundRequired === true || (resource?.dpopSigningAlgs?.length ?? 0) > 0;
}

/** Algorithms loginkit signs DPoP proofs with, in order of preference. */
const DPOP_ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const;

/** A new DPoP key, in an algorithm both servers take (ES256 when neither says); undefined when they share none. */
async function dpopKey(metadata: ServerMetadata, resource: ResourceMetadata | undefined): Promise<McpBinding['dpop'] | undefined> {
  const lists = [metadata.dpop_signing_alg_values_supported, resource?.dpopSigningAlgs].filter((list) => Array.isArray(list));
  const alg = DPOP_ALGS.find((candidate) => lists.every((list) => list.includes(candidate)));
  if (!alg) return undefined;
  const { exportJWK, generateKeyPair } = await import('jose');
  const pair = await generateKeyPair(alg, { extractable: true });
  const [privateJwk, publicJwk] = await Promise.all([exportJWK(pair.privateKey), exportJWK(pair.publicKey)]);
  return { privateJwk: { ...privateJwk, kty: privateJwk.kty ?? '' }, publicJwk: { ...publicJwk, kty: publicJwk.kty ?? '' }, alg };
}

/**
 * The sign-in a new one replaced: its refresh token revoked at its authorization server (RFC 7009), and its
 * entry removed when the new one is stored under another id. Resolves with the new credential (refreshed when it
 * was checked), or undefined when the revocation ended it too. A failed revocation is a warning: the new one stands.
 */
async function retire(target: McpTarget, replaced: OAuthCredential, current: OAuthCredential): Promise<OAuthCredential | undefined> {
  if (replaced.provider !== current.provider || replaced.profile !== current.profile) {
    await target.session.remove(replaced.provider, replaced.profile);
  }
  if (!replaced.refreshToken || replaced.refreshToken === current.refreshToken) return current;
  const { revokeToken } = await import('../../oauth/grants.js');
  const outcome = await revokeToken(target.session.connectionFor(replaced), replaced.refreshToken, 'refresh_token');
  if (outcome.outcome === 'failed') {
    target.ctx.warn(
      `The refresh token of the sign-in to ${target.url.href} that was just replaced could not be revoked at ${replaced.server.issuer}${outcome.error ? ` (${outcome.error})` : ''}; it stays valid there until it expires.`,
    );
  }
  return outcome.outcome === 'revoked' && current.refreshToken ? stillStanding(target, current) : current;
}

/**
 * Some authorization servers tie a new sign-in to the grant of the one it replaces (oidc-provider with a
 * remembered grant, single sign-on sessions) and revoke both at once: one refresh tells. Undefined (and the
 * credential removed) when the server ended it; a refresh that could not be made leaves it as it is.
 */
async function stillStanding(target: McpTarget, current: OAuthCredential): Promise<OAuthCredential | undefined> {
  try {
    const refreshed = await target.session.refresh(current, true);
    return refreshed.kind === 'oauth' ? refreshed : current;
  } catch (error) {
    if (!(error instanceof LoginRequiredError)) return current;
    await target.session.remove(current.provider, current.profile);
    return undefined;
  }
}

/** A person signs in: browser with the loopback listener, paste or device code, with `resource` on every request. */
async function interactiveTokens(
  target: McpTarget,
  metadata: ServerMetadata,
  client: ClientChoice,
  binding: McpBinding,
  scopes: string[],
): Promise<TokenResult> {
  const [{ signIn }, { detectEnvironment }, { mcpConnection }] = await Promise.all([
    import('../../sign-in/sign-in.js'),
    import('../../sign-in/login-environment.js'),
    import('../../session/mcp-binding.js'),
  ]);
  const { ctx, options } = target;
  const environment = ctx.environment ?? detectEnvironment({ env: ctx.env });
  // A store that cannot be written must fail now, not after the person has signed in.
  await target.session.credentials();
  return signIn({
    providerId: target.url.href,
    connection: { metadata, clientId: client.clientId, http: await target.guarded(), timeoutMs: ctx.timeoutMs, ...mcpConnection(binding) },
    scopes,
    redirectUri: LOOPBACK_REDIRECT,
    authorizeParams: binding.resource ? { resource: binding.resource } : {},
    apiKeySupported: false,
    ...personSide(ctx, options, environment, target.url.host),
  });
}

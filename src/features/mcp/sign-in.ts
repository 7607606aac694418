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

/**
 * Signs in to the server: discovers, picks or registers the client, runs the sign-in the options ask for
 * (browser, paste, device code, client credentials, workload identity, cross-app access) and stores the tokens.
 * `extraScopes` (a step-up) are asked for together with the scopes already held.
 */
export async function signInToServer(
  target: McpTarget,
  challenge?: BearerChallenge,
  extraScopes: readonly string[] = [],
): Promise<OAuthCredential> {
  const found = challenge ?? (await probe(target));
  const { resource, metadata } = await discover(target, found);
  const held = (await storedCredential(target))?.scopes ?? [];
  const stepUp = extraScopes.length > 0 ? unionScopes(held, extraScopes) : undefined;
  const scopes = chooseScopes(target.options, found, resource, metadata, stepUp);
  const dpop = await dpopKey(target, metadata);
  const binding = (client: ClientChoice, grant: McpBinding['grant']): McpBinding => ({
    serverUrl: target.url.href,
    ...(resource ? { resource: resource.resource } : {}),
    grant,
    ...bindingAuth(client.auth),
    ...(dpop ? { dpop } : {}),
  });
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
  const credential = toCredential(
    { provider: id, profile: 'default', clientId: client.clientId, server: metadata, mcp: binding(client, grant) },
    tokens,
  );
  await target.session.save(credential);
  await mcpStore(target.ctx).update((entries) => ({ ...entries, [storeKey('server', target.url.href)]: id }));
  return credential;
}

/** A new DPoP key when the server offers DPoP (and it is wanted). */
async function dpopKey(target: McpTarget, metadata: ServerMetadata): Promise<McpBinding['dpop'] | undefined> {
  const algs = metadata.dpop_signing_alg_values_supported;
  if (target.options.dpop === false || !Array.isArray(algs)) return undefined;
  const alg = algs.includes('ES256') ? 'ES256' : algs.find((a) => a === 'RS256' || a === 'PS256' || a === 'EdDSA');
  if (!alg) return undefined;
  const { exportJWK, generateKeyPair } = await import('jose');
  const pair = await generateKeyPair(alg, { extractable: true });
  const [privateJwk, publicJwk] = await Promise.all([exportJWK(pair.privateKey), exportJWK(pair.publicKey)]);
  return { privateJwk: { ...privateJwk, kty: privateJwk.kty ?? '' }, publicJwk: { ...publicJwk, kty: publicJwk.kty ?? '' }, alg };
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

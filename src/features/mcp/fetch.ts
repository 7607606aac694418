import { LoginRequiredError, LoginkitError } from '../../errors.js';
import type { FetchLike } from '../../net/http.js';
import { type BearerChallenge, bearerChallenge } from '../../oauth/www-authenticate.js';
import type { OAuthCredential } from '../../session/credential.js';
import { unionScopes } from './scopes.js';
import { mcpLoginRequired } from './server-url.js';
import { signInToServer } from './sign-in.js';
import { type McpTarget, freshCredential, plainHttp, resourceHttp } from './target.js';
import { usesMachineGrant } from './types.js';
import { isReplayable } from '../../session/authenticated-fetch.js';

const MAX_AUTHORIZATIONS_PER_REQUEST = 3;

/**
 * A fetch for this MCP server: adds the token (Bearer, or DPoP with a proof), refreshes once on 401
 * `invalid_token`, then signs in again when interactive (else LoginRequiredError); on 403
 * `insufficient_scope` steps up with the union of held and challenged scopes. At most three sign-ins per request.
 * Requests for any other origin go out as they are: the token is this server's alone.
 */
export function createMcpFetch(target: McpTarget): FetchLike {
  const http = resourceHttp(target);
  return async (input, init = {}) => {
    if (new URL(String(input)).origin !== target.url.origin) return plainHttp(target)(input, init);
    let credential = await freshCredential(target);
    let authorizations = 0;
    let refreshed = false;
    let nonceRetried = false;
    const authorize = async (challenge: BearerChallenge | undefined, stepUp: readonly string[]): Promise<void> => {
      if (authorizations >= MAX_AUTHORIZATIONS_PER_REQUEST) {
        throw new LoginkitError(
          'insufficient_scope',
          `${target.url.host} still refuses after ${MAX_AUTHORIZATIONS_PER_REQUEST} sign-ins for this request; giving up.`,
        );
      }
      authorizations++;
      credential = await reauthorize(target, challenge, stepUp);
    };
    while (true) {
      const response = await http(input, await withToken(target, input, init, credential));
      const challenge = response.status === 401 || response.status === 403 ? bearerChallenge(response) : undefined;
      const nonce = response.headers.get('dpop-nonce');
      if (nonce) target.dpopNonces.set(new URL(String(input)).origin, nonce);
      if (response.status === 401 && challenge?.error === 'use_dpop_nonce' && nonce && !nonceRetried) {
        nonceRetried = true;
        await response.body?.cancel().catch(() => undefined);
        continue;
      }
      if (response.status === 401) {
        await response.body?.cancel().catch(() => undefined);
        if (!isReplayable(init.body))
          throw new LoginkitError('invalid_token', `${target.url.host} rejected the token for a request that cannot be sent again.`);
        if (credential && !refreshed && credential.refreshToken) {
          refreshed = true;
          const renewed = await refreshOrForget(target, credential);
          if (renewed) {
            credential = renewed;
            continue;
          }
        }
        await authorize(challenge, []);
        continue;
      }
      if (response.status === 403 && challenge?.error === 'insufficient_scope') {
        await response.body?.cancel().catch(() => undefined);
        if (!isReplayable(init.body))
          throw new LoginkitError('insufficient_scope', `${target.url.host} needs more scope (${challenge.scopes.join(' ')}).`);
        await authorize(challenge, unionScopes(credential?.scopes ?? [], challenge.scopes));
        continue;
      }
      return response;
    }
  };
}

/**
 * The rejected credential refreshed now: the new one, or undefined when the refresh gave the same token or the
 * refresh token is gone for good (then the credential is forgotten, so a sign-in starts clean).
 */
async function refreshOrForget(target: McpTarget, credential: OAuthCredential): Promise<OAuthCredential | undefined> {
  try {
    const renewed = await target.session.refresh(credential, true);
    if (renewed.kind === 'oauth' && renewed.accessToken !== credential.accessToken) return renewed;
  } catch (error) {
    if (!(error instanceof LoginRequiredError)) throw error;
    await target.session.remove(credential.provider, credential.profile);
  }
  return undefined;
}

/** A new sign-in after the server refused: interactive unless told otherwise; machine clients just ask again. */
async function reauthorize(target: McpTarget, challenge: BearerChallenge | undefined, stepUp: readonly string[]): Promise<OAuthCredential> {
  if (!usesMachineGrant(target.options) && target.options.interactive === false) {
    throw mcpLoginRequired(
      target.url,
      `The MCP server ${target.url.href} needs a sign-in (none is stored, it expired, or it lacks scope).`,
    );
  }
  return signInToServer(target, challenge, stepUp);
}

/** `init` with the credential's Authorization header (and a DPoP proof for a DPoP-bound token). */
async function withToken(
  target: McpTarget,
  input: string | URL,
  init: RequestInit,
  credential: OAuthCredential | undefined,
): Promise<RequestInit> {
  if (!credential) return init;
  const headers = new Headers(init.headers);
  if (credential.tokenType.toLowerCase() === 'dpop' && credential.mcp?.dpop) {
    const { createDpopProof } = await import('../../oauth/dpop.js');
    const url = new URL(String(input));
    headers.set('authorization', `DPoP ${credential.accessToken}`);
    headers.set(
      'dpop',
      await createDpopProof(credential.mcp.dpop, {
        method: init.method ?? 'GET',
        url,
        accessToken: credential.accessToken,
        nonce: target.dpopNonces.get(url.origin),
      }),
    );
  } else {
    headers.set('authorization', `Bearer ${credential.accessToken}`);
  }
  return { ...init, headers };
}

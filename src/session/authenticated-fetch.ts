import { AccessDeniedError, sanitizeServerText } from '../errors.js';
import type { FetchLike } from '../net/http.js';
import type { Credential } from './credential.js';

/** Where the authenticated fetch gets its credential and how it turns it into headers. */
export interface FetchCredentials {
  /** The credential to use now (refreshed when due). */
  current(): Promise<Credential>;
  /** A newer credential after the resource server rejected `rejected` (OAuth: a forced refresh). */
  renew(rejected: Credential): Promise<Credential>;
  /** The headers that carry `credential`: Bearer for OAuth, the provider's header for API keys. */
  headers(credential: Credential): Promise<Record<string, string>>;
}

/**
 * A fetch that sends the provider's credential. When the resource server answers 401 to an OAuth token,
 * it refreshes once and retries once, if the request body can be sent again; a second 401 (or a 401 to
 * an API key) becomes an `invalid_token` error, a 403 with `insufficient_scope` an `insufficient_scope` error.
 */
export function createAuthenticatedFetch(credentials: FetchCredentials, base: FetchLike): FetchLike {
  const withCredential = async (init: RequestInit, credential: Credential): Promise<RequestInit> => {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(await credentials.headers(credential))) headers.set(name, value);
    return { ...init, headers };
  };
  return async (input, init = {}) => {
    const credential = await credentials.current();
    const first = await base(input, await withCredential(init, credential));
    if (first.status === 403) return rejectInsufficientScope(first, input);
    if (first.status !== 401) return first;
    const challenge = bearerChallenge(first);
    if (credential.kind !== 'oauth' || !isReplayable(init.body)) throw invalidToken(first, input, challenge);
    await first.body?.cancel();
    const renewed = await renewedCredential(credentials, credential);
    if (!renewed) throw invalidToken(first, input, challenge);
    const second = await base(input, await withCredential(init, renewed));
    if (second.status === 401) throw invalidToken(second, input, bearerChallenge(second));
    if (second.status === 403) return rejectInsufficientScope(second, input);
    return second;
  };
}

/**
 * A credential with another token than `rejected`, or undefined. A renewal can hand back the rejected token
 * when it joined a refresh already under way that was allowed to keep the current token (the server was
 * down, the token not yet expired): then it is asked once more, on its own, so that a refresh that fails
 * surfaces its error instead of the rejected token going out again.
 */
async function renewedCredential(credentials: FetchCredentials, rejected: Credential): Promise<Credential | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const renewed = await credentials.renew(rejected);
    if (!sameAccessToken(renewed, rejected)) return renewed;
  }
  return undefined;
}

function sameAccessToken(a: Credential, b: Credential): boolean {
  return a.kind === 'oauth' && b.kind === 'oauth' && a.accessToken === b.accessToken;
}

/** Bodies that can be sent twice: none, strings, form data and bytes; not streams. */
function isReplayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

interface Challenge {
  error: string | undefined;
  description: string | undefined;
}

function bearerChallenge(response: Response): Challenge {
  const header = response.headers.get('www-authenticate') ?? '';
  const parameter = (name: string): string | undefined => {
    const match = new RegExp(`${name}="([^"]*)"`, 'i').exec(header) ?? new RegExp(`${name}=([^\\s,]+)`, 'i').exec(header);
    return match?.[1] ? sanitizeServerText(match[1]) : undefined;
  };
  return { error: parameter('error'), description: parameter('error_description') };
}

function invalidToken(response: Response, input: string | URL, challenge: Challenge): AccessDeniedError {
  const host = new URL(String(input)).host;
  const detail = challenge.description ? ` (${challenge.description})` : '';
  return new AccessDeniedError(
    'invalid_token',
    response.status,
    `${host} rejected the credential${challenge.error ? `: ${challenge.error}` : ''}${detail}.\nSign in again with loginkit login, or check that the credential is meant for this server.`,
  );
}

async function rejectInsufficientScope(response: Response, input: string | URL): Promise<Response> {
  const challenge = bearerChallenge(response);
  if (challenge.error !== 'insufficient_scope') return response;
  await response.body?.cancel();
  const host = new URL(String(input)).host;
  throw new AccessDeniedError(
    'insufficient_scope',
    response.status,
    `${host} needs more access than this sign-in granted${challenge.description ? ` (${challenge.description})` : ''}.\nAdd the scope to the provider's "scopes" in config.json and sign in again.`,
  );
}

import type { FetchLike } from '../net/http.js';
import type { Credential } from './credential.js';

/** The headers that carry a credential: `credential` replaces what the caller set, `defaults` only fill gaps. */
export interface CredentialHeaders {
  /** The credential's own header (`authorization`, `x-api-key`, …): always set, replacing an SDK's placeholder. */
  credential: Record<string, string>;
  /** Headers the provider needs (e.g. `anthropic-version`), set only when the caller did not choose one. */
  defaults: Record<string, string>;
}

/** Where the authenticated fetch gets its credential and how it turns it into headers. */
export interface FetchCredentials {
  /** The credential to use now (refreshed when due). */
  current(): Promise<Credential>;
  /**
   * A newer credential after the resource server rejected `rejected` (OAuth: a forced refresh; a key
   * command: one re-run), or undefined when there is none to be had (then the rejection stands).
   */
  renew(rejected: Credential): Promise<Credential | undefined>;
  /** The headers that carry `credential`. */
  headers(credential: Credential): Promise<CredentialHeaders>;
}

/** Headers that carry a credential for some provider; only the one this provider uses is kept. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'] as const;

/**
 * A fetch that SDKs can take as theirs (`typeof fetch`: string, URL or Request inputs). It sends the
 * provider's credential in the provider's header and removes other credential headers (an SDK's placeholder
 * `Authorization` beside `x-api-key`); the caller's other headers are kept. When the server answers 401 it
 * renews the credential once and retries once, if the body can be sent again; the final response, 401 and
 * 403 included, is returned unchanged so that the SDK classifies it (AuthenticationError,
 * PermissionDeniedError) and does not retry. Network failures are thrown, as fetch does.
 */
export function createAuthenticatedFetch(credentials: FetchCredentials, base: FetchLike): typeof fetch {
  const send = async (url: string, init: RequestInit, credential: Credential): Promise<Response> =>
    base(url, { ...init, headers: withCredential(init.headers, await credentials.headers(credential)) });
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const { url, request } = await normalize(input, init);
    const credential = await credentials.current();
    const first = await send(url, request, credential);
    if (first.status !== 401 || !isReplayable(request.body)) return first;
    // Kept so that the 401 can still be handed back when no newer credential can be had.
    const rejection = await buffered(first);
    const renewed = await credentials.renew(credential);
    if (!renewed) return rejection;
    return send(url, request, renewed);
  };
}

/** The caller's headers with the credential's set, other credential headers removed, and defaults filled in. */
function withCredential(callerHeaders: RequestInit['headers'], headers: CredentialHeaders): Headers {
  const merged = new Headers(callerHeaders);
  const own = new Set(Object.keys(headers.credential).map((name) => name.toLowerCase()));
  for (const name of CREDENTIAL_HEADERS) if (!own.has(name)) merged.delete(name);
  for (const [name, value] of Object.entries(headers.credential)) merged.set(name, value);
  for (const [name, value] of Object.entries(headers.defaults)) if (!merged.has(name)) merged.set(name, value);
  return merged;
}

/** A URL string and RequestInit for any fetch input; a Request's body is read into bytes so that it can be resent. */
async function normalize(input: string | URL | Request, init: RequestInit | undefined): Promise<{ url: string; request: RequestInit }> {
  if (!(input instanceof Request)) return { url: String(input), request: init ?? {} };
  const merged = init ? new Request(input, init) : input;
  const body = merged.body ? await merged.arrayBuffer() : undefined;
  return {
    url: merged.url,
    request: { method: merged.method, headers: merged.headers, signal: merged.signal, redirect: merged.redirect, body },
  };
}

/** Bodies that can be sent twice: none, strings, form data and bytes; not streams. */
export function isReplayable(body: RequestInit['body']): boolean {
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

/** The same response with its body read, so that it can be returned after another request was made. */
async function buffered(response: Response): Promise<Response> {
  const body = await response.arrayBuffer();
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

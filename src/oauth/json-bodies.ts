import type { FetchLike } from '../net/http.js';
import type { ServerMetadata } from './server.js';

/**
 * For servers whose refresh and revocation endpoints take JSON instead of form encoding (OpenAI's, like
 * its Codex CLI sends them): re-encodes those two requests' form bodies as JSON objects, so that
 * openid-client still builds the requests and checks the answers.
 */
export function withJsonBodies(http: FetchLike, metadata: ServerMetadata): FetchLike {
  return (input, init = {}) => {
    const url = String(input);
    const body = init.body;
    if (!(body instanceof URLSearchParams)) return http(input, init);
    const isRefresh = url === metadata.token_endpoint && body.get('grant_type') === 'refresh_token';
    const isRevocation = url === metadata.revocation_endpoint;
    if (!isRefresh && !isRevocation) return http(input, init);
    const headers = new Headers(init.headers);
    headers.set('content-type', 'application/json');
    return http(input, { ...init, headers, body: JSON.stringify(Object.fromEntries(body)) });
  };
}

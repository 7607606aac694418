import type { LoginkitContext } from '../../context.js';
import { type AddressPolicy, createGuardedFetch, policyFor } from '../../net/guarded-fetch.js';
import type { FetchLike } from '../../net/http.js';

/**
 * Fetch for URLs an MCP server or its authorization server handed out (metadata, registration, token,
 * refresh and revocation endpoints): SSRF-checked against where the MCP server itself is, size- and
 * time-bounded. The address policy is worked out on first use.
 */
export function guardedFetchFor(ctx: LoginkitContext, serverUrl: URL): FetchLike {
  let policy: Promise<AddressPolicy> | undefined;
  return async (input, init) => {
    policy ??= policyFor(serverUrl);
    return createGuardedFetch(ctx.http, await policy)(input, init);
  };
}

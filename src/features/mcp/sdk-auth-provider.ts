import type { LoginkitContext } from '../../context.js';
import { LoginkitError } from '../../errors.js';
import type { FetchLike } from '../../net/http.js';
import { bearerChallenge } from '../../oauth/www-authenticate.js';
import { type McpCheckOptions, type McpCheckResult, checkServer } from './check.js';
import { saveConfiguredClient } from './client-identity.js';
import { createMcpFetch } from './fetch.js';
import { mcpLoginRequired } from './server-url.js';
import { signInToServer } from './sign-in.js';
import { logoutOfServer, serverStatus } from './status-and-logout.js';
import { type McpTarget, createTarget, currentAccessToken, storedCredential } from './target.js';
import type { McpLoginOptions, McpLogoutResult, McpStatus } from './types.js';

/**
 * loginkit's side of one MCP server, shaped as the official SDK's `AuthProvider` (`token`, `onUnauthorized`),
 * so `new StreamableHTTPClientTransport(url, { authProvider: kit.mcp(url) })` works: loginkit does the
 * discovery, registration, sign-in, storage and refresh, the SDK only carries the token, as a Bearer token (this
 * route never binds tokens to a DPoP key). For servers that want DPoP and for step-up on `insufficient_scope`,
 * give the transport `fetch: kit.mcp(url).createFetch()` instead.
 */
export interface McpClient {
  /** The MCP server URL (canonical form). */
  readonly url: string;
  /** SDK AuthProvider: the current access token (refreshed when due), or undefined before any sign-in. */
  token(): Promise<string | undefined>;
  /** SDK AuthProvider: the server answered 401. Refreshes once, else signs in again (when interactive). */
  onUnauthorized(context: { response: Response }): Promise<void>;
  /** A fetch for this server that handles every challenge itself (401 refresh/sign-in, 403 step-up, DPoP). */
  createFetch(): FetchLike;
  /** Signs in now (discovery, client identity, the sign-in method, storage). */
  login(): Promise<McpStatus>;
  /** The stored sign-in, or undefined. */
  status(): Promise<McpStatus | undefined>;
  /** Revokes and removes the stored tokens. */
  logout(): Promise<McpLogoutResult>;
  /** Remembers the pre-registered client given in the options (`clientId`, `clientSecret`) for this server. */
  saveClient(): Promise<void>;
  /** Connects with the MCP SDK, initializes, lists the tools and optionally calls one. */
  check(options?: McpCheckOptions): Promise<McpCheckResult>;
}

/** The McpClient of one server. */
export function mcpClient(ctx: LoginkitContext, url: string | URL, options: McpLoginOptions = {}): McpClient {
  const target = createTarget(ctx, url, options);
  return {
    url: target.url.href,
    token: () => currentAccessToken(target),
    onUnauthorized: ({ response }) => recoverFromUnauthorized(target, response),
    createFetch: () => createMcpFetch(target),
    login: () => loginNow(target),
    status: () => serverStatus(target),
    logout: () => logoutOfServer(target),
    saveClient: () => saveConfiguredClient(target),
    check: (checkOptions) => checkServer(target.url, createMcpFetch(target), checkOptions ?? {}),
  };
}

/**
 * The SDK saw a 401: refresh once (when that gives a new token, done), else sign in again when a person is there.
 * The SDK sends Bearer tokens only: a DPoP-bound token is not refreshed but replaced by a Bearer one.
 */
async function recoverFromUnauthorized(target: McpTarget, response: Response): Promise<void> {
  const challenge = bearerChallenge(response);
  const before = await storedCredential(target);
  if (before?.refreshToken && !before.mcp?.dpop) {
    try {
      await target.session.refresh(before, true);
      const after = await storedCredential(target);
      if (after && after.accessToken !== before.accessToken) return;
    } catch (error) {
      if (!(error instanceof LoginkitError) || error.code !== 'login_required') throw error;
    }
  }
  if (target.options.interactive === false) throw mcpLoginRequired(target.url, `The MCP server ${target.url.href} needs a sign-in.`);
  await signInToServer(target, challenge, [], { bearerOnly: true });
}

/** `login()`: remembers a configured client, signs in, and answers with what was stored. */
async function loginNow(target: McpTarget): Promise<McpStatus> {
  await saveConfiguredClient(target);
  const credential = await signInToServer(target);
  const status = await serverStatus(target);
  if (!status) throw new LoginkitError('storage', `The sign-in to ${credential.mcp?.serverUrl ?? target.url.href} was not stored.`);
  return status;
}

import type { LoginkitContext } from '../../context.js';
import { sanitizeServerText } from '../../errors.js';
import type { OAuthCredential } from '../../session/credential.js';
import { mcpSession, mcpStore, storeKey } from './store.js';
import { type McpTarget, storedCredential } from './target.js';
import type { McpLogoutResult, McpStatus } from './types.js';

/** The sign-in's state, or undefined when there is none. */
export async function serverStatus(target: McpTarget): Promise<McpStatus | undefined> {
  const credential = await storedCredential(target);
  return credential ? describeCredential(credential) : undefined;
}

/** Revokes the tokens (refresh token first) and removes them; the registration is kept for next time. */
export async function logoutOfServer(target: McpTarget): Promise<McpLogoutResult> {
  const credential = await storedCredential(target);
  if (!credential) return { serverUrl: target.url.href, revocation: 'not_signed_in' };
  const ending = await target.session.end(credential);
  await mcpStore(target.ctx).update((entries) => {
    const { [storeKey('server', target.url.href)]: _gone, ...rest } = entries;
    return rest;
  });
  return {
    serverUrl: target.url.href,
    revocation: ending.revocation === 'local_only' ? 'unsupported' : ending.revocation,
    ...(ending.revocationError ? { revocationError: ending.revocationError } : {}),
  };
}

/** Every MCP server with a stored sign-in. */
export async function mcpStatusAll(ctx: LoginkitContext): Promise<McpStatus[]> {
  const session = mcpSession(ctx);
  const all = await session.credentials();
  const index = await mcpStore(ctx).read();
  // Credentials a server no longer points to (replaced by a new sign-in) are not shown.
  const current = new Set(
    Object.entries(index)
      .filter(([key]) => key.startsWith('server:'))
      .map(([, id]) => id),
  );
  return all.flatMap((credential) =>
    credential.kind === 'oauth' && current.has(credential.provider) ? [describeCredential(credential)] : [],
  );
}

/** A credential's state; every string a server chose is stripped of control characters (it reaches a terminal). */
function describeCredential(credential: OAuthCredential): McpStatus {
  const mcp = credential.mcp;
  const text = (value: string): string => sanitizeServerText(value, 500);
  return {
    serverUrl: text(mcp?.serverUrl ?? ''),
    resource: mcp?.resource === undefined ? null : text(mcp.resource),
    issuer: text(credential.server.issuer),
    clientId: text(credential.clientId),
    grant: mcp?.grant ?? 'authorization_code',
    tokenType: text(credential.tokenType),
    scopes: credential.scopes.map(text).filter(Boolean),
    expiresAt: credential.expiresAt === null ? null : new Date(credential.expiresAt).toISOString(),
    refreshable: credential.refreshToken !== undefined,
    dpop: mcp?.dpop !== undefined,
  };
}

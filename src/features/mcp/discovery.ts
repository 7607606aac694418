import { ConfigError } from '../../errors.js';
import {
  type ResourceMetadata,
  checkServerMetadata,
  discoverAuthorizationServer,
  discoverResourceMetadata,
  fallbackMetadata,
} from '../../oauth/mcp-discovery.js';
import type { ServerMetadata } from '../../oauth/server.js';
import { type BearerChallenge, bearerChallenge } from '../../oauth/www-authenticate.js';
import { type McpTarget, resourceHttp } from './target.js';
import { usesMachineGrant } from './types.js';

/** The name loginkit gives itself to servers (client name, MCP client info). */
export const CLIENT_NAME = 'loginkit';

/** What discovery found: the protected resource (absent for a 2025-03-26 server) and its authorization server. */
export interface Discovered {
  resource: ResourceMetadata | undefined;
  metadata: ServerMetadata;
}

/** Probes the server without a token: the 401's challenge, or undefined when it answered otherwise. */
export async function probe(target: McpTarget): Promise<BearerChallenge | undefined> {
  const http = resourceHttp(target);
  const response = await http(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: CLIENT_NAME, version: '0' } },
    }),
  });
  await response.body?.cancel().catch(() => undefined);
  return response.status === 401 || response.status === 403 ? bearerChallenge(response) : undefined;
}

/** Discovers the protected resource and its authorization server (a 2025-03-26 server: the origin's). */
export async function discover(target: McpTarget, challenge?: BearerChallenge): Promise<Discovered> {
  const fetch = await target.guarded();
  const requirePkce = !usesMachineGrant(target.options);
  const resource = await discoverResourceMetadata(target.url, challenge?.resourceMetadata, fetch);
  if (resource) {
    const issuer = resource.authorizationServers[0];
    if (!issuer)
      throw new ConfigError(`The MCP server ${target.url.href} names no authorization server in its metadata (${resource.url}).`);
    const metadata = await discoverAuthorizationServer(issuer, fetch, { requirePkce });
    if (!metadata) {
      throw new ConfigError(
        `The authorization server ${issuer} of ${target.url.href} publishes no metadata (RFC 8414 or OpenID Connect discovery).`,
      );
    }
    return { resource, metadata };
  }
  // 2025-03-26: no resource metadata; the MCP server's origin is the authorization server.
  const origin = target.url.origin;
  const metadata = (await discoverAuthorizationServer(origin, fetch, { requirePkce, legacyOrigin: true })) ?? fallbackMetadata(origin);
  checkServerMetadata(metadata, { requirePkce });
  return { resource: undefined, metadata };
}

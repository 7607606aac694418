import type { ResourceMetadata } from '../../oauth/mcp-discovery.js';
import type { ServerMetadata } from '../../oauth/server.js';
import type { BearerChallenge } from '../../oauth/www-authenticate.js';
import { type McpLoginOptions, usesMachineGrant } from './types.js';

/**
 * Scopes to ask for: the options', else the challenge's, else the resource's `scopes_supported`, else none; a
 * step-up replaces them all. `offline_access` only when the server lists it (and always then, for a person).
 */
export function chooseScopes(
  options: McpLoginOptions,
  challenge: BearerChallenge | undefined,
  resource: ResourceMetadata | undefined,
  metadata: ServerMetadata,
  stepUp: readonly string[] | undefined,
): string[] {
  let scopes: string[];
  if (options.scopes && options.scopes.length > 0) scopes = [...options.scopes];
  else if (challenge && challenge.scopes.length > 0) scopes = [...challenge.scopes];
  else scopes = [...(resource?.scopesSupported ?? [])];
  if (stepUp) scopes = [...stepUp];
  const offered = Array.isArray(metadata.scopes_supported) ? metadata.scopes_supported : [];
  const wantsRefresh = !usesMachineGrant(options);
  if (wantsRefresh && offered.includes('offline_access') && !scopes.includes('offline_access')) scopes.push('offline_access');
  if (!offered.includes('offline_access')) scopes = scopes.filter((s) => s !== 'offline_access');
  return scopes;
}

/** Both sets of scopes, each once, in order. */
export function unionScopes(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

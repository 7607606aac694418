import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import type { LoginkitContext } from '../../context.js';
import type { FetchLike } from '../../net/http.js';
import type { OAuthCredential } from '../../session/credential.js';
import { namespacedStore } from '../../session/namespaced-store.js';
import { DEFAULT_RETRY_POLICY } from '../../session/retry.js';
import { TokenSession } from '../../session/token-session.js';
import type { EntryStore } from '../../store/entry-store.js';
import { guardedFetchFor } from './guarded-http.js';

/** The part of the credential store (one entry) that holds MCP credentials, registrations and configured clients. */
export const MCP_STORE_NAMESPACE = 'mcp';

/** A dynamic client registration, kept per authorization server (keyed by its issuer). */
export const RegistrationSchema = z.object({
  issuer: z.string(),
  clientId: z.string(),
  clientSecret: z.optional(z.string()),
  authMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post']),
});
/** A dynamic client registration as stored. */
export type Registration = z.infer<typeof RegistrationSchema>;

/** A pre-registered client, from `--client-id` or config.json. */
export const ConfiguredClientSchema = z.object({
  clientId: z.string(),
  clientSecret: z.optional(z.string()),
  authMethod: z.optional(z.enum(['none', 'client_secret_basic', 'client_secret_post'])),
});
/** A pre-registered client as stored or configured. */
export type ConfiguredClient = z.infer<typeof ConfiguredClientSchema>;

/** The MCP part of a context's credential store (same file, encryption and locks as the rest). */
export function mcpStore(ctx: LoginkitContext): EntryStore {
  return namespacedStore(ctx.store, MCP_STORE_NAMESPACE);
}

/** The MCP credentials of a context: their own part of the credential store, with the full token lifecycle. */
const sessions = new WeakMap<LoginkitContext, TokenSession>();
/** The one TokenSession of a context's MCP credentials, so in-process single-flight covers every server. */
export function mcpSession(ctx: LoginkitContext): TokenSession {
  let session = sessions.get(ctx);
  if (!session) {
    session = new TokenSession({
      store: mcpStore(ctx),
      http: ctx.http,
      timeoutMs: ctx.timeoutMs,
      now: ctx.now,
      retry: DEFAULT_RETRY_POLICY,
      onWarning: ctx.warn,
      httpFor: guardedHttpByServer(ctx),
    });
    sessions.set(ctx, session);
  }
  return session;
}

/** The store key of a server's credential id, a configured client, or a registration. */
export const storeKey = (kind: 'server' | 'client' | 'registration', id: string): string => `${kind}:${encodeURIComponent(id)}`;

/** The credential id of tokens for (authorization server, client, resource). */
export function credentialId(issuer: string, clientId: string, resource: string): string {
  return `mcp-${createHash('sha256').update(`${issuer}\n${clientId}\n${resource}`).digest('hex').slice(0, 20)}`;
}

/** Refresh and revocation go where the authorization server said: guarded like every server-named URL. */
function guardedHttpByServer(ctx: LoginkitContext): (credential: OAuthCredential) => FetchLike {
  const byServer = new Map<string, FetchLike>();
  return (credential) => {
    const serverUrl = credential.mcp?.serverUrl;
    if (!serverUrl) return ctx.http;
    let http = byServer.get(serverUrl);
    if (!http) {
      http = guardedFetchFor(ctx, new URL(serverUrl));
      byServer.set(serverUrl, http);
    }
    return http;
  };
}

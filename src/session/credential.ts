import * as z from 'zod/mini';
import { StorageError } from '../errors.js';
import type { ServerMetadata } from '../oauth/server.js';
import type { TokenResult } from '../oauth/tokens.js';
import { type McpBinding, McpBindingSchema } from './mcp-binding.js';

const AccountSchema = z.object({
  subject: z.string(),
  email: z.optional(z.string()),
  name: z.optional(z.string()),
  plan: z.optional(z.string()),
  workspace: z.optional(z.string()),
});

const ApiKeyCredentialSchema = z.object({
  kind: z.literal('api_key'),
  provider: z.string(),
  profile: z.string(),
  key: z.string(),
  /** Whether the provider accepted the key when it was stored (false: stored with --no-verify or imported). */
  verified: z.boolean(),
  obtainedAt: z.number(),
  /** Where it came from when not typed in: e.g. `codex auth.json`. */
  origin: z.optional(z.string()),
});

/** A stored API key. */
export type ApiKeyCredential = z.infer<typeof ApiKeyCredentialSchema>;

const LinkedFileSchema = z.object({
  tool: z.enum(['codex', 'opencode']),
  /** The file's absolute path, as found at import. */
  file: z.string(),
  /** opencode: the provider key inside the file (e.g. `openai`). */
  entry: z.optional(z.string()),
  /** A fingerprint of the refresh token last seen in (or written to) the file: the file has not changed while it is there. */
  seen: z.optional(z.string()),
  /** loginkit holds newer tokens than the file and could not write them back yet: it tries again on the next use. */
  pending: z.optional(z.literal(true)),
  /** The tool's file is gone, or the tool signed out there: loginkit keeps its own copy and writes nothing back. */
  detached: z.optional(z.enum(['missing', 'signed-out'])),
});

/** Which tool's file a linked credential follows (see linked-file.ts). */
export type LinkedFile = z.infer<typeof LinkedFileSchema>;

const OAuthCredentialSchema = z.object({
  kind: z.literal('oauth'),
  provider: z.string(),
  profile: z.string(),
  clientId: z.string(),
  /** The server the tokens came from, so refresh and revocation need no discovery. */
  server: z.looseObject({ issuer: z.string(), token_endpoint: z.string() }),
  /** Refresh and revocation take JSON bodies (OpenAI). */
  jsonBodies: z.optional(z.boolean()),
  accessToken: z.string(),
  refreshToken: z.optional(z.string()),
  idToken: z.optional(z.string()),
  tokenType: z.string(),
  scopes: z.array(z.string()),
  expiresAt: z.nullable(z.number()),
  obtainedAt: z.number(),
  account: z.optional(AccountSchema),
  /** An API key obtained with the sign-in (token exchange), handed out by `exec`. */
  apiKey: z.optional(z.string()),
  /** Imported from another tool and linked to its file (see linked-file.ts). */
  link: z.optional(LinkedFileSchema),
  /** For an MCP server: what binds the tokens to it (see mcp-binding.ts). */
  mcp: z.optional(McpBindingSchema),
});

/** A stored OAuth credential: tokens plus what is needed to refresh and revoke them. */
export type OAuthCredential = TokenResult & {
  readonly kind: 'oauth';
  readonly provider: string;
  readonly profile: string;
  readonly clientId: string;
  /** The server the tokens came from, so refresh and revocation need no discovery. */
  readonly server: ServerMetadata;
  /** Refresh and revocation take JSON bodies (OpenAI). */
  readonly jsonBodies?: boolean | undefined;
  /** An API key obtained with the sign-in (token exchange), handed out by `exec`. */
  readonly apiKey?: string | undefined;
  /** Imported from another tool and linked to its file: that file is read on every use and written back on refresh. */
  readonly link?: LinkedFile | undefined;
  /** For an MCP server: resource, client authentication and DPoP key the tokens are bound to. */
  readonly mcp?: McpBinding | undefined;
};

/** Any stored credential. */
export type Credential = OAuthCredential | ApiKeyCredential;

/** The profile used when none is named. */
export const DEFAULT_PROFILE = 'default';

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why `name` cannot be a profile name, or undefined. */
export function profileProblem(name: string): string | undefined {
  return PROFILE_NAME.test(name) ? undefined : `profile "${name}" must be 1–64 of A-Z a-z 0-9 . _ - and start with a letter or digit`;
}

/** Whether a stored entry is an OAuth credential with a refresh token: one that a refresh may be rewriting. */
export function holdsRefreshToken(value: unknown): boolean {
  const entry = value as { kind?: unknown; refreshToken?: unknown } | null;
  return typeof entry === 'object' && entry !== null && entry.kind === 'oauth' && typeof entry.refreshToken === 'string';
}

/** The store key that remembers a provider's active profile (not a credential). */
export function activeProfileKey(provider: string): string {
  return `active:${provider}`;
}

/** The store key of a provider's credential for one profile. */
export function credentialKey(provider: string, profile: string = DEFAULT_PROFILE): string {
  return `${provider}/${profile}`;
}

/** The credential stored under `key`, validated; undefined when there is none. */
export function parseCredential(value: unknown, key: string, storePath: string): Credential | undefined {
  if (value === undefined) return undefined;
  if ((value as { kind?: unknown }).kind === 'api_key') {
    const apiKey = ApiKeyCredentialSchema.safeParse(value);
    if (apiKey.success) return apiKey.data;
    throw damaged(key, storePath);
  }
  const parsed = OAuthCredentialSchema.safeParse(value);
  if (!parsed.success) throw damaged(key, storePath);
  const data = parsed.data;
  return {
    ...data,
    server: data.server as ServerMetadata,
    refreshToken: data.refreshToken,
    idToken: data.idToken,
    account: data.account,
  };
}

function damaged(key: string, storePath: string): StorageError {
  return new StorageError(
    storePath,
    `The credential "${key}" in ${storePath} is damaged and cannot be used.\nSign in again: loginkit login ${key.split('/')[0]}`,
  );
}

/** A new credential from a fresh sign-in or refresh. */
export function toCredential(
  base: Pick<OAuthCredential, 'provider' | 'profile' | 'clientId' | 'server' | 'jsonBodies' | 'apiKey' | 'link' | 'mcp'>,
  tokens: TokenResult,
): OAuthCredential {
  return {
    ...(base.apiKey ? { apiKey: base.apiKey } : {}),
    ...(base.link ? { link: base.link } : {}),
    ...(base.mcp ? { mcp: base.mcp } : {}),
    kind: 'oauth',
    provider: base.provider,
    profile: base.profile,
    clientId: base.clientId,
    server: base.server,
    ...(base.jsonBodies ? { jsonBodies: true } : {}),
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    idToken: tokens.idToken,
    tokenType: tokens.tokenType,
    scopes: tokens.scopes,
    expiresAt: tokens.expiresAt,
    obtainedAt: tokens.obtainedAt,
    account: tokens.account,
  };
}

/** The JSON form kept in the store (undefined fields dropped). */
export function serializeCredential(credential: Credential): Record<string, unknown> {
  return JSON.parse(JSON.stringify(credential)) as Record<string, unknown>;
}

const FIVE_MINUTES = 5 * 60_000;

/**
 * Whether to refresh before use: when less than min(5 minutes, half the token's lifetime) remains. The
 * margin also absorbs clock skew between this machine and the server, so an expired token is never used.
 */
export function needsRefresh(credential: Pick<OAuthCredential, 'expiresAt' | 'obtainedAt'>, now: number): boolean {
  if (credential.expiresAt === null) return false;
  const lifetime = Math.max(0, credential.expiresAt - credential.obtainedAt);
  return credential.expiresAt - now < Math.min(FIVE_MINUTES, lifetime / 2);
}

/** Whether the access token has not yet expired (with a small allowance for clock skew). */
export function isAccessTokenUsable(credential: Pick<OAuthCredential, 'expiresAt' | 'obtainedAt'>, now: number): boolean {
  if (credential.expiresAt === null) return true;
  const lifetime = Math.max(0, credential.expiresAt - credential.obtainedAt);
  return credential.expiresAt - now > Math.min(30_000, lifetime / 10);
}

/** True when `a` and `b` hold the same tokens (so nobody replaced `a` meanwhile). */
export function sameTokens(a: Credential | undefined, b: OAuthCredential | undefined): boolean {
  return a?.kind === 'oauth' && a.accessToken === b?.accessToken && a.refreshToken === b?.refreshToken;
}

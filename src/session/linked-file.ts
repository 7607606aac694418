// Linked imports: an OAuth sign-in imported from another tool whose refresh token rotates (Codex's
// auth.json, opencode's ChatGPT login) is not copied but linked. The tool's file stays the source of truth:
// loginkit reads it on every use (adopting tokens the tool refreshed), refreshes under its own lock when
// due, and writes the new tokens back atomically in the tool's own format, every other field intact. So
// neither tool ever redeems a refresh token the other already used. When the file disappears (the tool
// logged out or was uninstalled), loginkit goes on with its own copy of the latest tokens and never
// recreates the file; when a file appears again, its tokens are adopted.
import { readFile, stat } from 'node:fs/promises';
import { decodeJwt } from 'jose/jwt/decode';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../shared/atomic-file.js';
import type { LinkedFile } from './credential.js';

/** Tokens as the tool's file holds them now. */
export interface LinkedTokens {
  accessToken: string;
  refreshToken: string | undefined;
  idToken: string | undefined;
  /** Absolute, ms since the epoch; null when the file does not say (and the access token is no JWT). */
  expiresAt: number | null;
}

/** Credentials files are small; anything bigger is not the tool's. */
const MAX_FILE_BYTES = 1024 * 1024;

const CodexFile = z.looseObject({
  tokens: z.nullish(z.looseObject({ access_token: z.string(), refresh_token: z.optional(z.string()), id_token: z.optional(z.string()) })),
});

const OpencodeEntry = z.looseObject({
  type: z.literal('oauth'),
  access: z.string(),
  refresh: z.string(),
  expires: z.number(),
});

/**
 * The tokens the tool's file holds, or undefined when the file is gone, holds no such sign-in any more, or
 * cannot be read as the tool's format (then loginkit's own copy is used, and the file is left alone).
 */
export async function readLinkedTokens(link: LinkedFile): Promise<LinkedTokens | undefined> {
  const json = await readJson(link.file);
  if (json === undefined) return undefined;
  if (link.tool === 'codex') {
    const parsed = CodexFile.safeParse(json);
    const tokens = parsed.success ? parsed.data.tokens : undefined;
    if (!tokens) return undefined;
    return {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token || undefined,
      idToken: tokens.id_token || undefined,
      expiresAt: jwtExpiry(tokens.access_token),
    };
  }
  const entry = OpencodeEntry.safeParse((json as Record<string, unknown>)[link.entry ?? 'openai']);
  if (!entry.success) return undefined;
  return { accessToken: entry.data.access, refreshToken: entry.data.refresh, idToken: undefined, expiresAt: entry.data.expires };
}

/**
 * Writes refreshed tokens into the tool's file in its own format, keeping every other field, atomically
 * (temporary file, fsync, rename). Returns false, writing nothing, when the file is gone: loginkit never
 * recreates a file the tool removed.
 */
export async function writeLinkedTokens(link: LinkedFile, tokens: LinkedTokens, now: number): Promise<boolean> {
  const json = await readJson(link.file);
  if (json === undefined || typeof json !== 'object' || json === null) return false;
  const file = json as Record<string, unknown>;
  let updated: Record<string, unknown>;
  if (link.tool === 'codex') {
    const previous = (file.tokens ?? {}) as Record<string, unknown>;
    updated = {
      ...file,
      tokens: {
        ...previous,
        access_token: tokens.accessToken,
        ...(tokens.refreshToken ? { refresh_token: tokens.refreshToken } : {}),
        ...(tokens.idToken ? { id_token: tokens.idToken } : {}),
      },
      // Codex decides when to refresh from last_refresh (RFC 3339, UTC).
      last_refresh: new Date(now).toISOString(),
    };
  } else {
    const name = link.entry ?? 'openai';
    const previous = (file[name] ?? {}) as Record<string, unknown>;
    updated = {
      ...file,
      [name]: {
        ...previous,
        type: 'oauth',
        access: tokens.accessToken,
        ...(tokens.refreshToken ? { refresh: tokens.refreshToken } : {}),
        // opencode refreshes when `expires` (ms) has passed; an unknown expiry makes it refresh on next use.
        expires: tokens.expiresAt ?? now,
      },
    };
  }
  await writeFileAtomic(link.file, `${JSON.stringify(updated, null, 2)}\n`);
  return true;
}

/** The file parsed as JSON; undefined when it is missing, too large or not JSON. */
async function readJson(path: string): Promise<unknown> {
  try {
    if ((await stat(path)).size > MAX_FILE_BYTES) return undefined;
    return JSON.parse((await readFile(path, 'utf8')).replace(/^\uFEFF/, '')) as unknown;
  } catch {
    return undefined;
  }
}

/** The `exp` of a JWT in ms, read without verifying (only to know when to refresh); null if not a JWT. */
function jwtExpiry(token: string): number | null {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

// Linked imports: an OAuth sign-in imported from another tool whose refresh token rotates (Codex's
// auth.json, opencode's ChatGPT login) is not copied but linked. The tool's file stays the source of truth:
// loginkit reads it on every use (adopting tokens the tool refreshed, never older ones), refreshes under its
// own lock and the tool's when due, and writes the new tokens back atomically, changing only those values
// in the file's text. So neither tool ever redeems a refresh token the other already used. When the file
// cannot be read at that moment (the tool is rewriting it), the write-back is retried on the next use.
// When the file disappears, or the tool signed out (its entry removed), loginkit goes on with its own copy
// of the latest tokens and never writes them back there; when tokens appear again, they are adopted.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decodeJwt } from 'jose/jwt/decode';
import * as z from 'zod/mini';
import { LoginkitError } from '../errors.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { errorCode } from '../shared/errno.js';
import { assertSafeToRead } from '../shared/file-safety.js';
import { type JsonEdit, spliceJson } from '../shared/json-splice.js';
import type { LinkedFile, OAuthCredential } from './credential.js';
import { withToolLock } from './tool-lock.js';

/** Tokens as the tool's file holds them now. */
export interface LinkedTokens {
  accessToken: string;
  refreshToken: string | undefined;
  idToken: string | undefined;
  /**
   * Absolute, ms since the epoch; null when neither the file nor the access token says. For a Codex access
   * token that is no JWT, when Codex itself would refresh: `last_refresh` plus 8 days.
   */
  expiresAt: number | null;
  /** Codex's `last_refresh`, ms since the epoch, when the file has one. */
  lastRefresh?: number | undefined;
}

/**
 * What the tool's file holds now: its tokens; `missing` (no file: the tool logged out or was uninstalled);
 * `signed-out` (the file is there but the sign-in entry is gone); `unreadable` (not the tool's format at the
 * moment: it may be rewriting the file in place); `unsafe` (it fails the owner and mode checks loginkit
 * applies to its own store; `problem` says why and how to fix it).
 */
export type LinkedRead =
  | { state: 'tokens'; tokens: LinkedTokens }
  | { state: 'missing' }
  | { state: 'signed-out' }
  | { state: 'unreadable' }
  | { state: 'unsafe'; problem: string };

/** Codex refreshes a token whose expiry it cannot read 8 days after `last_refresh` (TOKEN_REFRESH_INTERVAL in codex-rs/login). */
const CODEX_REFRESH_INTERVAL_MS = 8 * 24 * 60 * 60 * 1000;

/** Credentials files are small; anything bigger is not the tool's. */
const MAX_FILE_BYTES = 1024 * 1024;

const CodexTokens = z.looseObject({ access_token: z.string(), refresh_token: z.optional(z.string()), id_token: z.optional(z.string()) });
const CodexFile = z.looseObject({ tokens: z.nullish(z.unknown()), last_refresh: z.nullish(z.string()) });

const OpencodeEntry = z.looseObject({
  type: z.literal('oauth'),
  access: z.string(),
  refresh: z.string(),
  expires: z.number(),
});

/** A fingerprint of a refresh token, kept to recognise it in the file again without storing it twice. */
export function tokenFingerprint(token: string | undefined): string {
  return createHash('sha256')
    .update(token ?? '')
    .digest('base64url');
}

/** The lock the tool takes around writing its file, or undefined when it takes none (opencode). */
export function toolLockPath(link: LinkedFile): string | undefined {
  return link.tool === 'codex' ? join(dirname(link.file), 'auth.json.lock') : undefined;
}

/** Runs `task` holding the tool's own lock on its file (see tool-lock.ts), where the tool takes one. */
export function withLinkedFileLock<T>(link: LinkedFile, task: () => Promise<T>, onWarning: (message: string) => void): Promise<T> {
  const lockPath = toolLockPath(link);
  return lockPath ? withToolLock(lockPath, task, onWarning) : task();
}

/** What the tool's file holds now (see {@link LinkedRead}). */
export async function readLinkedFile(link: LinkedFile): Promise<LinkedRead> {
  const text = await readLinkedText(link.file);
  return typeof text === 'string' ? tokensIn(link, text) : text;
}

/**
 * Why loginkit will not link `file` (it fails the owner and mode checks of loginkit's own store), or
 * undefined when it may. A missing file is no reason here: the import that found it says so.
 */
export async function linkProblem(file: string): Promise<string | undefined> {
  const text = await readLinkedText(file);
  return typeof text !== 'string' && text.state === 'unsafe' ? text.problem : undefined;
}

/**
 * Writes refreshed tokens into the tool's file, replacing only those values in its text (every other byte
 * stays), atomically (temporary file, fsync, rename). Writes nothing unless the file holds the sign-in now:
 * the state it found instead is returned (`written` when done). Throws when the write itself fails.
 */
export async function writeLinkedTokens(link: LinkedFile, tokens: LinkedTokens, now: number): Promise<'written' | LinkedRead['state']> {
  const text = await readLinkedText(link.file);
  if (typeof text !== 'string') return text.state;
  const found = tokensIn(link, text);
  if (found.state !== 'tokens') return found.state;
  await writeFileAtomic(link.file, spliceJson(text, editsFor(link, tokens, now)));
  return 'written';
}

/**
 * Whether the file's tokens are older than `held` (the ones loginkit holds), so must not be adopted. They
 * are when the file still holds the refresh token loginkit saw last (it has not changed since), when its
 * `last_refresh` is before loginkit obtained its tokens, or when its access token was issued or expires
 * before loginkit's (compared only when both are JWTs).
 */
export function isOlderThanHeld(found: LinkedTokens, held: OAuthCredential, seen: string | undefined): boolean {
  if (seen !== undefined && tokenFingerprint(found.refreshToken) === seen) return true;
  if (found.lastRefresh !== undefined && found.lastRefresh < held.obtainedAt) return true;
  const [theirs, ours] = [jwtClaims(found.accessToken), jwtClaims(held.accessToken)];
  if (theirs?.iat !== undefined && ours?.iat !== undefined && theirs.iat !== ours.iat) return theirs.iat < ours.iat;
  return theirs?.exp !== undefined && ours?.exp !== undefined && theirs.exp < ours.exp;
}

function editsFor(link: LinkedFile, tokens: LinkedTokens, now: number): JsonEdit[] {
  if (link.tool === 'codex') {
    return [
      { path: ['tokens', 'access_token'], value: tokens.accessToken },
      ...(tokens.refreshToken ? [{ path: ['tokens', 'refresh_token'], value: tokens.refreshToken }] : []),
      ...(tokens.idToken ? [{ path: ['tokens', 'id_token'], value: tokens.idToken }] : []),
      // Codex decides when to refresh a token it cannot read from last_refresh (RFC 3339, UTC).
      { path: ['last_refresh'], value: new Date(now).toISOString() },
    ];
  }
  const name = link.entry ?? 'openai';
  return [
    { path: [name, 'access'], value: tokens.accessToken },
    ...(tokens.refreshToken ? [{ path: [name, 'refresh'], value: tokens.refreshToken }] : []),
    // opencode refreshes when `expires` (ms) has passed; an unknown expiry makes it refresh on next use.
    { path: [name, 'expires'], value: tokens.expiresAt ?? now },
  ];
}

function tokensIn(link: LinkedFile, text: string): LinkedRead {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return { state: 'unreadable' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { state: 'unreadable' };
  return link.tool === 'codex' ? codexTokens(json) : opencodeTokens(json as Record<string, unknown>, link.entry ?? 'openai');
}

function codexTokens(json: object): LinkedRead {
  const file = CodexFile.safeParse(json);
  if (!file.success) return { state: 'unreadable' };
  // `codex login --api-key` and a logout that keeps the file leave no tokens: signed out of ChatGPT there.
  if (file.data.tokens == null) return { state: 'signed-out' };
  const tokens = CodexTokens.safeParse(file.data.tokens);
  if (!tokens.success) return { state: 'unreadable' };
  const lastRefresh = file.data.last_refresh ? Date.parse(file.data.last_refresh) : Number.NaN;
  const refreshedAt = Number.isFinite(lastRefresh) ? lastRefresh : undefined;
  const expiry = jwtClaims(tokens.data.access_token)?.exp;
  return {
    state: 'tokens',
    tokens: {
      accessToken: tokens.data.access_token,
      refreshToken: tokens.data.refresh_token || undefined,
      idToken: tokens.data.id_token || undefined,
      expiresAt: expiry !== undefined ? expiry * 1000 : refreshedAt !== undefined ? refreshedAt + CODEX_REFRESH_INTERVAL_MS : null,
      lastRefresh: refreshedAt,
    },
  };
}

function opencodeTokens(json: Record<string, unknown>, name: string): LinkedRead {
  const value = json[name];
  // `opencode auth logout` removes the entry; a new `auth login` with an API key replaces it.
  if (typeof value !== 'object' || value === null || (value as { type?: unknown }).type !== 'oauth') return { state: 'signed-out' };
  const entry = OpencodeEntry.safeParse(value);
  if (!entry.success) return { state: 'unreadable' };
  const { access, refresh, expires } = entry.data;
  return { state: 'tokens', tokens: { accessToken: access, refreshToken: refresh, idToken: undefined, expiresAt: expires } };
}

/** The file's text, once it passes the checks loginkit applies to its own store; else why not. */
async function readLinkedText(path: string): Promise<string | Exclude<LinkedRead, { state: 'tokens' }>> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size > MAX_FILE_BYTES) return { state: 'unreadable' };
    try {
      assertSafeToRead(path, stats);
    } catch (error) {
      if (error instanceof LoginkitError) return { state: 'unsafe', problem: error.message };
      throw error;
    }
    return await handle.readFile('utf8');
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? { state: 'missing' } : { state: 'unreadable' };
  } finally {
    await handle?.close();
  }
}

/** The `iat` and `exp` of a JWT (seconds), read without verifying (only to compare and schedule); undefined if not a JWT. */
function jwtClaims(token: string): { iat?: number; exp?: number } | undefined {
  try {
    const { iat, exp } = decodeJwt(token);
    return {
      ...(typeof iat === 'number' && Number.isFinite(iat) ? { iat } : {}),
      ...(typeof exp === 'number' && Number.isFinite(exp) ? { exp } : {}),
    };
  } catch {
    return undefined;
  }
}

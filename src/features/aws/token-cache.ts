import * as z from 'zod/mini';
import { StorageError } from '../../errors.js';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { readRegularFileSync } from '../../shared/bounded-read.js';
import { describeFsError, errorCode } from '../../shared/errno.js';
import { assertSafeToRead } from '../../shared/file-safety.js';

// The SSO token cache that the AWS CLI v2 and every AWS SDK share (`~/.aws/sso/cache/<sha1>.json`):
// loginkit reads it before every use and every refresh, and writes a sign-in or a refresh back in the same
// format, so `aws sso login` and `loginkit login` are interchangeable.

/** More than any token cache file; a larger one is not one. */
const MAX_CACHE_FILE_BYTES = 64 * 1024;

const CacheFileSchema = z.looseObject({
  startUrl: z.optional(z.string()),
  region: z.optional(z.string()),
  accessToken: z.string().check(z.minLength(1)),
  expiresAt: z.string(),
  refreshToken: z.optional(z.string()),
  clientId: z.optional(z.string()),
  clientSecret: z.optional(z.string()),
  registrationExpiresAt: z.optional(z.string()),
});

/** An SSO session as both tools keep it: times in ms since the epoch. */
export interface SsoSessionTokens {
  readonly startUrl: string;
  readonly region: string;
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly refreshToken: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly registrationExpiresAt: number | undefined;
}

/** What the cache file held: the session, and the fields loginkit does not know (kept on write-back). */
export interface CachedSession {
  readonly tokens: SsoSessionTokens;
  readonly extra: Readonly<Record<string, unknown>>;
}

/**
 * The session in the cache file, or undefined when there is none (no file, another start URL, or a file
 * that is not a token cache). A file others can change or read is refused with the command that fixes it.
 */
export async function readTokenCache(file: string, startUrl: string): Promise<CachedSession | undefined> {
  let text: string;
  try {
    // Never waits on a FIFO nor reads a device: regular files only, at most the cap.
    const { bytes, stats } = readRegularFileSync(file, MAX_CACHE_FILE_BYTES);
    assertSafeToRead(file, stats);
    text = bytes.toString('utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (error instanceof StorageError) throw error;
    throw new StorageError(file, `Cannot read ${file}: ${describeFsError(error)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The AWS CLI rewrites the file in place now and then: a moment when it does not parse is no session.
    return undefined;
  }
  const parsed = CacheFileSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const {
    startUrl: fileStartUrl,
    region,
    accessToken,
    expiresAt,
    refreshToken,
    clientId,
    clientSecret,
    registrationExpiresAt,
    ...extra
  } = parsed.data;
  if (fileStartUrl !== undefined && fileStartUrl !== startUrl) return undefined;
  const expires = Date.parse(expiresAt);
  if (Number.isNaN(expires)) return undefined;
  const registrationExpires = registrationExpiresAt === undefined ? undefined : Date.parse(registrationExpiresAt);
  return {
    tokens: {
      startUrl,
      region: region ?? '',
      accessToken,
      expiresAt: expires,
      refreshToken,
      clientId,
      clientSecret,
      registrationExpiresAt: registrationExpires === undefined || Number.isNaN(registrationExpires) ? undefined : registrationExpires,
    },
    extra,
  };
}

/** Writes the session into the cache file atomically (0600), in the AWS CLI's format, keeping fields it does not know. */
export async function writeTokenCache(
  file: string,
  tokens: SsoSessionTokens,
  extra: Readonly<Record<string, unknown>> = {},
): Promise<void> {
  const document: Record<string, unknown> = {
    ...extra,
    startUrl: tokens.startUrl,
    region: tokens.region,
    accessToken: tokens.accessToken,
    expiresAt: awsTime(tokens.expiresAt),
    ...(tokens.clientId ? { clientId: tokens.clientId } : {}),
    ...(tokens.clientSecret ? { clientSecret: tokens.clientSecret } : {}),
    ...(tokens.registrationExpiresAt ? { registrationExpiresAt: awsTime(tokens.registrationExpiresAt) } : {}),
    ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
  };
  await writeFileAtomic(file, `${JSON.stringify(document)}\n`);
}

/** Removes the cache file of a session that was signed out (nothing to remove is fine). */
export async function removeTokenCache(file: string): Promise<void> {
  const { rm } = await import('node:fs/promises');
  await rm(file, { force: true });
}

/** A time as the AWS CLI writes it: ISO 8601 in UTC without milliseconds. */
function awsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

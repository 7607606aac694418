import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import type { LoginkitContext } from '../../context.js';
import { ConfigError, LoginRequiredError, LoginkitError, NetworkError } from '../../errors.js';
import { type AwsClients, awsClients } from './sdk-clients.js';
import type { AwsTarget } from './settings.js';
import { type CachedSession, type SsoSessionTokens, readTokenCache, writeTokenCache } from './token-cache.js';
import { createSingleFlight } from '../../shared/single-flight.js';

// The life of an AWS provider's credentials: the IAM Identity Center session (an SSO access token and its
// rotating refresh token, shared with the AWS CLI through its token cache file) and the role credentials
// made from it. Both are refreshed before they expire, once across processes (store locks), and kept in
// loginkit's store, encrypted like every other credential.

/** Refresh this long before expiry (what the AWS SDKs do for SSO tokens), or at half the lifetime of a shorter-lived one. */
const REFRESH_MARGIN_MS = 5 * 60_000;

const SessionSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.optional(z.string()),
  expiresAt: z.number(),
  clientId: z.optional(z.string()),
  clientSecret: z.optional(z.string()),
  registrationExpiresAt: z.optional(z.number()),
  obtainedAt: z.number(),
});

const RoleSchema = z.object({
  accountId: z.string(),
  roleName: z.string(),
  roleArn: z.optional(z.string()),
  accessKeyId: z.string(),
  secretAccessKey: z.string(),
  sessionToken: z.string(),
  expiresAt: z.number(),
  obtainedAt: z.number(),
});

const AwsEntrySchema = z.object({
  kind: z.literal('aws'),
  provider: z.string(),
  startUrl: z.string(),
  ssoRegion: z.string(),
  session: z.optional(SessionSchema),
  role: z.optional(RoleSchema),
});

/** An IAM Identity Center session as loginkit stores it (times in ms since the epoch). */
export type StoredSsoSession = z.infer<typeof SessionSchema>;
/** Role credentials as loginkit stores them. */
export type RoleCredentials = z.infer<typeof RoleSchema>;
/** What loginkit stores for one AWS provider. */
export type AwsEntry = z.infer<typeof AwsEntrySchema>;

/** The store key of an AWS provider's entry (not a `provider/profile` credential key: AWS providers have no profiles). */
export function awsEntryKey(providerId: string): string {
  return `aws:${providerId}`;
}

/** The lock that one refresh of the SSO session holds, shared by every provider on that session. */
function sessionLock(target: AwsTarget): string {
  return `refresh-aws-sso-${createHash('sha256').update(target.cacheFile).digest('hex').slice(0, 32)}`;
}

/** The stored entry for `target`'s provider, or undefined (a damaged one is a StorageError naming the fix). */
export async function readAwsEntry(ctx: LoginkitContext, target: AwsTarget, fresh = false): Promise<AwsEntry | undefined> {
  const value = (await ctx.store.read({ fresh }))[awsEntryKey(target.providerId)];
  if (value === undefined) return undefined;
  const parsed = AwsEntrySchema.safeParse(value);
  if (!parsed.success) {
    throw new LoginRequiredError(target.providerId, `The stored AWS sign-in for "${target.providerId}" is damaged and cannot be used.`);
  }
  // Another start URL or region in config.json now: the stored session is for an account no longer configured.
  return parsed.data.startUrl === target.startUrl && parsed.data.ssoRegion === target.ssoRegion ? parsed.data : undefined;
}

/** Saves `change(entry)` as the provider's entry, from the freshest one. */
async function updateAwsEntry(ctx: LoginkitContext, target: AwsTarget, change: (entry: AwsEntry) => AwsEntry): Promise<void> {
  const key = awsEntryKey(target.providerId);
  await ctx.store.update((entries) => {
    const parsed = AwsEntrySchema.safeParse(entries[key]);
    const current: AwsEntry =
      parsed.success && parsed.data.startUrl === target.startUrl
        ? parsed.data
        : { kind: 'aws', provider: target.providerId, startUrl: target.startUrl, ssoRegion: target.ssoRegion };
    return { ...entries, [key]: JSON.parse(JSON.stringify(change(current))) as unknown };
  });
}

/** Stores a new session (a sign-in) for the provider, drops its old role credentials, and writes the AWS CLI's cache file. */
export async function saveNewSession(ctx: LoginkitContext, target: AwsTarget, session: StoredSsoSession): Promise<void> {
  await ctx.store.withLock(sessionLock(target), async () => {
    await updateAwsEntry(ctx, target, (entry) => ({
      kind: 'aws',
      provider: entry.provider,
      startUrl: target.startUrl,
      ssoRegion: target.ssoRegion,
      session,
    }));
    await writeCache(ctx, target, session, await readCacheQuietly(ctx, target));
  });
}

/** The newer of loginkit's session and the AWS CLI's cache file's (the one that expires later). */
function newestSession(stored: StoredSsoSession | undefined, cached: CachedSession | undefined, now: number): StoredSsoSession | undefined {
  const fromFile = cached ? fromCache(cached.tokens, now, stored) : undefined;
  if (!fromFile) return stored;
  if (!stored) return fromFile;
  return fromFile.expiresAt > stored.expiresAt ? fromFile : stored;
}

function fromCache(tokens: SsoSessionTokens, now: number, stored: StoredSsoSession | undefined): StoredSsoSession {
  const same = stored?.accessToken === tokens.accessToken;
  return {
    accessToken: tokens.accessToken,
    ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
    expiresAt: tokens.expiresAt,
    ...(tokens.clientId ? { clientId: tokens.clientId } : {}),
    ...(tokens.clientSecret ? { clientSecret: tokens.clientSecret } : {}),
    ...(tokens.registrationExpiresAt ? { registrationExpiresAt: tokens.registrationExpiresAt } : {}),
    // The file does not say when the token was issued: count it as at least an hour old, so the usual
    // five-minute margin applies (IAM Identity Center's tokens last an hour or more).
    obtainedAt: same && stored ? stored.obtainedAt : Math.min(now, tokens.expiresAt - 3600_000),
  };
}

/** The cache file's session; a file that cannot be used is a warning, never the end of loginkit's own session. */
async function readCacheQuietly(ctx: LoginkitContext, target: AwsTarget): Promise<CachedSession | undefined> {
  try {
    return await readTokenCache(target.cacheFile, target.startUrl);
  } catch (error) {
    ctx.warn(`${(error as Error).message.split('\n').join(' ')} The AWS CLI's sign-in there is not used.`);
    return undefined;
  }
}

async function writeCache(
  ctx: LoginkitContext,
  target: AwsTarget,
  session: StoredSsoSession,
  previous: CachedSession | undefined,
): Promise<void> {
  try {
    await writeTokenCache(
      target.cacheFile,
      {
        startUrl: target.startUrl,
        region: target.ssoRegion,
        accessToken: session.accessToken,
        expiresAt: session.expiresAt,
        refreshToken: session.refreshToken,
        clientId: session.clientId,
        clientSecret: session.clientSecret,
        registrationExpiresAt: session.registrationExpiresAt,
      },
      previous?.extra,
    );
  } catch (error) {
    ctx.warn(`${(error as Error).message.split('\n')[0]} The AWS CLI will not see this sign-in (loginkit keeps it).`);
  }
}

/** What is known about the provider's session without any request: for status. */
export async function currentSession(
  ctx: LoginkitContext,
  target: AwsTarget,
): Promise<{ session: StoredSsoSession | undefined; role: RoleCredentials | undefined; fromCacheFile: boolean }> {
  const [entry, cached] = await Promise.all([readAwsEntry(ctx, target), readCacheQuietly(ctx, target)]);
  const session = newestSession(entry?.session, cached, ctx.now());
  const role = entry?.role?.accountId === target.accountId && entry.role.roleName === target.roleName ? entry.role : undefined;
  return { session, role, fromCacheFile: session !== undefined && session.accessToken !== entry?.session?.accessToken };
}

/** Per process: one refresh of a session or of role credentials at a time, shared by every caller. */
const singleFlight = createSingleFlight();

/** Whether something that expires at `held.expiresAt` is due for renewal: less than min(5 minutes, half its lifetime) left. */
function needsRefresh(held: { expiresAt: number; obtainedAt: number }, now: number): boolean {
  const lifetime = Math.max(0, held.expiresAt - held.obtainedAt);
  return held.expiresAt - now < Math.min(REFRESH_MARGIN_MS, lifetime / 2);
}

/** Role credentials valid for at least the refresh margin: stored ones, or new ones made from the SSO session. */
export async function freshRoleCredentials(ctx: LoginkitContext, target: AwsTarget): Promise<RoleCredentials> {
  const stored = (await readAwsEntry(ctx, target))?.role;
  if (stored && matchesRole(stored, target) && !needsRefresh(stored, ctx.now())) return stored;
  return singleFlight(`role:${target.providerId}`, () =>
    ctx.store.withLock(`refresh-${awsEntryKey(target.providerId)}`, async () => {
      // Another process may have made new ones while we waited for the lock.
      const latest = (await readAwsEntry(ctx, target, true))?.role;
      if (latest && matchesRole(latest, target) && !needsRefresh(latest, ctx.now())) return latest;
      const clients = await awsClients(target, ctx.http);
      const session = await freshSession(ctx, target, clients);
      const role = await roleCredentialsFrom(ctx, target, clients, session);
      await updateAwsEntry(ctx, target, (entry) => ({ ...entry, role }));
      return role;
    }),
  );
}

function matchesRole(role: RoleCredentials, target: AwsTarget): boolean {
  return role.accountId === target.accountId && role.roleName === target.roleName && role.roleArn === target.chainedRole?.roleArn;
}

/** A valid SSO access token: the newest of loginkit's and the cache file's, refreshed (rotating its refresh token) when due. */
async function freshSession(ctx: LoginkitContext, target: AwsTarget, clients: AwsClients): Promise<StoredSsoSession> {
  const [entry, cached] = await Promise.all([readAwsEntry(ctx, target), readCacheQuietly(ctx, target)]);
  const known = newestSession(entry?.session, cached, ctx.now());
  if (known && !needsRefresh(known, ctx.now())) return known;
  return singleFlight(`session:${target.cacheFile}`, () =>
    ctx.store.withLock(sessionLock(target), async () => {
      // Re-read both under the lock: the AWS CLI or SDK may have refreshed (and rotated the refresh token) meanwhile.
      const [latestEntry, latestCache] = await Promise.all([readAwsEntry(ctx, target, true), readCacheQuietly(ctx, target)]);
      const current = newestSession(latestEntry?.session, latestCache, ctx.now());
      if (!current) throw notSignedIn(target);
      if (!needsRefresh(current, ctx.now())) return current;
      const refreshed = await refreshSession(ctx, target, clients, current, latestCache);
      await updateAwsEntry(ctx, target, (stored) => ({ ...stored, session: refreshed }));
      await writeCache(ctx, target, refreshed, latestCache);
      return refreshed;
    }),
  );
}

/** CreateToken with the refresh token; an ended session is a login-required error, a passing outage keeps a still-valid token. */
async function refreshSession(
  ctx: LoginkitContext,
  target: AwsTarget,
  clients: AwsClients,
  current: StoredSsoSession,
  cached: CachedSession | undefined,
): Promise<StoredSsoSession> {
  const now = ctx.now();
  const usable = current.expiresAt > now;
  if (!current.refreshToken || !current.clientId || !current.clientSecret || (current.registrationExpiresAt ?? Infinity) <= now) {
    if (usable) return current;
    throw sessionEnded(target);
  }
  try {
    const answer = await clients.oidc.send(
      new clients.sdk.oidc.CreateTokenCommand({
        clientId: current.clientId,
        clientSecret: current.clientSecret,
        grantType: 'refresh_token',
        refreshToken: current.refreshToken,
      }),
    );
    if (!answer.accessToken)
      throw new LoginkitError('provider_error', `IAM Identity Center (${hostOf(target.endpoints.ssoOidc)}) sent no access token.`);
    return {
      ...current,
      accessToken: answer.accessToken,
      ...(answer.refreshToken ? { refreshToken: answer.refreshToken } : {}),
      expiresAt: ctx.now() + Math.min(answer.expiresIn ?? 3600, 24 * 3600) * 1000,
      obtainedAt: ctx.now(),
    };
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (
      [
        'InvalidGrantException',
        'ExpiredTokenException',
        'InvalidClientException',
        'UnauthorizedClientException',
        'AccessDeniedException',
      ].includes(name)
    ) {
      // The AWS CLI may have redeemed that refresh token a moment ago: its file then holds the successor.
      const again = await readCacheQuietly(ctx, target);
      if (again && again.tokens.accessToken !== cached?.tokens.accessToken && again.tokens.expiresAt - ctx.now() > 60_000) {
        return fromCache(again.tokens, ctx.now(), undefined);
      }
      throw sessionEnded(target, error);
    }
    const failure = awsCallFailure(error, target.endpoints.ssoOidc, 'Refreshing the AWS sign-in');
    if (usable && failure instanceof NetworkError) {
      ctx.warn(
        `${failure.message.split('\n')[0]} Using the current AWS sign-in (valid until ${new Date(current.expiresAt).toISOString()}).`,
      );
      return current;
    }
    throw failure;
  }
}

/** GetRoleCredentials for the account and role, then AssumeRole for a chained role. */
async function roleCredentialsFrom(
  ctx: LoginkitContext,
  target: AwsTarget,
  clients: AwsClients,
  session: StoredSsoSession,
): Promise<RoleCredentials> {
  let answer;
  try {
    answer = await clients.sso.send(
      new clients.sdk.sso.GetRoleCredentialsCommand({
        accessToken: session.accessToken,
        accountId: target.accountId,
        roleName: target.roleName,
      }),
    );
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (name === 'UnauthorizedException') throw sessionEnded(target, error);
    if (name === 'ForbiddenException' || name === 'ResourceNotFoundException') {
      throw new ConfigError(
        `IAM Identity Center gives you no role "${target.roleName}" in account ${target.accountId} (${name}).\nCheck accountId and roleName for "${target.providerId}" in config.json (or sso_account_id and sso_role_name in the AWS profile).`,
        { cause: error },
      );
    }
    throw awsCallFailure(error, target.endpoints.sso, 'Getting AWS role credentials');
  }
  const issued = answer.roleCredentials;
  if (!issued?.accessKeyId || !issued.secretAccessKey || !issued.sessionToken || !issued.expiration) {
    throw new LoginkitError(
      'provider_error',
      `The IAM Identity Center portal (${hostOf(target.endpoints.sso)}) sent incomplete role credentials.`,
    );
  }
  const base: RoleCredentials = {
    accountId: target.accountId,
    roleName: target.roleName,
    accessKeyId: issued.accessKeyId,
    secretAccessKey: issued.secretAccessKey,
    sessionToken: issued.sessionToken,
    // Never later than the session's own end: AWS ends the role credentials with it.
    expiresAt: issued.expiration,
    obtainedAt: ctx.now(),
  };
  return target.chainedRole ? assumeChainedRole(ctx, target, clients, base) : base;
}

async function assumeChainedRole(
  ctx: LoginkitContext,
  target: AwsTarget,
  clients: AwsClients,
  source: RoleCredentials,
): Promise<RoleCredentials> {
  const chained = target.chainedRole as NonNullable<AwsTarget['chainedRole']>;
  const { AssumeRoleCommand } = await import('@aws-sdk/client-sts');
  const sts = await clients.sts({
    accessKeyId: source.accessKeyId,
    secretAccessKey: source.secretAccessKey,
    sessionToken: source.sessionToken,
  });
  try {
    const answer = await sts.send(
      new AssumeRoleCommand({
        RoleArn: chained.roleArn,
        RoleSessionName: `loginkit-${target.providerId}`.slice(0, 64),
        ...(chained.externalId ? { ExternalId: chained.externalId } : {}),
      }),
    );
    const issued = answer.Credentials;
    if (!issued?.AccessKeyId || !issued.SecretAccessKey || !issued.SessionToken || !issued.Expiration) {
      throw new LoginkitError(
        'provider_error',
        `STS (${hostOf(target.endpoints.sts)}) sent incomplete credentials for ${chained.roleArn}.`,
      );
    }
    return {
      ...source,
      roleArn: chained.roleArn,
      accessKeyId: issued.AccessKeyId,
      secretAccessKey: issued.SecretAccessKey,
      sessionToken: issued.SessionToken,
      expiresAt: Math.min(issued.Expiration.getTime(), source.expiresAt + 12 * 3600_000),
      obtainedAt: ctx.now(),
    };
  } catch (error) {
    if (error instanceof LoginkitError) throw error;
    throw awsCallFailure(error, target.endpoints.sts, `Assuming ${chained.roleArn}`);
  }
}

/** An AWS SDK error as loginkit's: the service's own words (stripped), or a network error naming the host. */
export function awsCallFailure(error: unknown, endpoint: string, what: string): LoginkitError {
  if (error instanceof LoginkitError) return error;
  const host = hostOf(endpoint);
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  if (metadata?.httpStatusCode === undefined) {
    const cause = error instanceof Error ? error : undefined;
    const network = [cause, (cause as { cause?: unknown } | undefined)?.cause].find((e) => e instanceof NetworkError);
    if (network) return network as NetworkError;
    return new NetworkError(
      'network',
      host,
      `${what} failed: ${host} could not be reached (${cause?.message.split('\n')[0] ?? String(error)}).`,
      {
        cause: error,
      },
    );
  }
  const name = ((error as { name?: string }).name ?? 'error').replace(/[^\w.-]/g, '').slice(0, 80);
  return new LoginkitError('provider_error', `${what} failed: ${host} answered ${metadata.httpStatusCode} ${name}.`, { cause: error });
}

function hostOf(endpoint: string): string {
  return new URL(endpoint).host;
}

function notSignedIn(target: AwsTarget): LoginRequiredError {
  return new LoginRequiredError(
    target.providerId,
    `Not signed in to AWS IAM Identity Center for "${target.providerId}" (${target.startUrl}).`,
  );
}

function sessionEnded(target: AwsTarget, cause?: unknown): LoginRequiredError {
  return new LoginRequiredError(
    target.providerId,
    `The AWS IAM Identity Center session for "${target.providerId}" has ended (expired or signed out).`,
    cause === undefined ? undefined : { cause },
  );
}

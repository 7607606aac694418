import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import type { LoginkitContext } from '../../context.js';
import { ConfigError, LoginkitError, NetworkError, sanitizeServerText } from '../../errors.js';
import type { Provider } from '../../providers/registry.js';
import { maskSecret } from '../../shared/mask.js';
import type { PersonOptions } from '../person-side.js';
import {
  type MintedToken,
  type ReadCredentialFile,
  loadGoogleAuthLibrary,
  mintFromFile,
  mintFromSignIn,
  readCredentialFile,
} from './sources.js';
import { type GoogleTarget, resolveGoogleTarget } from './settings.js';

// The life of a Google Cloud provider's access token. The source (gcloud's ADC file, a key file, a workload
// identity federation config, or loginkit's own sign-in) is read on every use and never written; the access
// token made from it is kept in loginkit's store, encrypted, under `google-cloud:<id>`, together with a
// digest of the source it came from, and renewed once across processes (store lock) before it expires. When
// gcloud (or the person) replaces the file, the digest changes and the next use makes a token from the new one.

/** Renew this long before expiry (google-auth-library's eager threshold), or at half the lifetime of a shorter-lived token. */
const REFRESH_MARGIN_MS = 5 * 60_000;

const TokenSchema = z.object({
  accessToken: z.string(),
  expiresAt: z.number(),
  obtainedAt: z.number(),
  /** Digest of the source, scopes and impersonation the token was made with. */
  source: z.string(),
  account: z.optional(z.string()),
});

const SignInSchema = z.object({
  issuer: z.string(),
  clientId: z.string(),
  refreshToken: z.string(),
  tokenEndpoint: z.string(),
  revocationEndpoint: z.optional(z.string()),
  account: z.optional(z.string()),
  scopes: z.array(z.string()),
  /** When the person signed in: another sign-in is another source. */
  signedInAt: z.number(),
});

const GoogleEntrySchema = z.object({
  kind: z.literal('google-cloud'),
  provider: z.string(),
  token: z.optional(TokenSchema),
  signIn: z.optional(SignInSchema),
});

/** An access token as loginkit stores it (times in ms since the epoch). */
export type StoredGoogleToken = z.infer<typeof TokenSchema>;
/** loginkit's own sign-in to Google, as stored. */
export type StoredGoogleSignIn = z.infer<typeof SignInSchema>;
type GoogleEntry = z.infer<typeof GoogleEntrySchema>;

/** What `status` shows of a Google Cloud provider (no secrets). */
export interface GoogleCloudStatus {
  /** `adc`: the Application Default Credentials file; `file`: config.json's credentialsFile; `sign-in`: loginkit's own. */
  source: 'adc' | 'file' | 'sign-in';
  /** The credentials file read (ADC or credentialsFile), or the sign-in's issuer. */
  from: string;
  /** The file's `type` (authorized_user, service_account, external_account, impersonated_service_account), or null. */
  credentialType: string | null;
  /** Why the source cannot be used now, in one line, or null. */
  problem: string | null;
  account: string | null;
  impersonating: string | null;
  scopes: string[];
  project: string | null;
  /** The Vertex AI location (region, or `global`). */
  location: string;
  /** ISO 8601 expiry of the access token in the store (made from the current source), or null. */
  tokenExpiresAt: string | null;
  /** That token, masked. */
  token: string | null;
}

/** The store key of a Google Cloud provider's entry (these providers have no loginkit profiles). */
export function googleEntryKey(providerId: string): string {
  return `google-cloud:${providerId}`;
}

/** A provider's target: its settings resolved against the environment. */
export function googleTarget(ctx: LoginkitContext, provider: Provider, profile?: string): GoogleTarget {
  if (provider.cloud?.type !== 'google-cloud') throw new ConfigError(`"${provider.id}" is not a Google Cloud provider.`);
  if (profile !== undefined && profile !== 'default') {
    throw new ConfigError(
      `Google Cloud providers have no loginkit profiles (--profile ${profile}): add another provider to config.json with its own credentialsFile or impersonateServiceAccount.`,
    );
  }
  return resolveGoogleTarget(provider.id, provider.cloud.settings, ctx.env);
}

/** The stored entry, or undefined (a damaged one is a login-required error). */
async function readEntry(ctx: LoginkitContext, target: GoogleTarget, fresh = false): Promise<GoogleEntry | undefined> {
  const value = (await ctx.store.read({ fresh }))[googleEntryKey(target.providerId)];
  if (value === undefined) return undefined;
  const parsed = GoogleEntrySchema.safeParse(value);
  if (!parsed.success) {
    throw new LoginkitError(
      'login_required',
      `The stored Google sign-in for "${target.providerId}" is damaged and cannot be used.\nRun: loginkit logout ${target.providerId}`,
    );
  }
  return parsed.data;
}

/** Saves `change(entry)` as the provider's entry, from the freshest one; `undefined` removes it. */
async function updateEntry(
  ctx: LoginkitContext,
  target: GoogleTarget,
  change: (entry: GoogleEntry) => GoogleEntry | undefined,
): Promise<void> {
  const key = googleEntryKey(target.providerId);
  await ctx.store.update((entries) => {
    const parsed = GoogleEntrySchema.safeParse(entries[key]);
    const current: GoogleEntry = parsed.success ? parsed.data : { kind: 'google-cloud', provider: target.providerId };
    const next = change(current);
    if (next === undefined) {
      if (!(key in entries)) return undefined;
      const { [key]: _gone, ...rest } = entries;
      return rest;
    }
    return { ...entries, [key]: JSON.parse(JSON.stringify(next)) as unknown };
  });
}

/** The source as it is now: a digest that names it, and how to make a token from it. */
interface CurrentSource {
  readonly digest: string;
  readonly file: ReadCredentialFile | undefined;
  mint(): Promise<MintedToken>;
}

async function currentSource(ctx: LoginkitContext, target: GoogleTarget, entry: GoogleEntry | undefined): Promise<CurrentSource> {
  const shape = { scopes: target.scopes, impersonation: target.impersonation ?? null };
  if (target.source.kind === 'file') {
    const file = await readCredentialFile(target, target.source.path);
    return { digest: digestOf({ file: file.digest, ...shape }), file, mint: () => mintFromFile(ctx, target, file) };
  }
  const signIn = entry?.signIn;
  if (!signIn || signIn.clientId !== target.source.clientId || signIn.issuer !== target.source.issuer) {
    throw new LoginkitError(
      'login_required',
      `Not signed in to Google for "${target.providerId}".\nRun: loginkit login ${target.providerId}`,
    );
  }
  const { signInConnection } = await import('./sign-in.js');
  const connection = signInConnection(ctx, target.source, signIn);
  return {
    digest: digestOf({ issuer: signIn.issuer, clientId: signIn.clientId, signedInAt: signIn.signedInAt, ...shape }),
    file: undefined,
    mint: () => mintFromSignIn(ctx, target, connection, signIn),
  };
}

function digestOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** Whether a stored token was made from `digest` and has more than min(5 minutes, half its lifetime) left. */
function usable(token: StoredGoogleToken | undefined, digest: string, now: number): token is StoredGoogleToken {
  if (!token || token.source !== digest) return false;
  const lifetime = Math.max(0, token.expiresAt - token.obtainedAt);
  return token.expiresAt - now >= Math.min(REFRESH_MARGIN_MS, lifetime / 2);
}

/** Per process and store: one renewal per provider at a time, shared by every caller. */
const inflight = new WeakMap<object, Map<string, Promise<StoredGoogleToken>>>();

/** An access token valid for at least the refresh margin: the stored one, or a new one made from the source. */
export async function freshGoogleToken(ctx: LoginkitContext, target: GoogleTarget, force = false): Promise<StoredGoogleToken> {
  const entry = await readEntry(ctx, target);
  const source = await currentSource(ctx, target, entry);
  if (!force && usable(entry?.token, source.digest, ctx.now())) return entry.token as StoredGoogleToken;
  let running = inflight.get(ctx.store);
  if (!running) inflight.set(ctx.store, (running = new Map()));
  const pending = running.get(target.providerId);
  if (pending) return pending;
  const started = ctx.store
    .withLock(`refresh-${googleEntryKey(target.providerId)}`, () => renew(ctx, target, force))
    .finally(() => running.delete(target.providerId));
  running.set(target.providerId, started);
  return started;
}

/** Under the lock: the token another process made meanwhile, or a new one; a passing outage keeps a still-valid one. */
async function renew(ctx: LoginkitContext, target: GoogleTarget, force: boolean): Promise<StoredGoogleToken> {
  // Another process may have renewed it while we waited, and gcloud may have replaced the file.
  const latest = await readEntry(ctx, target, true);
  const source = await currentSource(ctx, target, latest);
  const current = latest?.token?.source === source.digest ? latest.token : undefined;
  if (!force && usable(current, source.digest, ctx.now())) return current as StoredGoogleToken;
  let minted: MintedToken;
  try {
    minted = await source.mint();
  } catch (error) {
    if (error instanceof NetworkError && current && current.expiresAt > ctx.now()) {
      ctx.warn(
        `${error.message.split('\n')[0]} Using the current Google token for "${target.providerId}" (valid until ${new Date(current.expiresAt).toISOString()}).`,
      );
      return current;
    }
    throw error;
  }
  const token: StoredGoogleToken = {
    accessToken: minted.accessToken,
    expiresAt: minted.expiresAt,
    obtainedAt: ctx.now(),
    source: source.digest,
    ...(minted.account ? { account: minted.account } : {}),
  };
  await updateEntry(ctx, target, (stored) => ({
    ...stored,
    token,
    ...(minted.refreshToken && stored.signIn ? { signIn: { ...stored.signIn, refreshToken: minted.refreshToken } } : {}),
  }));
  return token;
}

/** The provider's access token and its expiry (ms since the epoch). */
export async function googleToken(
  ctx: LoginkitContext,
  provider: Provider,
  profile?: string,
): Promise<{ token: string; expiresAt: number }> {
  const { accessToken, expiresAt } = await freshGoogleToken(ctx, googleTarget(ctx, provider, profile));
  return { token: accessToken, expiresAt };
}

/** The project Vertex AI is called in: config.json, `GOOGLE_CLOUD_PROJECT`, else the credential file's. */
async function projectOf(target: GoogleTarget): Promise<string | undefined> {
  if (target.project) return target.project;
  if (target.source.kind !== 'file') return undefined;
  const { credential } = await readCredentialFile(target, target.source.path);
  if (credential.type === 'service_account') return credential.project_id;
  return credential.quota_project_id;
}

/**
 * What `exec` sets: the project and location the Vertex AI SDKs read, and a short-lived access token in
 * `GOOGLE_OAUTH_ACCESS_TOKEN`; never the refresh token or key it was made from (see docs/google-cloud-and-azure.md for why no
 * `GOOGLE_APPLICATION_CREDENTIALS` file is made).
 */
export async function googleExecVariables(ctx: LoginkitContext, provider: Provider, profile?: string): Promise<Record<string, string>> {
  const target = googleTarget(ctx, provider, profile);
  const token = await freshGoogleToken(ctx, target);
  const project = await projectOf(target);
  // Each SDK reads its own names: Google's (genai, gcloud), the AI SDK's Vertex provider, Anthropic's Vertex SDK.
  return {
    GOOGLE_OAUTH_ACCESS_TOKEN: token.accessToken,
    ...(project ? { GOOGLE_CLOUD_PROJECT: project, GOOGLE_VERTEX_PROJECT: project, ANTHROPIC_VERTEX_PROJECT_ID: project } : {}),
    GOOGLE_CLOUD_LOCATION: target.location,
    GOOGLE_VERTEX_LOCATION: target.location,
    CLOUD_ML_REGION: target.location,
  };
}

/** The state of a Google Cloud provider, read without any request. */
export async function googleStatus(ctx: LoginkitContext, provider: Provider): Promise<GoogleCloudStatus> {
  const target = googleTarget(ctx, provider);
  let entry: GoogleEntry | undefined;
  let source: CurrentSource | undefined;
  let problem: string | null = null;
  try {
    entry = await readEntry(ctx, target);
    source = await currentSource(ctx, target, entry);
  } catch (error) {
    if (!(error instanceof LoginkitError)) throw error;
    problem = error.message.split('\n').join(' ');
  }
  const token = source && entry?.token?.source === source.digest && entry.token.expiresAt > ctx.now() ? entry.token : undefined;
  const credential = source?.file?.credential;
  return {
    source: target.source.kind === 'sign-in' ? 'sign-in' : target.source.adc ? 'adc' : 'file',
    from: target.source.kind === 'sign-in' ? target.source.issuer : target.source.path,
    credentialType: credential?.type ?? null,
    problem,
    // Read from files others' tools wrote: shown only without control characters.
    account: shown(
      (credential?.type === 'service_account' ? credential.client_email : undefined) ?? entry?.signIn?.account ?? token?.account,
    ),
    impersonating: target.impersonation?.target ?? null,
    scopes: [...target.scopes],
    project: shown(problem ? target.project : await projectOf(target)),
    location: target.location,
    tokenExpiresAt: token ? new Date(token.expiresAt).toISOString() : null,
    token: token ? maskSecret(token.accessToken) : null,
  };
}

function shown(value: string | undefined): string | null {
  return value === undefined ? null : sanitizeServerText(value, 200);
}

/**
 * Revokes loginkit's own sign-in at Google (its refresh token), and removes what loginkit holds for the
 * provider. gcloud's ADC file and key files are never touched: they belong to gcloud and to the person.
 */
export async function googleLogout(
  ctx: LoginkitContext,
  provider: Provider,
): Promise<{ removed: boolean; revocation: 'revoked' | 'failed' | 'unsupported'; revocationError?: string }> {
  const target = googleTarget(ctx, provider);
  const entry = await readEntry(ctx, target).catch(() => undefined);
  let revocation: { outcome: 'revoked' | 'failed' | 'unsupported'; error?: string } = { outcome: 'unsupported' };
  if (entry?.signIn && target.source.kind === 'sign-in') {
    const [{ revokeToken }, { signInConnection }] = await Promise.all([import('../../oauth/grants.js'), import('./sign-in.js')]);
    revocation = await revokeToken(signInConnection(ctx, target.source, entry.signIn), entry.signIn.refreshToken, 'refresh_token');
  }
  await updateEntry(ctx, target, () => undefined);
  return {
    removed: entry !== undefined,
    revocation: revocation.outcome,
    ...(revocation.error ? { revocationError: revocation.error } : {}),
  };
}

/**
 * Signs the person in (a sign-in source), or checks a file source by making a token now, so that a wrong
 * file or account shows at once.
 */
export async function googleLogin(
  ctx: LoginkitContext,
  provider: Provider,
  options: PersonOptions & { profile?: string },
): Promise<{ target: GoogleTarget; token: StoredGoogleToken }> {
  const target = googleTarget(ctx, provider, options.profile);
  // A store that cannot be written must fail now, not after the person has signed in.
  await ctx.store.read();
  if (target.source.kind === 'sign-in') {
    const { signInToGoogle } = await import('./sign-in.js');
    const person = await signInToGoogle(ctx, target, options);
    const signIn: StoredGoogleSignIn = {
      issuer: target.source.issuer,
      clientId: target.source.clientId,
      refreshToken: person.refreshToken,
      tokenEndpoint: person.tokenEndpoint,
      ...(person.revocationEndpoint ? { revocationEndpoint: person.revocationEndpoint } : {}),
      ...(person.account ? { account: person.account } : {}),
      scopes: person.scopes,
      signedInAt: ctx.now(),
    };
    await updateEntry(ctx, target, () => ({ kind: 'google-cloud', provider: target.providerId, signIn }));
    if (!target.impersonation) {
      const source = await currentSource(ctx, target, await readEntry(ctx, target, true));
      const token: StoredGoogleToken = {
        accessToken: person.accessToken,
        expiresAt: person.expiresAt,
        obtainedAt: person.obtainedAt,
        source: source.digest,
        ...(person.account ? { account: person.account } : {}),
      };
      await updateEntry(ctx, target, (stored) => ({ ...stored, token }));
      return { target, token };
    }
  }
  return { target, token: await freshGoogleToken(ctx, target, true) };
}

/**
 * A google-auth-library client that authorises every request with the provider's token from loginkit (its
 * `refreshHandler`): what Google's SDKs take as `authClient`.
 */
export async function googleAuthClient(ctx: LoginkitContext, provider: Provider): Promise<import('google-auth-library').OAuth2Client> {
  const target = googleTarget(ctx, provider);
  const { OAuth2Client } = await loadGoogleAuthLibrary();
  const client = new OAuth2Client();
  client.refreshHandler = async () => {
    const token = await freshGoogleToken(ctx, target);
    // The library compares with the real clock.
    return { access_token: token.accessToken, expiry_date: Date.now() + (token.expiresAt - ctx.now()) };
  };
  return client;
}

/** `new GoogleGenAI(await kit.googleGenAIOptions('vertex'))`: `@google/genai` in Vertex AI mode. */
export interface VertexGenAIOptions {
  vertexai: true;
  /** Absent when neither config.json, `GOOGLE_CLOUD_PROJECT` nor the credentials name one (the SDK then asks its own way). */
  project?: string;
  location: string;
  googleAuthOptions: { authClient: import('google-auth-library').OAuth2Client };
}

/** `new AnthropicVertex(await kit.anthropicVertexOptions('vertex'))`: `@anthropic-ai/vertex-sdk`. */
export interface AnthropicVertexOptions {
  projectId: string | null;
  region: string;
  authClient: import('google-auth-library').OAuth2Client;
}

/** `createVertex(await kit.googleVertexOptions('vertex'))`: the AI SDK's `@ai-sdk/google-vertex`. */
export interface GoogleVertexSettings {
  /** Absent when no project is known (see {@link VertexGenAIOptions.project}). */
  project?: string;
  location: string;
  googleAuthOptions: { authClient: import('google-auth-library').OAuth2Client };
}

/** The options of the three one-liners, from one target. */
export async function vertexOptions(
  ctx: LoginkitContext,
  provider: Provider,
): Promise<{ project: string | undefined; location: string; authClient: import('google-auth-library').OAuth2Client }> {
  const target = googleTarget(ctx, provider);
  return { project: await projectOf(target), location: target.location, authClient: await googleAuthClient(ctx, provider) };
}

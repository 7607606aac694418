import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import type { LoginkitContext } from '../../context.js';
import { ConfigError, LoginkitError, NetworkError, ProviderError, causeChain, sanitizeServerText } from '../../errors.js';
import type { FetchLike } from '../../net/http.js';
import type { ServerConnection } from '../../oauth/server.js';
import { endpointProblem } from '../../providers/endpoints.js';
import { readRegularFileSync } from '../../shared/bounded-read.js';
import { describeFsError, errorCode } from '../../shared/errno.js';
import { assertSafeSettingsFile } from '../../shared/file-safety.js';
import { GOOGLE_TOKEN_URL, type GoogleTarget, type Impersonation, fixLine } from './settings.js';

// How each kind of Google credential becomes an access token. google-auth-library does the work where it
// takes its endpoints from the credential (a refresh token, workload identity federation, impersonation);
// a service account's JWT-bearer grant is signed here with jose, because google-auth-library sends it only to
// Google's own token URL and the key file's `token_uri` is what Google's other libraries honour.

/** What a token that only serves to impersonate or federate is asked for. */
const CLOUD_PLATFORM = ['https://www.googleapis.com/auth/cloud-platform'] as const;

/** The largest credential file read (real ones are a few KiB). */
const MAX_CREDENTIAL_FILE_BYTES = 64 * 1024;

const AuthorizedUser = z.object({
  type: z.literal('authorized_user'),
  client_id: z.string().check(z.minLength(1)),
  client_secret: z.optional(z.string()),
  refresh_token: z.string().check(z.minLength(1)),
  token_uri: z.optional(z.string()),
  quota_project_id: z.optional(z.string()),
  account: z.optional(z.string()),
});

const ServiceAccount = z.object({
  type: z.literal('service_account'),
  client_email: z.string().check(z.minLength(3)),
  private_key: z.string().check(z.minLength(1)),
  private_key_id: z.optional(z.string()),
  token_uri: z.optional(z.string()),
  project_id: z.optional(z.string()),
});

const ExternalAccount = z.looseObject({
  type: z.literal('external_account'),
  audience: z.string(),
  subject_token_type: z.string(),
  token_url: z.optional(z.string()),
  service_account_impersonation_url: z.optional(z.string()),
  credential_source: z.optional(z.record(z.string(), z.unknown())),
  quota_project_id: z.optional(z.string()),
});

const ImpersonatedServiceAccount = z.object({
  type: z.literal('impersonated_service_account'),
  service_account_impersonation_url: z.string(),
  delegates: z.optional(z.array(z.string())),
  source_credentials: z.union([AuthorizedUser, ServiceAccount]),
  quota_project_id: z.optional(z.string()),
});

const CredentialFileSchema = z.discriminatedUnion('type', [AuthorizedUser, ServiceAccount, ExternalAccount, ImpersonatedServiceAccount]);

/** A Google credential file as gcloud and the Cloud console write it. */
export type CredentialFile = z.infer<typeof CredentialFileSchema>;
type BaseCredential = z.infer<typeof AuthorizedUser> | z.infer<typeof ServiceAccount>;

/** An access token and when it ends (ms since the epoch, on loginkit's clock). */
export interface MintedToken {
  accessToken: string;
  expiresAt: number;
  /** Who it is for, when known (a service account's e-mail). */
  account: string | undefined;
  /** A new refresh token, when the sign-in's server rotated it. */
  refreshToken?: string;
}

/** A credential file read, with a digest of its bytes: another digest means gcloud (or the person) replaced it. */
export interface ReadCredentialFile {
  readonly path: string;
  readonly credential: CredentialFile;
  readonly digest: string;
}

/** Reads and checks a credential file; a missing one is a login-required error naming the command that writes it. */
export async function readCredentialFile(target: GoogleTarget, path: string): Promise<ReadCredentialFile> {
  let bytes: Buffer;
  try {
    // Regular files only, at most the cap: a FIFO or a device is refused before a byte is read.
    const read = readRegularFileSync(path, MAX_CREDENTIAL_FILE_BYTES);
    // The file names the endpoints a refresh token or key is sent to: one others can change is refused.
    assertSafeSettingsFile(path, read.stats);
    bytes = read.bytes;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      throw new LoginkitError(
        'login_required',
        `No Google credentials for "${target.providerId}": ${path} does not exist.\n${fixLine(target)}`,
      );
    }
    if (error instanceof LoginkitError) throw error;
    throw new ConfigError(`${path}: cannot read: ${describeFsError(error)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ConfigError(`${path} is not a JSON credential file.`);
  }
  const parsed = CredentialFileSchema.safeParse(json);
  if (!parsed.success) {
    const type = (json as { type?: unknown } | null)?.type;
    throw new ConfigError(
      `${path} is not a Google credential file loginkit can use (type ${typeof type === 'string' ? JSON.stringify(sanitizeServerText(type, 40)) : 'missing'}; expected authorized_user, service_account, external_account or impersonated_service_account).`,
    );
  }
  for (const [field, value] of endpointFields(parsed.data)) {
    const problem = endpointProblem(value);
    if (problem) throw new ConfigError(`${path}: ${field} ${problem}`);
  }
  return { path, credential: parsed.data, digest: createHash('sha256').update(bytes).digest('hex') };
}

/** The endpoints a credential file names, which its secrets are sent to. */
function endpointFields(credential: CredentialFile): Array<[string, string]> {
  const fields: Array<[string, string | undefined]> =
    credential.type === 'external_account'
      ? [
          ['token_url', credential.token_url],
          ['service_account_impersonation_url', credential.service_account_impersonation_url],
        ]
      : credential.type === 'impersonated_service_account'
        ? [
            ['service_account_impersonation_url', credential.service_account_impersonation_url],
            ['source_credentials.token_uri', credential.source_credentials.token_uri],
          ]
        : [['token_uri', credential.token_uri]];
  return fields.filter((field): field is [string, string] => field[1] !== undefined);
}

/** Loads google-auth-library, or says in one line what to install. */
export async function loadGoogleAuthLibrary(): Promise<typeof import('google-auth-library')> {
  try {
    return await import('google-auth-library');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new ConfigError(
      'Google Cloud providers need google-auth-library, which is not installed.\nInstall it: npm install google-auth-library',
      { cause: error },
    );
  }
}

/** What every google-auth-library client gets: loginkit's bounded fetch underneath, and no retries of its own. */
function transporterOptions(http: FetchLike) {
  return { transporterOptions: { fetchImplementation: http as typeof fetch, retry: false } };
}

/** A fresh access token from a credential file (then impersonation, when the provider asks for it). */
export async function mintFromFile(ctx: LoginkitContext, target: GoogleTarget, file: ReadCredentialFile): Promise<MintedToken> {
  const { credential } = file;
  const fix = fixLine(target, credential.type);
  try {
    if (credential.type === 'external_account') return await externalAccountToken(ctx, target, credential);
    if (credential.type === 'impersonated_service_account') {
      const source = await baseToken(ctx, credential.source_credentials, CLOUD_PLATFORM);
      const fromFile = impersonationFromUrl(credential.service_account_impersonation_url, credential.delegates ?? []);
      const token = await impersonate(ctx, fromFile, target.impersonation ? CLOUD_PLATFORM : target.scopes, source);
      return target.impersonation ? await impersonateConfigured(ctx, target, token) : token;
    }
    const scopes = target.impersonation ? CLOUD_PLATFORM : target.scopes;
    const token = await baseToken(ctx, credential, scopes);
    return target.impersonation ? await impersonateConfigured(ctx, target, token) : token;
  } catch (error) {
    throw googleFailure(error, target, fix);
  }
}

/** A token from loginkit's own sign-in (its refresh token, by loginkit's OAuth stack), then impersonation when asked for. */
export async function mintFromSignIn(
  ctx: LoginkitContext,
  target: GoogleTarget,
  connection: ServerConnection,
  signIn: { refreshToken: string; scopes: readonly string[] },
): Promise<MintedToken> {
  try {
    const { refreshTokens } = await import('../../oauth/grants.js');
    const tokens = await refreshTokens(
      connection,
      { refreshToken: signIn.refreshToken, idToken: undefined, account: undefined, scopes: signIn.scopes },
      ctx.now,
      'Refreshing the Google sign-in',
    );
    const token: MintedToken = {
      accessToken: tokens.accessToken,
      expiresAt: tokens.expiresAt ?? ctx.now() + 3600_000,
      account: undefined,
      ...(tokens.refreshToken && tokens.refreshToken !== signIn.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
    };
    return target.impersonation
      ? { ...(await impersonateConfigured(ctx, target, token)), ...(token.refreshToken ? { refreshToken: token.refreshToken } : {}) }
      : token;
  } catch (error) {
    throw googleFailure(error, target, fixLine(target));
  }
}

async function baseToken(ctx: LoginkitContext, credential: BaseCredential, scopes: readonly string[]): Promise<MintedToken> {
  if (credential.type === 'service_account') return serviceAccountToken(ctx, credential, scopes);
  return refreshTokenGrant(ctx, {
    clientId: credential.client_id,
    clientSecret: credential.client_secret,
    refreshToken: credential.refresh_token,
    tokenEndpoint: credential.token_uri ?? GOOGLE_TOKEN_URL,
  });
}

/** The refresh-token grant, by google-auth-library's UserRefreshClient at the credential's token endpoint. */
async function refreshTokenGrant(
  ctx: LoginkitContext,
  grant: { clientId: string; clientSecret: string | undefined; refreshToken: string; tokenEndpoint: string },
): Promise<MintedToken> {
  const { UserRefreshClient } = await loadGoogleAuthLibrary();
  const client = new UserRefreshClient({
    clientId: grant.clientId,
    ...(grant.clientSecret ? { clientSecret: grant.clientSecret } : {}),
    refreshToken: grant.refreshToken,
    endpoints: { oauth2TokenUrl: grant.tokenEndpoint },
    ...transporterOptions(ctx.http),
  });
  const { token } = await client.getAccessToken();
  return libraryToken(ctx, token, client.credentials.expiry_date, undefined);
}

/** A service account's JWT-bearer grant (RFC 7523) at the key file's `token_uri`, signed RS256 with its key. */
async function serviceAccountToken(
  ctx: LoginkitContext,
  credential: z.infer<typeof ServiceAccount>,
  scopes: readonly string[],
): Promise<MintedToken> {
  const { SignJWT, importPKCS8 } = await import('jose');
  const tokenUri = credential.token_uri ?? GOOGLE_TOKEN_URL;
  let key;
  try {
    key = await importPKCS8(credential.private_key, 'RS256');
  } catch (error) {
    throw new ConfigError(`The private key of ${credential.client_email} cannot be read (not an RSA key in PKCS#8 PEM).`, { cause: error });
  }
  const issuedAt = Math.floor(ctx.now() / 1000);
  const assertion = await new SignJWT({ scope: scopes.join(' ') })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(credential.private_key_id ? { kid: credential.private_key_id } : {}) })
    .setIssuer(credential.client_email)
    .setAudience(tokenUri)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + 3600)
    .sign(key);
  const response = await ctx.http(tokenUri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
    redirect: 'manual',
  });
  const body = await response.text();
  const parsed = TokenResponse.safeParse(safeJson(body));
  if (!response.ok || !parsed.success) throw new TokenEndpointError(new URL(tokenUri).host, response.status, safeJson(body));
  return {
    accessToken: parsed.data.access_token,
    expiresAt: ctx.now() + boundedSeconds(parsed.data.expires_in) * 1000,
    account: credential.client_email,
  };
}

const TokenResponse = z.object({ access_token: z.string().check(z.minLength(1)), expires_in: z.optional(z.number()) });

/** A token endpoint's refusal, in the shape google-auth-library's errors have (`response.status`, `response.data`). */
class TokenEndpointError extends Error {
  readonly response: { status: number; data: unknown };
  constructor(
    readonly host: string,
    status: number,
    data: unknown,
  ) {
    super(`${host} answered ${status}`);
    this.response = { status, data };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function boundedSeconds(seconds: number | undefined): number {
  return Math.max(1, Math.min(seconds ?? 3600, 12 * 3600));
}

/** Workload identity federation: google-auth-library reads the subject token (file, URL or executable), exchanges it at STS, and impersonates when the file says so. */
async function externalAccountToken(
  ctx: LoginkitContext,
  target: GoogleTarget,
  credential: z.infer<typeof ExternalAccount>,
): Promise<MintedToken> {
  const { ExternalAccountClient } = await loadGoogleAuthLibrary();
  const scopes = [...(target.impersonation ? CLOUD_PLATFORM : target.scopes)];
  const client = ExternalAccountClient.fromJSON({
    ...(credential as Parameters<typeof ExternalAccountClient.fromJSON>[0]),
    scopes,
    ...transporterOptions(ctx.http),
  });
  if (!client) throw new ConfigError(`The external_account credential of "${target.providerId}" is not one google-auth-library supports.`);
  const { token } = await client.getAccessToken();
  const minted = libraryToken(ctx, token, client.credentials.expiry_date, undefined);
  return target.impersonation ? impersonateConfigured(ctx, target, minted) : minted;
}

/** The target and delegates of an `impersonated_service_account` file, from its generateAccessToken URL. */
function impersonationFromUrl(url: string, delegates: readonly string[]): Impersonation {
  const match = /^(.*)\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(url);
  if (!match)
    throw new ConfigError(
      `service_account_impersonation_url is not an IAM Credentials generateAccessToken URL: ${sanitizeServerText(url, 200)}`,
    );
  return { endpoint: match[1] as string, target: decodeURIComponent(match[2] as string), delegates };
}

function impersonateConfigured(ctx: LoginkitContext, target: GoogleTarget, source: MintedToken): Promise<MintedToken> {
  return impersonate(ctx, target.impersonation as Impersonation, target.scopes, source);
}

/** IAM Credentials generateAccessToken with the source's token (google-auth-library's Impersonated client). */
async function impersonate(
  ctx: LoginkitContext,
  impersonation: Impersonation,
  scopes: readonly string[],
  source: MintedToken,
): Promise<MintedToken> {
  const { Impersonated, OAuth2Client } = await loadGoogleAuthLibrary();
  const sourceClient = new OAuth2Client(transporterOptions(ctx.http));
  sourceClient.setCredentials({ access_token: source.accessToken, expiry_date: Date.now() + (source.expiresAt - ctx.now()) });
  const client = new Impersonated({
    sourceClient,
    targetPrincipal: impersonation.target,
    delegates: [...impersonation.delegates],
    targetScopes: [...scopes],
    lifetime: 3600,
    endpoint: impersonation.endpoint,
    ...transporterOptions(ctx.http),
  });
  const { token } = await client.getAccessToken();
  return libraryToken(ctx, token, client.credentials.expiry_date, impersonation.target);
}

/** A google-auth-library token on loginkit's clock (the library counts on the real one). */
function libraryToken(
  ctx: LoginkitContext,
  token: string | null | undefined,
  expiryDate: number | null | undefined,
  account: string | undefined,
): MintedToken {
  if (!token) throw new LoginkitError('provider_error', 'Google sent no access token.');
  const remaining = expiryDate ? Math.max(1000, Math.min(expiryDate - Date.now(), 12 * 3600_000)) : 3600_000;
  return { accessToken: token, expiresAt: ctx.now() + remaining, account };
}

/** The OAuth error codes that mean the credential needs the person (or a new key): Google's reauthentication among them. */
const REAUTHENTICATION_ERRORS = new Set(['invalid_grant', 'invalid_rapt', 'unauthorized_client', 'invalid_client']);

/**
 * A failure of a Google call as one of loginkit's errors: a refused credential (`invalid_grant`,
 * `invalid_rapt`) is a login-required error naming `fix`; a network failure names the host; anything else
 * is the service's error code, stripped, never its body.
 */
export function googleFailure(error: unknown, target: GoogleTarget, fix: string): LoginkitError {
  if (error instanceof ProviderError && REAUTHENTICATION_ERRORS.has(error.error)) {
    const body = causeChain(error).find((cause) => typeof cause === 'object' && cause !== null && 'error_subtype' in cause);
    return googleFailure(
      { response: { status: error.status, data: { ...(body ?? {}), error: error.error, error_description: error.errorDescription } } },
      target,
      fix,
    );
  }
  if (error instanceof LoginkitError) return error;
  const network = causeChain(error).find((cause) => cause instanceof NetworkError || cause instanceof LoginkitError);
  const response = (error as { response?: { status?: number; data?: unknown } }).response;
  if (!response) {
    if (network) return network as LoginkitError;
    return new LoginkitError(
      'provider_error',
      `Getting a Google access token for "${target.providerId}" failed: ${sanitizeServerText(String((error as Error).message ?? error), 200)}`,
      { cause: error },
    );
  }
  const data = (response.data ?? {}) as { error?: unknown; error_subtype?: unknown; error_description?: unknown };
  const oauthError = typeof data.error === 'string' ? data.error : undefined;
  const subtype = typeof data.error_subtype === 'string' ? data.error_subtype : undefined;
  const reauth = subtype === 'invalid_rapt' || oauthError === 'invalid_rapt' || /invalid_rapt/.test(String(data.error_description ?? ''));
  if (reauth || (oauthError && REAUTHENTICATION_ERRORS.has(oauthError))) {
    const why = reauth
      ? 'Google asks you to sign in again (reauthentication, invalid_rapt)'
      : `Google refused the credential (${sanitizeServerText(oauthError as string, 60)})`;
    return new LoginkitError('login_required', `${why} for "${target.providerId}".\n${fix}`, { cause: error });
  }
  const apiError = (data as { error?: { status?: unknown; message?: unknown } }).error;
  const status = typeof apiError === 'object' && apiError && typeof apiError.status === 'string' ? apiError.status : oauthError;
  const hint =
    status === 'PERMISSION_DENIED' && target.impersonation
      ? `\nThe account may not act as ${target.impersonation.target}: grant it roles/iam.serviceAccountTokenCreator on that service account.`
      : '';
  return new LoginkitError(
    'provider_error',
    `Getting a Google access token for "${target.providerId}" failed: the server answered ${response.status ?? '?'}${status ? ` ${sanitizeServerText(status, 60)}` : ''}.${hint}`,
    { cause: error },
  );
}

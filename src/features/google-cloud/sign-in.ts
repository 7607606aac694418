import type { LoginkitContext } from '../../context.js';
import { LoginkitError } from '../../errors.js';
import type { ServerConnection } from '../../oauth/server.js';
import type { OAuthProvider } from '../../providers/registry.js';
import { type PersonOptions, personSide } from '../person-side.js';
import type { GoogleSource, GoogleTarget } from './settings.js';

// A person's own sign-in to Google with an installed-app OAuth client (Desktop app): loginkit's OAuth stack
// (discovery at the issuer, PKCE S256, state, the loopback listener or pasting) with the client's secret at
// the token endpoint, which Google requires of installed apps although it is not confidential there.

/** What a sign-in produced and where its refresh token is redeemed and revoked. */
export interface GoogleSignIn {
  refreshToken: string;
  accessToken: string;
  expiresAt: number;
  obtainedAt: number;
  account: string | undefined;
  scopes: string[];
  tokenEndpoint: string;
  revocationEndpoint: string | undefined;
}

type SignInSource = Extract<GoogleSource, { kind: 'sign-in' }>;

/** The connection to the sign-in's server, from endpoints recorded at sign-in (no discovery on refresh or logout). */
export function signInConnection(
  ctx: LoginkitContext,
  source: SignInSource,
  endpoints: { tokenEndpoint: string; revocationEndpoint?: string | undefined },
): ServerConnection {
  return {
    metadata: {
      issuer: source.issuer,
      token_endpoint: endpoints.tokenEndpoint,
      ...(endpoints.revocationEndpoint ? { revocation_endpoint: endpoints.revocationEndpoint } : {}),
    },
    clientId: source.clientId,
    http: ctx.http,
    timeoutMs: ctx.timeoutMs,
    ...(source.clientSecret ? { clientAuth: { method: 'client_secret_post' as const, secret: source.clientSecret } } : {}),
  };
}

/** Signs the person in (browser with PKCE, or pasting the URL back), asking for a refresh token. */
export async function signInToGoogle(ctx: LoginkitContext, target: GoogleTarget, options: PersonOptions): Promise<GoogleSignIn> {
  const source = target.source as SignInSource;
  const [{ resolveServerMetadata }, { signIn }, { detectEnvironment, refusalToWaitInCi }] = await Promise.all([
    import('../../oauth/server.js'),
    import('../../sign-in/sign-in.js'),
    import('../../sign-in/login-environment.js'),
  ]);
  const environment = ctx.environment ?? detectEnvironment({ env: ctx.env });
  const refusal = refusalToWaitInCi({
    requested: options.method ?? 'auto',
    environment,
    providerId: target.providerId,
    // Google gives device codes only to "TV and limited input" clients, which cannot ask for cloud-platform.
    deviceSupported: false,
    apiKeySupported: false,
    browserInjected: ctx.openBrowser !== undefined,
    noBrowser: options.noBrowser === true,
  });
  if (refusal) throw refusal;
  // With impersonation the person's token only needs to call IAM Credentials.
  const scopes = ['openid', 'email', ...(target.impersonation ? ['https://www.googleapis.com/auth/cloud-platform'] : target.scopes)];
  const oauth: OAuthProvider = {
    id: target.providerId,
    displayName: 'Google Cloud',
    issuer: source.issuer,
    clientId: source.clientId,
    scopes,
    redirectUri: 'http://127.0.0.1/callback',
    fallbackRedirectPorts: [],
    endpoints: undefined,
    // Google issues a refresh token only for offline access, and again only on consent.
    authorizeParams: { access_type: 'offline', prompt: 'consent' },
    jsonBodyEndpoints: false,
    accountClaims: undefined,
  };
  const metadata = await resolveServerMetadata(oauth, ctx.http, ctx.timeoutMs);
  const endpoints = { tokenEndpoint: metadata.token_endpoint as string, revocationEndpoint: metadata.revocation_endpoint };
  const tokens = await signIn({
    providerId: target.providerId,
    connection: { ...signInConnection(ctx, source, endpoints), metadata },
    scopes,
    redirectUri: oauth.redirectUri,
    fallbackRedirectPorts: [],
    authorizeParams: oauth.authorizeParams,
    accountClaims: undefined,
    apiKeySupported: false,
    ...personSide(ctx, options, environment, `Google Cloud (${target.providerId})`),
  });
  if (!tokens.refreshToken) {
    throw new LoginkitError(
      'provider_error',
      `${new URL(source.issuer).host} gave no refresh token, so the sign-in could not be renewed.\nRevoke loginkit's access in your Google account's third-party access page, then run: loginkit login ${target.providerId}`,
    );
  }
  return {
    refreshToken: tokens.refreshToken,
    accessToken: tokens.accessToken,
    expiresAt: tokens.expiresAt ?? ctx.now() + 3600_000,
    obtainedAt: tokens.obtainedAt,
    account: tokens.account?.email ?? tokens.account?.subject,
    scopes: [...tokens.scopes],
    ...endpoints,
  };
}

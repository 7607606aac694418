import type { LoginkitContext } from '../../context.js';
import { LoginkitError, ProviderError, sanitizeServerText } from '../../errors.js';
import type { ServerMetadata } from '../../oauth/server.js';
import type { TokenResult } from '../../oauth/tokens.js';
import { endpointProblem } from '../../providers/endpoints.js';
import type { CodeExchange } from '../../sign-in/authorization-code.js';
import { DEVICE_CODE_GRANT, MAX_DEVICE_CODE_LIFETIME_MS } from '../../sign-in/device-flow.js';
import type { DeviceFlowRunner } from '../../sign-in/sign-in.js';
import { type PersonOptions, personSide } from '../person-side.js';
import { type AwsClients, awsClients } from './sdk-clients.js';
import { awsCallFailure, type StoredSsoSession } from './session.js';
import type { AwsTarget } from './settings.js';

// Signing in to IAM Identity Center the way the AWS CLI v2 does: a client registered for this sign-in, then
// authorization code with PKCE through the browser and loginkit's loopback listener (the default since AWS
// CLI 2.22), or the device authorization grant. The SDK's SSO OIDC client makes the calls; loginkit's
// sign-in pieces (method choice, listener, paste, events, polling) do the rest, as for every provider.

/** The redirect path the AWS CLI registers. */
const REDIRECT_URI = 'http://127.0.0.1/oauth/callback';
/** The name loginkit registers its clients under (shown on IAM Identity Center's consent page). */
const CLIENT_NAME = 'loginkit';
/** How long an SSO access token counts at most, whatever the service says. */
const MAX_SESSION_MS = 24 * 3600_000;

/** A client registration: what IAM Identity Center gave for one sign-in. */
interface Registration {
  clientId: string;
  clientSecret: string;
  expiresAt: number | undefined;
}

/** Signs the person in to IAM Identity Center (browser, paste or device code) and returns the new session. */
export async function signInToAws(ctx: LoginkitContext, target: AwsTarget, options: PersonOptions): Promise<StoredSsoSession> {
  const [{ signIn }, { detectEnvironment, refusalToWaitInCi }] = await Promise.all([
    import('../../sign-in/sign-in.js'),
    import('../../sign-in/login-environment.js'),
  ]);
  const environment = ctx.environment ?? detectEnvironment({ env: ctx.env });
  const refusal = refusalToWaitInCi({
    requested: options.method ?? 'auto',
    environment,
    providerId: target.providerId,
    deviceSupported: true,
    apiKeySupported: false,
    browserInjected: ctx.openBrowser !== undefined,
    noBrowser: options.noBrowser === true,
  });
  if (refusal) throw refusal;
  const clients = await awsClients(target, ctx.http);
  let registration: Registration | undefined;
  const remember = (made: Registration): Registration => (registration = made);
  const oidc = target.endpoints.ssoOidc;
  const metadata: ServerMetadata = { issuer: oidc, authorization_endpoint: `${oidc}/authorize`, token_endpoint: `${oidc}/token` };
  const tokens = await signIn({
    providerId: target.providerId,
    connection: { metadata, clientId: CLIENT_NAME, http: ctx.http, timeoutMs: ctx.timeoutMs },
    scopes: target.registrationScopes,
    redirectUri: REDIRECT_URI,
    authorizeParams: {},
    apiKeySupported: false,
    deviceFlow: deviceFlow(ctx, target, clients, remember),
    codeExchange: codeExchange(ctx, target, clients, remember),
    ...personSide(ctx, options, environment, `AWS IAM Identity Center (${target.providerId})`),
  });
  const made = registration as Registration | undefined;
  return {
    accessToken: tokens.accessToken,
    ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
    expiresAt: tokens.expiresAt ?? ctx.now() + 3600_000,
    ...(made ? { clientId: made.clientId, clientSecret: made.clientSecret } : {}),
    ...(made?.expiresAt ? { registrationExpiresAt: made.expiresAt } : {}),
    obtainedAt: tokens.obtainedAt,
  };
}

/** RegisterClient: a public client for this sign-in, with the grant types it will use. */
async function register(target: AwsTarget, clients: AwsClients, grant: { redirectUri: string } | 'device'): Promise<Registration> {
  try {
    const answer = await clients.oidc.send(
      new clients.sdk.oidc.RegisterClientCommand({
        clientName: CLIENT_NAME,
        clientType: 'public',
        scopes: [...target.registrationScopes],
        ...(grant === 'device'
          ? { grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'] }
          : { grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [grant.redirectUri], issuerUrl: target.startUrl }),
      }),
    );
    if (!answer.clientId || !answer.clientSecret) {
      throw new LoginkitError('provider_error', `IAM Identity Center (${new URL(target.endpoints.ssoOidc).host}) registered no client.`);
    }
    return {
      clientId: answer.clientId,
      clientSecret: answer.clientSecret,
      expiresAt: answer.clientSecretExpiresAt ? answer.clientSecretExpiresAt * 1000 : undefined,
    };
  } catch (error) {
    throw awsCallFailure(error, target.endpoints.ssoOidc, 'Registering loginkit with IAM Identity Center');
  }
}

/** The browser way: the authorize page, then CreateToken with the code and the same redirect URI. */
function codeExchange(
  ctx: LoginkitContext,
  target: AwsTarget,
  clients: AwsClients,
  remember: (made: Registration) => Registration,
): CodeExchange {
  let registration: Registration | undefined;
  return {
    async authorizationUrl({ redirectUri, state, codeChallenge }) {
      registration = remember(await register(target, clients, { redirectUri }));
      const url = new URL(`${target.endpoints.ssoOidc}/authorize`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: registration.clientId,
        redirect_uri: redirectUri,
        state,
        code_challenge_method: 'S256',
        scopes: target.registrationScopes.join(','),
        code_challenge: codeChallenge,
      }).toString();
      return url;
    },
    async redeem({ code, redirectUri, codeVerifier }) {
      const made = registration as Registration;
      return createToken(ctx, target, clients, {
        clientId: made.clientId,
        clientSecret: made.clientSecret,
        grantType: 'authorization_code',
        code,
        redirectUri,
        codeVerifier,
      });
    },
  };
}

/** CreateToken, as a TokenResult. */
async function createToken(
  ctx: LoginkitContext,
  target: AwsTarget,
  clients: AwsClients,
  input: ConstructorParameters<AwsClients['sdk']['oidc']['CreateTokenCommand']>[0],
): Promise<TokenResult> {
  let answer;
  try {
    answer = await clients.oidc.send(new clients.sdk.oidc.CreateTokenCommand(input));
  } catch (error) {
    throw refusalOf(error) ?? awsCallFailure(error, target.endpoints.ssoOidc, 'Signing in to IAM Identity Center');
  }
  if (!answer.accessToken)
    throw new LoginkitError('provider_error', `IAM Identity Center (${new URL(target.endpoints.ssoOidc).host}) sent no access token.`);
  const now = ctx.now();
  return {
    accessToken: answer.accessToken,
    refreshToken: answer.refreshToken,
    idToken: undefined,
    tokenType: 'Bearer',
    scopes: target.registrationScopes,
    expiresAt: now + Math.min((answer.expiresIn ?? 3600) * 1000, MAX_SESSION_MS),
    obtainedAt: now,
    account: undefined,
  };
}

/** The device way: StartDeviceAuthorization, the code shown, CreateToken polled on the RFC 8628 schedule. */
function deviceFlow(
  ctx: LoginkitContext,
  target: AwsTarget,
  clients: AwsClients,
  remember: (made: Registration) => Registration,
): DeviceFlowRunner {
  return async (options) => {
    const { pollUntilDone, realSleep } = await import('../../sign-in/polling.js');
    const registration = remember(await register(target, clients, 'device'));
    let started;
    try {
      started = await clients.oidc.send(
        new clients.sdk.oidc.StartDeviceAuthorizationCommand({
          clientId: registration.clientId,
          clientSecret: registration.clientSecret,
          startUrl: target.startUrl,
        }),
      );
    } catch (error) {
      throw awsCallFailure(error, target.endpoints.ssoOidc, 'Starting the device sign-in');
    }
    const host = new URL(target.endpoints.ssoOidc).host;
    const verificationUri = started.verificationUri ?? '';
    const problem = endpointProblem(verificationUri);
    if (problem) throw new ProviderError(`${host} sent a verification address that ${problem}`, { error: 'invalid_response' });
    const userCode = sanitizeServerText(started.userCode ?? '', 100);
    if (!started.deviceCode || !userCode) throw new ProviderError(`${host} sent no device code.`, { error: 'invalid_response' });
    const complete = started.verificationUriComplete;
    const start = options.now();
    const expiresAt = start + Math.min((started.expiresIn ?? 600) * 1000, MAX_DEVICE_CODE_LIFETIME_MS);
    options.onEvent({
      type: 'device_code',
      verificationUri: sanitizeServerText(new URL(verificationUri).href, 2_000),
      userCode,
      verificationUriComplete:
        complete && !endpointProblem(complete) && new URL(complete).origin === new URL(verificationUri).origin
          ? sanitizeServerText(new URL(complete).href, 2_000)
          : undefined,
      expiresAt,
    });
    const deadline = options.timeoutMs === undefined ? expiresAt : Math.min(expiresAt, start + options.timeoutMs);
    options.onEvent({ type: 'waiting', deadline });
    const deviceCode = started.deviceCode;
    return pollUntilDone<TokenResult>({
      async attempt() {
        try {
          return {
            kind: 'done',
            value: await createToken(ctx, target, clients, {
              clientId: registration.clientId,
              clientSecret: registration.clientSecret,
              grantType: DEVICE_CODE_GRANT,
              deviceCode,
            }),
          };
        } catch (error) {
          const name = (error as { cause?: { name?: string } }).cause?.name;
          if (name === 'AuthorizationPendingException') return { kind: 'pending' };
          if (name === 'SlowDownException') return { kind: 'slow_down' };
          throw error;
        }
      },
      intervalMs: (started.interval ?? 5) * 1000,
      deadline,
      expired: () =>
        new ProviderError(`The code ${userCode} expired before the sign-in was completed.\nRun the login again for a new code.`, {
          error: 'expired_token',
        }),
      onProgress: (progress) => options.onEvent({ type: 'device_poll', ...progress }),
      now: options.now,
      sleep: options.sleep ?? realSleep,
      signal: options.signal,
    });
  };
}

/** The service's refusal of a sign-in step as loginkit's error (pending and slow-down are passed on to the poller). */
function refusalOf(error: unknown): LoginkitError | undefined {
  const name = (error as { name?: string }).name ?? '';
  if (name === 'AuthorizationPendingException' || name === 'SlowDownException') {
    return new ProviderError(name, { error: name }, { cause: error });
  }
  if (name === 'AccessDeniedException') {
    return new ProviderError(
      'The sign-in was declined on the IAM Identity Center page.\nNothing was stored. If you meant to sign in, run the login again.',
      {
        error: 'access_denied',
      },
    );
  }
  if (name === 'ExpiredTokenException') {
    return new ProviderError('The sign-in code expired before it was approved.\nRun the login again for a new code.', {
      error: 'expired_token',
    });
  }
  if (name === 'InvalidGrantException') {
    return new ProviderError('IAM Identity Center refused the sign-in (invalid_grant).\nRun the login again.', { error: 'invalid_grant' });
  }
  return undefined;
}

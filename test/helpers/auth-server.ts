import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { IncomingMessage, type ServerResponse, createServer } from 'node:http';

import { closeServer, listenOnLoopback } from './stand-in.js';

/** Options for {@link startAuthServer}. */
export interface AuthServerOptions {
  /** Access token lifetime in seconds, for tokens from every grant. Default 3600. */
  accessTokenTtl?: number;
  /** The one registered client. Default 'loginkit-test'. */
  clientId?: string;
  /** Registered redirect URIs; for a native client the port of a loopback URI is ignored. */
  redirectUris?: string[];
  /** Claims added to the account, and to the ID token through the `openid` scope. */
  extraIdTokenClaims?: Record<string, unknown>;
  /** Rotate refresh tokens (reuse of a consumed one revokes the grant). Default true. */
  rotateRefreshTokens?: boolean;
  /** Path part of the issuer, e.g. '/oidc'. Default ''. */
  issuerPath?: string;
  /**
   * Where the provider's routes are mounted, when not at the issuer's path: Entra ID's issuer is
   * `/{tenant}/v2.0` and its endpoints `/{tenant}/oauth2/v2.0/…` (set the routes through `configure`).
   */
  mountPath?: string;
  /**
   * Sees (and may change) every form-encoded POST body before oidc-provider reads it, with the request's path:
   * a stand-in for a server whose refresh tokens are good for more than oidc-provider allows (Entra ID's are multi-resource).
   */
  rewriteForm?: (path: string, form: URLSearchParams) => void;
  /** Koa middleware run before oidc-provider's own, e.g. to answer a token request as a server would refuse it. */
  middleware?: Array<(ctx: RoutedContext, next: () => Promise<void>) => Promise<void>>;
  /** `interval` (seconds) to put in device authorization responses; absent by default, so clients use 5. */
  deviceInterval?: number;
  /** Fields to replace in the discovery document, e.g. `code_challenge_methods_supported` of a server without S256. */
  metadataOverrides?: Record<string, unknown>;
  /** Also accept JSON bodies at the token and revocation endpoints, as OpenAI's server does (counted in `stats.jsonBodies`). */
  acceptJsonBodies?: boolean;
  /**
   * Answer OpenAI's token exchange (ID token for `requested_token=openai-api-key`) with this key; the
   * exchange checks the subject token type and that the ID token was issued to the client.
   */
  tokenExchangeApiKey?: string;
  /**
   * Adjusts the oidc-provider configuration before the provider is built: features a test needs
   * (resource indicators, dynamic registration, …) and the hooks they come with.
   */
  configure?: (configuration: Record<string, unknown>) => void;
}

/** Counters of what the authorization server did, read by tests. */
export interface AuthServerStats {
  authorizationCodeGrants: number;
  refreshGrants: number;
  deviceCodeGrants: number;
  /** Every request to the token endpoint, successful or not. */
  tokenRequests: number;
  /** Failed token requests, not counting `authorization_pending` answers to device polling. */
  grantErrors: number;
  /** Revocation requests answered 200 (RFC 7009: also for unknown tokens). */
  revocations: number;
  /** Grants destroyed: by revoking a refresh token, or by reuse of a consumed refresh token. */
  grantsRevoked: number;
  /** Every request to the userinfo endpoint. */
  userinfoRequests: number;
  /** Token and revocation requests that came with a JSON body (with `acceptJsonBodies`). */
  jsonBodies: number;
  /** Successful token exchanges (with `tokenExchangeApiKey`). */
  tokenExchanges: number;
}

/** A running oidc-provider authorization server. */
export interface AuthServer {
  issuer: string;
  port: number;
  clientId: string;
  stats: AuthServerStats;
  /** Error codes of the failed grants counted in `stats.grantErrors`, in order. */
  grantErrorCodes: string[];
  /** Every HTTP request received, in order; `path` has no query. */
  requests: Array<{ method: string; path: string }>;
  /** Query parameters of every request to the authorization endpoint, in order. */
  authorizationRequests: URLSearchParams[];
  /** Parameters of every successful grant at the token endpoint, in order (`grant_type`, `resource`, `redirect_uri`, …). */
  grants: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

// oidc-provider ships no type declarations: these describe the few parts used here.
interface OidcGrant {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}

interface GrantModel {
  new (init: { accountId: string; clientId: string }): OidcGrant;
  find(id: string): Promise<OidcGrant | undefined>;
}

interface GrantLoadingContext {
  oidc: {
    client: { clientId: string };
    account: { accountId: string };
    session: { grantIdFor(clientId: string): string | undefined };
    result?: { consent?: { grantId?: string } };
    requestParamScopes: Set<string>;
    provider: { Grant: GrantModel };
  };
}

/** The part of oidc-provider's (Koa's) request context that middleware here reads and writes. */
export interface RoutedContext {
  oidc?: { route?: string };
  method: string;
  path: string;
  status: number;
  body: unknown;
}

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (ctx: unknown, detail?: unknown) => void): void;
  use(middleware: (ctx: RoutedContext, next: () => Promise<void>) => Promise<void>): void;
}

interface InteractionPolicy {
  get(name: string): { checks: { remove(name: string): void } } | undefined;
}

interface OidcProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  interactionPolicy: { base(): InteractionPolicy };
}

const DEFAULT_CLIENT_ID = 'loginkit-test';
const DEFAULT_REDIRECT_URIS = ['http://127.0.0.1/callback', 'http://localhost/callback'];
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const OIDC_PROVIDER_SPECIFIER = 'oidc-provider';

let providerModule: Promise<OidcProviderModule> | undefined;
let signingKey: JsonWebKey | undefined;

/** Starts a real oidc-provider on 127.0.0.1 with one native public client and the dev login form. */
export async function startAuthServer(opts: AuthServerOptions = {}): Promise<AuthServer> {
  const { default: Provider, interactionPolicy } = await loadOidcProvider();
  const clientId = opts.clientId ?? DEFAULT_CLIENT_ID;
  const issuerPath = normaliseIssuerPath(opts.issuerPath ?? '');
  const mountPath = opts.mountPath === undefined ? issuerPath : normaliseIssuerPath(opts.mountPath);
  const requests: AuthServer['requests'] = [];
  const server = createServer();
  const port = await listenOnLoopback(server);
  const issuer = `http://127.0.0.1:${port}${issuerPath}`;

  const configuration = buildConfiguration(opts, clientId, mountPath, interactionPolicy.base());
  opts.configure?.(configuration);
  const authorizationRoute = (configuration['routes'] as { authorization?: string } | undefined)?.authorization ?? '/auth';
  const provider = new Provider(issuer, configuration);
  const stats = newStats();
  const grantErrorCodes: string[] = [];
  const grants: AuthServer['grants'] = [];
  const authorizationRequests: URLSearchParams[] = [];
  countGrantEvents(provider, stats, grantErrorCodes);
  provider.on('grant.success', (ctx) => grants.push(readGrantParams(ctx)));
  for (const middleware of opts.middleware ?? []) provider.use(middleware);
  provider.use(countEndpointRequests(stats));
  if (opts.deviceInterval !== undefined) provider.use(addDeviceInterval(opts.deviceInterval));
  if (opts.metadataOverrides !== undefined) provider.use(overrideMetadata(opts.metadataOverrides));
  if (opts.tokenExchangeApiKey !== undefined) registerApiKeyExchange(provider, opts.tokenExchangeApiKey, clientId, stats);

  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = pathWithoutQuery(req.url ?? '/');
    requests.push({ method: req.method ?? '', path });
    if (path === `${mountPath}${authorizationRoute}`) authorizationRequests.push(new URL(req.url ?? '/', issuer).searchParams);
    if (opts.acceptJsonBodies && req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('application/json')) {
      void formEncoded(req).then((converted) => {
        stats.jsonBodies += 1;
        routeUnderIssuerPath(converted, res, mountPath, handle);
      });
      return;
    }
    if (opts.rewriteForm && req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      const rewrite = opts.rewriteForm;
      void rewrittenForm(req, (form) => rewrite(path, form)).then((rewritten) => routeUnderIssuerPath(rewritten, res, mountPath, handle));
      return;
    }
    routeUnderIssuerPath(req, res, mountPath, handle);
  });

  return {
    issuer,
    port,
    clientId,
    stats,
    grantErrorCodes,
    requests,
    authorizationRequests,
    grants,
    close: () => closeServer(server),
  };
}

async function loadOidcProvider(): Promise<OidcProviderModule> {
  providerModule ??= importOidcProvider();
  return providerModule;
}

async function importOidcProvider(): Promise<OidcProviderModule> {
  silenceOidcProviderNotices();
  // A variable specifier keeps TypeScript from demanding declarations oidc-provider does not ship.
  const mod: unknown = await import(OIDC_PROVIDER_SPECIFIER);
  if (!isOidcProviderModule(mod)) throw new Error('oidc-provider does not export a Provider and interactionPolicy');
  return mod;
}

function isOidcProviderModule(mod: unknown): mod is OidcProviderModule {
  if (typeof mod !== 'object' || mod === null) return false;
  const policy: unknown = Reflect.get(mod, 'interactionPolicy');
  return (
    typeof Reflect.get(mod, 'default') === 'function' &&
    typeof policy === 'object' &&
    policy !== null &&
    typeof Reflect.get(policy, 'base') === 'function'
  );
}

const OIDC_PROVIDER_NOTICE = /oidc-provider (NOTICE|WARNING):/;

// Its dev-mode and Node 20 notices are expected here and would bury test output.
function silenceOidcProviderNotices(): void {
  for (const level of ['info', 'warn'] as const) {
    const original = console[level];
    console[level] = (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && OIDC_PROVIDER_NOTICE.test(args[0])) return;
      original.apply(console, args);
    };
  }
}

function normaliseIssuerPath(path: string): string {
  if (path === '' || path === '/') return '';
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  return withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
}

function buildConfiguration(
  opts: AuthServerOptions,
  clientId: string,
  issuerPath: string,
  policy: InteractionPolicy,
): Record<string, unknown> {
  const extraClaims = opts.extraIdTokenClaims ?? {};
  // Native clients are otherwise sent to the consent page on every authorization.
  policy.get('consent')?.checks.remove('native_client_prompt');
  return {
    clients: [
      {
        client_id: clientId,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: opts.redirectUris ?? DEFAULT_REDIRECT_URIS,
        grant_types: [
          'authorization_code',
          'refresh_token',
          DEVICE_CODE_GRANT,
          ...(opts.tokenExchangeApiKey !== undefined ? [TOKEN_EXCHANGE_GRANT] : []),
        ],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [processSigningKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    claims: {
      openid: ['sub', ...Object.keys(extraClaims)],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      deviceFlow: { enabled: true },
      userinfo: { enabled: true },
    },
    pkce: { required: () => true },
    interactions: {
      policy,
      url: (_ctx: unknown, interaction: { uid: string }) => `${issuerPath}/interaction/${interaction.uid}`,
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
    // Tokens outlive the browser session: the person closes the browser, the CLI keeps working.
    expiresWithSession: async () => false,
    rotateRefreshToken: opts.rotateRefreshTokens ?? true,
    loadExistingGrant: grantRequestedScopes,
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => accountClaims(sub, extraClaims),
    }),
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 3600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
  };
}

function processSigningKey(): JsonWebKey {
  signingKey ??= {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid: 'loginkit-test-rs256',
    use: 'sig',
    alg: 'RS256',
  };
  return signingKey;
}

function accountClaims(sub: string, extraClaims: Record<string, unknown>): Record<string, unknown> {
  return {
    sub,
    email: `${sub}@example.test`,
    email_verified: true,
    name: sub,
    preferred_username: sub,
    ...extraClaims,
  };
}

// Stands in for the consent page: whatever is asked for is granted.
async function grantRequestedScopes(ctx: GrantLoadingContext): Promise<OidcGrant> {
  const { oidc } = ctx;
  const { clientId } = oidc.client;
  const existingId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(clientId);
  const existing = existingId === undefined ? undefined : await oidc.provider.Grant.find(existingId);
  const grant = existing ?? new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId });
  grant.addOIDCScope([...oidc.requestParamScopes].join(' '));
  await grant.save();
  return grant;
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

interface ExchangeContext {
  oidc: { params: Record<string, unknown>; client?: { clientId: string } };
  body: unknown;
  status: number;
}

/** OpenAI's token exchange as its server answers it: an ID token issued to this client, for an API key. */
function registerApiKeyExchange(provider: OidcProvider, apiKey: string, clientId: string, stats: AuthServerStats): void {
  const handler = async (ctx: ExchangeContext): Promise<void> => {
    const { requested_token: requested, subject_token: subject, subject_token_type: subjectType } = ctx.oidc.params;
    let audience: unknown;
    try {
      audience = JSON.parse(Buffer.from(String(subject).split('.')[1] ?? '', 'base64url').toString('utf8')).aud;
    } catch {
      audience = undefined;
    }
    const audiences = Array.isArray(audience) ? audience : [audience];
    if (requested !== 'openai-api-key' || subjectType !== 'urn:ietf:params:oauth:token-type:id_token' || !audiences.includes(clientId)) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'token exchange refused' };
      return;
    }
    stats.tokenExchanges += 1;
    ctx.body = { access_token: apiKey, token_type: 'bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' };
  };
  (provider as unknown as { registerGrantType(name: string, handler: unknown, params: string[]): void }).registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    handler,
    ['requested_token', 'subject_token', 'subject_token_type'],
  );
}

/** The same request with its JSON object body re-encoded as a form, which is what oidc-provider reads. */
async function formEncoded(req: IncomingMessage): Promise<IncomingMessage> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  const form = new URLSearchParams(
    Object.entries(typeof parsed === 'object' && parsed !== null ? parsed : {}).map(([key, value]): [string, string] => [
      key,
      String(value),
    ]),
  ).toString();
  return withFormBody(req, form);
}

/** The same request with its form body passed through `rewrite`. */
async function rewrittenForm(req: IncomingMessage, rewrite: (form: URLSearchParams) => void): Promise<IncomingMessage> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  rewrite(form);
  return withFormBody(req, form.toString());
}

function withFormBody(req: IncomingMessage, form: string): IncomingMessage {
  const converted = new IncomingMessage(req.socket);
  converted.method = req.method;
  converted.url = req.url;
  converted.httpVersion = req.httpVersion;
  converted.headers = {
    ...req.headers,
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': String(Buffer.byteLength(form)),
  };
  // Marked complete, or IncomingMessage would destroy the shared socket once the body has been read.
  converted.complete = true;
  converted.push(form);
  converted.push(null);
  return converted;
}

function newStats(): AuthServerStats {
  return {
    authorizationCodeGrants: 0,
    refreshGrants: 0,
    deviceCodeGrants: 0,
    tokenRequests: 0,
    grantErrors: 0,
    revocations: 0,
    grantsRevoked: 0,
    userinfoRequests: 0,
    jsonBodies: 0,
    tokenExchanges: 0,
  };
}

function countGrantEvents(provider: OidcProvider, stats: AuthServerStats, grantErrorCodes: string[]): void {
  provider.on('grant.success', (ctx) => {
    const grantType = readGrantType(ctx);
    if (grantType === 'authorization_code') stats.authorizationCodeGrants += 1;
    else if (grantType === 'refresh_token') stats.refreshGrants += 1;
    else if (grantType === DEVICE_CODE_GRANT) stats.deviceCodeGrants += 1;
  });
  provider.on('grant.error', (_ctx, error) => {
    const code = readErrorCode(error);
    if (code === 'authorization_pending') return;
    stats.grantErrors += 1;
    grantErrorCodes.push(code);
  });
  provider.on('grant.revoked', () => {
    stats.grantsRevoked += 1;
  });
}

function readGrantType(ctx: unknown): unknown {
  const oidc = readProperty(ctx, 'oidc');
  return readProperty(readProperty(oidc, 'params'), 'grant_type');
}

// A copy: oidc-provider's params object is its own and lives on after the request.
function readGrantParams(ctx: unknown): Record<string, unknown> {
  const params = readProperty(readProperty(ctx, 'oidc'), 'params');
  return typeof params === 'object' && params !== null ? { ...params } : {};
}

function readErrorCode(error: unknown): string {
  const code = readProperty(error, 'error');
  return typeof code === 'string' ? code : 'unknown';
}

function readProperty(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, key) : undefined;
}

function countEndpointRequests(stats: AuthServerStats) {
  return async (ctx: RoutedContext, next: () => Promise<void>): Promise<void> => {
    try {
      await next();
    } finally {
      const route = ctx.oidc?.route;
      if (route === 'token') stats.tokenRequests += 1;
      else if (route === 'userinfo') stats.userinfoRequests += 1;
      else if (route === 'revocation' && ctx.status === 200) stats.revocations += 1;
    }
  };
}

function addDeviceInterval(intervalSeconds: number) {
  return async (ctx: RoutedContext, next: () => Promise<void>): Promise<void> => {
    await next();
    if (ctx.oidc?.route !== 'device_authorization' || ctx.status !== 200) return;
    if (typeof ctx.body === 'object' && ctx.body !== null) ctx.body = { ...ctx.body, interval: intervalSeconds };
  };
}

function overrideMetadata(overrides: Record<string, unknown>) {
  return async (ctx: RoutedContext, next: () => Promise<void>): Promise<void> => {
    await next();
    if (ctx.oidc?.route !== 'discovery' || ctx.status !== 200) return;
    if (typeof ctx.body === 'object' && ctx.body !== null) ctx.body = { ...ctx.body, ...overrides };
  };
}

function pathWithoutQuery(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}

// The way Express mounts a sub-app: oidc-provider reads the mount path from `originalUrl`.
function routeUnderIssuerPath(
  req: IncomingMessage & { originalUrl?: string },
  res: ServerResponse,
  issuerPath: string,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  const url = req.url ?? '/';
  if (issuerPath === '') {
    handle(req, res);
    return;
  }
  const rest = url.slice(issuerPath.length);
  if (!url.startsWith(issuerPath) || (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?'))) {
    res.writeHead(404).end();
    return;
  }
  req.originalUrl = url;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  handle(req, res);
}

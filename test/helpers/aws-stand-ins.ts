// Loopback stand-ins for the AWS services an AWS provider calls through the real AWS SDK v3 clients:
// IAM Identity Center OIDC (RegisterClient, StartDeviceAuthorization, CreateToken, the /authorize page),
// the IAM Identity Center portal (GetRoleCredentials, Logout, ListAccounts, ListAccountRoles), STS
// (AssumeRole, GetCallerIdentity) and Bedrock Runtime (InvokeModel, Converse). Each service listens on
// its own 127.0.0.1 port, so a call sent to the wrong endpoint variable fails as it would against AWS.
// They check what AWS checks: client secrets, device and authorization codes (PKCE S256, redirect URI,
// single use), rotating refresh tokens, bearer tokens at the portal, and SigV4 signatures (recomputed with
// @smithy/signature-v4 from the secrets the stand-ins issued), Bedrock short-term API keys included.
// Errors come in each protocol's own shape (restJson1 `x-amzn-errortype`, awsQuery XML) so that the SDKs
// raise their own exception classes. Lifetimes follow the injected clock `now()`; a SigV4 signing time is
// compared with the real clock, which is the one the SDKs sign with.
import { setTimeout as delay } from 'node:timers/promises';
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';

/** The IAM Identity Center start URL the stand-ins serve unless told otherwise. */
export const DEFAULT_START_URL = 'https://d-90670000aa.awsapps.com/start';
/** The account a signed-in person is assigned to unless told otherwise. */
export const DEFAULT_ACCOUNT_ID = '111122223333';
/** The permission set (role) the person may use in DEFAULT_ACCOUNT_ID unless told otherwise. */
export const DEFAULT_ROLE_NAME = 'BedrockUser';
/** A role the IAM Identity Center role may assume (role chaining) unless told otherwise. */
export const DEFAULT_CHAINED_ROLE_ARN = `arn:aws:iam::${DEFAULT_ACCOUNT_ID}:role/loginkit-chained`;

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** The scope the portal needs on an access token from a client registered with scopes. */
const ACCOUNT_ACCESS_SCOPE = 'sso:account:access';
const MAX_BODY_BYTES = 1024 * 1024;
/** How far a SigV4 signing time may be from the server's clock, as AWS allows. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** AWS limits a session from role chaining to one hour; every role session here is one. */
const MAX_CHAINED_SESSION_SECONDS = 3600;
const BEDROCK_TOKEN_PREFIX = 'bedrock-api-key-';
const BEDROCK_TOKEN_HOST = 'bedrock.amazonaws.com';
const MAX_BEDROCK_TOKEN_SECONDS = 43_200;

/** An account and the permission sets a signed-in person may use in it. */
export interface AccountAssignment {
  accountId: string;
  accountName: string;
  roles: string[];
}

/** A role that role credentials may assume with STS AssumeRole. */
export interface AssumableRole {
  roleArn: string;
  /** When set, AssumeRole must carry exactly this ExternalId. */
  externalId?: string;
}

/** Lifetimes of what the stand-ins issue, in seconds; change them on `lifetimes` at any time. */
export interface AwsLifetimes {
  accessTokenSeconds: number;
  roleCredentialsSeconds: number;
  clientSecretSeconds: number;
  deviceCodeSeconds: number;
  authorizationCodeSeconds: number;
  /** The `interval` StartDeviceAuthorization answers; polling faster gets `slow_down`. */
  pollIntervalSeconds: number;
}

/** Options of `startAwsStandIns`. */
export interface AwsStandInsOptions {
  /** The service's clock, ms since the epoch (default Date.now): every lifetime and expiry follows it. */
  now?: () => number;
  /** The one start URL StartDeviceAuthorization and RegisterClient's issuerUrl accept. */
  startUrl?: string;
  accounts?: AccountAssignment[];
  assumableRoles?: AssumableRole[];
  /** Approve every device authorization at once, as if the person had clicked Allow already. */
  autoApproveDevice?: boolean;
  /** When set, SigV4 credential scopes for Bedrock must name this region. */
  bedrockRegion?: string;
  lifetimes?: Partial<AwsLifetimes>;
}

/** Every call each stand-in received, counted whether it succeeded or not. */
export interface AwsCallCounts {
  registerClient: number;
  startDeviceAuthorization: number;
  /** Visits to the /authorize page. */
  authorize: number;
  createToken: { deviceCode: number; authorizationCode: number; refreshToken: number; other: number };
  /** CreateToken calls that presented a refresh token already used (rotated away). */
  refreshTokenReuse: number;
  getRoleCredentials: number;
  listAccounts: number;
  listAccountRoles: number;
  logout: number;
  assumeRole: number;
  getCallerIdentity: number;
  bedrockInvoke: number;
  bedrockConverse: number;
}

/** One Bedrock Runtime call that got through authentication. */
export interface BedrockCall {
  operation: 'invoke' | 'converse';
  modelId: string;
  auth: 'sigv4' | 'bearer';
  /** The access key id that signed the request or the bearer token. */
  accessKeyId: string;
  region: string;
}

/** A request a stand-in refused, with the error name it answered. */
export interface AwsRejection {
  service: 'sso-oidc' | 'sso' | 'sts' | 'bedrock-runtime';
  operation: string;
  error: string;
}

/** AWS credentials as the stand-ins issued them; `expiration` in ms since the epoch. */
export interface IssuedAwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: number;
}

/** A signed-in IAM Identity Center session made without a sign-in flow (what `aws sso login` leaves). */
export interface SeededSession {
  clientId: string;
  clientSecret: string;
  /** ms since the epoch. */
  clientSecretExpiresAt: number;
  accessToken: string;
  /** ms since the epoch. */
  accessTokenExpiresAt: number;
  refreshToken: string | undefined;
}

/** The running stand-ins. */
export interface AwsStandIns {
  /** Origins (no trailing slash) to use as AWS_ENDPOINT_URL_SSO_OIDC, _SSO, _STS and _BEDROCK_RUNTIME. */
  urls: { ssoOidc: string; sso: string; sts: string; bedrockRuntime: string };
  /** The four endpoint variables, ready to merge into an environment. */
  env: Record<'AWS_ENDPOINT_URL_SSO_OIDC' | 'AWS_ENDPOINT_URL_SSO' | 'AWS_ENDPOINT_URL_STS' | 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME', string>;
  startUrl: string;
  calls: AwsCallCounts;
  bedrockCalls: BedrockCall[];
  rejections: AwsRejection[];
  lifetimes: AwsLifetimes;
  accounts: AccountAssignment[];
  assumableRoles: AssumableRole[];
  /** What the /authorize page does: 'allow' (default, like clicking Allow) or 'deny'. */
  authorizeDecision: 'allow' | 'deny';
  /** Milliseconds every IAM Identity Center answer (OIDC and portal) waits: widens races between processes. */
  latencyMs: number;
  /** The service's clock. */
  now(): number;
  /** User codes of device authorizations still waiting for the person. */
  pendingUserCodes(): string[];
  /** The person approves the device authorization showing `userCode`; throws if there is none pending. */
  approveDevice(userCode: string): void;
  /** The person denies it: the next poll gets `access_denied`. */
  denyDevice(userCode: string): void;
  /** Every refresh token stops working (InvalidGrantException), as when the session's duration ends. */
  revokeRefreshTokens(): void;
  /** Every access token stops working at the portal (UnauthorizedException). */
  revokeAccessTokens(): void;
  /** The IAM Identity Center session ends: both of the above. */
  expireSession(): void;
  /** Every issued AWS credential is expired from now on (ExpiredToken at STS and Bedrock). */
  expireRoleCredentials(): void;
  /** Whether the portal would accept this access token now. */
  isAccessTokenActive(accessToken: string): boolean;
  /** Registers a client and signs a person in directly, for tests that start signed in. */
  seedSession(options?: { scopes?: string[]; withRefreshToken?: boolean }): SeededSession;
  /** Issues role credentials as GetRoleCredentials would, for tests that start with credentials. */
  issueRoleCredentials(accountId?: string, roleName?: string): IssuedAwsCredentials;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// State

interface RegisteredClient {
  clientId: string;
  clientSecret: string;
  secretExpiresAt: number;
  scopes: string[] | undefined;
  grantTypes: string[] | undefined;
  redirectUris: string[];
}

interface DeviceGrant {
  deviceCode: string;
  userCode: string;
  clientId: string;
  expiresAt: number;
  status: 'pending' | 'approved' | 'denied' | 'used';
  lastPollAt: number | undefined;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
  used: boolean;
}

/** One sign-in: its access and refresh tokens live and die together. */
interface Grant {
  clientId: string;
  scopes: string[] | undefined;
}

interface AccessTokenRecord {
  grant: Grant;
  expiresAt: number;
  revoked: boolean;
}

interface RefreshTokenRecord {
  grant: Grant;
  status: 'live' | 'used' | 'revoked';
}

interface CredentialRecord extends IssuedAwsCredentials {
  /** The identity the credentials are a session of, e.g. arn:aws:sts::1111:assumed-role/Role/session. */
  arn: string;
  accountId: string;
}

interface State {
  options: Required<Pick<AwsStandInsOptions, 'startUrl' | 'autoApproveDevice'>> & Pick<AwsStandInsOptions, 'bedrockRegion'>;
  handle: AwsStandIns;
  clients: Map<string, RegisteredClient>;
  devices: Map<string, DeviceGrant>;
  codes: Map<string, AuthorizationCode>;
  accessTokens: Map<string, AccessTokenRecord>;
  refreshTokens: Map<string, RefreshTokenRecord>;
  credentials: Map<string, CredentialRecord>;
}

// ---------------------------------------------------------------------------------------------------
// Start

/** Starts the four stand-ins on 127.0.0.1; `close()` stops them and drops their connections. */
export async function startAwsStandIns(options: AwsStandInsOptions = {}): Promise<AwsStandIns> {
  const now = options.now ?? Date.now;
  const servers = await Promise.all([0, 1, 2, 3].map(() => startPolyglotServer()));
  const [ssoOidc, sso, sts, bedrockRuntime] = servers.map((server) => server.url) as [string, string, string, string];
  const startUrl = options.startUrl ?? DEFAULT_START_URL;
  const handle: AwsStandIns = {
    urls: { ssoOidc, sso, sts, bedrockRuntime },
    env: {
      AWS_ENDPOINT_URL_SSO_OIDC: ssoOidc,
      AWS_ENDPOINT_URL_SSO: sso,
      AWS_ENDPOINT_URL_STS: sts,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrockRuntime,
    },
    startUrl,
    calls: {
      registerClient: 0,
      startDeviceAuthorization: 0,
      authorize: 0,
      createToken: { deviceCode: 0, authorizationCode: 0, refreshToken: 0, other: 0 },
      refreshTokenReuse: 0,
      getRoleCredentials: 0,
      listAccounts: 0,
      listAccountRoles: 0,
      logout: 0,
      assumeRole: 0,
      getCallerIdentity: 0,
      bedrockInvoke: 0,
      bedrockConverse: 0,
    },
    bedrockCalls: [],
    rejections: [],
    lifetimes: {
      accessTokenSeconds: 3600,
      roleCredentialsSeconds: 3600,
      clientSecretSeconds: 90 * 86_400,
      deviceCodeSeconds: 600,
      authorizationCodeSeconds: 300,
      pollIntervalSeconds: 1,
      ...options.lifetimes,
    },
    accounts: options.accounts ?? [{ accountId: DEFAULT_ACCOUNT_ID, accountName: 'loginkit-test', roles: [DEFAULT_ROLE_NAME] }],
    assumableRoles: options.assumableRoles ?? [{ roleArn: DEFAULT_CHAINED_ROLE_ARN }],
    authorizeDecision: 'allow',
    latencyMs: 0,
    now,
    pendingUserCodes: () => [...state.devices.values()].filter((d) => d.status === 'pending' && d.expiresAt > now()).map((d) => d.userCode),
    approveDevice: (userCode) => decideDevice(state, userCode, 'approved'),
    denyDevice: (userCode) => decideDevice(state, userCode, 'denied'),
    revokeRefreshTokens: () => state.refreshTokens.forEach((record) => (record.status = 'revoked')),
    revokeAccessTokens: () => state.accessTokens.forEach((record) => (record.revoked = true)),
    expireSession: () => {
      handle.revokeRefreshTokens();
      handle.revokeAccessTokens();
    },
    expireRoleCredentials: () => state.credentials.forEach((record) => (record.expiration = Math.min(record.expiration, now()))),
    isAccessTokenActive: (accessToken) => activeAccessToken(state, accessToken) !== undefined,
    seedSession: (seed = {}) => seedSession(state, seed),
    issueRoleCredentials: (accountId = DEFAULT_ACCOUNT_ID, roleName = DEFAULT_ROLE_NAME) =>
      issueRoleCredentials(state, accountId, roleName),
    close: async () => {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
  const state: State = {
    options: { startUrl, autoApproveDevice: options.autoApproveDevice ?? false, bedrockRegion: options.bedrockRegion },
    handle,
    clients: new Map(),
    devices: new Map(),
    codes: new Map(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    credentials: new Map(),
  };
  const [oidcServer, ssoServer, stsServer, bedrockServer] = servers as [PolyglotServer, PolyglotServer, PolyglotServer, PolyglotServer];
  oidcServer.handler = (request) => handleSsoOidc(state, request);
  ssoServer.handler = (request) => handleSso(state, request);
  stsServer.handler = (request) => handleSts(state, request);
  bedrockServer.handler = (request) => handleBedrock(state, request);
  return handle;
}

function decideDevice(state: State, userCode: string, decision: 'approved' | 'denied'): void {
  const grant = [...state.devices.values()].find((d) => d.userCode === userCode && d.status === 'pending');
  if (!grant) throw new Error(`no pending device authorization shows user code ${userCode}`);
  grant.status = decision;
}

// ---------------------------------------------------------------------------------------------------
// HTTP plumbing: one port per service that speaks HTTP/1.1 and cleartext HTTP/2 (the Bedrock Runtime
// client's default handler is HTTP/2; fetch-based SDKs speak HTTP/1.1).

/** A request as the stand-ins read it: the raw path (still percent-encoded) and the whole body. */
interface Incoming {
  method: string;
  rawPath: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface PolyglotServer {
  url: string;
  handler: (request: Incoming) => Promise<Reply> | Reply;
  close(): Promise<void>;
}

async function startPolyglotServer(): Promise<PolyglotServer> {
  const sockets = new Set<Socket>();
  const server: PolyglotServer = {
    url: '',
    handler: () => textReply(503, 'not ready'),
    close: async () => {
      await new Promise<void>((resolve) => {
        front.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
  const serve = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    void readIncoming(req)
      .then((incoming) => (incoming ? server.handler(incoming) : textReply(413, 'request body too large')))
      .catch((error: unknown) => textReply(500, String(error)))
      .then((reply) => writeReply(res, reply));
  };
  const http1 = createHttp1Server(serve);
  const http2 = createHttp2Server(serve);
  const front = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', (first) => {
      socket.pause();
      if (first.subarray(0, 4).toString('latin1') === 'PRI ') {
        // The HTTP/2 session reads the socket's handle directly, so the first chunk is replayed through a stream.
        http2.emit('connection', replayingStream(socket, first));
        return;
      }
      socket.unshift(first);
      http1.emit('connection', socket);
      socket.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(0, '127.0.0.1', () => resolve());
  });
  const address = front.address();
  if (address === null || typeof address === 'string') throw new Error('stand-in is not listening on a TCP port');
  server.url = `http://127.0.0.1:${address.port}`;
  return server;
}

function replayingStream(socket: Socket, first: Buffer): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (error, callback) => {
      socket.destroy();
      callback(error);
    },
  });
  stream.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  return stream;
}

async function readIncoming(req: IncomingMessage | Http2ServerRequest): Promise<Incoming | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  const target = req.url ?? '/';
  const mark = target.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // Over HTTP/2 the SDKs sign the :authority pseudo-header in place of host.
    if (value !== undefined && (name === ':authority' || !name.startsWith(':')))
      headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return {
    method: req.method ?? 'GET',
    rawPath: mark < 0 ? target : target.slice(0, mark),
    query: new URLSearchParams(mark < 0 ? '' : target.slice(mark + 1)),
    headers,
    body: Buffer.concat(chunks),
  };
}

function writeReply(res: ServerResponse | Http2ServerResponse, reply: Reply): void {
  const out: { writeHead(status: number, headers: Record<string, string>): unknown; end(body: string): unknown } = res;
  out.writeHead(reply.status, reply.headers);
  out.end(reply.body);
}

function textReply(status: number, body: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body };
}

function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId(), ...headers },
    body: JSON.stringify(body),
  };
}

/** A restJson1 error: the SDK takes the exception name from `x-amzn-errortype` (part before the colon). */
function restJsonError(status: number, name: string, body: Record<string, string>): Reply {
  return jsonReply(status, body, { 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazonaws.stand-in/` });
}

function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8') || '{}');
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function stringListField(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name];
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Random values shaped like AWS's

const UPPER32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const USER_CODE_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';

function pick(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

function opaque(prefix: string, bytes: number): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

function requestId(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function newCredentials(state: State, arn: string, accountId: string, seconds: number): CredentialRecord {
  const record: CredentialRecord = {
    accessKeyId: `ASIA${pick(UPPER32, 16)}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(240).toString('base64')}`,
    expiration: Math.floor(state.handle.now() / 1000) * 1000 + seconds * 1000,
    arn,
    accountId,
  };
  state.credentials.set(record.accessKeyId, record);
  return record;
}

function publicCredentials(record: CredentialRecord): IssuedAwsCredentials {
  return {
    accessKeyId: record.accessKeyId,
    secretAccessKey: record.secretAccessKey,
    sessionToken: record.sessionToken,
    expiration: record.expiration,
  };
}

// ---------------------------------------------------------------------------------------------------
// IAM Identity Center OIDC (restJson1)

type OidcErrorName =
  | 'InvalidClientException'
  | 'InvalidClientMetadataException'
  | 'InvalidRedirectUriException'
  | 'InvalidRequestException'
  | 'InvalidGrantException'
  | 'InvalidScopeException'
  | 'UnauthorizedClientException'
  | 'UnsupportedGrantTypeException'
  | 'AuthorizationPendingException'
  | 'SlowDownException'
  | 'AccessDeniedException'
  | 'ExpiredTokenException';

const OIDC_ERROR_CODES: Record<OidcErrorName, string> = {
  InvalidClientException: 'invalid_client',
  InvalidClientMetadataException: 'invalid_client_metadata',
  InvalidRedirectUriException: 'invalid_redirect_uri',
  InvalidRequestException: 'invalid_request',
  InvalidGrantException: 'invalid_grant',
  InvalidScopeException: 'invalid_scope',
  UnauthorizedClientException: 'unauthorized_client',
  UnsupportedGrantTypeException: 'unsupported_grant_type',
  AuthorizationPendingException: 'authorization_pending',
  SlowDownException: 'slow_down',
  AccessDeniedException: 'access_denied',
  ExpiredTokenException: 'expired_token',
};

class OidcFailure extends Error {
  constructor(
    readonly errorName: OidcErrorName,
    readonly description: string,
  ) {
    super(description);
  }
}

async function handleSsoOidc(state: State, request: Incoming): Promise<Reply> {
  await delay(state.handle.latencyMs);
  const route = `${request.method} ${request.rawPath}`;
  const operation =
    route === 'POST /client/register'
      ? registerClient
      : route === 'POST /device_authorization'
        ? startDeviceAuthorization
        : route === 'POST /token'
          ? createToken
          : undefined;
  if (route === 'GET /authorize') return authorize(state, request);
  if (route === 'GET /device') return devicePage(state, request);
  if (!operation) return restJsonError(404, 'UnknownOperationException', { message: `no operation at ${route}` });
  const body = parseJsonObject(request.body);
  try {
    if (!body) throw new OidcFailure('InvalidRequestException', 'The request body is not a JSON object.');
    return jsonReply(200, operation(state, body));
  } catch (error) {
    if (!(error instanceof OidcFailure)) throw error;
    state.handle.rejections.push({ service: 'sso-oidc', operation: operation.name, error: error.errorName });
    const status = error.errorName === 'InvalidClientException' ? 401 : 400;
    return restJsonError(status, error.errorName, { error: OIDC_ERROR_CODES[error.errorName], error_description: error.description });
  }
}

function registerClient(state: State, body: Record<string, unknown>): Record<string, unknown> {
  state.handle.calls.registerClient++;
  const client = addClient(state, body);
  return {
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    clientIdIssuedAt: Math.floor(state.handle.now() / 1000),
    clientSecretExpiresAt: client.secretExpiresAt / 1000,
  };
}

function addClient(state: State, body: Record<string, unknown>): RegisteredClient {
  const clientName = stringField(body, 'clientName');
  if (!clientName) throw new OidcFailure('InvalidRequestException', 'clientName is required.');
  if (body.clientType !== 'public') throw new OidcFailure('InvalidClientMetadataException', 'clientType must be public.');
  const grantTypes = stringListField(body, 'grantTypes');
  const redirectUris = stringListField(body, 'redirectUris') ?? [];
  const known = [DEVICE_GRANT, 'authorization_code', 'refresh_token'];
  if (grantTypes?.some((grant) => !known.includes(grant))) throw new OidcFailure('InvalidClientMetadataException', 'Unknown grant type.');
  if (grantTypes?.includes('authorization_code')) {
    if (redirectUris.length === 0)
      throw new OidcFailure('InvalidRedirectUriException', 'redirectUris are required for authorization_code.');
    if (stringField(body, 'issuerUrl') !== state.options.startUrl)
      throw new OidcFailure('InvalidRequestException', 'issuerUrl is not a known start URL.');
  }
  if (!redirectUris.every(isAcceptableRedirectUri)) throw new OidcFailure('InvalidRedirectUriException', 'A redirect URI is not allowed.');
  const client: RegisteredClient = {
    clientId: opaque('', 16),
    clientSecret: opaque('eyJraWQiOiJrZXktc3RhbmQtaW4iLCJhbGciOiJIUzM4NCJ9.', 96),
    secretExpiresAt: Math.floor(state.handle.now() / 1000) * 1000 + state.handle.lifetimes.clientSecretSeconds * 1000,
    scopes: stringListField(body, 'scopes'),
    grantTypes,
    redirectUris,
  };
  state.clients.set(client.clientId, client);
  return client;
}

/** https anywhere, or http on a loopback address (RFC 8252). */
function isAcceptableRedirectUri(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname));
  } catch {
    return false;
  }
}

/** Exact match, or a loopback URI registered without a port, which matches any port (RFC 8252 §7.3, as the AWS CLI registers). */
function redirectUriRegistered(client: RegisteredClient, uri: string): boolean {
  if (client.redirectUris.includes(uri)) return true;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' || url.port === '') return false;
  url.port = '';
  return client.redirectUris.includes(url.href);
}

function authenticateClient(state: State, body: Record<string, unknown>): RegisteredClient {
  const client = state.clients.get(stringField(body, 'clientId') ?? '');
  const secret = stringField(body, 'clientSecret') ?? '';
  if (!client || !safeEqual(client.clientSecret, secret)) throw new OidcFailure('InvalidClientException', 'Invalid client credentials.');
  if (client.secretExpiresAt <= state.handle.now()) throw new OidcFailure('InvalidClientException', 'The client secret has expired.');
  return client;
}

function startDeviceAuthorization(state: State, body: Record<string, unknown>): Record<string, unknown> {
  state.handle.calls.startDeviceAuthorization++;
  const client = authenticateClient(state, body);
  if (stringField(body, 'startUrl') !== state.options.startUrl) throw new OidcFailure('InvalidRequestException', 'Invalid start URL.');
  const { lifetimes } = state.handle;
  const grant: DeviceGrant = {
    deviceCode: opaque('', 48),
    userCode: `${pick(USER_CODE_LETTERS, 4)}-${pick(USER_CODE_LETTERS, 4)}`,
    clientId: client.clientId,
    expiresAt: state.handle.now() + lifetimes.deviceCodeSeconds * 1000,
    status: state.options.autoApproveDevice ? 'approved' : 'pending',
    lastPollAt: undefined,
  };
  state.devices.set(grant.deviceCode, grant);
  const verificationUri = `${state.handle.urls.ssoOidc}/device`;
  return {
    deviceCode: grant.deviceCode,
    userCode: grant.userCode,
    verificationUri,
    verificationUriComplete: `${verificationUri}?user_code=${grant.userCode}`,
    expiresIn: lifetimes.deviceCodeSeconds,
    interval: lifetimes.pollIntervalSeconds,
  };
}

/** The verification page: opening it (with the code filled in) is the person approving. */
function devicePage(state: State, request: Incoming): Reply {
  const userCode = request.query.get('user_code') ?? '';
  if (!state.handle.pendingUserCodes().includes(userCode)) return textReply(400, 'Unknown or expired code.');
  decideDevice(state, userCode, 'approved');
  return textReply(200, 'Request approved. You can close this window.');
}

function createToken(state: State, body: Record<string, unknown>): Record<string, unknown> {
  const grantType = stringField(body, 'grantType') ?? '';
  const { calls } = state.handle;
  if (grantType === DEVICE_GRANT) calls.createToken.deviceCode++;
  else if (grantType === 'authorization_code') calls.createToken.authorizationCode++;
  else if (grantType === 'refresh_token') calls.createToken.refreshToken++;
  else calls.createToken.other++;
  const client = authenticateClient(state, body);
  if (![DEVICE_GRANT, 'authorization_code', 'refresh_token'].includes(grantType)) {
    throw new OidcFailure('UnsupportedGrantTypeException', 'Unsupported grant type.');
  }
  const allowed = client.grantTypes ?? [DEVICE_GRANT, 'refresh_token'];
  if (!allowed.includes(grantType))
    throw new OidcFailure('UnauthorizedClientException', 'The client is not registered for this grant type.');
  if (grantType === DEVICE_GRANT) return redeemDeviceCode(state, client, body);
  if (grantType === 'authorization_code') return redeemAuthorizationCode(state, client, body);
  return redeemRefreshToken(state, client, body);
}

function redeemDeviceCode(state: State, client: RegisteredClient, body: Record<string, unknown>): Record<string, unknown> {
  const grant = state.devices.get(stringField(body, 'deviceCode') ?? '');
  if (!grant || grant.clientId !== client.clientId || grant.status === 'used')
    throw new OidcFailure('InvalidGrantException', 'Invalid device code.');
  const now = state.handle.now();
  if (grant.expiresAt <= now) throw new OidcFailure('ExpiredTokenException', 'The device code has expired.');
  if (grant.status === 'denied') throw new OidcFailure('AccessDeniedException', 'The person denied the request.');
  const tooSoon = grant.lastPollAt !== undefined && now - grant.lastPollAt < state.handle.lifetimes.pollIntervalSeconds * 1000;
  grant.lastPollAt = now;
  if (grant.status === 'pending') {
    if (tooSoon) throw new OidcFailure('SlowDownException', 'Client is polling too fast.');
    throw new OidcFailure('AuthorizationPendingException', 'Authorization is still pending.');
  }
  grant.status = 'used';
  return issueTokens(state, { clientId: client.clientId, scopes: client.scopes }, client);
}

function redeemAuthorizationCode(state: State, client: RegisteredClient, body: Record<string, unknown>): Record<string, unknown> {
  const code = state.codes.get(stringField(body, 'code') ?? '');
  if (!code || code.used || code.clientId !== client.clientId || code.expiresAt <= state.handle.now()) {
    throw new OidcFailure('InvalidGrantException', 'Invalid authorization code.');
  }
  code.used = true;
  if (stringField(body, 'redirectUri') !== code.redirectUri) throw new OidcFailure('InvalidGrantException', 'redirect_uri does not match.');
  const verifier = stringField(body, 'codeVerifier') ?? '';
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !safeEqual(challenge, code.codeChallenge)) {
    throw new OidcFailure('InvalidGrantException', 'code_verifier does not match the code challenge.');
  }
  return issueTokens(state, { clientId: client.clientId, scopes: client.scopes }, client);
}

function redeemRefreshToken(state: State, client: RegisteredClient, body: Record<string, unknown>): Record<string, unknown> {
  const record = state.refreshTokens.get(stringField(body, 'refreshToken') ?? '');
  if (record?.status === 'used') state.handle.calls.refreshTokenReuse++;
  if (!record || record.status !== 'live' || record.grant.clientId !== client.clientId) {
    throw new OidcFailure('InvalidGrantException', 'Invalid refresh token provided.');
  }
  record.status = 'used';
  return issueTokens(state, record.grant, client);
}

/** A new access token, and a new refresh token when the client registered for the refresh_token grant. */
function issueTokens(state: State, grant: Grant, client: RegisteredClient): Record<string, unknown> {
  const seconds = state.handle.lifetimes.accessTokenSeconds;
  const accessToken = opaque('aoa', 96);
  state.accessTokens.set(accessToken, { grant, expiresAt: state.handle.now() + seconds * 1000, revoked: false });
  const answer: Record<string, unknown> = { accessToken, tokenType: 'Bearer', expiresIn: seconds };
  if (client.grantTypes?.includes('refresh_token')) {
    const refreshToken = opaque('aor', 96);
    state.refreshTokens.set(refreshToken, { grant, status: 'live' });
    answer.refreshToken = refreshToken;
  }
  return answer;
}

/** The sign-in page of the browser flow; the person is signed in and clicks Allow (or Deny, see `authorizeDecision`). */
function authorize(state: State, request: Incoming): Reply {
  state.handle.calls.authorize++;
  const q = request.query;
  const client = state.clients.get(q.get('client_id') ?? '');
  const redirectUri = q.get('redirect_uri') ?? '';
  if (!client || !client.grantTypes?.includes('authorization_code') || !redirectUriRegistered(client, redirectUri)) {
    // Never redirect to a URI that is not the client's.
    state.handle.rejections.push({ service: 'sso-oidc', operation: 'authorize', error: 'invalid_request' });
    return textReply(400, 'Invalid client or redirect_uri.');
  }
  const back = new URL(redirectUri);
  const returnedState = q.get('state');
  if (returnedState !== null) back.searchParams.set('state', returnedState);
  const challenge = q.get('code_challenge') ?? '';
  const problem =
    q.get('response_type') !== 'code'
      ? 'unsupported_response_type'
      : q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge)
        ? 'invalid_request'
        : state.handle.authorizeDecision === 'deny'
          ? 'access_denied'
          : undefined;
  if (problem) {
    state.handle.rejections.push({ service: 'sso-oidc', operation: 'authorize', error: problem });
    back.searchParams.set('error', problem);
    return { status: 302, headers: { location: back.href }, body: '' };
  }
  const code = opaque('', 32);
  state.codes.set(code, {
    clientId: client.clientId,
    redirectUri,
    codeChallenge: challenge,
    expiresAt: state.handle.now() + state.handle.lifetimes.authorizationCodeSeconds * 1000,
    used: false,
  });
  back.searchParams.set('code', code);
  return { status: 302, headers: { location: back.href }, body: '' };
}

function seedSession(state: State, seed: { scopes?: string[]; withRefreshToken?: boolean }): SeededSession {
  const body: Record<string, unknown> = { clientName: 'seeded', clientType: 'public', scopes: seed.scopes ?? [ACCOUNT_ACCESS_SCOPE] };
  if (seed.withRefreshToken ?? true) body.grantTypes = [DEVICE_GRANT, 'refresh_token'];
  const client = addClient(state, body);
  const tokens = issueTokens(state, { clientId: client.clientId, scopes: client.scopes }, client);
  const accessToken = String(tokens.accessToken);
  return {
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    clientSecretExpiresAt: client.secretExpiresAt,
    accessToken,
    accessTokenExpiresAt: (state.accessTokens.get(accessToken) as AccessTokenRecord).expiresAt,
    refreshToken: typeof tokens.refreshToken === 'string' ? tokens.refreshToken : undefined,
  };
}

// ---------------------------------------------------------------------------------------------------
// IAM Identity Center portal (restJson1, bearer token in x-amz-sso_bearer_token)

function activeAccessToken(state: State, token: string): AccessTokenRecord | undefined {
  const record = state.accessTokens.get(token);
  return record && !record.revoked && record.expiresAt > state.handle.now() ? record : undefined;
}

async function handleSso(state: State, request: Incoming): Promise<Reply> {
  await delay(state.handle.latencyMs);
  const route = `${request.method} ${request.rawPath}`;
  const operations: Record<
    string,
    { name: 'getRoleCredentials' | 'listAccounts' | 'listAccountRoles' | 'logout'; run: (record: AccessTokenRecord) => Reply }
  > = {
    'GET /federation/credentials': { name: 'getRoleCredentials', run: () => getRoleCredentials(state, request) },
    'GET /assignment/accounts': { name: 'listAccounts', run: () => listAccounts(state) },
    'GET /assignment/roles': { name: 'listAccountRoles', run: () => listAccountRoles(state, request) },
    'POST /logout': { name: 'logout', run: (record) => logout(state, record) },
  };
  const operation = operations[route];
  if (!operation) return restJsonError(404, 'UnknownOperationException', { message: `no operation at ${route}` });
  state.handle.calls[operation.name]++;
  const record = activeAccessToken(state, request.headers['x-amz-sso_bearer_token'] ?? '');
  if (!record || !hasAccountAccess(record)) {
    state.handle.rejections.push({ service: 'sso', operation: operation.name, error: 'UnauthorizedException' });
    return restJsonError(401, 'UnauthorizedException', { message: 'Session token not found or invalid' });
  }
  return operation.run(record);
}

/** A token from a client registered with scopes reaches the portal only with sso:account:access. */
function hasAccountAccess(record: AccessTokenRecord): boolean {
  return record.grant.scopes === undefined || record.grant.scopes.includes(ACCOUNT_ACCESS_SCOPE);
}

function getRoleCredentials(state: State, request: Incoming): Reply {
  const accountId = request.query.get('account_id');
  const roleName = request.query.get('role_name');
  if (!accountId || !roleName) {
    state.handle.rejections.push({ service: 'sso', operation: 'getRoleCredentials', error: 'InvalidRequestException' });
    return restJsonError(400, 'InvalidRequestException', { message: 'account_id and role_name are required' });
  }
  if (!state.handle.accounts.some((a) => a.accountId === accountId && a.roles.includes(roleName))) {
    state.handle.rejections.push({ service: 'sso', operation: 'getRoleCredentials', error: 'ForbiddenException' });
    return restJsonError(403, 'ForbiddenException', { message: 'No access' });
  }
  const record = issueRoleCredentialsRecord(state, accountId, roleName);
  return jsonReply(200, { roleCredentials: publicCredentials(record) });
}

function issueRoleCredentialsRecord(state: State, accountId: string, roleName: string): CredentialRecord {
  const arn = `arn:aws:sts::${accountId}:assumed-role/AWSReservedSSO_${roleName}_0123456789abcdef/person@example.com`;
  return newCredentials(state, arn, accountId, state.handle.lifetimes.roleCredentialsSeconds);
}

function issueRoleCredentials(state: State, accountId: string, roleName: string): IssuedAwsCredentials {
  return publicCredentials(issueRoleCredentialsRecord(state, accountId, roleName));
}

function listAccounts(state: State): Reply {
  return jsonReply(200, {
    accountList: state.handle.accounts.map((a) => ({
      accountId: a.accountId,
      accountName: a.accountName,
      emailAddress: 'aws@example.com',
    })),
  });
}

function listAccountRoles(state: State, request: Incoming): Reply {
  const account = state.handle.accounts.find((a) => a.accountId === request.query.get('account_id'));
  return jsonReply(200, { roleList: (account?.roles ?? []).map((roleName) => ({ roleName, accountId: account?.accountId })) });
}

/** Ends the sign-in: its access and refresh tokens; role credentials already issued stay valid, as with AWS. */
function logout(state: State, record: AccessTokenRecord): Reply {
  for (const token of state.accessTokens.values()) if (token.grant === record.grant) token.revoked = true;
  for (const token of state.refreshTokens.values()) if (token.grant === record.grant && token.status === 'live') token.status = 'revoked';
  return { status: 200, headers: { 'x-amzn-requestid': requestId() }, body: '' };
}

// ---------------------------------------------------------------------------------------------------
// SigV4 verification, with the signer the SDKs use

type SignedRequest = Parameters<SignatureV4['presign']>[0];

/** SHA-256 (or HMAC-SHA-256 with a key) on node:crypto, in the shape SignatureV4 expects. */
class NodeSha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

function toBytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

type AuthProblem = 'missing' | 'malformed' | 'unknown-key' | 'bad-token' | 'signature' | 'scope' | 'skew' | 'expired';

type Verdict = { ok: true; credentials: CredentialRecord; region: string } | { ok: false; problem: AuthProblem };

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** 20261206T040000Z → Date, or undefined. */
function parseAmzDate(value: string | null | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
}

function queryRecord(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    out[key] = values.length === 1 ? (values[0] as string) : values;
  }
  return out;
}

function signerFor(credentials: CredentialRecord, region: string, service: string): SignatureV4 {
  const { accessKeyId, secretAccessKey, sessionToken } = credentials;
  return new SignatureV4({
    credentials: { accessKeyId, secretAccessKey, sessionToken },
    region,
    service,
    sha256: NodeSha256,
    applyChecksum: false,
    uriEscapePath: true,
  });
}

/** Checks an `Authorization: AWS4-HMAC-SHA256 …` request for `service` by signing it again with the issued secret. */
async function verifySigV4(state: State, request: Incoming, service: string, region: string | undefined): Promise<Verdict> {
  const authorization = request.headers.authorization;
  if (!authorization) return { ok: false, problem: 'missing' };
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/([^/\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;_.:-]+), ?Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!m) return { ok: false, problem: 'malformed' };
  const [, accessKeyId, scopeDate, scopeRegion, scopeService, signedHeaderList, signature] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const credentials = state.credentials.get(accessKeyId);
  if (!credentials) return { ok: false, problem: 'unknown-key' };
  if (scopeService !== service || (region !== undefined && scopeRegion !== region)) return { ok: false, problem: 'scope' };
  const signedNames = signedHeaderList.split(';');
  const signingDate = parseAmzDate(request.headers['x-amz-date']);
  const hostSigned = signedNames.includes('host') || signedNames.includes(':authority');
  if (!signingDate || !signedNames.includes('x-amz-date') || !hostSigned) return { ok: false, problem: 'malformed' };
  if (Math.abs(Date.now() - signingDate.getTime()) > MAX_CLOCK_SKEW_MS) return { ok: false, problem: 'skew' };
  if (!safeEqual(request.headers['x-amz-security-token'] ?? '', credentials.sessionToken)) return { ok: false, problem: 'bad-token' };
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const claimedHash = request.headers['x-amz-content-sha256'];
  if (claimedHash !== undefined && claimedHash !== bodyHash) return { ok: false, problem: 'signature' };
  const headers: Record<string, string> = {};
  for (const name of signedNames) {
    const value = request.headers[name];
    if (value === undefined) return { ok: false, problem: 'signature' };
    headers[name] = value;
  }
  const toSign: SignedRequest = {
    method: request.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: request.rawPath,
    query: queryRecord(request.query),
    headers,
    body: request.body,
  };
  const signed = await signerFor(credentials, scopeRegion, service).sign(toSign, { signingDate, signableHeaders: new Set(signedNames) });
  const expected = /Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(signed.headers.authorization ?? '');
  const sameScope = expected?.[1] === `${accessKeyId}/${scopeDate}/${scopeRegion}/${service}/aws4_request`;
  if (!expected || !sameScope || expected[2] !== signedHeaderList || !safeEqual(expected[3] as string, signature)) {
    return { ok: false, problem: 'signature' };
  }
  if (credentials.expiration <= state.handle.now()) return { ok: false, problem: 'expired' };
  return { ok: true, credentials, region: scopeRegion };
}

/** Checks a Bedrock short-term API key: base64 of a SigV4-presigned `CallWithBearerToken` URL. */
async function verifyBedrockToken(state: State, token: string, region: string | undefined): Promise<Verdict> {
  if (!token.startsWith(BEDROCK_TOKEN_PREFIX)) return { ok: false, problem: 'malformed' };
  let url: URL;
  try {
    url = new URL(`https://${Buffer.from(token.slice(BEDROCK_TOKEN_PREFIX.length), 'base64').toString('utf8')}`);
  } catch {
    return { ok: false, problem: 'malformed' };
  }
  const q = url.searchParams;
  if (url.host !== BEDROCK_TOKEN_HOST || url.pathname !== '/' || q.get('Action') !== 'CallWithBearerToken' || q.get('Version') !== '1') {
    return { ok: false, problem: 'malformed' };
  }
  const credential = /^([^/]+)\/(\d{8})\/([^/]+)\/bedrock\/aws4_request$/.exec(q.get('X-Amz-Credential') ?? '');
  const signingDate = parseAmzDate(q.get('X-Amz-Date'));
  const expiresIn = Number(q.get('X-Amz-Expires'));
  if (!credential || !signingDate || q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || q.get('X-Amz-SignedHeaders') !== 'host') {
    return { ok: false, problem: 'malformed' };
  }
  if (!Number.isInteger(expiresIn) || expiresIn <= 0 || expiresIn > MAX_BEDROCK_TOKEN_SECONDS) return { ok: false, problem: 'malformed' };
  const [, accessKeyId, , scopeRegion] = credential as unknown as [string, string, string, string];
  const credentials = state.credentials.get(accessKeyId);
  if (!credentials) return { ok: false, problem: 'unknown-key' };
  if (region !== undefined && scopeRegion !== region) return { ok: false, problem: 'scope' };
  if (!safeEqual(q.get('X-Amz-Security-Token') ?? '', credentials.sessionToken)) return { ok: false, problem: 'bad-token' };
  const unsigned: SignedRequest = {
    method: 'POST',
    protocol: 'https:',
    hostname: BEDROCK_TOKEN_HOST,
    path: '/',
    query: { Action: 'CallWithBearerToken' },
    headers: { host: BEDROCK_TOKEN_HOST },
  };
  const presigned = await signerFor(credentials, scopeRegion, 'bedrock').presign(unsigned, { signingDate, expiresIn });
  if (!safeEqual(String(presigned.query?.['X-Amz-Signature'] ?? ''), q.get('X-Amz-Signature') ?? ''))
    return { ok: false, problem: 'signature' };
  // The generator dates the key with the real clock; the credentials' lifetime follows the stand-ins' clock.
  if (signingDate.getTime() + expiresIn * 1000 <= Date.now() || credentials.expiration <= state.handle.now())
    return { ok: false, problem: 'expired' };
  return { ok: true, credentials, region: scopeRegion };
}

// ---------------------------------------------------------------------------------------------------
// STS (awsQuery: form-encoded request, XML answer)

const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function stsError(status: number, code: string, message: string): Reply {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  const body = `<ErrorResponse xmlns="${STS_NAMESPACE}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`;
  return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId() }, body };
}

function stsResult(action: string, inner: string): Reply {
  const body = `<${action}Response xmlns="${STS_NAMESPACE}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`;
  return { status: 200, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId() }, body };
}

const STS_AUTH_ERRORS: Record<AuthProblem, [number, string, string]> = {
  missing: [403, 'MissingAuthenticationToken', 'Request is missing Authentication Token'],
  malformed: [400, 'IncompleteSignature', 'The request signature does not conform to AWS standards.'],
  'unknown-key': [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'],
  'bad-token': [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'],
  signature: [
    403,
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  ],
  scope: [403, 'SignatureDoesNotMatch', "Credential should be scoped to correct service: 'sts'."],
  skew: [403, 'SignatureDoesNotMatch', 'Signature expired: the signing time is more than 5 minutes away from the server time.'],
  expired: [400, 'ExpiredToken', 'The security token included in the request is expired'],
};

async function handleSts(state: State, request: Incoming): Promise<Reply> {
  if (
    request.method !== 'POST' ||
    request.rawPath !== '/' ||
    !/^application\/x-www-form-urlencoded/.test(request.headers['content-type'] ?? '')
  ) {
    return stsError(400, 'InvalidAction', 'Could not find operation for this request.');
  }
  const form = new URLSearchParams(request.body.toString('utf8'));
  const action = form.get('Action') ?? '';
  if (action === 'AssumeRole') state.handle.calls.assumeRole++;
  else if (action === 'GetCallerIdentity') state.handle.calls.getCallerIdentity++;
  else return stsError(400, 'InvalidAction', `Could not find operation ${action} for version ${form.get('Version') ?? ''}`);
  const reject = (reply: Reply, code: string): Reply => {
    state.handle.rejections.push({ service: 'sts', operation: action, error: code });
    return reply;
  };
  if (form.get('Version') !== '2011-06-15') return reject(stsError(400, 'InvalidAction', 'Unknown API version.'), 'InvalidAction');
  const verdict = await verifySigV4(state, request, 'sts', undefined);
  if (!verdict.ok) {
    const [status, code, message] = STS_AUTH_ERRORS[verdict.problem];
    return reject(stsError(status, code, message), code);
  }
  if (action === 'GetCallerIdentity') {
    const caller = verdict.credentials;
    return stsResult(
      action,
      `<Arn>${xmlEscape(caller.arn)}</Arn><UserId>AROA${pick(UPPER32, 17)}:session</UserId><Account>${caller.accountId}</Account>`,
    );
  }
  const failure = assumeRoleProblem(state, form, verdict.credentials);
  if (failure) return reject(failure.reply, failure.code);
  const roleArn = form.get('RoleArn') as string;
  const sessionName = form.get('RoleSessionName') as string;
  const seconds = Number(form.get('DurationSeconds') ?? 3600);
  const accountId = roleArn.split(':')[4] as string;
  const roleName = roleArn
    .slice(roleArn.indexOf(':role/') + 6)
    .split('/')
    .pop() as string;
  const issued = newCredentials(state, `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`, accountId, seconds);
  const expiration = new Date(issued.expiration).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return stsResult(
    action,
    `<AssumedRoleUser><AssumedRoleId>AROA${pick(UPPER32, 17)}:${xmlEscape(sessionName)}</AssumedRoleId><Arn>${xmlEscape(issued.arn)}</Arn></AssumedRoleUser>` +
      `<Credentials><AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>${issued.secretAccessKey}</SecretAccessKey>` +
      `<SessionToken>${issued.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>`,
  );
}

function assumeRoleProblem(state: State, form: URLSearchParams, caller: CredentialRecord): { reply: Reply; code: string } | undefined {
  const invalid = (message: string): { reply: Reply; code: string } => ({
    reply: stsError(400, 'ValidationError', message),
    code: 'ValidationError',
  });
  const roleArn = form.get('RoleArn') ?? '';
  const sessionName = form.get('RoleSessionName') ?? '';
  if (!/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(roleArn)) return invalid(`${roleArn} is invalid`);
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
    return invalid("1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint");
  const duration = form.get('DurationSeconds');
  if (duration !== null && !(Number.isInteger(Number(duration)) && Number(duration) >= 900)) {
    return invalid(
      "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
    );
  }
  if (duration !== null && Number(duration) > MAX_CHAINED_SESSION_SECONDS) {
    return invalid('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  }
  const role = state.handle.assumableRoles.find((r) => r.roleArn === roleArn);
  if (!role || (role.externalId !== undefined && form.get('ExternalId') !== role.externalId)) {
    const message = `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`;
    return { reply: stsError(403, 'AccessDenied', message), code: 'AccessDenied' };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Bedrock Runtime (restJson1)

const BEDROCK_AUTH_ERRORS: Record<AuthProblem, [string, string]> = {
  missing: ['MissingAuthenticationTokenException', 'Missing Authentication Token'],
  malformed: ['IncompleteSignatureException', 'The request signature does not conform to AWS standards.'],
  'unknown-key': ['UnrecognizedClientException', 'The security token included in the request is invalid.'],
  'bad-token': ['UnrecognizedClientException', 'The security token included in the request is invalid.'],
  signature: [
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  ],
  scope: ['InvalidSignatureException', "Credential should be scoped to correct service: 'bedrock' and a valid region."],
  skew: ['InvalidSignatureException', 'Signature expired: the signing time is more than 5 minutes away from the server time.'],
  expired: ['ExpiredTokenException', 'The security token included in the request is expired'],
};

async function handleBedrock(state: State, request: Incoming): Promise<Reply> {
  const route = /^\/model\/([^/]+)\/(invoke|converse)$/.exec(request.rawPath);
  if (request.method !== 'POST' || !route) return restJsonError(404, 'UnknownOperationException', { message: 'Unknown operation' });
  const operation = route[2] as 'invoke' | 'converse';
  const modelId = decodeURIComponent(route[1] as string);
  if (operation === 'invoke') state.handle.calls.bedrockInvoke++;
  else state.handle.calls.bedrockConverse++;
  const authorization = request.headers.authorization ?? '';
  const auth = authorization.startsWith('Bearer ') ? 'bearer' : 'sigv4';
  const verdict =
    auth === 'bearer'
      ? await verifyBedrockToken(state, authorization.slice('Bearer '.length), state.options.bedrockRegion)
      : await verifySigV4(state, request, 'bedrock', state.options.bedrockRegion);
  if (!verdict.ok) {
    const [name, message] = BEDROCK_AUTH_ERRORS[verdict.problem];
    state.handle.rejections.push({ service: 'bedrock-runtime', operation, error: name });
    return restJsonError(403, name, { message });
  }
  const body = parseJsonObject(request.body);
  const malformed = !body || (operation === 'converse' ? !Array.isArray(body.messages) : !validInvokeBody(modelId, body));
  if (malformed) {
    state.handle.rejections.push({ service: 'bedrock-runtime', operation, error: 'ValidationException' });
    return restJsonError(400, 'ValidationException', { message: 'Malformed input request, please reformat your input and try again.' });
  }
  state.handle.bedrockCalls.push({ operation, modelId, auth, accessKeyId: verdict.credentials.accessKeyId, region: verdict.region });
  if (operation === 'converse') {
    return jsonReply(200, {
      output: { message: { role: 'assistant', content: [{ text: 'ok' }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
      metrics: { latencyMs: 1 },
    });
  }
  return jsonReply(
    200,
    {
      id: `msg_bdrk_${randomBytes(12).toString('hex')}`,
      type: 'message',
      role: 'assistant',
      model: modelId,
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 },
    },
    { 'x-amzn-bedrock-input-token-count': '1', 'x-amzn-bedrock-output-token-count': '1' },
  );
}

/** Anthropic models on Bedrock want the Messages API body with `anthropic_version`. */
function validInvokeBody(modelId: string, body: Record<string, unknown>): boolean {
  if (!modelId.includes('anthropic.')) return true;
  return typeof body.anthropic_version === 'string' && Array.isArray(body.messages) && typeof body.max_tokens === 'number';
}

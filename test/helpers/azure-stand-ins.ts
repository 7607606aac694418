// Stand-ins for Microsoft Entra ID and Azure OpenAI on loopback, each checking what the real service checks:
// - Entra ID for a person: oidc-provider with the issuer `{authority}/{tenant}/v2.0` and Entra ID's endpoint
//   paths (`/{tenant}/oauth2/v2.0/authorize|token|devicecode`), PKCE and rotating refresh tokens; a refresh can be
//   refused the way Entra ID refuses one (an AADSTS code in the description).
// - Entra ID for apps (HTTPS, which MSAL requires of an authority): the tenant's OpenID configuration and its
//   token endpoint for client credentials, which checks the client secret, or VERIFIES the client assertion JWT
//   (a certificate's, or a federated token from a trusted issuer for workload identity).
// - The managed-identity endpoints: App Service / Container Apps (`IDENTITY_ENDPOINT`, `X-IDENTITY-HEADER`,
//   api-version 2019-08-01, `resource`) and IMDS (`Metadata: true`, api-version 2018-02-01).
// - An Azure OpenAI endpoint that answers chat completions only for a bearer token one of the above issued.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CryptoKey,
  type JWTPayload,
  SignJWT,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importX509,
  jwtVerify,
} from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';

import { type AuthServer, type RoutedContext, startAuthServer } from './auth-server.js';
import { type HttpServerHandle, closeServer, listenOnLoopback, startHttpServer } from './stand-in.js';

/** The Azure CLI's public client: what loginkit signs a person in to by default. */
export const AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';
/** Azure OpenAI's scope, and the resource the managed-identity endpoints are asked for. */
export const COGNITIVE_SCOPE = 'https://cognitiveservices.azure.com/.default';
export const COGNITIVE_RESOURCE = 'https://cognitiveservices.azure.com';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** An Entra ID error body as the token endpoint sends it. */
export function aadstsError(code: number, error = 'invalid_grant'): Record<string, unknown> {
  return {
    error,
    error_description: `AADSTS${code}: refused by the stand-in. Trace ID: ${randomUUID()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
  };
}

/** oidc-provider as a tenant of Entra ID, for a person's sign-in. */
export interface EntraPersonStandIn {
  server: AuthServer;
  tenant: string;
  /** What `AZURE_AUTHORITY_HOST` names: `http://127.0.0.1:<port>`. */
  authorityHost: string;
  /** The next refresh-token request is answered with this AADSTS error instead (once). */
  refuseNextRefresh(code: number): void;
  /** Other resources' scopes that refreshes asked for, in order. */
  otherScopes: string[];
  /** The `scope` of every refresh request, as sent. */
  refreshScopes: string[];
  /** Whether the access token is one this tenant issued and still honours (its userinfo answers 200). */
  honours(token: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Starts the person stand-in: the Azure CLI's client id, redirect `http://localhost`, rotating refresh tokens. */
export async function startEntraForPerson(
  options: { accessTokenTtl?: number; deviceInterval?: number; tenant?: string } = {},
): Promise<EntraPersonStandIn> {
  const tenant = options.tenant ?? randomUUID();
  let refusal: number | undefined;
  const otherScopes: string[] = [];
  const refreshScopes: string[] = [];
  // Entra ID's refresh tokens are multi-resource: a refresh may ask for another resource's scope. oidc-provider
  // allows only the scopes of the sign-in, so the stand-in records the other resource and answers as for its own.
  // Entra ID also takes `offline_access` on a refresh; oidc-provider keeps it off the grant, so it is dropped here.
  const multiResource = (path: string, form: URLSearchParams): void => {
    const scope = form.get('scope');
    if (path !== `/${tenant}/oauth2/v2.0/token` || form.get('grant_type') !== 'refresh_token' || scope === null) return;
    refreshScopes.push(scope);
    const asked = scope.split(' ').filter((entry) => entry !== 'offline_access');
    const resource = asked.find((entry) => entry.endsWith('/.default'));
    if (resource !== undefined && resource !== COGNITIVE_SCOPE) otherScopes.push(resource);
    form.set('scope', asked.map((entry) => (entry === resource ? COGNITIVE_SCOPE : entry)).join(' '));
  };
  const refuse = async (ctx: RoutedContext, next: () => Promise<void>): Promise<void> => {
    if (refusal !== undefined && ctx.method === 'POST' && ctx.path === '/oauth2/v2.0/token') {
      const code = refusal;
      refusal = undefined;
      ctx.status = 400;
      ctx.body = aadstsError(code);
      return;
    }
    await next();
  };
  const server = await startAuthServer({
    clientId: AZURE_CLI_CLIENT_ID,
    issuerPath: `/${tenant}/v2.0`,
    mountPath: `/${tenant}`,
    redirectUris: ['http://localhost/'],
    rotateRefreshTokens: true,
    ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
    ...(options.deviceInterval === undefined ? {} : { deviceInterval: options.deviceInterval }),
    middleware: [refuse],
    rewriteForm: multiResource,
    configure: (configuration) => {
      configuration['routes'] = {
        authorization: '/oauth2/v2.0/authorize',
        token: '/oauth2/v2.0/token',
        device_authorization: '/oauth2/v2.0/devicecode',
        code_verification: '/oauth2/deviceauth',
        userinfo: '/me',
        jwks: '/discovery/v2.0/keys',
        revocation: '/token/revocation',
        introspection: '/token/introspection',
        end_session: '/oauth2/v2.0/logout',
      };
      configuration['scopes'] = ['openid', 'offline_access', 'email', 'profile', COGNITIVE_SCOPE];
    },
  });
  const authorityHost = `http://127.0.0.1:${server.port}`;
  return {
    server,
    tenant,
    authorityHost,
    otherScopes,
    refreshScopes,
    refuseNextRefresh: (code) => {
      refusal = code;
    },
    honours: async (token) =>
      (await fetch(`${authorityHost}/${tenant}/me`, { headers: { authorization: `Bearer ${token}` } })).status === 200,
    close: () => server.close(),
  };
}

/** A self-signed certificate for 127.0.0.1, for the HTTPS stand-in (trusted through `fetch` in-process, NODE_EXTRA_CA_CERTS in a process). */
export interface TestTls {
  certFile: string;
  cert: string;
  key: string;
  /** A fetch that trusts the certificate. */
  fetch: typeof fetch;
  remove(): void;
}

/** Makes a certificate with openssl (also usable as a service principal's certificate: PEM with key and certificate in `pemWithKey`). */
export function makeTestTls(subject = '/CN=loginkit azure test'): TestTls & { pemWithKey: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'loginkit-azure-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '2',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-subj',
      subject,
    ].concat(['-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE']),
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certFile, 'utf8');
  const key = readFileSync(keyFile, 'utf8');
  const dispatcher = new Agent({ connect: { ca: cert } });
  const trusting = ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as typeof fetch;
  return {
    dir,
    certFile,
    cert,
    key,
    pemWithKey: `${key}\n${cert}`,
    fetch: trusting,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** How an app proved itself at the token endpoint. */
export type AppProof = 'secret' | 'certificate' | 'federated';

/** Entra ID for apps (client credentials), over HTTPS. */
export interface EntraAppStandIn {
  /** `https://127.0.0.1:<port>` */
  authorityHost: string;
  tenant: string;
  clientId: string;
  /** Tokens issued, with how the app proved itself. */
  issued: Map<string, AppProof>;
  /** Token requests refused, with why. */
  refusals: string[];
  tokenRequests: number;
  /** The next token request is answered with this AADSTS error (once). */
  refuseNext(code: number): void;
  close(): Promise<void>;
}

/** What the app stand-in accepts: a secret, a certificate, and federated tokens signed by `federatedKey` for `federatedSubject`. */
export interface EntraAppOptions {
  tls: TestTls;
  clientSecret?: string;
  certificatePem?: string;
  federated?: { issuer: string; subject: string; publicJwk: Record<string, unknown> };
  accessTokenTtl?: number;
}

const FEDERATED_AUDIENCE = 'api://AzureADTokenExchange';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Starts the app stand-in on 127.0.0.1 over HTTPS. */
export async function startEntraForApps(options: EntraAppOptions): Promise<EntraAppStandIn> {
  const tenant = randomUUID();
  const clientId = randomUUID();
  const issued = new Map<string, AppProof>();
  const refusals: string[] = [];
  let refusal: number | undefined;
  let tokenRequests = 0;
  const server = createHttpsServer({ key: options.tls.key, cert: options.tls.cert });
  const port = await listenOnLoopback(server as unknown as import('node:http').Server);
  const base = `https://127.0.0.1:${port}`;
  const tokenEndpoint = `${base}/${tenant}/oauth2/v2.0/token`;
  const federatedKeys = options.federated ? createLocalJWKSet({ keys: [options.federated.publicJwk] }) : undefined;

  const proofOf = async (form: URLSearchParams): Promise<AppProof> => {
    if (form.get('client_id') !== clientId) throw new Error(`AADSTS700016: unknown client ${form.get('client_id')}`);
    const secret = form.get('client_secret');
    if (secret !== null) {
      if (options.clientSecret === undefined || secret !== options.clientSecret) throw new Error('AADSTS7000215: invalid client secret');
      return 'secret';
    }
    if (form.get('client_assertion_type') !== JWT_BEARER) throw new Error('AADSTS7000218: no client credentials');
    const assertion = form.get('client_assertion') ?? '';
    if (federatedKeys && options.federated) {
      const verified = await jwtVerify(assertion, federatedKeys, { issuer: options.federated.issuer, audience: FEDERATED_AUDIENCE }).catch(
        () => undefined,
      );
      if (verified) {
        // A valid token of the trusted issuer, but for a workload no federated credential names.
        if (verified.payload.sub !== options.federated.subject) throw new Error('AADSTS70021: No matching federated identity record found');
        return 'federated';
      }
    }
    if (options.certificatePem) {
      // MSAL's assertion for a certificate: issued by and about the app, for the token endpoint, signed with its key.
      const { alg } = decodeProtectedHeader(assertion);
      if (alg !== 'PS256' && alg !== 'RS256') throw new Error(`AADSTS700027: unexpected algorithm ${alg}`);
      await jwtVerify(assertion, await importX509(options.certificatePem, alg), {
        issuer: clientId,
        subject: clientId,
        audience: tokenEndpoint,
        clockTolerance: 300,
      });
      return 'certificate';
    }
    throw new Error('AADSTS700027: client assertion failed signature validation');
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      if (req.method === 'GET' && url.pathname === `/${tenant}/v2.0/.well-known/openid-configuration`) {
        return sendJson(res, 200, {
          issuer: `${base}/${tenant}/v2.0`,
          authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
          token_endpoint: tokenEndpoint,
          device_authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/devicecode`,
          end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
          response_types_supported: ['code'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
          tenant_region_scope: 'EU',
          cloud_instance_name: 'microsoftonline.com',
        });
      }
      if (req.method === 'POST' && url.pathname === `/${tenant}/oauth2/v2.0/token`) {
        tokenRequests += 1;
        const form = new URLSearchParams(await readBody(req));
        if (refusal !== undefined) {
          const code = refusal;
          refusal = undefined;
          refusals.push(`AADSTS${code}`);
          return sendJson(res, 400, aadstsError(code, 'invalid_client'));
        }
        if (form.get('grant_type') !== 'client_credentials' || !form.get('scope')?.endsWith('/.default')) {
          refusals.push('bad grant or scope');
          return sendJson(res, 400, aadstsError(70011, 'invalid_scope'));
        }
        let proof: AppProof;
        try {
          proof = await proofOf(form);
        } catch (error) {
          const message = (error as Error).message;
          refusals.push(message);
          return sendJson(res, 401, {
            error: 'invalid_client',
            error_description: message.startsWith('AADSTS') ? message : `AADSTS700027: ${message}`,
          });
        }
        const accessToken = `entra-app-${randomBytes(24).toString('base64url')}`;
        issued.set(accessToken, proof);
        const ttl = options.accessTokenTtl ?? 3600;
        return sendJson(res, 200, { token_type: 'Bearer', expires_in: ttl, ext_expires_in: ttl, access_token: accessToken });
      }
      res.writeHead(404).end();
    })();
  });
  return {
    authorityHost: base,
    tenant,
    clientId,
    issued,
    refusals,
    get tokenRequests() {
      return tokenRequests;
    },
    refuseNext: (code) => {
      refusal = code;
    },
    close: () => closeServer(server as unknown as import('node:http').Server),
  };
}

/** A federated identity provider (what Kubernetes or GitHub Actions is for workload identity): signs subject tokens. */
export interface FederatedIssuer {
  issuer: string;
  subject: string;
  publicJwk: Record<string, unknown>;
  /** A token for the subject, for Entra ID's audience, valid `seconds`. */
  sign(seconds?: number, subject?: string): Promise<string>;
}

/** A key pair standing for a cluster's service-account issuer. */
export async function makeFederatedIssuer(): Promise<FederatedIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const issuer = 'https://oidc.kubernetes.test/cluster-1';
  const subject = 'system:serviceaccount:agents:loginkit';
  return {
    issuer,
    subject,
    publicJwk: { ...(await exportJWK(publicKey)), alg: 'RS256', kid: 'k1' },
    sign: (seconds = 3600, sub = subject) => signFederated(privateKey, issuer, sub, seconds),
  };
}

function signFederated(key: CryptoKey, issuer: string, subject: string, seconds: number): Promise<string> {
  const payload: JWTPayload = {};
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(issuer)
    .setSubject(subject)
    .setAudience(FEDERATED_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${seconds}s`)
    .sign(key);
}

/** The App Service / Container Apps managed-identity endpoint, and IMDS, on one loopback server. */
export interface ManagedIdentityStandIn extends HttpServerHandle {
  /** `IDENTITY_ENDPOINT` */
  identityEndpoint: string;
  /** `IDENTITY_HEADER` */
  identityHeader: string;
  /** `AZURE_POD_IDENTITY_AUTHORITY_HOST`: where MSAL sends IMDS requests instead of 169.254.169.254. */
  imdsHost: string;
  issued: Map<string, 'app-service' | 'imds'>;
  /** Requests refused, with why. */
  refusals: string[];
  requests: number;
}

/** Starts the managed-identity stand-in. */
export async function startManagedIdentity(options: { expiresInSeconds?: number } = {}): Promise<ManagedIdentityStandIn> {
  const identityHeader = randomBytes(16).toString('hex');
  const issued = new Map<string, 'app-service' | 'imds'>();
  const refusals: string[] = [];
  let requests = 0;
  const answer = (res: ServerResponse, resource: string, kind: 'app-service' | 'imds'): void => {
    const accessToken = `entra-mi-${randomBytes(24).toString('base64url')}`;
    issued.set(accessToken, kind);
    const expiresIn = options.expiresInSeconds ?? 3600;
    sendJson(res, 200, {
      access_token: accessToken,
      expires_on: String(Math.floor(Date.now() / 1000) + expiresIn),
      expires_in: String(expiresIn),
      resource,
      token_type: 'Bearer',
      client_id: '11111111-2222-3333-4444-555555555555',
    });
  };
  const handle = await startHttpServer((req, res) => {
    requests += 1;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const resource = url.searchParams.get('resource') ?? '';
    const refuse = (why: string): void => {
      refusals.push(why);
      sendJson(res, 400, { error: 'invalid_request', error_description: why });
    };
    if (req.method === 'GET' && url.pathname === '/msi/token') {
      if (req.headers['x-identity-header'] !== identityHeader) return refuse('X-IDENTITY-HEADER missing or wrong');
      if (url.searchParams.get('api-version') !== '2019-08-01') return refuse(`api-version ${url.searchParams.get('api-version')}`);
      if (resource !== COGNITIVE_RESOURCE) return refuse(`resource ${resource}`);
      return answer(res, resource, 'app-service');
    }
    // MSAL asks IMDS for `/metadata/identity/oauth2/token/`: IMDS takes the path with or without the slash.
    if (req.method === 'GET' && url.pathname.replace(/\/$/, '') === '/metadata/identity/oauth2/token') {
      if (req.headers['metadata'] !== 'true') return refuse('Metadata header missing');
      if (url.searchParams.get('api-version') !== '2018-02-01') return refuse(`api-version ${url.searchParams.get('api-version')}`);
      if (resource !== COGNITIVE_RESOURCE) return refuse(`resource ${resource}`);
      return answer(res, resource, 'imds');
    }
    res.writeHead(404).end();
  });
  return {
    ...handle,
    identityEndpoint: `${handle.url}/msi/token`,
    identityHeader,
    imdsHost: handle.url,
    issued,
    refusals,
    get requests() {
      return requests;
    },
  };
}

/** An Azure OpenAI resource: chat completions for a bearer token `honours` accepts, 401 otherwise. */
export interface AzureOpenAIStandIn extends HttpServerHandle {
  /** Bearer tokens it accepted, in order. */
  accepted: string[];
  rejected: number;
  /** api-key headers seen (there should be none). */
  apiKeys: number;
}

/** Starts the Azure OpenAI stand-in; `honours` decides whether a token is one the stand-in Entra ID issued. */
export async function startAzureOpenAI(honours: (token: string) => Promise<boolean> | boolean): Promise<AzureOpenAIStandIn> {
  const accepted: string[] = [];
  let rejected = 0;
  let apiKeys = 0;
  const handle = await startHttpServer((req, res) => {
    void (async () => {
      await readBody(req);
      if (req.headers['api-key'] !== undefined) apiKeys += 1;
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const chat =
        /^\/openai\/deployments\/[\w.-]+\/chat\/completions$/.test(url.pathname) || url.pathname === '/openai/v1/chat/completions';
      if (req.method !== 'POST' || !chat) return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !(await honours(token))) {
        rejected += 1;
        return sendJson(res, 401, {
          error: { code: 'PermissionDenied', message: 'Access denied due to invalid subscription key or wrong API endpoint.' },
        });
      }
      accepted.push(token);
      sendJson(res, 200, {
        id: 'chatcmpl-azure-1',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: 'gpt-4o',
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'hello from Azure OpenAI' } }],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      });
    })();
  });
  return {
    ...handle,
    accepted,
    get rejected() {
      return rejected;
    },
    get apiKeys() {
      return apiKeys;
    },
  };
}

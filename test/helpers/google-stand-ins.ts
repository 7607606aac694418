// Loopback stand-ins for the Google services a Google Cloud provider talks to, checking what the real ones
// check: the OAuth token endpoint (refresh-token grant; JWT-bearer with the RS256 assertion verified against
// the service account's public key), STS token exchange, IAM Credentials generateAccessToken (bearer of an
// issued, unexpired token), and a Vertex AI model endpoint that accepts only tokens it issued.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import { type HttpServerHandle, startHttpServer } from './stand-in.js';

/** What a refresh token does at the token endpoint. */
export type RefreshTokenState = 'valid' | 'invalid_rapt' | 'invalid_grant';

/** A service account the stand-in knows: its e-mail, private key (PKCS#8 PEM) and public key. */
export interface TestServiceAccount {
  email: string;
  privateKeyPem: string;
  publicKey: KeyObject;
}

/** One issued access token. */
interface Issued {
  principal: string;
  scopes: string[];
  expiresAt: number;
}

/** The running stand-in and what it saw. */
export interface GoogleStandIn extends HttpServerHandle {
  tokenUrl: string;
  stsUrl: string;
  iamEndpoint: string;
  /** OAuth clients and refresh tokens it accepts. */
  refreshTokens: Map<string, { clientId: string; clientSecret: string; state: RefreshTokenState; principal: string }>;
  serviceAccounts: Map<string, TestServiceAccount>;
  /** Subject tokens (from an OIDC provider such as GitHub Actions) STS accepts, for `audience`. */
  subjectTokens: Set<string>;
  audience: string;
  /** The bearer token its GitHub-Actions-like OIDC token endpoint (`GET /oidc-token?audience=…`) wants. */
  oidcRequestToken: string;
  /** Service accounts nobody may impersonate (generateAccessToken answers 403 PERMISSION_DENIED). */
  forbiddenTargets: Set<string>;
  /** Lifetime of the tokens it issues, in seconds. */
  tokenLifetime: number;
  stats: { refreshGrants: number; jwtGrants: number; stsExchanges: number; generateAccessToken: number; modelCalls: number };
  /** The delegates and scopes of each generateAccessToken call, and the scope claim of each JWT-bearer assertion. */
  seen: {
    delegates: string[][];
    impersonated: string[];
    jwtScopes: string[];
    refreshTokensUsed: string[];
    modelCalls: Array<{ principal: string; project: string; location: string; publisher: string }>;
  };
  /** The principal an access token was issued to, when it is valid now. */
  principalOf(token: string): string | undefined;
}

/** A fresh RSA key pair for a test service account. */
export function makeServiceAccount(email: string): TestServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { email, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

/** Starts the stand-in on 127.0.0.1. */
export async function startGoogleStandIn(): Promise<GoogleStandIn> {
  const issued = new Map<string, Issued>();
  const issue = (principal: string, scopes: string[]): { token: string; expiresIn: number } => {
    const token = `ya29.test-${randomBytes(18).toString('base64url')}`;
    issued.set(token, { principal, scopes, expiresAt: Date.now() + state.tokenLifetime * 1000 });
    return { token, expiresIn: state.tokenLifetime };
  };
  const bearer = (req: IncomingMessage): Issued | undefined => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const found = match ? issued.get(match[1] as string) : undefined;
    return found && found.expiresAt > Date.now() ? found : undefined;
  };
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', state.url);
    if (req.method === 'POST' && url.pathname === '/token') return tokenEndpoint(new URLSearchParams(body), res);
    if (req.method === 'POST' && url.pathname === '/sts/v1/token') return sts(new URLSearchParams(body), res);
    if (req.method === 'GET' && url.pathname === '/oidc-token') return oidcToken(req, url, res);
    const iam = /^\/iam\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(url.pathname);
    if (req.method === 'POST' && iam) return generateAccessToken(req, decodeURIComponent(iam[1] as string), body, res);
    const model = /\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/([^/]+)\/models\/([^/:]+):(\w+)$/.exec(url.pathname);
    if (req.method === 'POST' && model) return modelCall(req, model, res);
    json(res, 404, { error: { code: 404, status: 'NOT_FOUND' } });
  };

  const tokenEndpoint = async (form: URLSearchParams, res: ServerResponse): Promise<void> => {
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      state.stats.refreshGrants += 1;
      const refresh = state.refreshTokens.get(form.get('refresh_token') ?? '');
      state.seen.refreshTokensUsed.push(form.get('refresh_token') ?? '');
      if (!refresh || refresh.clientId !== form.get('client_id') || refresh.clientSecret !== form.get('client_secret')) {
        return json(res, 400, { error: 'invalid_grant', error_description: 'Bad Request' });
      }
      if (refresh.state === 'invalid_rapt') {
        return json(res, 400, {
          error: 'invalid_grant',
          error_description: 'reauth related error (invalid_rapt)',
          error_uri: 'https://support.google.com/a/answer/9368756',
          error_subtype: 'invalid_rapt',
        });
      }
      if (refresh.state === 'invalid_grant')
        return json(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
      const { token, expiresIn } = issue(refresh.principal, ['https://www.googleapis.com/auth/cloud-platform']);
      return json(res, 200, {
        access_token: token,
        expires_in: expiresIn,
        token_type: 'Bearer',
        scope: 'https://www.googleapis.com/auth/cloud-platform',
      });
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      state.stats.jwtGrants += 1;
      const assertion = form.get('assertion') ?? '';
      const claimed = decodeIssuer(assertion);
      const account = claimed ? state.serviceAccounts.get(claimed) : undefined;
      if (!account) return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant: account not found' });
      try {
        const { payload } = await jwtVerify(assertion, account.publicKey, {
          algorithms: ['RS256'],
          issuer: account.email,
          audience: state.tokenUrl,
        });
        if (typeof payload.scope !== 'string' || payload.scope === '') throw new Error('no scope');
        if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || payload.exp - payload.iat > 3600)
          throw new Error('bad lifetime');
        state.seen.jwtScopes.push(payload.scope);
        const { token, expiresIn } = issue(account.email, payload.scope.split(' '));
        return json(res, 200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer' });
      } catch {
        return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
      }
    }
    json(res, 400, { error: 'unsupported_grant_type' });
  };

  const sts = (form: URLSearchParams, res: ServerResponse): void => {
    state.stats.stsExchanges += 1;
    const valid =
      form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:token-exchange' &&
      form.get('requested_token_type') === 'urn:ietf:params:oauth:token-type:access_token' &&
      form.get('audience') === state.audience &&
      form.get('subject_token_type') === 'urn:ietf:params:oauth:token-type:jwt' &&
      state.subjectTokens.has(form.get('subject_token') ?? '');
    if (!valid) return json(res, 400, { error: 'invalid_grant', error_description: 'The subject token is not valid.' });
    const { token, expiresIn } = issue(
      `principal://federated/${form.get('subject_token')?.slice(0, 8)}`,
      (form.get('scope') ?? '').split(' '),
    );
    json(res, 200, {
      access_token: token,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: expiresIn,
    });
  };

  // GitHub Actions' OIDC token endpoint: the runtime's bearer token in, `{"value": <OIDC token>}` out.
  const oidcToken = (req: IncomingMessage, url: URL, res: ServerResponse): void => {
    if (req.headers.authorization !== `Bearer ${state.oidcRequestToken}` || url.searchParams.get('audience') !== state.audience) {
      return json(res, 403, { message: 'forbidden' });
    }
    const token = `eyJ.actions-oidc.${randomBytes(8).toString('hex')}`;
    state.subjectTokens.add(token);
    json(res, 200, { value: token });
  };

  const generateAccessToken = (req: IncomingMessage, target: string, body: string, res: ServerResponse): void => {
    state.stats.generateAccessToken += 1;
    const caller = bearer(req);
    if (!caller)
      return json(res, 401, {
        error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
      });
    if (state.forbiddenTargets.has(target)) {
      return json(res, 403, {
        error: { code: 403, message: `Permission 'iam.serviceAccounts.getAccessToken' denied on ${target}`, status: 'PERMISSION_DENIED' },
      });
    }
    const request = JSON.parse(body || '{}') as { scope?: string[]; delegates?: string[]; lifetime?: string };
    state.seen.delegates.push(request.delegates ?? []);
    state.seen.impersonated.push(target);
    const { token } = issue(target, request.scope ?? []);
    const expireTime = new Date((issued.get(token) as Issued).expiresAt).toISOString();
    json(res, 200, { accessToken: token, expireTime });
  };

  const modelCall = (req: IncomingMessage, match: RegExpExecArray, res: ServerResponse): void => {
    const caller = bearer(req);
    if (!caller || !caller.scopes.includes('https://www.googleapis.com/auth/cloud-platform')) {
      return json(res, 401, {
        error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
      });
    }
    state.stats.modelCalls += 1;
    const [, project, location, publisher] = match as unknown as [string, string, string, string];
    state.seen.modelCalls.push({ principal: caller.principal, project, location, publisher });
    if (publisher === 'anthropic') {
      return json(res, 200, {
        id: 'msg_test',
        type: 'message',
        role: 'assistant',
        model: 'claude-test',
        content: [{ type: 'text', text: 'hello from vertex' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 3 },
      });
    }
    json(res, 200, {
      candidates: [{ content: { role: 'model', parts: [{ text: 'hello from vertex' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 3, totalTokenCount: 4 },
    });
  };

  const server = await startHttpServer((req, res) => {
    handler(req, res).catch(() => json(res, 500, { error: 'server_error' }));
  });
  const state: GoogleStandIn = {
    ...server,
    tokenUrl: `${server.url}/token`,
    stsUrl: `${server.url}/sts/v1/token`,
    iamEndpoint: `${server.url}/iam`,
    refreshTokens: new Map(),
    serviceAccounts: new Map(),
    subjectTokens: new Set(),
    audience: '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github',
    oidcRequestToken: randomBytes(12).toString('hex'),
    forbiddenTargets: new Set(),
    tokenLifetime: 3600,
    stats: { refreshGrants: 0, jwtGrants: 0, stsExchanges: 0, generateAccessToken: 0, modelCalls: 0 },
    seen: { delegates: [], impersonated: [], jwtScopes: [], refreshTokensUsed: [], modelCalls: [] },
    principalOf: (token) => {
      const found = issued.get(token);
      return found && found.expiresAt > Date.now() ? found.principal : undefined;
    },
  };
  return state;
}

function decodeIssuer(assertion: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown };
    return typeof payload.iss === 'string' ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

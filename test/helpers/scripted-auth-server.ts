// A stand-in authorization server on 127.0.0.1 whose answers a test scripts, for servers that misbehave in ways
// oidc-provider never would: it approves every authorization at once (302 back to the redirect URI with code,
// state and iss, as the MCP conformance server does), and its token endpoint answers as the test says.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT } from 'jose';

import { type HttpServerHandle, startHttpServer } from './stand-in.js';

/** One request the stand-in received, in order. */
export interface ScriptedRequest {
  method: string;
  path: string;
  /** The form body, parsed. */
  body: URLSearchParams;
}

/** Answers the token endpoint's request number `n` (from 1); `tokens` builds a normal successful answer. */
export type TokenAnswer = (n: number, body: URLSearchParams, res: ServerResponse, tokens: TokenBody) => void | Promise<void>;

/** Builds a token response: an access token, a refresh token and an RS256 ID token with `claims`. */
export type TokenBody = (fields?: Record<string, unknown>, claims?: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** Options of {@link startScriptedAuthServer}. */
export interface ScriptedAuthServerOptions {
  /** Replaces or adds fields of the discovery document; a field set to undefined is left out. */
  metadata?: Record<string, unknown>;
  /** The token endpoint's behaviour; by default every request gets fresh tokens. */
  token?: TokenAnswer;
}

/** A running scripted authorization server. */
export interface ScriptedAuthServer extends HttpServerHandle {
  issuer: string;
  clientId: string;
  /** Every request but discovery, in order. */
  requests: ScriptedRequest[];
}

const CLIENT_ID = 'scripted-client';

/** Starts the stand-in; point a provider at `issuer` with client id `clientId`. */
export async function startScriptedAuthServer(options: ScriptedAuthServerOptions = {}): Promise<ScriptedAuthServer> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const requests: ScriptedRequest[] = [];
  let origin = '';
  let tokenRequests = 0;

  const tokens: TokenBody = async (fields = {}, claims = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({ email: 'person@example.test', ...claims })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(origin)
      .setAudience(CLIENT_ID)
      .setSubject('person')
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    return {
      access_token: randomBytes(24).toString('base64url'),
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: randomBytes(24).toString('base64url'),
      scope: 'openid offline_access',
      id_token: idToken,
      ...fields,
    };
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/.well-known/oauth-authorization-server' || url.pathname === '/.well-known/openid-configuration') {
      return sendJson(res, 200, withoutUndefined({ ...metadataOf(origin), ...options.metadata }));
    }
    const body = new URLSearchParams(await readBody(req));
    requests.push({ method: req.method ?? '', path: url.pathname, body });
    if (url.pathname === '/authorize') {
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', randomBytes(16).toString('base64url'));
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      back.searchParams.set('iss', origin);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/token') {
      tokenRequests += 1;
      if (options.token) return options.token(tokenRequests, body, res, tokens);
      return sendJson(res, 200, await tokens());
    }
    if (url.pathname === '/revoke') return void res.writeHead(200).end();
    sendJson(res, 404, { error: 'not_found' });
  };

  const server = await startHttpServer((req, res) => void handler(req, res));
  origin = server.url;
  return { ...server, issuer: origin, clientId: CLIENT_ID, requests };
}

function metadataOf(origin: string): Record<string, unknown> {
  return {
    issuer: origin,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    revocation_endpoint: `${origin}/revoke`,
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none'],
  };
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

/** Answers with JSON, as an authorization server does. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/**
 * The person's browser for a stand-in that approves at once: follows the authorization URL's redirects to
 * loginkit's listener and on to its done page. Pass as `openBrowser`.
 */
export async function approvingBrowser(url: string): Promise<void> {
  const page = await fetch(url);
  await page.body?.cancel();
}

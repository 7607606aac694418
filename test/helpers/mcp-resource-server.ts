// A real MCP server for end-to-end tests: the official SDK (`@modelcontextprotocol/server`) on streamable HTTP,
// behind a bearer check that accepts only tokens whose audience is this server (RFC 8707), and serving its
// protected resource metadata (RFC 9728). Tokens are JWTs checked against the authorization server's JWKS
// with jose, or opaque ones checked by introspection (RFC 7662). It knows Bearer only, and refuses a token bound
// to a DPoP key (`cnf`) presented as a Bearer token, as RFC 9449 §7.2 asks of a server aware of DPoP.
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { Readable } from 'node:stream';

import {
  type AuthInfo,
  McpServer,
  OAuthError,
  OAuthErrorCode,
  createMcpHandler,
  getOAuthProtectedResourceMetadataUrl,
  requireBearerAuth,
  requireScopes,
} from '@modelcontextprotocol/server';
import { createRemoteJWKSet, jwtVerify } from 'jose';

import { closeServer, listenOnLoopback } from './stand-in.js';

/** How the server checks a bearer token. */
export type TokenCheck =
  | { kind: 'jwt'; issuer: string; jwksUri: string }
  | { kind: 'introspection'; introspectionEndpoint: string; clientId: string; clientSecret: string };

/** Options for {@link startMcpResourceServer}. */
export interface McpResourceServerOptions {
  /** The authorization server named in the protected resource metadata. */
  issuer: string;
  tokenCheck: TokenCheck;
  /** Scope every request needs (the 401 challenge names it). */
  baseScope: string;
  /** Scope the `write-note` tool needs on top (403 insufficient_scope without it). */
  writeScope: string;
  /** Path of the MCP endpoint. Default '/mcp'. */
  path?: string;
  /** Fields added to its protected resource metadata, e.g. `dpop_bound_access_tokens_required`. */
  metadataExtras?: Record<string, unknown>;
}

/** What the MCP server saw, for assertions. */
export interface McpResourceServerSeen {
  /** Status of every answer to the MCP endpoint, in order. */
  statuses: number[];
  /** The tokens it accepted, with what their check reported. */
  accepted: Array<{ token: string; audience: string; scopes: string[]; subject: string }>;
  /** Names of the tools called. */
  toolCalls: string[];
}

/** A running MCP server. */
export interface McpResourceServer {
  /** The MCP endpoint URL, which is also the resource identifier. */
  url: string;
  /** Where its protected resource metadata is served. */
  metadataUrl: string;
  seen: McpResourceServerSeen;
  close(): Promise<void>;
}

/** Starts an MCP server on 127.0.0.1 (port 0) with a `whoami` tool and a `write-note` tool needing more scope. */
export async function startMcpResourceServer(opts: McpResourceServerOptions): Promise<McpResourceServer> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  const resource = new URL(`http://127.0.0.1:${port}${opts.path ?? '/mcp'}`);
  const metadataUrl = getOAuthProtectedResourceMetadataUrl(resource);
  const seen: McpResourceServerSeen = { statuses: [], accepted: [], toolCalls: [] };
  const verifyAccessToken = tokenVerifier(opts.tokenCheck, resource);
  const gate = requireBearerAuth({
    verifier: {
      verifyAccessToken: async (token) => {
        const info = await verifyAccessToken(token);
        seen.accepted.push({ token, audience: String(info.resource), scopes: info.scopes, subject: String(info.extra?.['sub']) });
        return info;
      },
    },
    requiredScopes: [opts.baseScope],
    resourceMetadataUrl: metadataUrl,
    expectedResource: resource,
  });
  const handler = createMcpHandler(() => buildMcpServer(opts.writeScope, seen));
  const metadata = {
    resource: resource.href,
    authorization_servers: [opts.issuer],
    scopes_supported: [opts.baseScope, opts.writeScope],
    bearer_methods_supported: ['header'],
    ...opts.metadataExtras,
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void answer(req, res).catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', resource);
    if (req.method === 'GET' && url.href === metadataUrl) {
      await sendWebResponse(res, Response.json(metadata));
      return;
    }
    if (url.pathname !== resource.pathname) {
      res.writeHead(404).end();
      return;
    }
    const request = await toWebRequest(req, url);
    const auth = await gate(request);
    const response = auth instanceof Response ? auth : await handler.fetch(request, { authInfo: auth });
    seen.statuses.push(response.status);
    await sendWebResponse(res, response);
  }

  return {
    url: resource.href,
    metadataUrl,
    seen,
    close: async () => {
      await handler.close();
      await closeServer(server);
    },
  };
}

function buildMcpServer(writeScope: string, seen: McpResourceServerSeen): McpServer {
  const mcp = new McpServer({ name: 'e2e-notes', version: '1.0.0' });
  mcp.registerTool('whoami', { description: 'who the token belongs to' }, async (ctx) => {
    seen.toolCalls.push('whoami');
    return { content: [{ type: 'text', text: describeCaller(ctx.http?.authInfo) }] };
  });
  mcp.registerTool('write-note', { description: `needs ${writeScope}`, scopeChallenge: requireScopes(writeScope) }, async (ctx) => {
    seen.toolCalls.push('write-note');
    return { content: [{ type: 'text', text: `noted for ${describeCaller(ctx.http?.authInfo)}` }] };
  });
  return mcp;
}

function describeCaller(auth: AuthInfo | undefined): string {
  return auth ? `sub=${String(auth.extra?.['sub'])} aud=${String(auth.resource)} scope=${auth.scopes.join(' ')}` : 'nobody';
}

/** The verifier for the chosen check; a token for another audience is an invalid token, not a server error. */
function tokenVerifier(check: TokenCheck, resource: URL): (token: string) => Promise<AuthInfo> {
  return check.kind === 'jwt' ? jwtVerifier(check, resource) : introspectionVerifier(check, resource);
}

function jwtVerifier(check: Extract<TokenCheck, { kind: 'jwt' }>, resource: URL): (token: string) => Promise<AuthInfo> {
  const keys = createRemoteJWKSet(new URL(check.jwksUri));
  return async (token) => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, { issuer: check.issuer, audience: resource.href, typ: 'at+jwt' }));
    } catch (error) {
      throw new OAuthError(OAuthErrorCode.InvalidToken, `token refused: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (payload['cnf'] !== undefined) throw new OAuthError(OAuthErrorCode.InvalidToken, 'a DPoP-bound token presented as Bearer');
    return {
      token,
      clientId: String(payload['client_id']),
      scopes: typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [],
      expiresAt: payload.exp,
      resource,
      extra: { sub: payload.sub },
    };
  };
}

function introspectionVerifier(check: Extract<TokenCheck, { kind: 'introspection' }>, resource: URL): (token: string) => Promise<AuthInfo> {
  const basic = Buffer.from(`${encodeURIComponent(check.clientId)}:${encodeURIComponent(check.clientSecret)}`).toString('base64');
  return async (token) => {
    const response = await fetch(check.introspectionEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    const body = (await response.json()) as {
      active?: boolean;
      aud?: string | string[];
      scope?: string;
      exp?: number;
      client_id?: string;
      sub?: string;
      cnf?: unknown;
    };
    const audiences = Array.isArray(body.aud) ? body.aud : [body.aud];
    if (body.active !== true) throw new OAuthError(OAuthErrorCode.InvalidToken, 'token inactive');
    if (!audiences.includes(resource.href)) throw new OAuthError(OAuthErrorCode.InvalidToken, 'token for another resource');
    if (body.cnf !== undefined) throw new OAuthError(OAuthErrorCode.InvalidToken, 'a DPoP-bound token presented as Bearer');
    return {
      token,
      clientId: String(body.client_id),
      scopes: body.scope?.split(' ') ?? [],
      expiresAt: body.exp,
      resource,
      extra: { sub: body.sub },
    };
  };
}

async function toWebRequest(req: IncomingMessage, url: URL): Promise<Request> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && chunks.length > 0;
  return new Request(url, { method: req.method, headers, ...(hasBody ? { body: Buffer.concat(chunks) } : {}) });
}

async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) {
    res.end();
    return;
  }
  // Server-sent event streams must reach the client as they are written, not when they end.
  Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>).pipe(res);
  await new Promise<void>((resolve) => res.on('close', resolve));
}

// The token lifecycle against MCP servers, which the conformance suite never exercises: refresh carries
// `resource`, a stale token is refreshed once on 401, step-up asks for the union of scopes, two servers on one
// authorization server get separate tokens, and logout revokes. An in-process authorization server that
// approves at once plays the person (the browser follows its redirect to loginkit's listener).
import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLoginkit } from '../../src/index.js';

interface Seen {
  authorize: URLSearchParams[];
  token: URLSearchParams[];
  revoke: URLSearchParams[];
  registrations: number;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Authorization server and two MCP servers (/a and /b) on one port; tokens name their resource and scopes. */
async function startStand() {
  const seen: Seen = { authorize: [], token: [], revoke: [], registrations: 0 };
  const tokens = new Map<string, { resource: string; scopes: string[] }>();
  // A refresh keeps the scopes of the grant, as real servers do.
  const refreshScopes = new Map<string, string[]>();
  let counter = 0;
  let base = '';
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', base);
    const body = req.method === 'POST' ? await readBody(req) : '';
    const path = url.pathname;
    const mcp = /^\/(a|b)$/.exec(path);
    if (mcp) {
      const resource = `${base}/${mcp[1]}`;
      const prm = `${base}/.well-known/oauth-protected-resource/${mcp[1]}`;
      const auth = req.headers.authorization?.replace(/^Bearer /, '');
      const held = auth ? tokens.get(auth) : undefined;
      if (!held || held.resource !== resource)
        return send(res, 401, {}, { 'www-authenticate': `Bearer resource_metadata="${prm}", scope="read"` });
      const message = JSON.parse(body) as { id?: number; method: string };
      if (message.method === 'tools/call' && !held.scopes.includes('write')) {
        return send(res, 403, {}, { 'www-authenticate': `Bearer error="insufficient_scope", scope="write", resource_metadata="${prm}"` });
      }
      return send(res, 200, { jsonrpc: '2.0', id: message.id ?? null, result: { ok: true, scopes: held.scopes } });
    }
    const prmMatch = /^\/\.well-known\/oauth-protected-resource\/(a|b)$/.exec(path);
    if (prmMatch)
      return send(res, 200, { resource: `${base}/${prmMatch[1]}`, authorization_servers: [base], scopes_supported: ['read', 'write'] });
    if (path === '/.well-known/oauth-authorization-server') {
      return send(res, 200, {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        revocation_endpoint: `${base}/revoke`,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        scopes_supported: ['read', 'write', 'offline_access'],
      });
    }
    if (path === '/register') {
      seen.registrations++;
      return send(res, 201, { client_id: `client-${seen.registrations}`, token_endpoint_auth_method: 'none' });
    }
    if (path === '/authorize') {
      seen.authorize.push(url.searchParams);
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', `code-${url.searchParams.get('scope')}|${url.searchParams.get('resource')}`);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      back.searchParams.set('iss', base);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (path === '/token') {
      const params = new URLSearchParams(body);
      seen.token.push(params);
      const resource = params.get('resource') ?? '';
      const scopes =
        params.get('grant_type') === 'authorization_code'
          ? ((params.get('code') ?? '').slice(5).split('|')[0]?.split(' ') ?? [])
          : (refreshScopes.get(params.get('refresh_token') ?? '') ?? []);
      const access = `at-${++counter}`;
      tokens.set(access, { resource, scopes });
      refreshScopes.set(`rt-${counter}`, scopes);
      return send(res, 200, {
        access_token: access,
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: `rt-${counter}`,
        scope: scopes.join(' '),
      });
    }
    if (path === '/revoke') {
      const params = new URLSearchParams(body);
      seen.revoke.push(params);
      tokens.delete(params.get('token') ?? '');
      return send(res, 200, {});
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    seen,
    tokens,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The person: follows the authorization server's redirect to loginkit's listener. */
async function followRedirects(url: string): Promise<void> {
  let next = new URL(url);
  for (let hop = 0; hop < 5; hop++) {
    const response = await fetch(next, { redirect: 'manual' });
    await response.arrayBuffer();
    const location = response.headers.get('location');
    if (!location || response.status < 300 || response.status >= 400) return;
    next = new URL(location, next);
  }
}

const rpc = (method: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method }),
});

test('MCP token lifecycle: resource everywhere, refresh on 401, step-up union, one token per server, logout revokes', async () => {
  const stand = await startStand();
  try {
    const kit = createLoginkit({
      store: 'memory',
      home: '/nonexistent-loginkit-home',
      env: {},
      openBrowser: (url) => followRedirects(url),
    });
    const a = kit.mcp(`${stand.base}/a`);
    const fetchA = a.createFetch();

    // First request: 401, discovery, registration, sign-in with the challenge's scope (+ offline_access), retry.
    const first = await fetchA(`${stand.base}/a`, rpc('tools/list'));
    assert.equal(first.status, 200);
    assert.equal(stand.seen.registrations, 1);
    assert.equal(stand.seen.authorize[0]?.get('resource'), `${stand.base}/a`);
    assert.equal(stand.seen.authorize[0]?.get('scope'), 'read offline_access');
    assert.equal(stand.seen.authorize[0]?.get('code_challenge_method'), 'S256');
    assert.equal(stand.seen.token[0]?.get('resource'), `${stand.base}/a`);

    // The server forgets the token: one refresh, carrying resource, then the request goes through.
    stand.tokens.delete((await a.token()) ?? '');
    const afterRefresh = await fetchA(`${stand.base}/a`, rpc('tools/list'));
    assert.equal(afterRefresh.status, 200);
    const refresh = stand.seen.token.find((p) => p.get('grant_type') === 'refresh_token');
    assert.equal(refresh?.get('resource'), `${stand.base}/a`);
    assert.equal(stand.seen.authorize.length, 1, 'a refresh, not a new sign-in');

    // Step-up: 403 insufficient_scope → a sign-in for the union of held and challenged scopes; the refresh
    // token it replaces is revoked.
    // The stand numbers its tokens by token request: the held refresh token is the last one issued.
    const replaced = `rt-${stand.seen.token.length}`;
    const call = await fetchA(`${stand.base}/a`, rpc('tools/call'));
    assert.equal(call.status, 200);
    assert.deepEqual(stand.seen.authorize[1]?.get('scope')?.split(' ').sort(), ['offline_access', 'read', 'write']);
    assert.deepEqual(
      stand.seen.revoke.map((p) => [p.get('token'), p.get('token_type_hint')]),
      [[replaced, 'refresh_token']],
    );
    stand.seen.revoke.length = 0;

    // A second server on the same authorization server: same registration, its own resource and token.
    const b = kit.mcp(`${stand.base}/b`);
    assert.equal((await b.createFetch()(`${stand.base}/b`, rpc('tools/list'))).status, 200);
    assert.equal(stand.seen.registrations, 1, 'the registration is reused for the same authorization server');
    assert.equal(stand.seen.authorize[2]?.get('resource'), `${stand.base}/b`);
    const [tokenA, tokenB] = [await a.token(), await b.token()];
    assert.notEqual(tokenA, tokenB);
    assert.equal(stand.tokens.get(tokenB ?? '')?.resource, `${stand.base}/b`);
    const statuses = await kit.mcpStatus();
    assert.deepEqual(statuses.map((s) => s.resource).sort(), [`${stand.base}/a`, `${stand.base}/b`]);

    // Logout revokes at the server (refresh token first), forgets locally, and leaves the other server alone.
    const result = await a.logout();
    assert.equal(result.revocation, 'revoked');
    assert.deepEqual(
      stand.seen.revoke.map((p) => p.get('token_type_hint')),
      ['refresh_token', 'access_token'],
    );
    assert.equal(await a.status(), undefined);
    assert.ok(await b.status());

    // Not interactive: no sign-in starts, a login-required error names the command.
    const quiet = kit.mcp(`${stand.base}/a`, { interactive: false });
    await assert.rejects(quiet.createFetch()(`${stand.base}/a`, rpc('tools/list')), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'login_required');
      assert.match(error.message, /Run: loginkit mcp login http:\/\/127\.0\.0\.1:\d+\/a/);
      return true;
    });
  } finally {
    await stand.close();
  }
});

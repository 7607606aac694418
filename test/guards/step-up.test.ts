// The step-up bound of the MCP fetch: a server that keeps answering 403 insufficient_scope however often the
// person signs in gets exactly three new authorizations for one request, then the request fails with
// `insufficient_scope` (not a fourth sign-in, not an endless loop, not a 403 handed back as if it were an answer).
import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLoginkit } from '../../src/index.js';

const MAX_APPROVALS = 8;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * An authorization server that approves at once but never grants `admin`, and an MCP server at /mcp whose
 * tools/call needs `admin`. Counts authorization requests and tool calls.
 */
async function startStand() {
  const seen = { authorizations: 0, toolCalls: 0 };
  const grants = new Map<string, string[]>();
  let base = '';
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', base);
    const body = req.method === 'POST' ? await readBody(req) : '';
    const prm = `${base}/.well-known/oauth-protected-resource/mcp`;
    switch (url.pathname) {
      case '/mcp': {
        const scopes = grants.get(req.headers.authorization?.replace(/^Bearer /, '') ?? '');
        if (!scopes) return send(res, 401, {}, { 'www-authenticate': `Bearer resource_metadata="${prm}", scope="read"` });
        const message = JSON.parse(body) as { method: string };
        if (message.method !== 'tools/call') return send(res, 200, { jsonrpc: '2.0', id: 1, result: {} });
        seen.toolCalls++;
        return send(res, 403, {}, { 'www-authenticate': `Bearer error="insufficient_scope", scope="admin", resource_metadata="${prm}"` });
      }
      case '/.well-known/oauth-protected-resource/mcp':
        return send(res, 200, { resource: `${base}/mcp`, authorization_servers: [base], scopes_supported: ['read', 'admin'] });
      case '/.well-known/oauth-authorization-server':
        return send(res, 200, {
          issuer: base,
          authorization_endpoint: `${base}/authorize`,
          token_endpoint: `${base}/token`,
          registration_endpoint: `${base}/register`,
          code_challenge_methods_supported: ['S256'],
          authorization_response_iss_parameter_supported: true,
        });
      case '/register':
        return send(res, 201, { client_id: 'client-1', token_endpoint_auth_method: 'none' });
      case '/authorize': {
        seen.authorizations++;
        const back = new URL(url.searchParams.get('redirect_uri') ?? '');
        back.searchParams.set('state', url.searchParams.get('state') ?? '');
        back.searchParams.set('iss', base);
        // Past any sane bound the person says no, so an unbounded loop ends in an error instead of running on.
        if (seen.authorizations > MAX_APPROVALS) {
          back.searchParams.set('error', 'access_denied');
          res.writeHead(302, { location: back.href });
          return res.end();
        }
        const granted = (url.searchParams.get('scope') ?? '').split(' ').filter((scope) => scope !== 'admin');
        back.searchParams.set('code', granted.join(' '));
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      case '/token': {
        const scopes = (new URLSearchParams(body).get('code') ?? '').split(' ');
        const access = `at-${grants.size + 1}`;
        grants.set(access, scopes);
        return send(res, 200, { access_token: access, token_type: 'Bearer', expires_in: 3600, scope: scopes.join(' ') });
      }
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/mcp`,
    seen,
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

test(
  'after exactly 3 step-up authorizations still ending in 403 insufficient_scope, the request fails with insufficient_scope',
  { timeout: 30_000 },
  async () => {
    const stand = await startStand();
    try {
      const kit = createLoginkit({
        store: 'memory',
        home: '/nonexistent-loginkit-home',
        env: {},
        timeoutMs: 5_000,
        openBrowser: (url) => followRedirects(url),
      });
      const mcp = kit.mcp(stand.url, { timeoutMs: 2_000 });
      await mcp.login();
      assert.equal(stand.seen.authorizations, 1);

      const call = {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/call"}',
      };
      await assert.rejects(mcp.createFetch()(stand.url, call), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'insufficient_scope');
        assert.match(error.message, /still refuses after 3 sign-ins for this request; giving up/);
        return true;
      });
      assert.equal(stand.seen.authorizations - 1, 3, 'three new authorizations for the one request');
      assert.equal(stand.seen.toolCalls, 4, 'the first try and one retry after each authorization');
    } finally {
      await stand.close();
    }
  },
);

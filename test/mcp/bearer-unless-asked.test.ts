// DPoP only where the MCP server asks for it. oidc-provider advertises DPoP by default (as better-auth and several
// commercial authorization servers do), while most MCP servers, the official SDK's bearer middleware among them,
// take Bearer tokens only. Tokens are bound to a DPoP key when the MCP server signals DPoP (its protected resource
// metadata, or a DPoP challenge: the conformance suite's auth/dpop scenarios) or the person asks (`--dpop`,
// `dpop: true`); never on the SDK `authProvider` route, which cannot present proofs.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { createLoginkit } from '../../src/index.js';
import { bearerChallenge } from '../../src/oauth/www-authenticate.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { makeBrowserCommand } from '../helpers/browser-command.js';
import { runCli } from '../helpers/cli.js';
import { INTROSPECTOR, READ, type ResourceFormats, WRITE, mcpAuthorizationConfig } from '../helpers/mcp-authorization.js';
import { type McpResourceServer, startMcpResourceServer } from '../helpers/mcp-resource-server.js';
import { signInOverHttp } from '../helpers/person.js';

interface Stand {
  auth: AuthServer;
  server: McpResourceServer;
  dir: string;
}

/** oidc-provider with its default DPoP, in front of the SDK's Bearer-only MCP server that introspects tokens. */
async function startStand(t: { after(fn: () => Promise<void>): void }, metadataExtras?: Record<string, unknown>): Promise<Stand> {
  const formats: ResourceFormats = new Map();
  const auth = await startAuthServer({ configure: await mcpAuthorizationConfig(formats) });
  const server = await startMcpResourceServer({
    issuer: auth.issuer,
    tokenCheck: { kind: 'introspection', introspectionEndpoint: `${auth.issuer}/token/introspection`, ...INTROSPECTOR },
    baseScope: READ,
    writeScope: WRITE,
    ...(metadataExtras ? { metadataExtras } : {}),
  });
  formats.set(server.url, 'opaque');
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-mcp-bearer-'));
  t.after(async () => {
    await Promise.all([server.close(), auth.close()]);
    await rm(dir, { recursive: true, force: true });
  });
  const discovery = (await (await fetch(`${auth.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  assert.ok(Array.isArray(discovery['dpop_signing_alg_values_supported']), 'the authorization server advertises DPoP');
  return { auth, server, dir };
}

function kitFor(dir: string, opened: string[] = []) {
  return createLoginkit({
    store: 'file',
    home: join(dir, 'lib-home'),
    env: {},
    onWarning: () => undefined,
    openBrowser: async (url) => {
      opened.push(url);
      await signInOverHttp(url);
    },
  });
}

async function callWhoami(transport: StreamableHTTPClientTransport): Promise<string> {
  const client = new Client({ name: 'bearer-test', version: '1.0.0' });
  try {
    await client.connect(transport);
    const called = await client.callTool({ name: 'whoami', arguments: {} });
    const content = Array.isArray(called.content) ? called.content : [];
    return content.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('\n');
  } finally {
    await client.close();
  }
}

test('the SDK transport with authProvider: kit.mcp(url) works against a Bearer-only server whose authorization server offers DPoP', async (t) => {
  const { server, dir } = await startStand(t);
  const kit = kitFor(dir);
  // `dpop: true` too: the authProvider route cannot present proofs, so it never binds.
  const mcp = kit.mcp(server.url, { dpop: true });
  const text = await callWhoami(new StreamableHTTPClientTransport(new URL(mcp.url), { authProvider: mcp }));
  assert.match(text, new RegExp(`aud=${server.url.replaceAll('.', '\\.')}`));
  const status = await mcp.status();
  assert.equal(status?.dpop, false);
  assert.equal(status?.tokenType.toLowerCase(), 'bearer');
});

test('kit.mcp(url).createFetch() sends Bearer to a server that does not ask for DPoP', async (t) => {
  const { server, dir } = await startStand(t);
  const mcp = kitFor(dir).mcp(server.url);
  const text = await callWhoami(new StreamableHTTPClientTransport(new URL(mcp.url), { fetch: mcp.createFetch() }));
  assert.match(text, /^sub=/);
  assert.equal((await mcp.status())?.dpop, false);
  assert.ok(!server.seen.statuses.slice(1).includes(401), 'no token was refused after the sign-in');
});

test('loginkit mcp login + mcp check against a Bearer-only server whose authorization server offers DPoP', async (t) => {
  const { server, dir } = await startStand(t);
  const home = join(dir, 'cli-home');
  const env = { LOGINKIT_STORE: 'file', BROWSER: makeBrowserCommand({ dir }) };
  const login = await runCli(['mcp', 'login', server.url, '--json'], { home, env });
  assert.equal(login.code, 0, login.stderr);
  const status = JSON.parse(login.stdout) as { dpop: boolean; tokenType: string };
  assert.equal(status.dpop, false);
  assert.equal(status.tokenType.toLowerCase(), 'bearer');
  const check = await runCli(['mcp', 'check', server.url, '--call', 'whoami', '--json'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(check.code, 0, check.stderr);
  assert.match((JSON.parse(check.stdout) as { call: { text: string } }).call.text, /^sub=/);
  const token = await runCli(['mcp', 'token', server.url], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.code, 0, token.stderr);
  assert.doesNotMatch(token.stderr, /DPoP/);
});

test('a server whose protected resource metadata asks for DPoP gets DPoP-bound tokens, and mcp token says so on stderr', async (t) => {
  const { server, dir } = await startStand(t, {
    dpop_signing_alg_values_supported: ['ES256'],
    dpop_bound_access_tokens_required: true,
  });
  const home = join(dir, 'cli-home');
  const login = await runCli(['mcp', 'login', server.url, '--json'], {
    home,
    env: { LOGINKIT_STORE: 'file', BROWSER: makeBrowserCommand({ dir }) },
  });
  assert.equal(login.code, 0, login.stderr);
  const status = JSON.parse(login.stdout) as { dpop: boolean; tokenType: string };
  assert.equal(status.dpop, true);
  assert.equal(status.tokenType.toLowerCase(), 'dpop');
  const token = await runCli(['mcp', 'token', server.url], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.code, 0, token.stderr);
  assert.ok(token.stdout.trim().length > 0);
  assert.match(token.stderr, /DPoP-bound/);
  assert.doesNotMatch(token.stderr, new RegExp(token.stdout.trim()), 'the token is printed on stdout only');
});

test('a server that takes only DPoP-bound tokens is refused on the authProvider route before any sign-in, naming createFetch', async (t) => {
  const { server, dir } = await startStand(t, { dpop_bound_access_tokens_required: true });
  const opened: string[] = [];
  const mcp = kitFor(dir, opened).mcp(server.url);
  const client = new Client({ name: 'bearer-test', version: '1.0.0' });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(mcp.url), { authProvider: mcp })), /createFetch\(\)/);
  await client.close();
  assert.deepEqual(opened, []);
});

test('a DPoP challenge is seen among the WWW-Authenticate challenges, alone or beside Bearer', () => {
  const challenge = (header: string) => bearerChallenge({ headers: new Headers({ 'www-authenticate': header }) });
  assert.equal(challenge('DPoP resource_metadata="https://x.example/prm"')?.dpop, true);
  assert.equal(challenge('Bearer realm="x", DPoP algs="ES256"')?.dpop, true);
  assert.equal(challenge('Bearer resource_metadata="https://x.example/prm"')?.dpop, false);
});

// Every refresh token a new sign-in replaces is revoked at the authorization server, so `mcp logout` leaves
// nothing live there: a sign-in over an existing one, and a step-up on 403 insufficient_scope. oidc-provider
// with a fresh grant per authorization (each sign-in its own refresh token), asked by introspection.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { createLoginkit } from '../../src/index.js';
import { startAuthServer } from '../helpers/auth-server.js';
import { READ, type ResourceFormats, WRITE, isActive, mcpAuthorizationConfig } from '../helpers/mcp-authorization.js';
import { startMcpResourceServer } from '../helpers/mcp-resource-server.js';
import { signInOverHttp } from '../helpers/person.js';

/** The refresh token stored for an MCP server (plaintext file store). */
async function storedRefreshToken(home: string, serverUrl: string): Promise<string> {
  const file = JSON.parse(await readFile(join(home, 'credentials.json'), 'utf8')) as { entries: { mcp: Record<string, unknown> } };
  const id = file.entries.mcp[`server:${encodeURIComponent(serverUrl)}`];
  const credential = file.entries.mcp[`${String(id)}/default`] as { refreshToken?: string } | undefined;
  assert.ok(credential?.refreshToken, `a refresh token is stored for ${serverUrl}`);
  return credential.refreshToken;
}

test('a sign-in over an existing one and a step-up revoke the refresh tokens they replace; logout leaves none live', async (t) => {
  const formats: ResourceFormats = new Map();
  const auth = await startAuthServer({ configure: await mcpAuthorizationConfig(formats) });
  const server = await startMcpResourceServer({
    issuer: auth.issuer,
    tokenCheck: { kind: 'jwt', issuer: auth.issuer, jwksUri: `${auth.issuer}/jwks` },
    baseScope: READ,
    writeScope: WRITE,
  });
  formats.set(server.url, 'jwt');
  const home = await mkdtemp(join(tmpdir(), 'loginkit-mcp-replaced-'));
  t.after(async () => {
    await Promise.all([server.close(), auth.close()]);
    await rm(home, { recursive: true, force: true });
  });
  const warnings: string[] = [];
  const kit = createLoginkit({
    store: 'file',
    home,
    env: {},
    onWarning: (message) => warnings.push(message),
    openBrowser: async (url) => {
      await signInOverHttp(url);
    },
  });
  const mcp = kit.mcp(server.url);

  await mcp.login();
  const first = await storedRefreshToken(home, server.url);
  await mcp.login();
  const second = await storedRefreshToken(home, server.url);
  assert.notEqual(second, first);
  assert.equal(await isActive(auth.issuer, first), false, 'the replaced refresh token is revoked');
  assert.equal(await isActive(auth.issuer, second), true, 'the new sign-in is untouched');

  // Step-up: write-note needs notes:write, the server answers 403 insufficient_scope, loginkit signs in again.
  const client = new Client({ name: 'replaced-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url), { fetch: mcp.createFetch() }));
  const note = await client.callTool({ name: 'write-note', arguments: {} });
  await client.close();
  assert.notEqual(note.isError, true);
  const third = await storedRefreshToken(home, server.url);
  assert.notEqual(third, second);
  assert.equal(await isActive(auth.issuer, second), false, 'the refresh token the step-up replaced is revoked');
  assert.equal(await isActive(auth.issuer, third), true);

  const out = await mcp.logout();
  assert.equal(out.revocation, 'revoked');
  for (const token of [first, second, third]) assert.equal(await isActive(auth.issuer, token), false, 'nothing live after logout');
  assert.deepEqual(warnings, []);
});

interface ReusableGrant {
  jti: string;
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

interface GrantReuseContext {
  oidc: {
    client: { clientId: string };
    account: { accountId: string };
    resourceServers: Record<string, unknown>;
    requestParamScopes: Set<string>;
    provider: {
      Grant: { new (init: { accountId: string; clientId: string }): ReusableGrant; find(id: string): Promise<ReusableGrant | undefined> };
    };
  };
}

/** oidc-provider's default with a browser that keeps its session: a new authorization joins the last grant while it lives. */
function reuseLastGrant(configuration: Record<string, unknown>): void {
  let last: string | undefined;
  configuration['loadExistingGrant'] = async ({ oidc }: GrantReuseContext) => {
    const existing = last === undefined ? undefined : await oidc.provider.Grant.find(last);
    const grant = existing ?? new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
    const scopes = [...oidc.requestParamScopes];
    grant.addOIDCScope(scopes.filter((scope) => scope === 'offline_access' || scope === 'openid').join(' '));
    for (const resource of Object.keys(oidc.resourceServers)) grant.addResourceScope(resource, scopes.join(' '));
    last = await grant.save();
    return grant;
  };
}

test('where revoking the replaced refresh token also ends the new sign-in (one grant for both), loginkit notices and signs in once more', async (t) => {
  const formats: ResourceFormats = new Map();
  const configure = await mcpAuthorizationConfig(formats);
  const auth = await startAuthServer({
    configure: (configuration) => {
      configure(configuration);
      reuseLastGrant(configuration);
    },
  });
  const server = await startMcpResourceServer({
    issuer: auth.issuer,
    tokenCheck: { kind: 'jwt', issuer: auth.issuer, jwksUri: `${auth.issuer}/jwks` },
    baseScope: READ,
    writeScope: WRITE,
  });
  formats.set(server.url, 'jwt');
  const home = await mkdtemp(join(tmpdir(), 'loginkit-mcp-one-grant-'));
  t.after(async () => {
    await Promise.all([server.close(), auth.close()]);
    await rm(home, { recursive: true, force: true });
  });
  const warnings: string[] = [];
  const kit = createLoginkit({
    store: 'file',
    home,
    env: {},
    onWarning: (message) => warnings.push(message),
    openBrowser: async (url) => {
      await signInOverHttp(url);
    },
  });
  const mcp = kit.mcp(server.url);
  await mcp.login();
  const first = await storedRefreshToken(home, server.url);
  await mcp.login();
  const kept = await storedRefreshToken(home, server.url);
  assert.equal(await isActive(auth.issuer, first), false, 'the replaced refresh token is revoked');
  assert.equal(await isActive(auth.issuer, kept), true, 'the stored sign-in is live');
  assert.equal(auth.authorizationRequests.length, 3, 'one more sign-in after the server ended both');
  assert.match(warnings.join('\n'), /signing in once more/);
});

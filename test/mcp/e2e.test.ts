// MCP sign-in end to end with real parts, through the CLI contract (`loginkit mcp login|check|token|status|logout`,
// run in-process): oidc-provider with resource indicators, dynamic registration, refresh-token rotation (reuse
// revokes the grant) and revocation, in front of two MCP servers built on the official SDK that accept only
// tokens whose audience is themselves (one checks JWTs against the JWKS, the other introspects opaque tokens).
// The person at the browser is headless chromium behind `$BROWSER` for the first sign-in (registration, forged
// callbacks), and the HTTP person for the later ones (step-up, the second server, DPoP); the conformance suite covers none of
// refresh, `state`, `redirect_uri` or two resources on one authorization server.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';

import { runCli } from '../../src/cli/main.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { INTROSPECTOR, READ, type ResourceFormats, WRITE, mcpAuthorizationConfig } from '../helpers/mcp-authorization.js';
import { type McpResourceServer, startMcpResourceServer } from '../helpers/mcp-resource-server.js';
import { nodeProgram } from '../helpers/node-program.js';

const BROWSER_PROGRAM = new URL('./e2e-browser.ts', import.meta.url);

interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** What one `$BROWSER` run reported (one JSON line each). */
interface BrowserRun {
  authorizationUrl: string;
  forged: Array<{ what: string; status: number }>;
  finalUrl: string;
  text: string;
  error?: string;
}

/** A `$BROWSER` command running e2e-browser.ts: the forger in Chromium, or the person over HTTP. */
function browserCommand(dir: string, resultFile: string, forgeFirst: boolean): string {
  const path = join(dir, forgeFirst ? 'browser-forging.sh' : 'browser.sh');
  const words = [
    process.execPath,
    ...nodeProgram(BROWSER_PROGRAM),
    '--result-file',
    resultFile,
    '--person',
    forgeFirst ? 'chromium' : 'http',
  ];
  if (forgeFirst) words.push('--forge-first');
  writeFileSync(path, `#!/bin/sh\nexec ${words.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(' ')} -- "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Runs `loginkit …` in this process with its own streams and environment. */
async function loginkit(argv: string[], env: Record<string, string>): Promise<CliRun> {
  const stdin = new PassThrough();
  stdin.end();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => (out += String(chunk)));
  stderr.on('data', (chunk) => (err += String(chunk)));
  const code = await runCli(argv, { stdin, stdout, stderr, env });
  return { code, out, err };
}

/** Parses a `--json` answer, failing with the run's output when it is not JSON. */
function json<T>(run: CliRun): T {
  assert.equal(run.code, 0, `exit ${run.code}\n--- stdout ---\n${run.out}\n--- stderr ---\n${run.err}`);
  return JSON.parse(run.out) as T;
}

/** Waits until the browser program has reported `count` runs (it may finish after the CLI has). */
async function browserRuns(resultFile: string, count: number): Promise<BrowserRun[]> {
  for (let waited = 0; waited < 30_000; waited += 50) {
    const text = await readFile(resultFile, 'utf8').catch(() => '');
    const runs = text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as BrowserRun);
    const failed = runs.find((run) => run.error !== undefined);
    if (failed) throw new Error(`the browser failed: ${failed.error}`);
    if (runs.length >= count) return runs;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the browser did not report ${count} sign-in(s)`);
}

interface StoredMcpCredential {
  accessToken: string;
  refreshToken?: string;
  expiresAt: number | null;
  obtainedAt: number;
}

/** The stored credential for an MCP server (plaintext file store), and the file around it. */
async function storedCredential(home: string, serverUrl: string) {
  const path = join(home, 'credentials.json');
  const file = JSON.parse(await readFile(path, 'utf8')) as { entries: { mcp: Record<string, unknown> } };
  const id = file.entries.mcp[`server:${encodeURIComponent(serverUrl)}`];
  assert.equal(typeof id, 'string', `a credential for ${serverUrl} is stored`);
  const credential = file.entries.mcp[`${String(id)}/default`] as StoredMcpCredential;
  return { path, file, credential };
}

/** Makes the stored access token look expired to loginkit while the server still honours it (no waiting). */
async function expireStoredMcpToken(home: string, serverUrl: string): Promise<void> {
  const { path, file, credential } = await storedCredential(home, serverUrl);
  const now = Date.now();
  credential.obtainedAt = now - 3_600_000;
  credential.expiresAt = now - 1_000;
  await writeFile(path, JSON.stringify(file), { mode: 0o600 });
}

/** The payload of a JWT, unverified (the MCP server verifies; the test only reads). */
function jwtPayload(token: string): Record<string, unknown> {
  const [, payload] = token.split('.');
  return JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** An `initialize` straight to an MCP server with `token`: the status it answers. */
async function initializeStatus(server: McpResourceServer, token: string): Promise<number> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '0' } },
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** A refresh grant sent straight to the token endpoint, as a thief holding the refresh token would. */
async function refreshDirectly(auth: AuthServer, clientId: string, refreshToken: string, resource: string): Promise<number> {
  const response = await fetch(`${auth.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, resource }),
  });
  await response.arrayBuffer();
  return response.status;
}

interface McpStatusJson {
  serverUrl: string;
  resource: string | null;
  issuer: string;
  clientId: string;
  scopes: string[];
  refreshable: boolean;
}

interface CheckJson {
  tools: string[];
  call?: { name: string; isError: boolean; text: string };
}

test('MCP servers end to end: browser sign-in with registration, tool call, refresh with resource, step-up, two audiences, logout', async (t) => {
  const formats: ResourceFormats = new Map();
  const auth = await startAuthServer({
    configure: await mcpAuthorizationConfig(formats),
    // The SDK's bearer check takes Bearer tokens only: no DPoP offered (the DPoP sign-in has its own test).
    metadataOverrides: { dpop_signing_alg_values_supported: undefined },
  });
  const a = await startMcpResourceServer({
    issuer: auth.issuer,
    tokenCheck: { kind: 'jwt', issuer: auth.issuer, jwksUri: `${auth.issuer}/jwks` },
    baseScope: READ,
    writeScope: WRITE,
  });
  const b = await startMcpResourceServer({
    issuer: auth.issuer,
    tokenCheck: { kind: 'introspection', introspectionEndpoint: `${auth.issuer}/token/introspection`, ...INTROSPECTOR },
    baseScope: READ,
    writeScope: WRITE,
  });
  formats.set(a.url, 'jwt');
  formats.set(b.url, 'opaque');
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-mcp-e2e-'));
  const home = join(dir, 'home');
  const results = join(dir, 'browser-runs.jsonl');
  const base = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? dir,
    LOGINKIT_HOME: home,
    LOGINKIT_STORE: 'file',
  };
  const person = { ...base, BROWSER: browserCommand(dir, results, false) };
  const forger = { ...base, BROWSER: browserCommand(dir, results, true) };
  t.after(async () => {
    await Promise.all([a.close(), b.close(), auth.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  // 1. Login in the browser: discovery from the 401, dynamic registration, PKCE, state, resource. Forged
  //    callbacks (wrong state, wrong path) reach the listener first: refused, and the login keeps waiting.
  const login = json<McpStatusJson>(await loginkit(['mcp', 'login', a.url, '--json'], forger));
  const [first] = await browserRuns(results, 1);
  assert.deepEqual(first?.forged, [
    { what: 'wrong state', status: 400 },
    { what: 'wrong path', status: 404 },
  ]);
  assert.equal(auth.requests.filter((r) => r.method === 'POST' && r.path === '/reg').length, 1, 'one dynamic registration');
  assert.equal(login.resource, a.url);
  assert.equal(login.issuer, auth.issuer);
  assert.ok(login.refreshable);
  const authorization = auth.authorizationRequests[0];
  assert.ok(authorization);
  assert.equal(authorization.get('resource'), a.url);
  assert.equal(authorization.get('client_id'), login.clientId);
  assert.equal(authorization.get('code_challenge_method'), 'S256');
  assert.ok((authorization.get('state') ?? '').length >= 22, 'state carries at least 128 random bits');
  assert.ok(authorization.get('scope')?.split(' ').includes(READ), 'the scope of the 401 challenge is asked for');
  const redirectUri = authorization.get('redirect_uri') ?? '';
  assert.match(redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  const codeGrant = auth.grants.find((grant) => grant['grant_type'] === 'authorization_code');
  assert.equal(codeGrant?.['redirect_uri'], redirectUri, 'the token request repeats the redirect_uri string exactly');
  assert.equal(codeGrant?.['resource'], a.url);

  // 2. A tool call with the MCP SDK: the token's audience is server A, and A says so.
  const whoami = json<CheckJson>(await loginkit(['mcp', 'check', a.url, '--call', 'whoami', '--json'], base));
  assert.deepEqual(whoami.tools.sort(), ['whoami', 'write-note']);
  assert.match(whoami.call?.text ?? '', new RegExp(`aud=${a.url.replaceAll('.', '\\.')}`));
  const tokenA1 = (await loginkit(['mcp', 'token', a.url], base)).out.trim();
  assert.equal(jwtPayload(tokenA1)['aud'], a.url);

  // 3. Refresh when due, carrying resource; rotation hands out a new refresh token and the new access token works.
  const before = (await storedCredential(home, a.url)).credential;
  await expireStoredMcpToken(home, a.url);
  const tokenA2 = (await loginkit(['mcp', 'token', a.url], base)).out.trim();
  assert.notEqual(tokenA2, tokenA1);
  const refresh = auth.grants.filter((grant) => grant['grant_type'] === 'refresh_token');
  assert.equal(refresh.length, 1);
  assert.equal(refresh[0]?.['resource'], a.url, 'the refresh request names the resource');
  assert.equal(jwtPayload(tokenA2)['aud'], a.url);
  const after = (await storedCredential(home, a.url)).credential;
  assert.notEqual(after.refreshToken, before.refreshToken, 'the rotated refresh token was stored');
  assert.equal(await initializeStatus(a, tokenA2), 200);

  // 4. Step-up: write-note needs notes:write; A answers 403 insufficient_scope, loginkit signs in again with
  //    the union of held and challenged scopes, and the call goes through.
  const statusesBefore = a.seen.statuses.length;
  const note = json<CheckJson>(await loginkit(['mcp', 'check', a.url, '--call', 'write-note', '--json'], person));
  await browserRuns(results, 2);
  assert.equal(note.call?.isError, false);
  assert.match(note.call?.text ?? '', /^noted for /);
  assert.ok(a.seen.statuses.slice(statusesBefore).includes(403), 'A refused the narrower token first');
  const stepUp = auth.authorizationRequests[1];
  assert.deepEqual(
    stepUp
      ?.get('scope')
      ?.split(' ')
      .filter((s) => s.startsWith('notes:'))
      .sort(),
    [READ, WRITE],
  );
  assert.equal(stepUp?.get('resource'), a.url);
  const stepped = json<{ servers: McpStatusJson[] }>(await loginkit(['mcp', 'status', a.url, '--json'], base));
  assert.ok(stepped.servers[0]?.scopes.includes(WRITE));

  // 5. A second MCP server on the same authorization server: the registration is reused, the token is B's own
  //    (opaque, introspected), and neither server accepts the other's token.
  json<McpStatusJson>(await loginkit(['mcp', 'login', b.url, '--json'], person));
  await browserRuns(results, 3);
  assert.equal(auth.requests.filter((r) => r.method === 'POST' && r.path === '/reg').length, 1, 'no second registration');
  assert.equal(auth.authorizationRequests[2]?.get('resource'), b.url);
  const whoamiB = json<CheckJson>(await loginkit(['mcp', 'check', b.url, '--call', 'whoami', '--json'], base));
  assert.match(whoamiB.call?.text ?? '', new RegExp(`aud=${b.url.replaceAll('.', '\\.')}`));
  const tokenA = (await loginkit(['mcp', 'token', a.url], base)).out.trim();
  const tokenB = (await loginkit(['mcp', 'token', b.url], base)).out.trim();
  assert.notEqual(tokenA, tokenB);
  assert.equal(await initializeStatus(b, tokenB), 200);
  assert.equal(await initializeStatus(b, tokenA), 401, "B refuses A's token");
  assert.equal(await initializeStatus(a, tokenB), 401, "A refuses B's token");
  const all = json<{ servers: McpStatusJson[] }>(await loginkit(['mcp', 'status', '--json'], base));
  assert.deepEqual(all.servers.map((server) => server.resource).sort(), [a.url, b.url].sort());

  // 6. Logout revokes at the authorization server: B's opaque token is dead at B at once, A's refresh token is
  //    dead at the token endpoint (A's JWT lives until it expires: JWTs are not looked up), and A is forgotten.
  const storedA = (await storedCredential(home, a.url)).credential;
  const outB = json<{ revocation: string; revocationError?: string }>(await loginkit(['mcp', 'logout', b.url, '--json'], base));

  assert.equal(outB.revocation, 'revoked');
  assert.equal(await initializeStatus(b, tokenB), 401, 'the revoked token is refused');
  const outA = json<{ revocation: string; revocationError?: string }>(await loginkit(['mcp', 'logout', a.url, '--json'], base));
  assert.equal(outA.revocation, 'revoked');
  assert.ok(storedA.refreshToken);
  assert.equal(await refreshDirectly(auth, login.clientId, storedA.refreshToken, a.url), 400, 'the revoked refresh token is refused');
  const none = json<{ servers: McpStatusJson[] }>(await loginkit(['mcp', 'status', '--json'], base));
  assert.deepEqual(none.servers, []);
  assert.equal((await loginkit(['mcp', 'token', a.url], base)).code, 3);
});

// Regression: the Bearer-only token check refused every DPoP-bound token, so no sign-in to an authorization
// server that offers DPoP could finish ("token of type dpop, which loginkit cannot use"). The server here does
// not ask for DPoP: `--dpop` does.
test('MCP sign-in with --dpop where the authorization server offers DPoP: the DPoP-bound token is kept and refreshed with a proof', async (t) => {
  const formats: ResourceFormats = new Map();
  const auth = await startAuthServer({ configure: await mcpAuthorizationConfig(formats) });
  const server = await startMcpResourceServer({
    issuer: auth.issuer,
    tokenCheck: { kind: 'jwt', issuer: auth.issuer, jwksUri: `${auth.issuer}/jwks` },
    baseScope: READ,
    writeScope: WRITE,
  });
  formats.set(server.url, 'jwt');
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-mcp-dpop-'));
  const home = join(dir, 'home');
  const results = join(dir, 'browser-runs.jsonl');
  const base = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? dir,
    LOGINKIT_HOME: home,
    LOGINKIT_STORE: 'file',
  };
  t.after(async () => {
    await Promise.all([server.close(), auth.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  const login = json<McpStatusJson & { dpop: boolean; tokenType: string }>(
    await loginkit(['mcp', 'login', server.url, '--dpop', '--json'], { ...base, BROWSER: browserCommand(dir, results, false) }),
  );
  await browserRuns(results, 1);
  assert.equal(login.dpop, true);
  assert.equal(login.tokenType, 'dpop');
  const first = (await loginkit(['mcp', 'token', server.url], base)).out.trim();
  assert.ok(jwtPayload(first)['cnf'], 'the access token is bound to loginkit’s key');

  await expireStoredMcpToken(home, server.url);
  const refreshed = await loginkit(['mcp', 'token', server.url], base);
  assert.equal(refreshed.code, 0, refreshed.err);
  assert.notEqual(refreshed.out.trim(), first);
  assert.deepEqual(jwtPayload(refreshed.out.trim())['cnf'], jwtPayload(first)['cnf'], 'bound to the same key after refresh');
  assert.equal(auth.grants.filter((grant) => grant['grant_type'] === 'refresh_token')[0]?.['resource'], server.url);
});

// Issue 19, items 9–14 and 21 (MCP): what a hostile MCP server or authorization server must not get from
// loginkit. Each test is named after its item. Servers are real HTTP servers on 127.0.0.1; a second one,
// the "elsewhere" server, records anything that leaks to it.
import assert from 'node:assert/strict';
import { chmod, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { type LoginkitOptions, createLoginkit } from '../../src/index.js';
import { addressClass, checkUrl, createGuardedFetch, policyFor } from '../../src/net/guarded-fetch.js';
import { serializeCredential, toCredential } from '../../src/session/credential.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { approvingBrowser } from '../helpers/scripted-auth-server.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';

/** Control and bidi characters, but the line breaks loginkit itself prints. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const ESCAPES = '\u001b[2J\u001b]0;pwned\u0007\u202e';

const servers: HttpServerHandle[] = [];
const homes: string[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(homes.map((home) => rm(home, { recursive: true, force: true })));
});

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Route = (req: IncomingMessage, res: ServerResponse, body: string, base: string) => void | Promise<void>;

/** A loopback server answering by path (`routes`, 404 otherwise) and recording every request. */
async function serve(routes: Record<string, Route>): Promise<HttpServerHandle & { seen: Seen[] }> {
  const seen: Seen[] = [];
  let base = '';
  const server = await startHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push({ method: req.method ?? '', path, headers: req.headers, body });
      const route = routes[path];
      if (route) void route(req, res, body, base);
      else res.writeHead(404).end();
    });
  });
  base = server.url;
  servers.push(server);
  return { ...server, seen };
}

function json(res: ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const redirectTo =
  (target: () => string, status = 307): Route =>
  (_req, res) =>
    void res.writeHead(status, { location: target() }).end();

/** The routes of an MCP server that wants a token and is its own authorization server; `extra` replaces or adds. */
function mcpRoutes(options: { metadata?: (base: string) => Record<string, unknown>; extra?: Record<string, Route> } = {}) {
  const routes: Record<string, Route> = {
    '/mcp': (_req, res, _body, base) =>
      void res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` }).end(),
    '/.well-known/oauth-protected-resource/mcp': (_req, res, _body, base) =>
      json(res, { resource: `${base}/mcp`, authorization_servers: [base] }),
    '/.well-known/oauth-authorization-server': (_req, res, _body, base) =>
      json(res, {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        revocation_endpoint: `${base}/revoke`,
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_basic'],
        ...options.metadata?.(base),
      }),
    '/authorize': (req, res, _body, base) => {
      const url = new URL(req.url ?? '/', base);
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', 'the-code');
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href }).end();
    },
    '/register': (_req, res) => json(res, { client_id: 'registered-client' }, 201),
  };
  return { ...routes, ...options.extra };
}

function kit(extra: Partial<LoginkitOptions> = {}) {
  return createLoginkit({ store: 'memory', home: '/nonexistent-loginkit-home', env: {}, openBrowser: approvingBrowser, ...extra });
}

/** A memory store holding a signed-in credential for the MCP server at `serverUrl`, with the endpoints given. */
async function seededStore(serverUrl: string, server: Record<string, string>, expiresAt: number) {
  const store = createMemoryStore();
  const credential = toCredential(
    {
      provider: 'mcp-seeded',
      profile: 'default',
      clientId: 'client-1',
      server: { issuer: new URL(serverUrl).origin, ...server },
      mcp: { serverUrl, resource: serverUrl, grant: 'authorization_code', authMethod: 'none' },
    },
    {
      accessToken: 'seeded-access',
      refreshToken: 'seeded-refresh',
      idToken: undefined,
      tokenType: 'bearer',
      scopes: ['read'],
      expiresAt,
      obtainedAt: Date.now() - 60_000,
      account: { subject: 'seeded' },
    },
  );
  await store.update(() => ({
    mcp: { [`server:${encodeURIComponent(serverUrl)}`]: 'mcp-seeded', 'mcp-seeded/default': serializeCredential(credential) },
  }));
  return store;
}

/** A JSON-RPC MCP endpoint (JSON answers, no session) that accepts `token` and names itself and its tools as told. */
function hostileMcpEndpoint(token: string, serverInfo: { name: string; version: string }, tools: string[]): Route {
  return (req, res, body, base) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
        })
        .end();
      return;
    }
    // No SSE stream and no session to end: this endpoint only answers POSTed JSON-RPC.
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const message = JSON.parse(body) as { id?: number; method: string };
    if (message.id === undefined) return void res.writeHead(202).end();
    const result =
      message.method === 'initialize'
        ? { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo }
        : { tools: tools.map((name) => ({ name, inputSchema: { type: 'object' } })) };
    json(res, { jsonrpc: '2.0', id: message.id, result });
  };
}

test('issue 19 item 9: mcp login, status and check print no control characters a server sent (names, version, tools, scopes)', async () => {
  const server = await serve(
    mcpRoutes({
      extra: {
        '/.well-known/oauth-protected-resource/mcp': (_req, res, _body, base) =>
          json(res, { resource: `${base}/mcp`, authorization_servers: [base], scopes_supported: [`${ESCAPES}read`] }),
        '/mcp': hostileMcpEndpoint('machine-token', { name: `evil${ESCAPES}server`, version: `1${ESCAPES}` }, [`tool${ESCAPES}one`]),
        // No `scope` in the answer: the scopes asked for (the server's scopes_supported) are what is stored.
        '/token': (_req, res) => json(res, { access_token: 'machine-token', token_type: 'Bearer', expires_in: 3600 }),
      },
    }),
  );
  const home = await makeHome();
  homes.push(home);
  const url = `${server.url}/mcp`;
  const env = { LOGINKIT_STORE: 'file' };
  const login = await runCli(['mcp', 'login', url, '--client-credentials', '--client-id', 'machine', '--with-client-secret'], {
    home,
    env,
    input: 'machine-secret',
  });
  assert.equal(login.code, 0, login.stderr);
  const status = await runCli(['mcp', 'status', url], { home, env });
  assert.equal(status.code, 0, status.stderr);
  const statusJson = await runCli(['mcp', 'status', '--json'], { home, env });
  const check = await runCli(['mcp', 'check', url], { home, env: { ...env, CI: '1' } });
  assert.equal(check.code, 0, check.stderr);
  for (const run of [login, status, check]) assert.doesNotMatch(run.stdout + run.stderr, CONTROL);
  assert.match(check.stderr + check.stdout, /evil .*server/);
  assert.match(check.stderr + check.stdout, /tool .*one/);
  const stored = JSON.parse(statusJson.stdout) as { servers: Array<{ scopes: string[] }> };
  assert.ok(stored.servers[0]?.scopes.length, statusJson.stdout);
  for (const scope of stored.servers[0]?.scopes ?? []) assert.doesNotMatch(scope, CONTROL, 'stored scopes carry no control characters');
});

test('issue 19 item 9: an issuer with control characters is refused, and the refusal prints none', async () => {
  const hostileIssuer = (base: string): string => `${base}/as${ESCAPES}`;
  const asMetadata = mcpRoutes({ metadata: (base) => ({ issuer: hostileIssuer(base) }) })['/.well-known/oauth-authorization-server'];
  const withMetadata = await serve(
    mcpRoutes({
      extra: {
        '/.well-known/oauth-protected-resource/mcp': (_req, res, _body, base) =>
          json(res, { resource: `${base}/mcp`, authorization_servers: [hostileIssuer(base)] }),
        // Where RFC 8414 path insertion looks, metadata that vouches for the same hostile string.
        [`/.well-known/oauth-authorization-server${new URL(hostileIssuer('http://h')).pathname}`]: asMetadata as Route,
        '/token': (_req, res) => json(res, { access_token: 'machine-token', token_type: 'Bearer', expires_in: 3600 }),
      },
    }),
  );
  const home = await makeHome();
  homes.push(home);
  const url = `${withMetadata.url}/mcp`;
  const env = { LOGINKIT_STORE: 'file' };
  const login = await runCli(['mcp', 'login', url, '--client-credentials', '--client-id', 'machine', '--with-client-secret'], {
    home,
    env,
    input: 'machine-secret',
  });
  const status = await runCli(['mcp', 'status'], { home, env });
  for (const run of [login, status]) assert.doesNotMatch(run.stdout + run.stderr, CONTROL);
  assert.equal(login.code, 1, login.stderr);
  assert.match(
    login.stderr,
    /^error: Refusing the authorization server "http:\/\/127\.0\.0\.1:\d+\/as.*" that the MCP server names: it contains control characters\.\n$/,
  );
  assert.ok(!withMetadata.seen.some((request) => request.path === '/token'));
});

test('issue 19 item 10: a redirect from the registration endpoint is not followed', async () => {
  const elsewhere = await serve({ '/register': (_req, res) => json(res, { client_id: 'elsewhere-client' }, 201) });
  const server = await serve(mcpRoutes({ extra: { '/register': redirectTo(() => `${elsewhere.url}/register`) } }));
  await assert.rejects(kit().mcp(`${server.url}/mcp`).login(), (error: Error) => {
    assert.match(
      error.message,
      /^http:\/\/127\.0\.0\.1:\d+\/register answered the POST with a redirect \(HTTP 307\); loginkit does not follow/,
    );
    return true;
  });
  assert.deepEqual(elsewhere.seen, []);
});

for (const status of [307, 308]) {
  test(`issue 19 item 10: a ${status} from the token endpoint gets neither the code verifier nor the client secret`, async () => {
    const elsewhere = await serve({
      '/token': (_req, res) => json(res, { access_token: 'elsewhere-token', token_type: 'Bearer', expires_in: 3600 }),
    });
    const server = await serve(mcpRoutes({ extra: { '/token': redirectTo(() => `${elsewhere.url}/token`, status) } }));
    const client = kit().mcp(`${server.url}/mcp`, { clientId: 'configured', clientSecret: 'client-secret-value' });
    await assert.rejects(client.login(), (error: Error) => {
      assert.match(error.message, new RegExp(`/token answered the POST with a redirect \\(HTTP ${status}\\)`));
      return true;
    });
    const sent = server.seen.find((request) => request.path === '/token');
    assert.match(sent?.body ?? '', /code_verifier=/, 'the token request itself was made');
    assert.deepEqual(elsewhere.seen, [], 'nothing reached the redirect target');
    assert.equal(await client.status(), undefined, 'no token from the redirect target was stored');
  });
}

test('issue 19 item 10: refresh and revocation requests answered with a redirect send the refresh token nowhere else', async () => {
  const elsewhere = await serve({
    '/token': (_req, res) => json(res, { access_token: 'elsewhere-token', token_type: 'Bearer', expires_in: 3600 }),
    '/revoke': (_req, res) => void res.writeHead(200).end(),
  });
  const server = await serve({
    '/token': redirectTo(() => `${elsewhere.url}/token`, 307),
    '/revoke': redirectTo(() => `${elsewhere.url}/revoke`, 308),
  });
  const serverUrl = `${server.url}/mcp`;
  const store = await seededStore(
    serverUrl,
    { token_endpoint: `${server.url}/token`, revocation_endpoint: `${server.url}/revoke` },
    Date.now() - 1_000,
  );
  const client = createLoginkit({ store, home: '/nonexistent-loginkit-home', env: {} }).mcp(serverUrl, { interactive: false });
  await assert.rejects(client.token(), /\/token answered the POST with a redirect \(HTTP 307\)/);
  const logout = await client.logout();
  assert.equal(logout.revocation, 'failed');
  assert.match(logout.revocationError ?? '', /\/revoke answered the POST with a redirect \(HTTP 308\)/);
  assert.ok(server.seen.some((request) => request.path === '/token' && request.body.includes('seeded-refresh')));
  assert.deepEqual(elsewhere.seen, [], 'the refresh token reached only the endpoint the server named');
});

test('issue 19 item 11: a public name that also resolves to ::1 does not open loopback for the URLs it names', async () => {
  const policy = await policyFor(new URL('https://mcp.example.com/mcp'), async () => ['93.184.216.34', '::1']);
  assert.deepEqual(policy, { allowLoopback: false, allowPrivate: false });
  await assert.rejects(checkUrl(new URL('http://127.0.0.1:9/token'), policy), /127\.0\.0\.1 is a loopback address/);
  const mixedPrivate = await policyFor(new URL('https://mcp.example.com/mcp'), async () => ['93.184.216.34', '10.0.0.7']);
  assert.equal(mixedPrivate.allowPrivate, false);
  // A server that is wholly on loopback or a private network still reaches its neighbours.
  assert.equal((await policyFor(new URL('https://dev.example/mcp'), async () => ['127.0.0.1', '::1'])).allowLoopback, true);
  assert.equal((await policyFor(new URL('https://intranet.example/mcp'), async () => ['10.1.2.3'])).allowPrivate, true);
});

test('issue 19 item 11: the guarded fetch connects to the address it checked, without resolving the name again', async () => {
  const server = await serve({ '/doc': (_req, res) => json(res, { ok: true }) });
  const asked: string[] = [];
  // The name exists only for this resolver: a second resolution (the system's) would fail or answer otherwise.
  const resolve = async (hostname: string): Promise<string[]> => {
    asked.push(hostname);
    return ['127.0.0.1'];
  };
  const guarded = createGuardedFetch(fetch, { allowLoopback: true, allowPrivate: false }, { resolve });
  const response = await guarded(`http://rebinding.invalid:${server.port}/doc`);
  assert.deepEqual(await response.json(), { ok: true });
  assert.deepEqual(asked, ['rebinding.invalid']);
  assert.equal(server.seen[0]?.headers.host, `rebinding.invalid:${server.port}`);
});

test("issue 19 item 12: createFetch() sends the server's token only to that server's origin", async () => {
  const other = await serve({ '/api': (_req, res) => json(res, { ok: true }) });
  const server = await serve({ '/mcp': (_req, res) => json(res, { ok: true }) });
  const serverUrl = `${server.url}/mcp`;
  const store = await seededStore(serverUrl, { token_endpoint: `${server.url}/token` }, Date.now() + 3_600_000);
  const mcpFetch = createLoginkit({ store, home: '/nonexistent-loginkit-home', env: {} })
    .mcp(serverUrl, { interactive: false })
    .createFetch();
  assert.equal((await mcpFetch(serverUrl, { method: 'POST', body: '{}' })).status, 200);
  assert.equal((await mcpFetch(`${other.url}/api`)).status, 200);
  assert.equal(server.seen[0]?.headers.authorization, 'Bearer seeded-access');
  assert.equal(other.seen[0]?.headers.authorization, undefined, 'another origin never sees the token');
});

test("issue 19 item 21: a redirect within the MCP server's origin is still followed, token and body included", async () => {
  const server = await serve({ '/old': redirectTo(() => `${server.url}/mcp`, 308), '/mcp': (_req, res) => json(res, { ok: true }) });
  const serverUrl = `${server.url}/mcp`;
  const store = await seededStore(serverUrl, { token_endpoint: `${server.url}/token` }, Date.now() + 3_600_000);
  const mcpFetch = createLoginkit({ store, home: '/nonexistent-loginkit-home', env: {} })
    .mcp(serverUrl, { interactive: false })
    .createFetch();
  assert.equal((await mcpFetch(`${server.url}/old`, { method: 'POST', body: '{"id":1}' })).status, 200);
  const arrived = server.seen.find((request) => request.path === '/mcp');
  assert.equal(arrived?.headers.authorization, 'Bearer seeded-access');
  assert.equal(arrived?.body, '{"id":1}');
});

test('issue 19 item 13: an mcp section in a config.json that others can change is refused like the rest of the file', async () => {
  const server = await serve(mcpRoutes({ metadata: () => ({ registration_endpoint: undefined }) }));
  const url = `${server.url}/mcp`;
  const home = await makeHome();
  homes.push(home);
  const config = join(home, 'config.json');
  await writeFile(config, JSON.stringify({ mcp: { clients: { [url]: { clientId: 'planted-client' } } } }));
  await chmod(config, 0o666);
  const opened: string[] = [];
  // A short sign-in timeout: were the planted client used, the sign-in would wait for a person.
  const client = kit({ home, openBrowser: async (page) => void opened.push(page) }).mcp(url, { timeoutMs: 3_000 });
  await assert.rejects(client.login(), /config\.json can be changed by other users, so loginkit will not use it/);
  assert.deepEqual(opened, [], 'no sign-in with the planted client');
});

test('issue 19 item 14: IPv6 forms that embed an IPv4 address are judged by that address', async () => {
  const cases: Array<[string, string]> = [
    ['64:ff9b::a9fe:a9fe', 'link-local'], // NAT64 of 169.254.169.254
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b:1::7f00:1', 'loopback'], // local-use NAT64 (RFC 8215)
    ['2002:a9fe:a9fe::1', 'link-local'], // 6to4 of 169.254.169.254
    ['2002:c0a8:101::', 'private'], // 6to4 of 192.168.1.1
    ['::7f00:1', 'loopback'], // IPv4-compatible 127.0.0.1
    ['::169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'], // IPv4-mapped, as Node's URL parser writes it
    ['::ffff:127.0.0.1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    ['::1', 'loopback'],
    ['::', 'reserved'],
  ];
  for (const [address, kind] of cases) assert.equal(addressClass(address), kind, address);
  const strict = { allowLoopback: false, allowPrivate: false };
  await assert.rejects(checkUrl(new URL('https://[64:ff9b::a9fe:a9fe]/latest/meta-data/'), strict), /is a link-local address/);
  await assert.rejects(checkUrl(new URL('https://[::ffff:169.254.169.254]/'), strict), /is a link-local address/);
  await assert.rejects(
    checkUrl(new URL('https://nat64.example/'), strict, async () => ['64:ff9b::a00:1']),
    /is a private address/,
  );
});

test('issue 19 item 21: a file: or data: issuer is refused in one line naming it, not as a bug', async () => {
  for (const issuer of ['file:///etc/passwd', 'data:text/plain,hello']) {
    const server = await serve(
      mcpRoutes({
        extra: {
          '/.well-known/oauth-protected-resource/mcp': (_req, res, _body, base) =>
            json(res, { resource: `${base}/mcp`, authorization_servers: [issuer] }),
        },
      }),
    );
    const home = await makeHome();
    homes.push(home);
    const run = await runCli(['mcp', 'login', `${server.url}/mcp`, '--no-browser'], { home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(run.code, 1);
    assert.doesNotMatch(run.stderr, /bug in loginkit/);
    assert.equal(
      run.stderr,
      `error: Refusing the authorization server "${issuer}" that the MCP server names: an issuer must be an https URL (http only on loopback).\n`,
    );
  }
});

test("issue 19 item 21: an MCP server's redirect to another origin is refused in one line naming it", async () => {
  const elsewhere = await serve({ '/mcp': (_req, res) => void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end() });
  const server = await serve({ '/mcp': redirectTo(() => `${elsewhere.url}/mcp`) });
  const home = await makeHome();
  homes.push(home);
  const env = { LOGINKIT_STORE: 'file', CI: '1' };
  for (const command of [
    ['mcp', 'login', `${server.url}/mcp`, '--no-browser'],
    ['mcp', 'check', `${server.url}/mcp`],
  ]) {
    const run = await runCli(command, { home, env });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(
      run.stderr,
      `error: The MCP server ${server.url} redirected to another origin (${elsewhere.url}); refusing to follow it, a server's token goes only to that server.\n`,
    );
  }
  assert.deepEqual(elsewhere.seen, []);
});

test('issue 19 item 21: an authorization response with another iss, or none where promised, is refused naming it', async () => {
  for (const iss of ['https://evil.example', undefined]) {
    const server = await serve(
      mcpRoutes({
        metadata: () => ({ authorization_response_iss_parameter_supported: true }),
        extra: {
          '/authorize': (req, res, _body, base) => {
            const url = new URL(req.url ?? '/', base);
            const back = new URL(url.searchParams.get('redirect_uri') ?? '');
            back.searchParams.set('code', 'the-code');
            back.searchParams.set('state', url.searchParams.get('state') ?? '');
            if (iss) back.searchParams.set('iss', iss);
            res.writeHead(302, { location: back.href }).end();
          },
        },
      }),
    );
    await assert.rejects(kit().mcp(`${server.url}/mcp`).login(), (error: Error) => {
      assert.equal(error.message.split('\n').length, 1);
      assert.match(
        error.message,
        iss
          ? /^Sign-in refused: the authorization response names issuer "https:\/\/evil\.example", not the server the sign-in went to \(http:\/\/127\.0\.0\.1:\d+\) \(RFC 9207 iss\); the code was not redeemed\.$/
          : /^Sign-in refused: the authorization response names no issuer, though 127\.0\.0\.1:\d+ advertises that it always does \(RFC 9207 iss\); the code was not redeemed\.$/,
      );
      return true;
    });
    assert.ok(!server.seen.some((request) => request.path === '/token'), 'the code was never redeemed');
  }
});

test('issue 19 item 21: a resource_metadata or a redirect that is not a URL is a one-line refusal, not a bug', async () => {
  const junk = 'http://[';
  const badChallenge = await serve({
    '/mcp': (_req, res) => void res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${junk}"` }).end(),
  });
  const badRedirect = await serve({ '/mcp': (_req, res) => void res.writeHead(307, { location: junk }).end() });
  const badMetadataRedirect = await serve(
    mcpRoutes({ extra: { '/.well-known/oauth-protected-resource/mcp': (_req, res) => void res.writeHead(302, { location: junk }).end() } }),
  );
  const home = await makeHome();
  homes.push(home);
  const expected: Array<[HttpServerHandle, RegExp]> = [
    [
      badChallenge,
      /^error: The MCP server http:\/\/127\.0\.0\.1:\d+\/mcp named a resource_metadata that is not a URL \("http:\/\/\["\); refusing it\.\n$/,
    ],
    [badRedirect, /^error: http:\/\/127\.0\.0\.1:\d+\/mcp redirected to something that is not a URL; refusing it\.\n$/],
    [
      badMetadataRedirect,
      /^error: http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp redirected to something that is not a URL; refusing it\.\n$/,
    ],
  ];
  for (const [server, message] of expected) {
    const run = await runCli(['mcp', 'login', `${server.url}/mcp`, '--no-browser'], { home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, message);
  }
});

// Proves the test harness works end to end with real parts, without any loginkit code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';

import * as oidc from 'openid-client';
import { ProxyAgent, fetch as undiciFetch } from 'undici';

import { startAuthServer, type AuthServer, type AuthServerOptions } from './helpers/auth-server.js';
import { makeBrowserCommand, readBrowserResult } from './helpers/browser-command.js';
import { closeBrowser, signInWithBrowser } from './helpers/browser.js';
import { completeDeviceSignInOverHttp, signInOverHttp } from './helpers/person.js';
import { cliEnvironment, makeHome, runCli, runCliProcess, spawnCli, startCli } from './helpers/cli.js';
import { startProxy } from './helpers/proxy.js';
import { browserHandoff } from './helpers/sign-in.js';
import { startHttpServer, type HttpServerHandle } from './helpers/stand-in.js';

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

after(async () => {
  await closeBrowser();
});

async function authServer(opts?: AuthServerOptions): Promise<AuthServer> {
  const server = await startAuthServer(opts);
  cleanups.push(() => server.close());
  return server;
}

async function discover(server: AuthServer): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(server.issuer), server.clientId, undefined, oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
}

interface AppCallback extends HttpServerHandle {
  redirectUri: string;
  received: string[];
}

/** The app's side of the redirect: a loopback listener that records the callback and shows a done page. */
async function appCallback(): Promise<AppCallback> {
  const received: string[] = [];
  const server = await startHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    if (url.pathname === '/callback') {
      received.push(url.href);
      res.writeHead(302, { location: '/done' }).end();
    } else if (url.pathname === '/done') {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
          'content-security-policy': "default-src 'none'",
        })
        .end('<!doctype html><title>Done</title><p>Signed in. You can close this window.</p>');
    } else {
      res.writeHead(404).end();
    }
  });
  cleanups.push(() => server.close());
  return { ...server, redirectUri: `${server.url}/callback`, received };
}

async function authorizationRequest(config: oidc.Configuration, redirectUri: string, scope = 'openid email profile') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  return { url, verifier, state };
}

function claim(claims: oidc.IDToken | undefined, name: string): unknown {
  return claims?.[name];
}

test('code flow with PKCE in chromium, then userinfo, refresh, revocation; every counter moves', async () => {
  const server = await authServer({ extraIdTokenClaims: { 'https://example.test/plan': 'pro' } });
  const app = await appCallback();
  const config = await discover(server);
  assert.equal(config.serverMetadata().authorization_response_iss_parameter_supported, true);

  const request = await authorizationRequest(config, app.redirectUri);
  const page = await signInWithBrowser(request.url.href);
  assert.equal(page.finalUrl, `${app.url}/done`);
  assert.equal(page.status, 200);
  assert.equal(page.headers['cache-control'], 'no-store');
  assert.equal(page.headers['content-security-policy'], "default-src 'none'");
  assert.match(page.text, /Signed in/);
  assert.equal(app.received.length, 1);
  const callbackUrl = new URL(app.received[0] ?? '');
  assert.equal(callbackUrl.searchParams.get('iss'), server.issuer);
  assert.equal(callbackUrl.searchParams.get('state'), request.state);

  const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
  });
  assert.equal(server.stats.authorizationCodeGrants, 1);
  assert.equal(server.stats.tokenRequests, 1);
  assert.equal(tokens.expires_in, 3600);
  const idClaims = tokens.claims();
  assert.equal(idClaims?.sub, 'alice');
  assert.equal(claim(idClaims, 'email'), 'alice@example.test');
  assert.equal(claim(idClaims, 'email_verified'), true);
  assert.equal(claim(idClaims, 'https://example.test/plan'), 'pro');
  assert.ok(tokens.refresh_token, 'a refresh token without offline_access or prompt=consent');

  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, 'alice');
  assert.equal(userinfo.email, 'alice@example.test');
  assert.equal(server.stats.userinfoRequests, 1);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(server.stats.refreshGrants, 1);
  assert.equal(server.stats.tokenRequests, 2);
  assert.ok(refreshed.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');

  await oidc.tokenRevocation(config, refreshed.refresh_token);
  assert.equal(server.stats.revocations, 1);
  assert.equal(server.stats.grantsRevoked, 1);

  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), { error: 'invalid_grant' });
  assert.equal(server.stats.grantErrors, 1);
  assert.deepEqual(server.grantErrorCodes, ['invalid_grant']);
  assert.equal(server.stats.tokenRequests, 3);
  assert.ok(server.requests.some((r) => r.method === 'POST' && r.path === '/token'));
  assert.ok(server.requests.every((r) => !r.path.includes('?')));
});

const PERSONS = [
  { person: 'chromium', signIn: signInWithBrowser },
  { person: 'the HTTP person', signIn: signInOverHttp },
] as const;

test('the HTTP person ends where Chromium does: same page, status, headers and text, and the same tokens', async () => {
  const server = await authServer();
  const app = await appCallback();
  const config = await discover(server);
  const ends = [];
  for (const { signIn } of PERSONS) {
    const request = await authorizationRequest(config, app.redirectUri);
    const page = await signIn(request.url.href, { login: 'frank' });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(app.received.at(-1) ?? ''), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
    });
    ends.push({
      finalUrl: page.finalUrl,
      status: page.status,
      headers: [page.headers['cache-control'], page.headers['content-security-policy'], page.headers['referrer-policy']],
      text: page.text,
      sub: tokens.claims()?.sub,
    });
  }
  assert.equal(app.received.length, 2);
  assert.deepEqual(ends[1], ends[0]);
  assert.deepEqual(ends[0]?.text, 'Signed in. You can close this window.');
});

test('device flow: the HTTP person enters the code while the client polls', async () => {
  const server = await authServer({ deviceInterval: 1 });
  const config = await discover(server);
  const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid email' });
  assert.equal(device.interval, 1);

  const [tokens, successText] = await Promise.all([
    oidc.pollDeviceAuthorizationGrant(config, device),
    completeDeviceSignInOverHttp(device.verification_uri, device.user_code, { login: 'bob' }),
  ]);
  assert.match(successText, /Sign-in Success/);
  assert.equal(claim(tokens.claims(), 'email'), 'bob@example.test');
  assert.equal(server.stats.deviceCodeGrants, 1);
  assert.equal(server.stats.grantErrors, 0, 'authorization_pending is not counted');
  assert.ok(tokens.refresh_token);

  // Reusing a consumed refresh token revokes the whole grant: the race a cross-process lock must prevent.
  const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), { error: 'invalid_grant' });
  assert.equal(server.stats.grantsRevoked, 1);
  assert.ok(rotated.refresh_token);
  await assert.rejects(oidc.refreshTokenGrant(config, rotated.refresh_token), { error: 'invalid_grant' });
  assert.equal(server.stats.grantErrors, 2);
});

test('stopAtCallbackPrefix hands back the callback URL without it reaching the listener', async () => {
  const server = await authServer({ accessTokenTtl: 5, rotateRefreshTokens: false });
  const app = await appCallback();
  const config = await discover(server);
  // The default registration also has http://localhost/callback; its port is free for a native client.
  const redirectUri = `http://localhost:${app.port}/callback`;
  const request = await authorizationRequest(config, redirectUri);

  const page = await signInOverHttp(request.url.href, { stopAtCallbackPrefix: redirectUri, login: 'carol' });
  assert.ok(page.finalUrl.startsWith(`${redirectUri}?`), page.finalUrl);
  assert.equal(page.status, null);
  assert.deepEqual(app.received, []);

  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.finalUrl), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
  });
  assert.equal(tokens.expires_in, 5);
  assert.ok(tokens.refresh_token);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(refreshed.expires_in, 5, 'the TTL applies to refreshed access tokens too');
  assert.equal(refreshed.refresh_token ?? tokens.refresh_token, tokens.refresh_token, 'no rotation when turned off');
  await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(server.stats.grantsRevoked, 0);
});

for (const { person, signIn } of PERSONS) {
  test(`an error page at the authorization server fails the sign-in at once (${person})`, async () => {
    const server = await authServer();
    const config = await discover(server);
    const request = await authorizationRequest(config, 'http://127.0.0.1/not-registered');
    await assert.rejects(signIn(request.url.href), /unexpected page .*redirect_uri/s);
  });
}

test('an issuer with a path works for discovery and sign-in', async () => {
  const server = await authServer({ issuerPath: '/oidc' });
  const app = await appCallback();
  assert.match(server.issuer, /^http:\/\/127\.0\.0\.1:\d+\/oidc$/);
  const config = await discover(server);
  assert.equal(config.serverMetadata().token_endpoint, `${server.issuer}/token`);
  const request = await authorizationRequest(config, app.redirectUri);
  const page = await signInOverHttp(request.url.href);
  assert.equal(page.finalUrl, `${app.url}/done`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(app.received[0] ?? ''), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
  });
  assert.equal(server.stats.authorizationCodeGrants, 1);
  assert.ok(tokens.access_token);
});

test('the proxy forwards absolute-form requests and tunnels CONNECT', async () => {
  const target = await startHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${req.url ?? ''}`);
  });
  cleanups.push(() => target.close());
  const proxy = await startProxy();
  cleanups.push(() => proxy.close());

  const forwarded = await getThroughProxy(proxy.url, `${target.url}/plain?x=1`);
  assert.deepEqual(forwarded, { status: 200, body: 'hello from /plain?x=1' });

  const agent = new ProxyAgent(proxy.url);
  cleanups.push(() => agent.close());
  const tunnelled = await undiciFetch(`${target.url}/tunnelled`, { dispatcher: agent });
  assert.equal(await tunnelled.text(), 'hello from /tunnelled');

  assert.deepEqual(proxy.seen, [`GET ${target.url}/plain?x=1`, `CONNECT 127.0.0.1:${target.port}`]);
});

/** A plain node:http request in absolute form, the way curl talks to an HTTP proxy. */
async function getThroughProxy(proxyUrl: string, targetUrl: string): Promise<{ status: number; body: string }> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: proxy.hostname, port: proxy.port, path: targetUrl, method: 'GET', headers: { host: new URL(targetUrl).host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('a $BROWSER command signs in as a separate process (chromium, or over HTTP), and the failing one exits 1', async () => {
  const server = await authServer();
  const app = await appCallback();
  const config = await discover(server);
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-browser-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const resultFile = join(dir, 'result.json');

  const command = makeBrowserCommand({ dir, login: 'dave', resultFile, person: 'chromium' });
  const request = await authorizationRequest(config, app.redirectUri);
  await runProgram(command, [request.url.href], '/');
  const result = await readBrowserResult(resultFile);
  assert.equal(result.finalUrl, `${app.url}/done`);
  assert.equal(result.status, 200);
  assert.equal(app.received.length, 1);

  const stopping = makeBrowserCommand({ dir, resultFile, stopAtCallback: true });
  const second = await authorizationRequest(config, app.redirectUri);
  await runProgram(stopping, [second.url.href], '/');
  const stopped = await readBrowserResult(resultFile);
  assert.ok(stopped.finalUrl.startsWith(`${app.redirectUri}?code=`), stopped.finalUrl);
  assert.equal(app.received.length, 1);

  const failing = makeBrowserCommand({ dir, mode: 'fail' });
  await assert.rejects(runProgram(failing, [second.url.href], '/'), { code: 1 });
});

async function runProgram(file: string, args: string[], cwd: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 60_000 }, (error) => (error === null ? resolve() : reject(error)));
  });
}

test('the CLI runner: clean environment, stdin, waitFor, exit code and time limit', async () => {
  const home = await makeHome();
  cleanups.push(() => rm(home, { recursive: true, force: true }));

  const env = cliEnvironment(home, { EXTRA: 'yes', PATH: undefined });
  assert.equal(env['LOGINKIT_HOME'], home);
  assert.equal(env['EXTRA'], 'yes');
  assert.equal(env['PATH'], undefined);

  // `node -e` ignores the entry path, which becomes an argument: the runner is tested without bin/loginkit.cjs.
  const echo =
    "process.stdin.setEncoding('utf8'); let s = ''; process.stdin.on('data', (c) => { s += c; });" +
    " process.stdin.on('end', () => { console.log(JSON.stringify({ home: process.env.LOGINKIT_HOME," +
    ' browser: process.env.BROWSER ?? null, proxy: process.env.HTTPS_PROXY ?? null, args: process.argv.slice(2), s }));' +
    " console.error('bye'); process.exit(3); });";
  const saved = { BROWSER: process.env['BROWSER'], HTTPS_PROXY: process.env['HTTPS_PROXY'] };
  process.env['BROWSER'] = 'firefox';
  process.env['HTTPS_PROXY'] = 'http://127.0.0.1:9';
  let result;
  try {
    result = await runCliProcess(['status', '--json'], { home, input: 'piped', nodeArgs: ['-e', echo] });
  } finally {
    restoreEnv(saved);
  }
  assert.equal(result.code, 3);
  assert.equal(result.stderr, 'bye\n');
  const seen: unknown = JSON.parse(result.stdout);
  assert.deepEqual(seen, { home, browser: null, proxy: null, args: ['status', '--json'], s: 'piped' });

  const waiting = spawnCli([], {
    home,
    nodeArgs: ['-e', "console.log('open this URL: http://x.test/a'); process.stdin.once('data', () => process.exit(0));"],
  });
  const match = await waiting.waitFor(/open this URL: (\S+)/);
  assert.equal(match[1], 'http://x.test/a');
  waiting.child.stdin.write('go\n');
  assert.equal((await waiting.exited).code, 0);

  const hanging = spawnCli([], { home, timeoutMs: 300, nodeArgs: ['-e', 'setInterval(() => {}, 1000)'] });
  await assert.rejects(hanging.exited, /still running after 300 ms/);
  await assert.rejects(hanging.waitFor(/never/), /exited before stdout matched/);
});

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

test('the in-process CLI runner: the cleaned environment and not process.env, stdin, waitFor, exit code and deadline', async () => {
  const home = await makeHome();
  cleanups.push(() => rm(home, { recursive: true, force: true }));
  // An OAuth provider whose endpoints are given (no discovery), so that a login starts without a server.
  await writeFile(
    join(home, 'config.json'),
    JSON.stringify({
      providers: {
        demo: {
          type: 'oauth',
          issuer: 'http://127.0.0.1:9',
          clientId: 'x',
          authorizationEndpoint: 'http://127.0.0.1:9/authorize',
          tokenEndpoint: 'http://127.0.0.1:9/token',
        },
      },
    }),
    { mode: 0o600 },
  );
  const file = { LOGINKIT_STORE: 'file' };
  const key = `gsk_${'h'.repeat(52)}`;
  const saved = { LOGINKIT_STORE: process.env['LOGINKIT_STORE'], GROQ_API_KEY: process.env['GROQ_API_KEY'] };
  // Were the run to read process.env, it would see these instead of its own settings.
  process.env['LOGINKIT_STORE'] = 'vault';
  process.env['GROQ_API_KEY'] = 'gsk_from_the_test_process';
  try {
    const stored = await runCli(['login', 'groq', '--with-api-key', '--no-verify'], {
      home,
      input: `${key}\n`,
      env: { ...file, GROQ_API_KEY: undefined },
    });
    assert.equal(stored.code, 0, stored.stderr);
    assert.equal(stored.signal, null);
    assert.match(stored.stderr, /Stored the Groq API key gsk_hh…hhhh/);
    const token = await runCli(['token', 'groq'], { home, env: { ...file, GROQ_API_KEY: undefined } });
    assert.deepEqual(token, { code: 0, signal: null, stdout: `${key}\n`, stderr: '' });
    const selection = await runCli(['store', 'status', '--json'], { home });
    assert.equal(selection.code, 0, selection.stderr);
    assert.deepEqual(
      (JSON.parse(selection.stdout) as { selection: unknown }).selection,
      { choice: 'auto', source: 'default' },
      'LOGINKIT_* of the test process is not inherited',
    );
  } finally {
    restoreEnv(saved);
  }
  assert.equal((await runCli(['frobnicate'], { home })).code, 2);

  const waiting = startCli(['login', 'demo', '--paste', '--timeout', '1'], { home, env: file });
  const [url] = await waiting.waitFor(/^http:\/\/127\.0\.0\.1:9\/authorize\?\S+$/m, 'stderr');
  assert.match(url ?? '', /redirect_uri=/);
  assert.equal(waiting.running(), true);
  waiting.stdin.write('https://example.com/elsewhere?code=x&state=y\n');
  await waiting.waitFor(/Not accepted/, 'stderr');
  const ended = await waiting.exited;
  assert.equal(ended.code, 1);
  assert.match(ended.stderr, /Nobody completed the sign-in within 1 s/);
  assert.equal(waiting.running(), false);

  const overdue = startCli(['login', 'demo', '--no-browser', '--timeout', '1'], { home, env: file, timeoutMs: 200 });
  await assert.rejects(overdue.exited, /still running in process after 200 ms/);
  await assert.rejects(overdue.waitFor(/never/), /exited before stdout matched/);
  // The abandoned run ends by itself a moment later (its own --timeout).
});

test('a browser handoff: $BROWSER passes the URL to this process, where the person signs in', async () => {
  const server = await authServer();
  const app = await appCallback();
  const config = await discover(server);
  const handoff = browserHandoff({ login: 'erin' });
  cleanups.push(async () => handoff.close());
  const request = await authorizationRequest(config, app.redirectUri);
  await runProgram(handoff.command, ['--some-flag', request.url.href], '/');
  const page = await handoff.last();
  assert.deepEqual(handoff.urls, [request.url.href], 'the last argument is the URL');
  assert.equal(page.finalUrl, `${app.url}/done`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(app.received[0] ?? ''), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
  });
  assert.equal(tokens.claims()?.sub, 'erin');

  const stopping = browserHandoff({ stopAtCallback: true });
  cleanups.push(async () => stopping.close());
  const second = await authorizationRequest(config, app.redirectUri);
  await runProgram(stopping.command, [second.url.href], '/');
  const stopped = await stopping.last();
  assert.ok(stopped.finalUrl.startsWith(`${app.redirectUri}?code=`), stopped.finalUrl);
  assert.equal(app.received.length, 1, 'the stopped callback never reached the app');
});

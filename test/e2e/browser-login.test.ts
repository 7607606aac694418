import assert from 'node:assert/strict';
import { readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { AuthServer } from '../helpers/auth-server.js';
import { signInWithBrowser } from '../helpers/browser.js';
import { makeBrowserCommand, readBrowserResult } from '../helpers/browser-command.js';
import { type CliResult, makeHome, runCli, runCliProcess, spawnCli, startCli } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { expireStoredToken, seedValidToken } from '../helpers/store-fixtures.js';

const PROVIDER = 'demo';

interface StoredCredential {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
}

async function storedCredential(home: string): Promise<StoredCredential> {
  const file = JSON.parse(await readFile(join(home, 'credentials.json'), 'utf8')) as { entries: Record<string, StoredCredential> };
  const credential = file.entries[`${PROVIDER}/default`];
  assert.ok(credential, 'a credential is stored');
  return credential;
}

async function addProvider(home: string, server: AuthServer, extra: string[] = []): Promise<void> {
  const added = await runCli(['providers', 'add', PROVIDER, '--issuer', server.issuer, '--client-id', server.clientId, ...extra], { home });
  assert.equal(added.code, 0, added.stderr);
}

/** `loginkit login` as a process, with `$BROWSER` a separate process driving Chromium: the whole real thing. */
async function loginWithBrowserProcess(home: string): Promise<{ result: CliResult; browserResult: string }> {
  const resultFile = join(home, 'browser-result.json');
  const browser = makeBrowserCommand({ dir: home, resultFile, person: 'chromium' });
  const result = await runCliProcess(['login', PROVIDER], { home, env: { BROWSER: browser } });
  assert.equal(result.code, 0, `login failed:\n${result.stderr}`);
  return { result, browserResult: resultFile };
}

/** The browser command writes its result after the page settles, which may be after the CLI exited. */
async function waitForBrowserResult(file: string): Promise<Awaited<ReturnType<typeof readBrowserResult>>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await readBrowserResult(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 150) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function userinfo(server: AuthServer, token: string): Promise<Response> {
  return fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
}

function rawGet(port: number, path: string, host = `127.0.0.1:${port}`): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

function isPortClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

function assertNoSecrets(output: string, secrets: Array<string | undefined>): void {
  for (const secret of secrets) {
    if (secret) assert.ok(!output.includes(secret), 'a secret appeared in the output');
  }
  assert.doesNotMatch(output, /[?&]code=/, 'no authorization code in the output');
  assert.doesNotMatch(output, /code_verifier/);
}

describe('browser sign-in against a real authorization server', () => {
  const fixture = useSignInServer();

  /** `loginkit login` in this process, signing in through a `$BROWSER` handed to this process. */
  async function loginWithBrowser(home: string): Promise<CliResult> {
    const result = await runCli(['login', PROVIDER], { home, env: { BROWSER: fixture.browser().command } });
    assert.equal(result.code, 0, `login failed:\n${result.stderr}`);
    return result;
  }

  test('login through $BROWSER, then token works at userinfo, status reports it, logout revokes it', async () => {
    const { server } = fixture;
    const home = await makeHome();
    await addProvider(home, server);
    const { result: login, browserResult } = await loginWithBrowserProcess(home);

    const urlLine = login.stderr.split('\n').find((line) => line.startsWith(`${server.issuer}/`));
    assert.ok(urlLine, 'the authorization URL is printed on a line of its own');
    const authorizationUrl = new URL(urlLine);
    assert.equal(authorizationUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authorizationUrl.searchParams.get('redirect_uri') ?? '', /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    assert.match(login.stderr, /Signed in to demo as alice@example\.test/);
    assert.equal(server.stats.authorizationCodeGrants, 1);

    const page = await waitForBrowserResult(browserResult);
    assert.equal(new URL(page.finalUrl).pathname, '/loginkit/done');
    assert.match(page.text, /return to your terminal/i);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.match(page.headers['content-security-policy'] ?? '', /default-src 'none'/);
    const port = Number(new URL(page.finalUrl).port);
    assert.equal(await isPortClosed(port), true, 'the listener is closed after the login');

    const homeMode = (await stat(home)).mode & 0o777;
    assert.equal((await stat(join(home, 'credentials.json'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(home, 'config.json'))).mode & 0o777, 0o600);
    assert.ok(homeMode === 0o700, `home folder mode ${homeMode.toString(8)}`);

    const stored = await storedCredential(home);
    const token = await runCli(['token', PROVIDER], { home });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout, `${stored.accessToken}\n`, 'token prints the access token and nothing else');
    assert.equal(token.stderr, '');
    const me = await userinfo(server, token.stdout.trim());
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { email: string }).email, 'alice@example.test');

    const status = await runCli(['status', '--json'], { home });
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as { providers: Array<Record<string, unknown>> };
    assert.equal(parsed.providers.length, 1);
    const entry = parsed.providers[0] ?? {};
    assert.deepEqual(Object.keys(entry).sort(), [...Object.keys(entry)].sort());
    for (const key of ['id', 'method', 'loggedIn', 'account', 'scopes', 'expiresAt', 'store']) assert.ok(key in entry, `status has ${key}`);
    assert.equal(entry.id, PROVIDER);
    assert.equal(entry.method, 'oauth');
    assert.equal(entry.loggedIn, true);
    assert.equal(entry.account, 'alice@example.test');
    assert.ok(Array.isArray(entry.scopes) && (entry.scopes as string[]).includes('openid'));
    assert.ok(typeof entry.expiresAt === 'string' && !Number.isNaN(Date.parse(entry.expiresAt)));
    assert.match(String(entry.store), /credentials\.json/);
    const statusOne = await runCli(['status', PROVIDER], { home });
    assert.equal(statusOne.code, 0);
    assert.match(statusOne.stdout, /demo: signed in as alice@example\.test/);

    const revocationsBefore = server.stats.revocations;
    const logout = await runCli(['logout', PROVIDER], { home });
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stderr, /revoked at the server/);
    assert.ok(server.stats.revocations >= revocationsBefore + 1);
    assert.ok(server.stats.grantsRevoked >= 1, 'revoking the refresh token ends the grant');
    assert.equal((await userinfo(server, stored.accessToken)).status, 401, 'the access token no longer works');
    const after = await runCli(['status', PROVIDER], { home });
    assert.equal(after.code, 3, 'status <id> exits 3 when not signed in');
    assert.equal((await runCli(['token', PROVIDER], { home })).code, 3);

    const everything = [login, token, status, statusOne, logout, after]
      .map((r) => r.stderr + r.stdout.replace(stored.accessToken, ''))
      .join('\n');
    assertNoSecrets(everything.replace(token.stdout, ''), [stored.refreshToken, stored.idToken]);
    assertNoSecrets(login.stdout + login.stderr + status.stdout + logout.stderr, [stored.accessToken, stored.refreshToken, stored.idToken]);
  });

  test('wrong, missing or repeated state and a foreign Host are turned away while the login keeps waiting', async () => {
    const { server } = fixture;
    const home = await makeHome();
    await addProvider(home, server);
    const tokenRequestsBefore = server.stats.tokenRequests;
    const cli = startCli(['login', PROVIDER, '--no-browser', '--timeout', '60'], { home });
    const [urlLine] = await cli.waitFor(new RegExp(`^${server.issuer.replace(/[.:/]/g, '\\$&')}/\\S+$`, 'm'), 'stderr');
    const authorizationUrl = new URL(urlLine);
    const redirect = new URL(authorizationUrl.searchParams.get('redirect_uri') ?? '');
    const port = Number(redirect.port);
    const state = authorizationUrl.searchParams.get('state') ?? '';
    assert.ok(Buffer.from(state, 'base64url').length >= 16, 'state has at least 128 bits');

    assert.equal(await rawGet(port, '/callback?code=stolen&state=wrong'), 400);
    assert.equal(await rawGet(port, '/callback?code=stolen'), 400);
    assert.equal(await rawGet(port, `/callback?code=stolen&state=${state}&state=${state}`), 400);
    assert.equal(await rawGet(port, `/callback?code=stolen&state=${state}`, `attacker.example:${port}`), 421);
    await cli.waitFor(/state does not match/, 'stderr');
    assert.equal(server.stats.tokenRequests, tokenRequestsBefore, 'nothing reached the token endpoint');
    assert.equal(cli.running(), true, 'the login is still waiting');

    const page = await signInWithBrowser(authorizationUrl.href);
    assert.equal(new URL(page.finalUrl).pathname, '/loginkit/done');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.stats.tokenRequests, tokenRequestsBefore + 1, 'exactly one code redemption');
    assert.equal(await isPortClosed(port), true);
  });

  test('an expired access token is refreshed, and the rotated refresh token is stored first', async () => {
    const { server } = fixture;
    const home = await makeHome();
    await addProvider(home, server);
    await loginWithBrowser(home);
    await expireStoredToken(home, PROVIDER);
    const before = await storedCredential(home);
    const refreshesBefore = server.stats.refreshGrants;
    const token = await runCli(['token', PROVIDER], { home });
    assert.equal(token.code, 0, token.stderr);
    const after = await storedCredential(home);
    assert.notEqual(after.accessToken, before.accessToken);
    assert.notEqual(after.refreshToken, before.refreshToken, 'the rotated refresh token was persisted');
    assert.equal(token.stdout.trim(), after.accessToken);
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1);
    assert.equal((await userinfo(server, after.accessToken)).status, 200);
  });

  test('a rejected refresh token means login required: exit 3 with the command to run', async () => {
    const home = await makeHome();
    await addProvider(home, fixture.server);
    await loginWithBrowser(home);
    const path = join(home, 'credentials.json');
    const file = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, { refreshToken: string }> };
    const entry = file.entries[`${PROVIDER}/default`];
    assert.ok(entry);
    entry.refreshToken = 'not-a-valid-refresh-token';
    await writeFile(path, JSON.stringify(file), { mode: 0o600 });
    await expireStoredToken(home, PROVIDER);
    const token = await runCli(['token', PROVIDER], { home });
    assert.equal(token.code, 3);
    assert.equal(token.stdout, '');
    assert.match(token.stderr, /rejected the refresh token/);
    assert.match(token.stderr, /Run: loginkit login demo/);
    assert.ok(token.stderr.trim().split('\n').length <= 2, 'one or two lines');
    assert.doesNotMatch(token.stderr, /not-a-valid-refresh-token/);
  });

  test('--timeout ends a login nobody completes; Ctrl-C exits 130 and closes the listener', async () => {
    const home = await makeHome();
    await addProvider(home, fixture.server);
    const timedOut = await runCli(['login', PROVIDER, '--no-browser', '--timeout', '1'], { home });
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /Nobody completed the sign-in within 1 s\.\nRun the login again \(use --timeout SECONDS for more time\)/);
    assert.doesNotMatch(timedOut.stderr, /timeoutMs/, 'the CLI names its flag, not the library option');

    // A real process: Ctrl-C is a signal.
    const cli = spawnCli(['login', PROVIDER, '--no-browser'], { home });
    const [urlLine] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    const port = Number(new URL(new URL(urlLine).searchParams.get('redirect_uri') ?? '').port);
    assert.equal(await isPortClosed(port), false);
    cli.child.kill('SIGINT');
    const interrupted = await cli.exited;
    assert.equal(interrupted.code, 130);
    assert.equal(await isPortClosed(port), true);
  });

  test('a browser that cannot be opened is reported, and the login keeps waiting for the URL to be used', async () => {
    const home = await makeHome();
    await addProvider(home, fixture.server);
    const broken = makeBrowserCommand({ dir: home, mode: 'fail' });
    const cli = startCli(['login', PROVIDER, '--timeout', '60'], { home, env: { BROWSER: broken } });
    await cli.waitFor(/Could not open a browser/, 'stderr');
    const [urlLine] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    await signInWithBrowser(urlLine);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
  });

  test('a credential file that others can read is refused with the chmod fix', async () => {
    const home = await makeHome();
    await addProvider(home, fixture.server);
    await seedValidToken(home, PROVIDER, 'readable-access-token');
    const path = join(home, 'credentials.json');
    await chmod(path, 0o644);
    const token = await runCli(['token', PROVIDER], { home });
    assert.equal(token.code, 1);
    assert.match(token.stderr, /chmod 600/);
    assert.equal(token.stdout, '');
  });
});

describe('configuration', () => {
  test('a non-https issuer is refused in one line naming the file, the provider and the field', async () => {
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { acme: { type: 'oauth', issuer: 'http://auth.acme.dev', clientId: 'acme-cli' } } }),
    );
    const login = await runCli(['login', 'acme'], { home });
    assert.equal(login.code, 1);
    const [line] = login.stderr.trim().split('\n');
    assert.match(line ?? '', /config\.json: provider "acme": field issuer must use https/);

    const added = await runCli(['providers', 'add', 'bad', '--issuer', 'http://example.com', '--client-id', 'x'], { home });
    assert.equal(added.code, 1);
    assert.match(added.stderr, /provider "bad": field issuer must use https/);
  });

  test('an unknown provider says how to add it; usage errors exit 2', async () => {
    const home = await makeHome();
    const login = await runCli(['login', 'nowhere'], { home });
    assert.equal(login.code, 2);
    assert.match(login.stderr, /Unknown provider "nowhere"\. Known: openai, /);
    assert.match(login.stderr, /loginkit providers add <id> --issuer URL --client-id ID/);
    assert.equal((await runCli(['login'], { home })).code, 2);
    assert.equal((await runCli(['frobnicate'], { home })).code, 2);
    assert.equal((await runCli(['logout'], { home })).code, 2);
    const providers = await runCli(['providers', '--json'], { home });
    const listed = (JSON.parse(providers.stdout) as { providers: Array<{ id: string; builtin: boolean }> }).providers;
    assert.ok(listed.some((p) => p.id === 'openai' && p.builtin) && listed.every((p) => p.builtin), 'only the built-in providers');
  });
});

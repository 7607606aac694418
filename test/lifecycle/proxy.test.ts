// Every request the library makes honours HTTP_PROXY / NO_PROXY (Node 20's built-in fetch ignores them):
// the CLI process reads them from its real environment, an embedding client from its `env` option alone;
// both talk to a real oidc-provider, and a real forward proxy on loopback records what went through it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NetworkError, createLoginkit } from '../../src/index.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { type ForwardProxy, startProxy } from '../helpers/proxy.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { expireStoredToken } from '../helpers/store-fixtures.js';
import { readStoredEntries, refusedPort, seedStore } from './support.js';

const PROVIDER = 'demo';

/** Sets process.env[name] for the length of `task`: a setting an embedding client must not read. */
async function withProcessEnv(name: string, value: string, task: () => Promise<void>): Promise<void> {
  const saved = process.env[name];
  process.env[name] = value;
  try {
    await task();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

describe('HTTP_PROXY, HTTPS_PROXY and NO_PROXY', () => {
  const fixture = useSignInServer();
  let proxy: ForwardProxy;
  let home: string;

  before(async () => {
    proxy = await startProxy();
    home = await fixture.home(PROVIDER);
  });
  after(async () => {
    await proxy.close();
  });

  const authority = (): string => `127.0.0.1:${fixture.server.port}`;
  /** Requests to the auth server that went through the proxy (undici tunnels http:// with CONNECT). */
  const throughProxy = (): string[] => proxy.tunnelled.filter((line) => line.includes(authority()));
  const forget = (): void => {
    proxy.seen.length = 0;
    proxy.tunnelled.length = 0;
  };
  const env = (extra: Record<string, string>): Record<string, string> => ({ LOGINKIT_STORE: 'file', ...extra });

  /** Makes the stored access token look expired (the server still honours it), so the next use refreshes it. */
  const expireNow = (): Promise<void> => expireStoredToken(home, PROVIDER);

  test('login: discovery and the code exchange go through the proxy', async () => {
    const { server } = fixture;
    const browser = fixture.browser().command;
    const login = await runCli(['login', PROVIDER], { home, env: env({ BROWSER: browser, HTTP_PROXY: proxy.url }) });
    assert.equal(login.code, 0, login.stderr);
    const seen = throughProxy();
    assert.ok(proxy.seen.includes(`CONNECT ${authority()}`), JSON.stringify(proxy.seen));
    assert.ok(
      seen.some((line) => line.startsWith(`GET ${authority()}/.well-known/`)),
      `discovery went through the proxy: ${JSON.stringify(seen)}`,
    );
    assert.ok(seen.includes(`POST ${authority()}/token`), `the code exchange went through the proxy: ${JSON.stringify(seen)}`);
    const direct = server.requests.filter((r) => r.path === '/token' || r.path.startsWith('/.well-known/')).length;
    assert.equal(
      direct,
      seen.filter((line) => / \S+\/(token|\.well-known\/)/.test(line)).length,
      'every discovery and token request went through the proxy',
    );
    assert.equal(server.stats.authorizationCodeGrants, 1);
  });

  test('token: the refresh goes through the proxy named by HTTP_PROXY', async () => {
    const { server } = fixture;
    await expireNow();
    forget();
    const refreshesBefore = server.stats.refreshGrants;
    const run = await runCli(['token', PROVIDER], { home, env: env({ HTTP_PROXY: proxy.url }) });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.stats.refreshGrants, refreshesBefore + 1, 'one refresh');
    assert.deepEqual(throughProxy(), [`POST ${authority()}/token`]);
    const stored = (await readStoredEntries(home))[`${PROVIDER}/default`];
    assert.equal(run.stdout, `${String(stored?.accessToken)}\n`, 'prints the refreshed, stored token');
  });

  test('lower-case http_proxy works too', async () => {
    await expireNow();
    forget();
    const run = await runCli(['token', PROVIDER], { home, env: env({ http_proxy: proxy.url }) });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(throughProxy(), [`POST ${authority()}/token`]);
  });

  test('NO_PROXY=127.0.0.1: the refresh bypasses the proxy', async () => {
    const { server } = fixture;
    await expireNow();
    forget();
    const refreshesBefore = server.stats.refreshGrants;
    const run = await runCli(['token', PROVIDER], { home, env: env({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }) });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.stats.refreshGrants, refreshesBefore + 1, 'one refresh');
    assert.deepEqual(proxy.seen, [], 'nothing went through the proxy');
    assert.deepEqual(proxy.tunnelled, []);
  });

  test('the proxy is really used: a dead proxy fails the refresh, and NO_PROXY gets around it', async () => {
    const { server } = fixture;
    const deadProxy = `http://127.0.0.1:${await refusedPort()}`;
    await expireNow();
    const failed = await runCli(['token', PROVIDER], { home, env: env({ HTTP_PROXY: deadProxy }), timeoutMs: 20_000 });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, new RegExp(`127\\.0\\.0\\.1:${server.port}`), 'names the host it was trying to reach');
    assert.match(failed.stderr, /proxy/i, 'points at the proxy settings');

    const bypassed = await runCli(['token', PROVIDER], { home, env: env({ HTTP_PROXY: deadProxy, NO_PROXY: `127.0.0.1:${server.port}` }) });
    assert.equal(bypassed.code, 0, bypassed.stderr);
    assert.equal(server.stats.grantsRevoked, 0, 'no refresh token was reused along the way');
  });

  test('HTTPS_PROXY alone is not used for an http:// server', async () => {
    await expireNow();
    forget();
    const run = await runCli(['token', PROVIDER], { home, env: env({ HTTPS_PROXY: proxy.url }) });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(proxy.seen, []);
  });

  test("in process: the client's env is the whole setting, HTTP_PROXY in process.env is not used", async () => {
    const { server } = fixture;
    const deadProxy = `http://127.0.0.1:${await refusedPort()}`;
    await expireNow();
    forget();
    const refreshesBefore = server.stats.refreshGrants;
    await withProcessEnv('HTTP_PROXY', deadProxy, async () => {
      // HTTPS_PROXY makes the client build its proxy agent; it does not apply to an http:// server.
      const client = createLoginkit({ home, env: env({ HTTPS_PROXY: proxy.url }) });
      const token = await client.getToken(PROVIDER);
      assert.equal(server.stats.refreshGrants, refreshesBefore + 1, 'refreshed, straight at the server');
      assert.equal(token, (await readStoredEntries(home))[`${PROVIDER}/default`]?.accessToken);
      assert.deepEqual(proxy.seen, []);
    });
  });

  test('in process: https:// goes through HTTP_PROXY when HTTPS_PROXY is unset, and a failure names that proxy', async () => {
    const home = await makeHome();
    const unreachable = `https://127.0.0.1:${await refusedPort()}/token`;
    await seedStore(home, [
      { provider: PROVIDER, tokenEndpoint: unreachable, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs: -60_000 },
    ]);
    const deadProxy = `127.0.0.1:${await refusedPort()}`;
    const client = createLoginkit({ home, env: { LOGINKIT_STORE: 'file', HTTP_PROXY: `http://${deadProxy}` } });
    await assert.rejects(client.getToken(PROVIDER), (error: unknown) => {
      assert.ok(error instanceof NetworkError, String(error));
      assert.match(error.message, new RegExp(`through the proxy ${deadProxy.replaceAll('.', '\\.')}`));
      return true;
    });
  });
});

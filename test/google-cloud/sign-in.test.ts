// loginkit's own sign-in to Google (an installed-app OAuth client with its secret), against oidc-provider as
// the issuer: discovery, PKCE, offline access, refresh by loginkit's OAuth stack, invalid_grant, revocation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createContext } from '../../src/context.js';
import { createLoginkit } from '../../src/index.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { runCli } from '../helpers/cli.js';
import { signInOverHttp } from '../helpers/person.js';
import { makeUserHome, writeProvider } from './fixture.js';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const SECRET = 'GOCSPX-test-installed-app-secret';

describe("loginkit's own Google sign-in", () => {
  let server: AuthServer;
  before(async () => {
    server = await startAuthServer({
      clientId: 'loginkit-desktop.apps.googleusercontent.com',
      configure: (configuration) => {
        // Google's installed-app ("Desktop") clients have a secret they send to the token endpoint.
        const [client] = configuration.clients as Array<Record<string, unknown>>;
        Object.assign(client as object, { client_secret: SECRET, token_endpoint_auth_method: 'client_secret_post' });
        configuration.scopes = [...(configuration.scopes as string[]), CLOUD_PLATFORM];
      },
    });
  });
  after(() => server.close());

  async function signedIn() {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeProvider(loginkitHome, 'vertex', { issuer: server.issuer, clientId: server.clientId, clientSecret: SECRET, project: 'p-1' });
    const clock = { now: Date.now() };
    const env = { HOME: userHome, LOGINKIT_STORE: 'file' };
    const kit = createLoginkit({
      home: loginkitHome,
      env,
      now: () => clock.now,
      onWarning: () => undefined,
      openBrowser: async (url) => {
        await signInOverHttp(url);
      },
    });
    const result = await kit.login('vertex');
    return { kit, clock, result, loginkitHome, env };
  }

  test('signs in with PKCE and offline access; the sign-in token is used, then renewed with the refresh token', async () => {
    const before = { codes: server.stats.authorizationCodeGrants, refreshes: server.stats.refreshGrants };
    const { kit, clock, result } = await signedIn();
    assert.equal(result.method, 'google-cloud');
    assert.equal(result.account?.subject, 'alice@example.test');
    const authorization = server.authorizationRequests.at(-1) as URLSearchParams;
    assert.equal(authorization.get('code_challenge_method'), 'S256');
    assert.equal(authorization.get('access_type'), 'offline');
    assert.equal(authorization.get('prompt'), 'consent');
    assert.deepEqual(authorization.get('scope')?.split(' '), ['openid', 'email', CLOUD_PLATFORM]);
    assert.equal(server.stats.authorizationCodeGrants - before.codes, 1);
    const first = await kit.getToken('vertex');
    assert.equal(server.stats.refreshGrants, before.refreshes, "the sign-in's own token first");
    clock.now += 2 * 3600_000;
    const renewed = await kit.getToken('vertex');
    assert.notEqual(renewed, first);
    assert.equal(server.stats.refreshGrants - before.refreshes, 1);
    const [status] = await kit.status('vertex');
    assert.equal(status?.google?.source, 'sign-in');
    assert.equal(status?.account, 'alice@example.test');
  });

  test('a refresh token the issuer refuses (invalid_grant): exit 3 naming loginkit login, no secret', async () => {
    const { loginkitHome, env } = await signedIn();
    const ctx = createContext({ home: loginkitHome, env });
    await ctx.store.update((entries) => {
      const entry = entries['google-cloud:vertex'] as { signIn: Record<string, unknown>; token: Record<string, unknown> };
      return {
        ...entries,
        'google-cloud:vertex': {
          ...entry,
          signIn: { ...entry.signIn, refreshToken: 'revoked-refresh-token' },
          token: { ...entry.token, expiresAt: 0 },
        },
      };
    });
    const result = await runCli(['token', 'vertex'], { home: loginkitHome, env, timeoutMs: 20_000 });
    assert.equal(result.code, 3, result.stderr);
    assert.deepEqual(result.stderr.trim().split('\n'), [
      'error: Google refused the credential (invalid_grant) for "vertex".',
      'Run: loginkit login vertex',
    ]);
    assert.ok(!result.stderr.includes(SECRET) && !result.stderr.includes('revoked-refresh-token'));
  });

  test('logout revokes the refresh token at the issuer and forgets the sign-in', async () => {
    const { kit } = await signedIn();
    const revocations = server.stats.revocations;
    const [ended] = [await kit.logout('vertex')].flat();
    assert.equal(ended?.revocation, 'revoked');
    assert.equal(server.stats.revocations - revocations, 1);
    await assert.rejects(
      kit.getToken('vertex'),
      (error: Error & { code?: string }) => error.code === 'login_required' && /loginkit login vertex/.test(error.message),
    );
  });
});

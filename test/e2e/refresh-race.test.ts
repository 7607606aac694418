import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import type { AuthServer } from '../helpers/auth-server.js';
import { runCli, runCliProcess } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { expireStoredToken } from '../helpers/store-fixtures.js';

const PROVIDER = 'demo';
const ENV = { LOGINKIT_STORE: 'file' };

async function userinfoStatus(server: AuthServer, token: string): Promise<number> {
  const response = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
  return response.status;
}

describe('refresh shared by many processes and callers', () => {
  const fixture = useSignInServer({ accessTokenTtl: 600, rotateRefreshTokens: true });

  test('16 `loginkit token` processes on an expired token: one refresh, one token, the grant survives', async () => {
    const { server } = fixture;
    const home = await fixture.signedInHome(PROVIDER);
    await expireStoredToken(home, PROVIDER);
    const refreshesBefore = server.stats.refreshGrants;
    const revokedBefore = server.stats.grantsRevoked;

    const results = await Promise.all(Array.from({ length: 16 }, () => runCliProcess(['token', PROVIDER], { home, env: ENV })));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const tokens = new Set(results.map((result) => result.stdout));
    assert.equal(tokens.size, 1, 'every process printed the same token');
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1, 'the server saw exactly one refresh');
    assert.equal(server.stats.grantsRevoked, revokedBefore, 'no refresh token reuse, so the grant was not revoked');
    assert.deepEqual(
      server.grantErrorCodes.filter((code) => code === 'invalid_grant'),
      [],
    );

    const [token] = tokens;
    assert.equal(await userinfoStatus(server, String(token).trim()), 200);
    const later = await runCli(['token', PROVIDER], { home, env: ENV });
    assert.equal(later.code, 0, later.stderr);
    assert.equal(later.stdout, token, 'the refreshed token was persisted and is reused');
  });

  test('100 concurrent getToken() calls in one process share one refresh', async () => {
    const { server } = fixture;
    const home = await fixture.signedInHome(PROVIDER);
    await expireStoredToken(home, PROVIDER);
    const refreshesBefore = server.stats.refreshGrants;
    const kit = createLoginkit({ home, env: ENV });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => kit.getToken(PROVIDER)));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1);
    assert.equal(await userinfoStatus(server, tokens[0] ?? ''), 200);
  });

  test('a process that waited for the lock uses the refresh another process made instead of refreshing again', async () => {
    const { server } = fixture;
    const home = await fixture.signedInHome(PROVIDER);
    await expireStoredToken(home, PROVIDER);
    const refreshesBefore = server.stats.refreshGrants;
    const first = createLoginkit({ home, env: ENV });
    const second = createLoginkit({ home, env: ENV });
    const [a, b] = await Promise.all([first.getToken(PROVIDER), second.getToken(PROVIDER)]);
    assert.equal(a, b);
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1, 'two clients with separate in-memory state: still one refresh');
  });
});

// A forced refresh (a resource server rejected the token) that meets a refresh already under way for a token
// that was merely due: if that one keeps the current token (the server is down), the forced one must not
// hand the rejected token back; it asks again and surfaces the failure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetworkError } from '../../src/errors.js';
import { type OAuthCredential, credentialKey, serializeCredential } from '../../src/session/credential.js';
import { TokenSession } from '../../src/session/token-session.js';
import { createMemoryStore } from '../../src/store/memory-store.js';

test('a forced refresh joining a due refresh that kept the current token reports the failure, not the rejected token', async () => {
  const now = 1_000_000;
  const store = createMemoryStore();
  const due: OAuthCredential = {
    kind: 'oauth',
    provider: 'demo',
    profile: 'default',
    clientId: 'cli',
    server: { issuer: 'https://auth.example.com', token_endpoint: 'https://auth.example.com/token' },
    accessToken: 'rejected-token',
    refreshToken: 'refresh-token',
    idToken: undefined,
    tokenType: 'bearer',
    scopes: ['openid'],
    // Due for a refresh (less than half its life left) but not expired.
    obtainedAt: now - 3_400_000,
    expiresAt: now + 200_000,
    account: undefined,
  };
  await store.update((entries) => ({ ...entries, [credentialKey('demo')]: serializeCredential(due) }));
  let requests = 0;
  const warnings: string[] = [];
  const session = new TokenSession({
    store,
    http: async () => {
      requests += 1;
      throw new NetworkError('network', 'auth.example.com', 'Cannot reach auth.example.com (connection refused).');
    },
    timeoutMs: 1_000,
    now: () => now,
    retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, budgetMs: 0, sleep: async () => undefined, random: () => 0 },
    onWarning: (message) => warnings.push(message),
  });
  const routine = session.refresh(due);
  const forced = session.refresh(due, true);
  assert.equal(((await routine) as OAuthCredential).accessToken, 'rejected-token', 'the due refresh keeps the still-valid token');
  await assert.rejects(forced, (error: unknown) => error instanceof NetworkError && /connection refused/.test(error.message));
  assert.equal(requests, 2, `the forced refresh asked the server itself; warnings: ${warnings.join(' | ')}`);
  assert.equal(warnings.length, 1);
});

// Values in a token response that loginkit keeps and acts on: a lifetime is believed only within bounds (a huge
// `expires_in` must not make a token immortal or its expiry unprintable; a negative or non-numeric one is a
// malformed answer), and a token type other than Bearer is a protocol error, not a network one.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { ProviderError, createLoginkit } from '../../src/index.js';
import { MAX_TOKEN_LIFETIME_SECONDS, tokenLifetimeSeconds } from '../../src/oauth/tokens.js';
import { makeHome } from '../helpers/cli.js';
import {
  type ScriptedAuthServer,
  type TokenAnswer,
  approvingBrowser,
  sendJson,
  startScriptedAuthServer,
} from '../helpers/scripted-auth-server.js';
import { readStoredEntries, seedStore } from '../lifecycle/support.js';

const YEAR_MS = MAX_TOKEN_LIFETIME_SECONDS * 1000;

const servers: ScriptedAuthServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function scripted(token: TokenAnswer): Promise<ScriptedAuthServer> {
  const server = await startScriptedAuthServer({ token });
  servers.push(server);
  return server;
}

/** A home with an expired `demo` sign-in whose refresh goes to `server`. */
async function expiredSignInAt(server: ScriptedAuthServer): Promise<string> {
  const home = await makeHome();
  await seedStore(home, [
    { provider: 'demo', tokenEndpoint: `${server.issuer}/token`, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs: -60_000 },
  ]);
  return home;
}

describe('expires_in from the server', () => {
  test('a huge expires_in (1e20) on refresh is clamped to a year, and status still prints the expiry', async () => {
    const server = await scripted(async (_n, _body, res, tokens) =>
      sendJson(res, 200, await tokens({ expires_in: 1e20, id_token: undefined })),
    );
    const home = await expiredSignInAt(server);
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    const before = Date.now();

    assert.notEqual(await kit.getToken('demo'), 'old-at');
    const stored = (await readStoredEntries(home))['demo/default'];
    const expiresAt = Number(stored?.expiresAt);
    assert.ok(expiresAt > before && expiresAt <= Date.now() + YEAR_MS, `stored expiry ${expiresAt} is within a year`);

    const [status] = await kit.status('demo');
    assert.ok(status?.expiresAt, 'status has an expiry');
    assert.equal(new Date(status.expiresAt).getTime(), expiresAt);
  });

  test('a huge expires_in (1e20) at sign-in is clamped to a year, and the login reports its expiry', async () => {
    const server = await scripted(async (_n, _body, res, tokens) => sendJson(res, 200, await tokens({ expires_in: 1e20 })));
    const home = await makeHome();
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, openBrowser: approvingBrowser });
    await kit.addProvider('demo', { type: 'oauth', issuer: server.issuer, clientId: server.clientId });
    const before = Date.now();

    const login = await kit.login('demo', { method: 'browser' });
    assert.ok(login.expiresAt, 'the login reports an expiry');
    const expiresAt = Date.parse(login.expiresAt);
    assert.ok(expiresAt > before && expiresAt <= Date.now() + YEAR_MS, `expiry ${login.expiresAt} is within a year`);
  });

  for (const [label, expiresIn] of [
    ['negative', -3600],
    ['non-numeric', 'NaN'],
  ] as const) {
    test(`a ${label} expires_in is a malformed answer: a clear error, nothing stored`, async () => {
      const server = await scripted(async (_n, _body, res, tokens) =>
        sendJson(res, 200, await tokens({ expires_in: expiresIn, id_token: undefined })),
      );
      const home = await expiredSignInAt(server);
      const before = await readStoredEntries(home);
      const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } })
        .getToken('demo')
        .catch((e: unknown) => e);
      assert.ok(error instanceof ProviderError, String(error));
      assert.equal(error.error, 'invalid_response');
      assert.match(error.message, /malformed/);
      assert.deepEqual(await readStoredEntries(home), before);
    });
  }

  test('tokenLifetimeSeconds keeps lifetimes between 0 and a year', () => {
    assert.equal(tokenLifetimeSeconds(3600), 3600);
    assert.equal(tokenLifetimeSeconds(1e20), MAX_TOKEN_LIFETIME_SECONDS);
    assert.equal(tokenLifetimeSeconds(Number.POSITIVE_INFINITY), MAX_TOKEN_LIFETIME_SECONDS);
    assert.equal(tokenLifetimeSeconds(-5), 0);
    assert.equal(tokenLifetimeSeconds(Number.NaN), 0);
    assert.equal(MAX_TOKEN_LIFETIME_SECONDS, 365 * 24 * 3600);
  });
});

describe('token_type from the server', () => {
  for (const tokenType of ['mac', 'DPoP']) {
    test(`token_type "${tokenType}" is a protocol error that names the type, not a network error`, async () => {
      const server = await scripted(async (_n, _body, res, tokens) =>
        sendJson(res, 200, await tokens({ token_type: tokenType, id_token: undefined })),
      );
      const home = await expiredSignInAt(server);
      const before = await readStoredEntries(home);

      const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } })
        .getToken('demo')
        .catch((e: unknown) => e);
      assert.ok(error instanceof ProviderError, String(error));
      assert.equal(error.code, 'provider_error');
      assert.equal(error.error, 'unsupported_token_type');
      assert.match(
        error.message,
        new RegExp(`type "${tokenType.toLowerCase()}", which loginkit cannot use: it sends only Bearer tokens`, 'i'),
      );
      assert.equal(server.requests.length, 1, 'not retried');
      assert.deepEqual(await readStoredEntries(home), before, 'nothing stored');
    });
  }
});
